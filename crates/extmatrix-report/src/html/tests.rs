//! The page against its contract (the brief of issue 18): what the script
//! and the browser tests rely on, read back from the HTML text.

use super::{escape, html_page};
use crate::cells::cell_label;
use crate::sample;
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_schema::{CellChange, Change, ExpectationStatus, Report, RunInfo, RunStatus};

/// One element of the page: its attributes and the text up to its end tag
/// (the page never nests an element in one of the same name where the
/// tests read it).
struct Element {
    attributes: Vec<(String, String)>,
    inner: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn elements(page: &str, tag: &str) -> Vec<Element> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        if !rest.starts_with([' ', '>']) {
            continue;
        }
        let end = rest.find('>').expect("a tag ends");
        let attributes = attributes(&rest[..end]);
        rest = &rest[end + 1..];
        let inner = rest.find(&close).map_or("", |e| &rest[..e]).to_owned();
        found.push(Element { attributes, inner });
    }
    found
}

/// `name="value"` pairs and bare names, as the page writes them.
fn attributes(mut tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        tag = tag.trim_start();
        if tag.is_empty() {
            return out;
        }
        let name_end = tag.find(['=', ' ']).unwrap_or(tag.len());
        let name = tag[..name_end].to_owned();
        tag = &tag[name_end..];
        if let Some(quoted) = tag.strip_prefix("=\"") {
            let value_end = quoted.find('"').expect("a closing quote");
            out.push((name, quoted[..value_end].to_owned()));
            tag = &quoted[value_end + 1..];
        } else {
            out.push((name, String::new()));
        }
    }
}

fn cells(page: &str) -> Vec<Element> {
    elements(page, "td")
        .into_iter()
        .filter(|td| td.attr("data-cell").is_some())
        .collect()
}

fn data_blob(page: &str) -> serde_json::Value {
    let start = "<script type=\"application/json\" id=\"extmatrix-data\">";
    let at = page.find(start).expect("the data script") + start.len();
    let end = at + page[at..].find("</script>").unwrap();
    serde_json::from_str(&page[at..end]).expect("the data is JSON")
}

/// sample::report with a cell of each kind of mark and an n/a cell.
fn marked_report() -> Report {
    let mut r = sample::report();
    r.cells.push(sample::cell(
        "b",
        "cp312",
        Scenario::SubinterpOwn,
        Outcome::NotApplicable,
    ));
    r.cells[1].change = Some(CellChange {
        change: Change::Regressed,
        was: Some(Outcome::Pass),
    });
    r.cells[2].expectation = sample::expecting_crash(ExpectationStatus::Met);
    // A new report, for the summary to count the n/a cell.
    Report::new(r.matrix, r.pythons, r.cells, 1500)
}

#[test]
fn every_cell_is_a_td_with_its_label_outcome_and_marks() {
    let r = marked_report();
    let page = html_page(std::slice::from_ref(&r));
    let tds = cells(&page);
    assert_eq!(tds.len(), r.cells.len());
    for (c, cell) in r.cells.iter().enumerate() {
        let td = tds
            .iter()
            .find(|td| td.attr("data-cell") == Some(&format!("0:{c}")))
            .unwrap_or_else(|| panic!("no td for cell {c}"));
        let class = format!("cell o-{}", cell.outcome.id().replace('/', ""));
        assert_eq!(td.attr("class"), Some(class.as_str()));
        assert_eq!(td.attr("data-outcome"), Some(cell.outcome.id()));
        assert_eq!(td.inner, escape::html(&cell_label(cell)));
    }
    let td = |c: usize| &tds[c];
    assert_eq!(td(1).attr("data-change"), Some("regressed"));
    assert_eq!(td(1).inner, "shared-state (was pass)");
    assert_eq!(td(2).attr("data-expect"), Some("met"));
    assert_eq!(td(2).inner, "crash✓");
    assert_eq!(td(0).attr("data-change"), None);
    assert_eq!(td(0).attr("data-expect"), None);
    let stops: Vec<Option<&str>> = tds.iter().map(|td| td.attr("tabindex")).collect();
    assert_eq!(stops[0], Some("0"), "the grid's one tab stop");
    assert!(stops[1..].iter().all(|t| *t == Some("-1")), "{stops:?}");
    assert!(!page.contains(" title="), "no per-cell titles");
}

#[test]
fn an_na_cell_is_o_na() {
    let r = marked_report();
    let page = html_page(std::slice::from_ref(&r));
    let na = &cells(&page)[3];
    assert_eq!(na.attr("class"), Some("cell o-na"));
    assert_eq!(na.attr("data-outcome"), Some("n/a"));
    assert_eq!(na.inner, "n/a");
}

#[test]
fn the_counts_are_the_summarys() {
    let r = marked_report();
    let page = html_page(std::slice::from_ref(&r));
    let counted: Vec<(String, usize)> = elements(&page, "li")
        .into_iter()
        .filter_map(|li| {
            let outcome = li.attr("data-outcome")?.to_owned();
            let n = li.inner.split("<span class=\"n\">").nth(1)?;
            Some((outcome, n.trim_end_matches("</span>").parse().unwrap()))
        })
        .collect();
    let summary: Vec<(String, usize)> = r
        .summary
        .iter()
        .map(|(o, n)| (o.id().to_owned(), *n))
        .collect();
    assert_eq!(counted, summary);
    assert!(page.contains("<p id=\"total\" data-total=\"4\">"), "{page}");
    assert!(
        !page.contains("data-outcome=\"leak\""),
        "only outcomes present"
    );
}

#[test]
fn the_findings_keep_the_reports_order_with_titles_and_fixes() {
    let mut r = sample::report();
    let mut second = sample::finding("a", "cp312", Scenario::Reimport);
    second.title = "Thing_Type (.data) is the same object <in> every instance".into();
    second.fix = "make it a heap object & keep it in `PyModule_GetState`".into();
    second.outcome = Outcome::SharedState;
    second.fails_run = false;
    r.findings = vec![sample::finding("b", "cp312", Scenario::Import), second];
    let page = html_page(std::slice::from_ref(&r));
    let items: Vec<Element> = elements(&page, "li")
        .into_iter()
        .filter(|li| li.attr("class") == Some("finding"))
        .collect();
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|li| li.attr("data-finding"))
        .collect();
    assert_eq!(ids, ["0:0", "0:1"]);
    for (li, f) in items.iter().zip(&r.findings) {
        let button = format!(
            "<button type=\"button\" class=\"finding-toggle\" aria-pressed=\"false\">{}</button>",
            escape::html(&f.title)
        );
        assert!(li.inner.contains(&button), "{}", li.inner);
        assert!(
            li.inner.contains(&escape::html_with_code(&f.fix)),
            "{}",
            li.inner
        );
        assert!(
            li.inner.contains(&format!("badge o-{}", f.outcome)),
            "{}",
            li.inner
        );
    }
    assert!(items[1]
        .inner
        .contains("&amp; keep it in <code>PyModule_GetState</code>"));
    assert!(items[0].inner.contains("fails the run"));
    assert!(items[1].inner.contains("does not fail the run"));
    assert!(items[1]
        .inner
        .contains("<span class=\"where\">reimport on cp312</span>"));
}

#[test]
fn text_from_the_report_is_escaped_everywhere() {
    let evil = "<script>alert(1)</script>&";
    let mut r = sample::report();
    r.matrix = format!("{evil}\".yaml");
    for c in &mut r.cells {
        c.key.target = evil.into();
        c.key.module = evil.into();
        c.details.summary = format!("</script><!-- {evil}");
    }
    r.pythons[0].configure_args = Some(evil.into());
    r.findings = vec![sample::finding(evil, "cp312", Scenario::Import)];
    let page = html_page(std::slice::from_ref(&r));
    assert!(!page.contains(evil), "unescaped");
    assert!(!page.contains("<script>alert"), "unescaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"));
    assert!(page.contains("data-target=\"&lt;script&gt;alert(1)&lt;/script&gt;&amp;\""));
    assert_eq!(
        page.matches("</script").count(),
        2,
        "only the two script ends"
    );
    assert_eq!(page.matches("<script").count(), 2, "only the two scripts");
    let blob = data_blob(&page);
    assert_eq!(blob["reports"][0]["cells"][0]["target"], evil);
    assert_eq!(blob["reports"][0]["matrix"], r.matrix);
}

#[test]
fn the_data_is_the_reports_with_what_reasons_and_outcomes_mean() {
    let r = marked_report();
    let page = html_page(std::slice::from_ref(&r));
    let blob = data_blob(&page);
    assert_eq!(blob["reports"][0], serde_json::to_value(&r).unwrap());
    for reason in Reason::ALL {
        assert_eq!(blob["reasons"][reason.id()]["meaning"], reason.meaning());
        assert_eq!(blob["reasons"][reason.id()]["fix"], reason.what_to_fix());
    }
    for outcome in Outcome::ALL {
        assert_eq!(blob["outcomes"][outcome.id()], outcome.meaning());
    }
    let start = page.find("id=\"extmatrix-data\">").unwrap();
    let blob_text = &page[start..start + page[start..].find("</script>").unwrap()];
    assert!(!blob_text.contains('\n'), "compact");
    assert!(blob_text.starts_with(r#"id="extmatrix-data">{"reports":[{"schema_version":1,"#));
}

/// Nothing in the page names a place to fetch from; the one `http:` allowed
/// is SVG's namespace name, an identifier no browser fetches.
#[test]
fn the_page_names_nothing_to_fetch() {
    let mut r = marked_report();
    r.findings = vec![sample::finding("b", "cp312", Scenario::Import)];
    let page = html_page(std::slice::from_ref(&r));
    let page = page.replace("http://www.w3.org/2000/svg", "");
    for forbidden in [
        "http:",
        "https:",
        "@import",
        "src=\"//",
        "href=\"//",
        "ftp:",
    ] {
        assert!(!page.contains(forbidden), "{forbidden}");
    }
    for (attribute, _) in [("src=", 0), ("href=", 0), ("url(", 0)] {
        for (at, _) in page.match_indices(attribute) {
            let value = page[at + attribute.len()..].trim_start_matches(['"', '\'']);
            assert!(
                value.starts_with("data:"),
                "{}",
                &page[at..at + 40.min(page.len() - at)]
            );
        }
    }
    assert!(page.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    ));
    assert!(page.starts_with("<!doctype html><html lang=\"en\">"));
}

#[test]
fn two_reports_are_two_tbodies_over_the_union_of_their_pythons() {
    let first = sample::report();
    let mut second = Report::new(
        "other.yaml".into(),
        vec![
            sample::python("cp313", "3.13.0"),
            sample::python("cp312", "3.12.1"),
        ],
        vec![
            sample::cell("c", "cp313", Scenario::Import, Outcome::Pass),
            sample::cell("c", "cp312", Scenario::Import, Outcome::Hang),
        ],
        10,
    );
    second.findings = vec![sample::finding("c", "cp312", Scenario::Import)];
    let page = html_page(&[first, second]);
    let groups: Vec<Option<String>> = elements(&page, "th")
        .iter()
        .filter(|th| th.attr("scope") == Some("colgroup"))
        .map(|th| th.attr("data-python").map(str::to_owned))
        .collect();
    assert_eq!(groups, [Some("cp312".into()), Some("cp313".into())]);
    let bodies: Vec<Element> = elements(&page, "tbody")
        .into_iter()
        .filter(|b| b.attr("data-report").is_some())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1].attr("data-report"), Some("1"));
    assert!(
        bodies[1].inner.contains(">other.yaml</th></tr>"),
        "{}",
        bodies[1].inner
    );
    let second_cells: Vec<String> = cells(&bodies[1].inner)
        .iter()
        .map(|td| td.attr("data-cell").unwrap().to_owned())
        .collect();
    // cp312's columns come first: the first report named it first.
    assert_eq!(second_cells, ["1:1", "1:0"]);
    assert!(page.contains("data-finding=\"1:0\""));
    assert_eq!(
        elements(&page, "section")
            .iter()
            .filter(|s| s.attr("class") == Some("run-meta"))
            .count(),
        2
    );
    assert!(page.contains("<p id=\"total\" data-total=\"5\">"));
}

#[test]
fn a_row_without_a_column_gets_the_filler() {
    // a ran import and reimport, b import only.
    let page = html_page(&[sample::report()]);
    let rows: Vec<Element> = elements(&page, "tr")
        .into_iter()
        .filter(|tr| tr.attr("data-target").is_some())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].attr("data-target"), Some("b"));
    assert!(
        rows[1].inner.starts_with("<th scope=\"row\">b</th>"),
        "{}",
        rows[1].inner
    );
    assert!(
        rows[1].inner.ends_with("<td class=\"none\">·</td>"),
        "{}",
        rows[1].inner
    );
    assert_eq!(page.matches("<td class=\"none\">").count(), 1);
    let scenarios: Vec<String> = elements(&page, "th")
        .iter()
        .filter_map(|th| th.attr("data-scenario").map(str::to_owned))
        .collect();
    assert_eq!(scenarios, ["import", "reimport"]);
}

#[test]
fn the_run_details_name_where_when_and_each_interpreter() {
    let mut r = marked_report();
    r.run = Some(RunInfo {
        started_at: "2026-12-06T16:05:43Z".into(),
        host: "builder".into(),
        os: "Linux 6.1".into(),
        arch: "x86_64".into(),
        cores: 8,
        jobs: 4,
    });
    r.pythons[0].configure_args = Some("'--with-pydebug' '--disable-gil'".into());
    r.pythons[0].free_threaded = true;
    r.status = Some(RunStatus {
        fail_on: Default::default(),
        strict: false,
        exit_code: 1,
        because: vec!["1 crash <b>".into()],
    });
    let page = html_page(std::slice::from_ref(&r));
    let meta = &elements(&page, "section")
        .into_iter()
        .find(|s| s.attr("class") == Some("run-meta"))
        .expect("a run-meta section");
    assert_eq!(meta.attr("data-report"), Some("0"));
    for shown in [
        "<time datetime=\"2026-12-06T16:05:43Z\">",
        "builder · Linux 6.1 · x86_64 · 8 cores · 4 jobs",
        "1.5 s",
        "fails (exit 1, --fail-on failure)",
        "<li>1 crash &lt;b&gt;</li>",
        "<td>free-threaded</td>",
        "&#39;--with-pydebug&#39; &#39;--disable-gil&#39;",
        "<summary><code>--with-pydebug --disable-gil</code></summary>",
        "<td class=\"num\">4</td>",
    ] {
        assert!(meta.inner.contains(shown), "{shown}: {}", meta.inner);
    }
}

#[test]
fn the_legend_explains_the_outcomes_and_marks_shown() {
    let plain = html_page(&[sample::report()]);
    let marked = html_page(&[marked_report()]);
    let meaning = |o: Outcome| escape::html_with_code(o.meaning());
    assert!(plain.contains(&meaning(Outcome::SharedState)));
    assert!(!plain.contains(&meaning(Outcome::Leak)));
    let mark = |m: &str| format!("<dt class=\"mark\">{m}</dt>");
    assert!(!plain.contains(&mark("✓")) && !plain.contains(&mark("(was …)")));
    assert!(marked.contains(&mark("✓")) && marked.contains(&mark("(was …)")));
    assert!(!marked.contains(&mark("*")));
    assert!(plain.contains(&mark("·")));
}

#[test]
fn the_filters_offer_what_the_grid_shows() {
    let page = html_page(&[marked_report()]);
    let form_at = page
        .find("<form id=\"filters\" class=\"js-only\"")
        .expect("the filters");
    let form = &page[form_at..form_at + page[form_at..].find("</form>").unwrap()];
    let options = |name: &str| -> Vec<String> {
        let at = form.find(&format!("<select name=\"{name}\">")).unwrap();
        let select = &form[at..at + form[at..].find("</select>").unwrap()];
        elements(select, "option")
            .iter()
            .map(|o| o.attr("value").unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        options("outcome"),
        ["", "pass", "n/a", "shared-state", "crash"]
    );
    assert_eq!(options("python"), ["", "cp312"]);
    assert_eq!(
        options("scenario"),
        ["", "import", "reimport", "subinterp-own"]
    );
    assert_eq!(options("target"), ["", "a", "b"]);
    assert!(form.contains("<input type=\"checkbox\" name=\"regressed\""));
    assert!(form.contains("<output id=\"shown-count\""));
    assert!(page.contains("<aside id=\"details\" hidden aria-labelledby=\"details-title\">"));
    assert!(page.contains("<h2 id=\"details-title\">"));
}

#[test]
fn the_verdict_counts_and_findings_come_before_the_grid() {
    let mut r = marked_report();
    r.findings = vec![sample::finding("b", "cp312", Scenario::Import)];
    r.status = Some(extmatrix_schema::RunStatus {
        fail_on: extmatrix_schema::FailOn::Failure,
        strict: false,
        exit_code: 1,
        because: vec!["1 cell fails the run: b cp312/import: crash".into()],
    });
    let page = html_page(std::slice::from_ref(&r));
    let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{needle}"));
    let order = [
        "id=\"summary\"",
        "1 cell fails the run: b cp312/import: crash",
        "id=\"counts\"",
        "id=\"findings\"",
        "id=\"grid\"",
        "id=\"legend\"",
        "id=\"run\"",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
    }
}

#[test]
fn run_html_renders_the_one_report_as_its_page() {
    use crate::Format;
    let r = marked_report();
    assert_eq!(super::Html.render(&r), html_page(std::slice::from_ref(&r)));
}

#[test]
fn a_finding_names_its_matrix_only_beside_another_report() {
    let mut r = sample::report();
    r.findings = vec![sample::finding("b", "cp312", Scenario::Import)];
    let matrix = "<span class=\"matrix\">m.yaml</span>";
    assert!(!html_page(std::slice::from_ref(&r)).contains(matrix));
    assert!(html_page(&[r.clone(), r]).contains(matrix));
}

#[test]
fn a_finding_says_its_change_only_when_it_has_one() {
    let mut r = sample::report();
    r.findings = vec![sample::finding("b", "cp312", Scenario::Import)];
    assert!(!html_page(std::slice::from_ref(&r)).contains("class=\"change\""));
    r.cells[2].change = Some(CellChange {
        change: Change::Regressed,
        was: Some(Outcome::Pass),
    });
    assert!(
        html_page(std::slice::from_ref(&r)).contains("<span class=\"change\">(regressed)</span>")
    );
}

#[test]
fn an_interpreter_has_a_column_only_for_the_scenarios_it_ran() {
    // cp312 ran import and reimport; cp313 import only, twice named.
    let mut r = sample::report();
    r.pythons.push(sample::python("cp313", "3.13.0"));
    r.pythons.push(sample::python("cp313", "3.13.0"));
    r.cells
        .push(sample::cell("a", "cp313", Scenario::Import, Outcome::Pass));
    let page = html_page(std::slice::from_ref(&r));
    let columns: Vec<(String, String)> = elements(&page, "th")
        .iter()
        .filter_map(|th| {
            Some((
                th.attr("data-python")?.to_owned(),
                th.attr("data-scenario")?.to_owned(),
            ))
        })
        .collect();
    let column = |p: &str, s: &str| (p.to_owned(), s.to_owned());
    assert_eq!(
        columns,
        [
            column("cp312", "import"),
            column("cp312", "reimport"),
            column("cp313", "import"),
        ]
    );
}

#[test]
fn durations_read_in_their_largest_unit() {
    use super::meta::duration;
    assert_eq!(duration(850), "850 ms");
    assert_eq!(duration(12_400), "12.4 s");
    assert_eq!(duration(185_000), "3 min 05 s");
    assert_eq!(duration(3_720_000), "1 h 02 min");
}

#[test]
fn an_interpreter_row_counts_its_cells_and_their_time() {
    let mut r = sample::report();
    r.cells[0].duration_ms = 1_000;
    r.cells[1].duration_ms = 2_500;
    r.cells[2].duration_ms = 500;
    let page = html_page(std::slice::from_ref(&r));
    assert!(
        page.contains("<td class=\"num\">3</td><td class=\"num\">4.0 s</td>"),
        "{page}"
    );
}

#[test]
fn the_grid_groups_columns_per_interpreter_and_a_report_row_spans_them_all() {
    let mut r = sample::report();
    r.pythons.push(sample::python("cp313", "3.13.0"));
    r.cells
        .push(sample::cell("a", "cp313", Scenario::Import, Outcome::Pass));
    let page = html_page(&[r.clone(), r]);
    assert!(page.contains(
        "<colgroup><col></colgroup><colgroup span=\"2\"></colgroup><colgroup span=\"1\"></colgroup>"
    ));
    assert!(page.contains("colspan=\"4\""), "1 + 3 scenario columns");
}

#[test]
fn the_configure_switches_stand_for_the_whole_line() {
    let mut r = sample::report();
    r.pythons[0].configure_args = Some("'--prefix=/x' '--enable-shared' 'CC=gcc'".into());
    let page = html_page(std::slice::from_ref(&r));
    assert!(
        page.contains("<summary><code>--enable-shared</code></summary>"),
        "{page}"
    );
    r.pythons[0].configure_args = Some("'--prefix=/x'".into());
    let page = html_page(std::slice::from_ref(&r));
    assert!(page.contains("<summary><code>flags</code></summary>"));
}

#[test]
fn a_merged_report_says_which_shards_it_was_made_from() {
    let mut report = marked_report();
    let page = html_page(std::slice::from_ref(&report));
    assert!(
        !page.contains("<dt>shards</dt>"),
        "a whole run has no shards"
    );
    let shard = |index, wall_time_ms, interrupted: Option<&str>| extmatrix_schema::MergedShard {
        file: format!("shard-{index}.json"),
        index,
        count: 2,
        cells: 10 * index as usize,
        wall_time_ms,
        run: Some(RunInfo {
            started_at: "2026-12-06T20:00:00Z".into(),
            host: "runner<1>".into(),
            os: "Linux".into(),
            arch: "x86_64".into(),
            cores: 2,
            jobs: 2,
        }),
        interrupted: interrupted.map(String::from),
    };
    report.merged_from = vec![shard(1, 61_000, None), shard(2, 2_000, Some("SIGTERM"))];
    let page = html_page(&[report]);
    let line = page
        .split("<dt>shards</dt><dd>")
        .nth(1)
        .and_then(|rest| rest.split("</dd>").next())
        .expect("a shards line");
    assert!(
        line.starts_with("merged from 2: 1/2: 10 cells in "),
        "{line}"
    );
    assert!(line.contains(" on runner&lt;1&gt;"), "{line}");
    assert!(line.contains("2/2: 20 cells in "), "{line}");
    assert!(line.ends_with("(interrupted by SIGTERM)"), "{line}");
}
