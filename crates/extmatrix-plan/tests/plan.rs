//! Planning on a made-up machine: the `Discovery` is written here (no
//! interpreter is asked anything) and the matrices are parsed from text, so
//! every rule of resolving `pythons:`, of the filters and of the cells'
//! order runs without a Python on the machine.

use extmatrix_core::{PythonVersion, Scenario};
use extmatrix_plan::{
    builds_needed, check_expectations, check_filters, expand, resolve_pythons, shard_filters, Cell,
    Filters, PlanError, Selection, Shard,
};
use extmatrix_pythons::{BuildConfig, Discovery, Python};
use extmatrix_spec::Matrix;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the made-up matrices say they come from; errors start with it.
const SOURCE: &str = "/made-up/matrix.yaml";

/// Two targets that need nothing on disk (spec checks that C files exist).
const TWO_TARGETS: &str =
    "targets:\n  - {name: alpha, stdlib: all}\n  - {name: beta, stdlib: all}\n";

/// An interpreter as discovery describes one; planning reads its id and
/// passes the rest through, so the path tells which description it got.
fn python(id: &str, minor: u32, path: &str) -> Python {
    Python {
        id: id.into(),
        version: PythonVersion::new(3, minor, 0),
        debug: id.ends_with('d'),
        free_threaded: id.contains('t'),
        path: path.into(),
        found_via: "made-up".into(),
        build: BuildConfig::default(),
    }
}

/// The machine: three pyenv interpreters, in discovery's order.
fn machine() -> Discovery {
    Discovery {
        pythons: vec![
            python("cp311", 11, "/pyenv/3.11/bin/python3.11"),
            python("cp312", 12, "/pyenv/3.12/bin/python3.12"),
            python("cp313", 13, "/pyenv/3.13/bin/python3.13"),
        ],
        ..Discovery::default()
    }
}

fn parse(text: &str) -> Matrix {
    extmatrix_spec::parse(text, Path::new(SOURCE)).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A matrix with this `pythons:` value (text after `pythons:`) and two targets.
fn matrix(pythons: &str) -> Matrix {
    parse(&format!("pythons: {pythons}\n{TWO_TARGETS}"))
}

/// A `{id, source}` build entry, as flow YAML.
fn build_entry(id: &str) -> String {
    format!("{{id: {id}, source: {{tarball: Python-3.13.tar.xz}}, variant: debug}}")
}

/// A probe for matrices without `{id, path}` entries, or whose path
/// entries the filters drop: asking it anything is the bug.
fn no_probe(path: &Path, id: &str) -> anyhow::Result<Python> {
    panic!("probed `{id}` at {}", path.display())
}

fn python_filter(ids: &[&str]) -> Filters {
    Filters {
        pythons: ids.iter().map(|s| s.to_string()).collect(),
        ..Filters::default()
    }
}

/// `resolve_pythons` with nothing built and no path entries to probe.
fn resolve(
    matrix: &Matrix,
    discovery: &Discovery,
    filters: &Filters,
) -> Result<Vec<Python>, PlanError> {
    resolve_pythons(matrix, discovery, &HashMap::new(), no_probe, filters)
}

fn ids(pythons: &[Python]) -> Vec<&str> {
    pythons.iter().map(|p| p.id.as_str()).collect()
}

fn paths(pythons: &[Python]) -> Vec<&str> {
    pythons.iter().map(|p| p.path.to_str().unwrap()).collect()
}

fn error_of<T: std::fmt::Debug>(result: Result<T, PlanError>) -> String {
    result.expect_err("an error").to_string()
}

// ---- resolving `pythons:` ----

#[test]
fn auto_takes_every_interpreter_discovery_found_in_its_order() {
    let found = resolve(&matrix("auto"), &machine(), &Filters::default()).unwrap();
    assert_eq!(found, machine().pythons);
}

#[test]
fn listed_ids_come_from_discovery_in_the_files_order() {
    let found = resolve(&matrix("[cp313, cp311]"), &machine(), &Filters::default()).unwrap();
    assert_eq!(
        paths(&found),
        ["/pyenv/3.13/bin/python3.13", "/pyenv/3.11/bin/python3.11"]
    );
}

#[test]
fn an_unknown_id_is_an_error_at_its_line_naming_what_was_found() {
    let m = parse(&format!("pythons:\n  - cp311\n  - cp399\n{TWO_TARGETS}"));
    let message = error_of(resolve(&m, &machine(), &Filters::default()));
    assert!(
        message.starts_with(&format!(
            "{SOURCE}:3:5: no interpreter `cp399` on this machine; found: cp311, cp312, cp313 "
        )),
        "{message}"
    );
    // How to get one discovery does not find, by path or by building it.
    assert!(message.contains("{id: cp399, path: "), "{message}");
    assert!(message.contains("{id: cp399, source: "), "{message}");
}

#[test]
fn an_unknown_id_on_a_machine_without_interpreters_says_none_were_found() {
    let message = error_of(resolve(
        &matrix("[cp313]"),
        &Discovery::default(),
        &Filters::default(),
    ));
    assert!(
        message.contains("`cp313` on this machine; found: none "),
        "{message}"
    );
}

#[test]
fn a_path_entry_is_the_probed_interpreter_under_the_entrys_id() {
    let asked = RefCell::new(Vec::new());
    let probe = |path: &Path, id: &str| {
        asked.borrow_mut().push((path.to_path_buf(), id.to_owned()));
        Ok(python(id, 12, path.to_str().unwrap()))
    };
    let m = matrix("[cp311, {id: mine, path: /opt/mine/bin/python3}]");
    let found = resolve_pythons(&m, &machine(), &HashMap::new(), probe, &Filters::default());
    assert_eq!(ids(&found.unwrap()), ["cp311", "mine"]);
    assert_eq!(
        asked.into_inner(),
        [(PathBuf::from("/opt/mine/bin/python3"), "mine".to_owned())]
    );
}

#[test]
fn a_path_that_is_no_usable_python_is_an_error_at_its_line() {
    let m = parse(&format!(
        "pythons:\n  - cp311\n  - {{id: mine, path: /opt/mine/bin/python3}}\n{TWO_TARGETS}"
    ));
    let refuse = |_: &Path, _: &str| Err(anyhow::anyhow!("no Python.h"));
    let result = resolve_pythons(&m, &machine(), &HashMap::new(), refuse, &Filters::default());
    assert_eq!(
        error_of(result),
        format!("{SOURCE}:3:5: python `mine` at /opt/mine/bin/python3: no Python.h")
    );
}

#[test]
fn a_build_entry_is_the_interpreter_built_for_its_id() {
    let m = matrix(&format!("[cp312, {}]", build_entry("cp313d")));
    let built = HashMap::from([(
        "cp313d".to_owned(),
        python("cp313d", 13, "/cache/cp313d/bin/python3"),
    )]);
    let found = resolve_pythons(&m, &machine(), &built, no_probe, &Filters::default()).unwrap();
    assert_eq!(
        paths(&found),
        ["/pyenv/3.12/bin/python3.12", "/cache/cp313d/bin/python3"]
    );
}

#[test]
fn a_build_entry_that_was_not_built_is_an_error_at_its_line() {
    let m = parse(&format!(
        "pythons:\n  - {}\n{TWO_TARGETS}",
        build_entry("cp313d")
    ));
    assert_eq!(
        error_of(resolve(&m, &machine(), &Filters::default())),
        format!("{SOURCE}:2:5: python `cp313d` was not built")
    );
}

/// `auto` beside `{id: cp313, path: ...}`: the user's cp313, not the one
/// discovery found, before or after `auto` in the list.
#[test]
fn an_entry_with_an_id_wins_over_auto_wherever_it_stands() {
    let probe = |path: &Path, id: &str| Ok(python(id, 13, path.to_str().unwrap()));
    let plan_of = |pythons: &str| {
        let m = matrix(pythons);
        resolve_pythons(&m, &machine(), &HashMap::new(), probe, &Filters::default()).unwrap()
    };
    let mine = "{id: cp313, path: /opt/cp313/bin/python3}";
    assert_eq!(
        paths(&plan_of(&format!("[auto, {mine}]"))),
        [
            "/pyenv/3.11/bin/python3.11",
            "/pyenv/3.12/bin/python3.12",
            "/opt/cp313/bin/python3"
        ]
    );
    assert_eq!(
        paths(&plan_of(&format!("[{mine}, auto]"))),
        [
            "/opt/cp313/bin/python3",
            "/pyenv/3.11/bin/python3.11",
            "/pyenv/3.12/bin/python3.12"
        ]
    );
}

#[test]
fn an_interpreter_named_twice_is_planned_once_where_it_first_stands() {
    let twice = resolve(&matrix("[auto, auto]"), &machine(), &Filters::default()).unwrap();
    assert_eq!(ids(&twice), ["cp311", "cp312", "cp313"]);
    let listed_first = resolve(&matrix("[cp312, auto]"), &machine(), &Filters::default()).unwrap();
    assert_eq!(ids(&listed_first), ["cp312", "cp311", "cp313"]);
}

#[test]
fn the_python_filter_narrows_what_auto_finds() {
    let found = resolve(
        &matrix("auto"),
        &machine(),
        &python_filter(&["cp313", "cp311"]),
    )
    .unwrap();
    // Discovery's order, not the filter's.
    assert_eq!(ids(&found), ["cp311", "cp313"]);
}

/// An id this machine lacks, a path that would need probing and a build
/// that was not made are no error when `--python` leaves them out.
#[test]
fn entries_the_python_filter_drops_are_never_looked_up() {
    let m = matrix(&format!(
        "[cp399, {{id: mine, path: /opt/mine/bin/python3}}, {}, cp312, cp311]",
        build_entry("cp313d")
    ));
    let found = resolve(&m, &machine(), &python_filter(&["cp311"])).unwrap();
    assert_eq!(ids(&found), ["cp311"]);
}

#[test]
fn nothing_to_run_on_is_an_error() {
    let message = error_of(resolve(
        &matrix("auto"),
        &Discovery::default(),
        &Filters::default(),
    ));
    assert!(
        message.starts_with(&format!("{SOURCE}: no interpreter to run on: ")),
        "{message}"
    );
}

// ---- what must be built ----

#[test]
fn builds_needed_are_the_build_entries_the_python_filter_keeps() {
    let m = matrix(&format!(
        "[cp311, {}, auto, {}]",
        build_entry("cp313d"),
        build_entry("cp313t")
    ));
    let built_ids = |filters: &Filters| -> Vec<String> {
        builds_needed(&m, filters)
            .iter()
            .map(|b| b.id.clone())
            .collect()
    };
    assert_eq!(built_ids(&Filters::default()), ["cp313d", "cp313t"]);
    assert_eq!(built_ids(&python_filter(&["cp313t", "cp311"])), ["cp313t"]);
    assert!(built_ids(&python_filter(&["cp311"])).is_empty());
}

// ---- checking the filters ----

/// A matrix with every kind of `pythons` entry, targets alpha and beta,
/// scenarios reinit and reimport.
fn every_kind_of_entry() -> Matrix {
    parse(&format!(
        "pythons: [auto, {{id: mine, path: /opt/mine/bin/python3}}, {}]\n\
         scenarios: [reinit, reimport]\n{TWO_TARGETS}",
        build_entry("cp313d")
    ))
}

#[test]
fn filters_naming_what_the_matrix_has_pass() {
    let filters = Filters {
        // One found by `auto`, one by path, one built.
        pythons: vec!["cp312".into(), "mine".into(), "cp313d".into()],
        scenarios: vec![Scenario::Reimport],
        targets: vec!["beta".into()],
        shard: None,
    };
    check_filters(&every_kind_of_entry(), &machine(), &filters).unwrap();
}

#[test]
fn a_python_filter_outside_the_matrix_is_an_error_listing_its_interpreters() {
    let message = error_of(check_filters(
        &every_kind_of_entry(),
        &machine(),
        &python_filter(&["cp312", "cp399"]),
    ));
    assert_eq!(
        message,
        "--python cp399: not in this matrix; it has: cp311, cp312, cp313, mine, cp313d"
    );
}

#[test]
fn a_python_filter_for_an_id_only_auto_would_find_needs_auto() {
    let message = error_of(check_filters(
        &matrix("[cp311]"),
        &machine(),
        &python_filter(&["cp312"]),
    ));
    assert_eq!(message, "--python cp312: not in this matrix; it has: cp311");
}

#[test]
fn a_target_filter_outside_the_matrix_is_an_error_listing_its_targets() {
    let filters = Filters {
        targets: vec!["alpha".into(), "gamma".into()],
        ..Filters::default()
    };
    let message = error_of(check_filters(&every_kind_of_entry(), &machine(), &filters));
    assert_eq!(
        message,
        "--target gamma: not in this matrix; it has: alpha, beta"
    );
}

#[test]
fn a_scenario_filter_outside_the_matrix_is_an_error_listing_its_scenarios() {
    let filters = Filters {
        scenarios: vec![Scenario::Reinit, Scenario::SubinterpOwn],
        ..Filters::default()
    };
    let message = error_of(check_filters(&every_kind_of_entry(), &machine(), &filters));
    assert_eq!(
        message,
        "--scenario subinterp-own: not in this matrix; it has: reinit, reimport"
    );
}

// ---- the cells ----

fn cell(target: usize, python: usize, scenario: Scenario) -> Cell {
    Cell {
        target,
        python,
        scenario,
    }
}

fn two_pythons() -> Vec<Python> {
    machine().pythons[1..].to_vec()
}

#[test]
fn cells_go_target_then_interpreter_then_scenario() {
    let m = parse(&format!(
        "pythons: auto\nscenarios: [reimport, reinit]\n{TWO_TARGETS}"
    ));
    let plan = expand(&m, two_pythons(), &Filters::default());
    use Scenario::{Reimport, Reinit};
    assert_eq!(
        plan.cells,
        [
            cell(0, 0, Reimport),
            cell(0, 0, Reinit),
            cell(0, 1, Reimport),
            cell(0, 1, Reinit),
            cell(1, 0, Reimport),
            cell(1, 0, Reinit),
            cell(1, 1, Reimport),
            cell(1, 1, Reinit),
        ]
    );
}

#[test]
fn the_scenario_filter_keeps_the_matrixs_order() {
    let m = parse(&format!(
        "pythons: auto\nscenarios: [import, reinit, reimport]\n{TWO_TARGETS}"
    ));
    let filters = Filters {
        scenarios: vec![Scenario::Reimport, Scenario::Import],
        ..Filters::default()
    };
    let plan = expand(&m, two_pythons()[..1].to_vec(), &filters);
    let scenarios: Vec<Scenario> = plan.cells.iter().map(|c| c.scenario).collect();
    use Scenario::{Import, Reimport};
    assert_eq!(scenarios, [Import, Reimport, Import, Reimport]);
}

/// Cells index `Plan::targets`, which holds only the kept targets, in the
/// matrix's order.
#[test]
fn the_target_filter_keeps_targets_in_the_matrixs_order() {
    let m = parse(
        "pythons: auto\nscenarios: [reinit]\ntargets:\n  - {name: alpha, stdlib: all}\n  \
         - {name: beta, stdlib: all}\n  - {name: gamma, stdlib: all}\n",
    );
    let filters = Filters {
        targets: vec!["gamma".into(), "alpha".into()],
        ..Filters::default()
    };
    let plan = expand(&m, two_pythons()[..1].to_vec(), &filters);
    let names: Vec<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["alpha", "gamma"]);
    assert_eq!(
        plan.cells,
        [cell(0, 0, Scenario::Reinit), cell(1, 0, Scenario::Reinit)]
    );
}

#[test]
fn without_a_scenario_list_every_scenario_runs_in_its_order() {
    let plan = expand(
        &matrix("auto"),
        two_pythons()[..1].to_vec(),
        &Filters::default(),
    );
    let per_target: Vec<Scenario> = plan
        .cells
        .iter()
        .filter(|c| c.target == 1)
        .map(|c| c.scenario)
        .collect();
    assert_eq!(per_target, Scenario::ALL);
}

#[test]
fn the_plan_carries_the_interpreters_and_options_it_was_given() {
    let m = parse(&format!(
        "pythons: auto\noptions: {{cycles: 5, timeout_s: 9}}\n{TWO_TARGETS}"
    ));
    let plan = expand(&m, two_pythons(), &Filters::default());
    assert_eq!(plan.pythons, two_pythons());
    assert_eq!((plan.options.cycles, plan.options.timeout_s), (5, 9));
    assert_eq!(plan.options, m.options);
}

/// A matrix on `pythons` whose target `alpha` expects `expect`.
fn expecting(pythons: &str, expect: &str) -> Matrix {
    parse(&format!(
        "pythons: {pythons}\nscenarios: [import, reinit, subinterp-own]\ntargets:\n  - name: alpha\n    stdlib: all\n    expect: {expect}\n"
    ))
}

#[test]
fn expectations_matching_a_cell_of_the_whole_matrix_pass() {
    let m = expecting(
        "[cp311, cp313]",
        "{\"cp311/reinit\": crash, \"subinterp-*\": refused, \"m.*/cp31?/import\": pass}",
    );
    check_expectations(&m, &machine()).unwrap();
    // `auto`'s interpreters are what discovery found.
    let m = expecting("auto", "{\"cp312/*\": crash}");
    check_expectations(&m, &machine()).unwrap();
}

#[test]
fn an_expectation_matching_no_cell_is_an_error_at_its_pattern() {
    for (pattern, column) in [("\"cp399/*\"", 14), ("\"*/subinterp-sh*\"", 14)] {
        let m = expecting(
            "[cp311, cp313]",
            &format!("{{reinit: crash, {pattern}: crash}}"),
        );
        let PlanError(message) = check_expectations(&m, &machine()).unwrap_err();
        let pattern = pattern.trim_matches('"');
        assert!(
            message.starts_with(&format!(
                "{SOURCE}:6:{}: `{pattern}` matches no cell",
                column + 15
            )),
            "{message}"
        );
        assert!(
            message.ends_with("on cp311, cp313 and scenarios import, reinit, subinterp-own"),
            "{message}"
        );
    }
    // `auto` names only what was found.
    let m = expecting("auto", "{\"cp313t/*\": gil-enabled}");
    assert!(check_expectations(&m, &machine()).is_err());
}

#[test]
fn the_command_lines_filters_do_not_make_an_expectation_wrong() {
    // `--python cp313 --scenario import` leaves out every cell the
    // expectation names: it applies to nothing, and is no error.
    let m = expecting("[cp311, cp313]", "{\"cp311/reinit\": crash}");
    let filters = Filters {
        pythons: vec!["cp313".into()],
        scenarios: vec![Scenario::Import],
        targets: vec![],
        shard: None,
    };
    check_filters(&m, &machine(), &filters).unwrap();
    check_expectations(&m, &machine()).unwrap();
    let plan = expand(&m, resolve(&m, &machine(), &filters).unwrap(), &filters);
    assert_eq!(plan.cells.len(), 1);
}

/// Five targets on the machine's three interpreters and one built.
fn five_targets() -> Matrix {
    let targets: String = ["alpha", "beta", "gamma", "delta", "numpy"]
        .iter()
        .map(|t| format!("  - {{name: {t}, stdlib: all}}\n"))
        .collect();
    parse(&format!(
        "pythons: [auto, {}]\nscenarios: [import, reinit]\ntargets:\n{targets}",
        build_entry("cp313d")
    ))
}

/// The plan of `shard` of five_targets(), as `prepare` makes it: its
/// interpreters narrowed first, then the cells of its builds kept.
fn shard_plan(shard: Shard, filters: &Filters) -> extmatrix_plan::Plan {
    let m = five_targets();
    let filters = Filters {
        shard: Some(shard),
        ..filters.clone()
    };
    let (narrowed, of) = shard_filters(&m, &machine(), &filters);
    let built = HashMap::from([("cp313d".to_owned(), python("cp313d", 13, "/built/cp313d"))]);
    let pythons = resolve_pythons(&m, &machine(), &built, no_probe, &narrowed).unwrap();
    let mut plan = expand(&m, pythons, &narrowed);
    plan.keep_shard(of.unwrap());
    plan
}

/// A cell by names: (target, interpreter, scenario).
fn named(plan: &extmatrix_plan::Plan, c: &Cell) -> (String, String, Scenario) {
    (
        plan.targets[c.target].name.clone(),
        plan.pythons[c.python].id.clone(),
        c.scenario,
    )
}

#[test]
fn shards_split_the_cells_of_the_run_each_into_exactly_one_shard() {
    let m = five_targets();
    let filters = Filters::default();
    let built = HashMap::from([("cp313d".to_owned(), python("cp313d", 13, "/built/cp313d"))]);
    let pythons = resolve_pythons(&m, &machine(), &built, no_probe, &filters).unwrap();
    let whole = expand(&m, pythons, &filters);
    let mut all: Vec<_> = whole.cells.iter().map(|c| named(&whole, c)).collect();
    let mut joined = Vec::new();
    let run = Selection::of(&m, &machine(), &filters);
    for shard in Shard::all(3) {
        let plan = shard_plan(shard, &filters);
        assert!(!plan.cells.is_empty(), "{shard} is empty");
        // The cells kept are those of the builds the selection deals it
        // (what `plan --shards` shows).
        let mut builds: Vec<(String, String)> = plan
            .cells
            .iter()
            .map(|c| {
                let (t, p, _) = named(&plan, c);
                (t, p)
            })
            .collect();
        builds.dedup();
        let dealt: Vec<(String, String)> = run
            .units_of(shard)
            .into_iter()
            .map(|(t, p)| (t.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(builds, dealt, "{shard}");
        joined.extend(plan.cells.iter().map(|c| named(&plan, c)));
    }
    all.sort();
    joined.sort();
    assert_eq!(joined, all);
}

#[test]
fn a_build_and_all_its_scenarios_are_in_one_shard() {
    for shard in Shard::all(3) {
        let plan = shard_plan(shard, &Filters::default());
        for c in &plan.cells {
            let (target, python, _) = named(&plan, c);
            let scenarios = plan
                .cells
                .iter()
                .filter(|o| named(&plan, o).0 == target && named(&plan, o).1 == python)
                .count();
            assert_eq!(scenarios, 2, "{shard}: {target} on {python}");
        }
    }
}

#[test]
fn a_shard_resolves_only_the_interpreters_its_builds_use() {
    // Five targets, four interpreters, four shards: each target's four
    // builds go one to each shard, so each shard uses every interpreter;
    // one target alone on four interpreters in four shards: one each.
    let one = Filters {
        targets: vec!["numpy".into()],
        ..Filters::default()
    };
    let mut seen = Vec::new();
    for shard in Shard::all(4) {
        let plan = shard_plan(shard, &one);
        let ids: Vec<&str> = plan.pythons.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "{shard}: {ids:?}");
        seen.push(ids[0].to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["cp311", "cp312", "cp313", "cp313d"]);
}

#[test]
fn the_selection_is_the_whole_run_whatever_the_shard() {
    let m = five_targets();
    let filters = Filters {
        targets: vec!["numpy".into(), "beta".into()],
        pythons: vec!["cp313d".into(), "cp311".into()],
        ..Filters::default()
    };
    let run = Selection::of(&m, &machine(), &filters);
    assert_eq!(run.targets, ["beta", "numpy"]);
    assert_eq!(run.pythons, ["cp311", "cp313d"]);
    assert_eq!(run.scenarios, [Scenario::Import, Scenario::Reinit]);
    let (_, of) = shard_filters(
        &m,
        &machine(),
        &Filters {
            shard: Some(Shard { index: 2, count: 2 }),
            ..filters
        },
    );
    assert_eq!(of.unwrap().run, run);
    // Two targets on two interpreters: two builds per shard.
    for shard in Shard::all(2) {
        assert_eq!(run.units_of(shard).len(), 2, "{shard}");
    }
}

#[test]
fn more_shards_than_builds_leave_some_empty() {
    let m = five_targets();
    let one = Filters {
        targets: vec!["alpha".into()],
        pythons: vec!["cp312".into()],
        ..Filters::default()
    };
    let run = Selection::of(&m, &machine(), &one);
    let used: Vec<usize> = Shard::all(3).map(|s| run.units_of(s).len()).collect();
    assert_eq!(used.iter().sum::<usize>(), 1);
    for shard in Shard::all(3) {
        let (narrowed, _) = shard_filters(
            &m,
            &machine(),
            &Filters {
                shard: Some(shard),
                ..one.clone()
            },
        );
        // The engine plans no interpreter (and no cell) for an empty shard.
        assert_eq!(narrowed.pythons.is_empty(), run.units_of(shard).is_empty());
    }
}
