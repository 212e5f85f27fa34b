//! Names with wildcards, matched part by part: dotted module names against
//! a target's `exclude:` patterns (`**.tests.**`), and paths against a
//! workspace's member globs (`crates/*`, `packages/*-python`). One matcher
//! for both, so `*` means the same wherever extmatrix reads a pattern.
//!
//! Within a part, `*` matches any run of characters and `?` one
//! character; a part that is exactly `**` matches any number of whole
//! parts, none included. So `**.tests.**` matches `tests`, `pkg.tests` and
//! `pkg.tests._helper`, and never `pkg.contests`.

/// Whether the module `name` (`pkg.tests._x`) matches the dotted
/// `pattern`.
pub fn module_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let name: Vec<&str> = name.split('.').collect();
    parts_match(&pattern, &name)
}

/// Whether the relative `path` (`crates/foo-python`) matches the glob
/// `pattern` (`crates/*`); `.` and empty parts (`./crates//x`) are
/// ignored on both sides, as a file system would.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let parts = |s: &'_ str| -> Vec<String> {
        s.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(str::to_owned)
            .collect()
    };
    let pattern = parts(pattern);
    let path = parts(path);
    let pattern: Vec<&str> = pattern.iter().map(String::as_str).collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    parts_match(&pattern, &path)
}

/// Whether `pattern` can match module names: dotted parts, each `**` or
/// identifier characters (ASCII letters, digits, `_`) with `*` and `?`.
pub fn is_module_pattern(pattern: &str) -> bool {
    pattern.split('.').all(|part| {
        part == "**"
            || (!part.is_empty()
                && !part.contains("**")
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_*?".contains(c)))
    })
}

fn parts_match(pattern: &[&str], name: &[&str]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|skip| parts_match(rest, &name[skip..])),
        Some((part, rest)) => match name.split_first() {
            Some((first, name_rest)) => word_matches(part, first) && parts_match(rest, name_rest),
            None => false,
        },
    }
}

/// One word (an interpreter id, a scenario, one part of a name) against a
/// pattern: `*` any run, `?` one character.
pub fn word_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    chars_match(&pattern, &text)
}

fn chars_match(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| chars_match(rest, &text[skip..])),
        Some((c, rest)) => match text.split_first() {
            Some((t, text_rest)) => (*c == '?' || c == t) && chars_match(rest, text_rest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_double_star_part_matches_any_number_of_whole_parts() {
        for name in [
            "tests",
            "pkg.tests",
            "pkg.tests._helper",
            "tests._x",
            "a.b.tests.c.d",
        ] {
            assert!(module_matches("**.tests.**", name), "{name}");
        }
        for name in [
            "pkg",
            "pkg.contests",
            "pkg.tests_x",
            "pkg._tests",
            "testsuite",
        ] {
            assert!(!module_matches("**.tests.**", name), "{name}");
        }
        assert!(module_matches("**", "a.b"));
        assert!(module_matches("pkg.**", "pkg"));
        assert!(!module_matches("pkg.**", "other.pkg"));
    }

    #[test]
    fn star_and_question_mark_stay_within_one_part() {
        assert!(module_matches("pkg._test*", "pkg._testing"));
        assert!(module_matches("pkg._test*", "pkg._test"));
        assert!(!module_matches("pkg._test*", "pkg._test.x"));
        assert!(!module_matches("pkg.*", "pkg.a.b"));
        assert!(module_matches("pkg.*", "pkg.a"));
        assert!(module_matches("pkg.?", "pkg.a"));
        assert!(!module_matches("pkg.?", "pkg.ab"));
        assert!(!module_matches("pkg.?", "pkg"));
        assert!(module_matches("*_x", "a_x"));
        assert!(!module_matches("*_x", "a_y"));
        assert!(!module_matches("pkg", "pkg.a"));
        assert!(!module_matches("pkg.a", "pkg"));
    }

    #[test]
    fn paths_match_globs_part_by_part() {
        assert!(path_matches("crates/*", "crates/foo-python"));
        assert!(path_matches("crates/*-python", "crates/foo-python"));
        assert!(!path_matches("crates/*-python", "crates/foo"));
        assert!(!path_matches("crates/*", "crates/a/b"));
        assert!(path_matches("./crates//x", "crates/x"));
        assert!(path_matches("packages/**", "packages/a/b"));
        assert!(path_matches("py", "py"));
        assert!(!path_matches("py", "crates/py"));
    }

    #[test]
    fn module_patterns_are_identifier_characters_and_wildcards() {
        for ok in ["**.tests.**", "pkg._test*", "a.?", "**", "pkg"] {
            assert!(is_module_pattern(ok), "{ok}");
        }
        for bad in ["", "pkg.", "a..b", "a/b", "a-b", "a.***", "x**", "a b"] {
            assert!(!is_module_pattern(bad), "{bad}");
        }
    }
}
