//! What makes text safe inside the page: HTML text and attribute values,
//! and JSON inside a `<script>` element.

/// `s` as HTML text or a double- or single-quoted attribute value: target
/// names, paths and messages can hold anything.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// `s` escaped, with each `code` span of the docs' wording (a pair of
/// backticks) set as `<code>`; an unpaired backtick stays as it is.
pub(crate) fn html_with_code(s: &str) -> String {
    if !s.matches('`').count().is_multiple_of(2) {
        return html(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&html(part));
            out.push_str("</code>");
        } else {
            out.push_str(&html(part));
        }
    }
    out
}

/// JSON text made safe to stand inside `<script type="application/json">`:
/// no `<` can start `</script` or `<!--`, and no `&` or `>` is left for a
/// reader that unescapes them. JSON has these characters only inside
/// strings, where `\u003c` means the same.
pub(crate) fn json_in_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            html(r#"<a href='x'>"&"</a>"#),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(html("crash✓ (was pass)"), "crash✓ (was pass)");
    }

    #[test]
    fn backtick_pairs_become_code() {
        assert_eq!(
            html_with_code("add `Py_mod_gil` & `<x>`"),
            "add <code>Py_mod_gil</code> &amp; <code>&lt;x&gt;</code>"
        );
        assert_eq!(html_with_code("a ` b"), "a ` b");
    }

    #[test]
    fn json_in_a_script_cannot_close_it_and_still_parses() {
        let json = serde_json::to_string(&serde_json::json!({"t": "</script><!-- & >"})).unwrap();
        let safe = json_in_script(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["t"], "</script><!-- & >");
    }
}
