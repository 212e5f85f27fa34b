//! Leaks and use-after-free across cycles, end to end: matrices/leaks.yaml
//! (each leaky fixture beside its clean twin, the three cycling scenarios,
//! the seven builds of full.yaml) with the user's build cache, as
//! the builds module does (`just setup` builds the interpreters).

use crate::common::*;
use serde_json::Value;

const ALL_BUILDS: [&str; 7] = [
    "cp311", "cp311d", "cp312", "cp313", "cp313d", "cp313t", "cp313td",
];
const CYCLING: [&str; 3] = ["reinit", "reimport", "subinterp-cycle"];
/// Builds whose objects come from pymalloc: what an ended interpreter
/// leaked stays counted (free-threaded builds' mimalloc forgets it; see
/// docs/outcomes.md, "What the figures cannot show").
const PYMALLOC_BUILDS: [&str; 5] = ["cp311", "cp311d", "cp312", "cp313", "cp313d"];

fn run_leaks(args: &[&str]) -> Run {
    run_matrix_with_cache(&repo_root().join("matrices/leaks.yaml"), args, None)
}

fn fired(cell: &Value) -> Vec<String> {
    cell["details"]["leak"]["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["fired"] == true)
                .map(|c| {
                    format!(
                        "{} {}",
                        c["series"].as_str().unwrap(),
                        c["test"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn leaky_fixtures_leak_and_their_twins_do_not() {
    let run = run_leaks(&[]);
    let r = &run.report;
    for python in PYMALLOC_BUILDS {
        for scenario in CYCLING {
            for target in ["leaks_a_reference_per_import", "leaks_memory_per_exec"] {
                let c = cell(r, target, python, scenario);
                assert_eq!(c["outcome"], "leak", "{target} {python} {scenario}: {c}");
                // The details carry both series and the baseline's.
                let leak = &c["details"]["leak"];
                assert_eq!(leak["baseline"].as_array().unwrap().len(), 8);
                assert_eq!(c["details"]["cycles"].as_array().unwrap().len(), 8);
                assert_eq!(leak["warmup"], 2);
            }
            // Which figure shows which leak.
            let refs = fired(cell(r, "leaks_a_reference_per_import", python, scenario));
            assert!(
                refs.contains(&"malloc_kib slope".to_owned()),
                "{python} {scenario}: {refs:?}"
            );
            let blocks = fired(cell(r, "leaks_memory_per_exec", python, scenario));
            assert!(
                blocks.iter().any(|f| f.starts_with("blocks")),
                "{python} {scenario}: {blocks:?}"
            );
        }
    }
    // Free-threaded builds: re-imports in one interpreter show both leaks;
    // the debug variant counts the leaked reference in every scenario.
    for python in ["cp313t", "cp313td"] {
        let c = cell(r, "leaks_memory_per_exec", python, "reimport");
        assert_eq!(c["outcome"], "leak", "{c}");
    }
    // (Not reimport: there the debug build's own count grows per re-import,
    // so regrtest's test is not made; docs/outcomes.md.)
    for scenario in ["reinit", "subinterp-cycle"] {
        let c = cell(r, "leaks_a_reference_per_import", "cp313td", scenario);
        assert_eq!(c["outcome"], "leak", "{scenario}: {c}");
        assert!(
            fired(c).iter().any(|f| f.starts_with("refs")),
            "{:?}",
            fired(c)
        );
    }
    for python in ALL_BUILDS {
        for scenario in CYCLING {
            for twin in [
                "drops_its_references",
                "frees_its_memory",
                "keeps_its_type_in_module_state",
            ] {
                let c = cell(r, twin, python, scenario);
                assert_eq!(c["outcome"], "pass", "{twin} {python} {scenario}: {c}");
                let leak = &c["details"]["leak"];
                assert!(
                    leak["checks"].as_array().is_some_and(|c| !c.is_empty()),
                    "{c}"
                );
                // The debug allocator ran (pymalloc_debug, mimalloc_debug).
                let allocator = leak["allocator"].as_str().unwrap_or_default();
                assert!(allocator.ends_with("_debug"), "{python}: {allocator}");
            }
        }
    }
}

/// matrices/leaks.yaml (its interpreters, scenarios and options) with
/// `copies` copies of its target `twin` (`frees_its_memory.run01`, ...) as
/// its targets, in a temporary directory; its relative paths made absolute.
fn copies_of(twin: &str, copies: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let leaks = repo_root().join("matrices/leaks.yaml");
    let text = std::fs::read_to_string(&leaks).unwrap();
    let (head, _) = text
        .split_once("\ntargets:\n")
        .expect("leaks.yaml lists its targets last");
    let root = format!("{}/", repo_root().display());
    let mut yaml = format!("{}\ntargets:\n", head.replace("../", &root));
    let matrix = extmatrix_spec::load(&leaks).unwrap();
    let target = matrix.targets.iter().find(|t| t.name == twin).unwrap();
    for copy in 1..=copies {
        yaml += &target_entry(target, &format!("{twin}.run{copy:02}"));
    }
    temp_matrix(&yaml)
}

/// `target` as a `targets` entry under another name (JSON strings are YAML
/// strings, so paths and smoke code need no escaping of their own).
fn target_entry(target: &extmatrix_spec::TargetSpec, name: &str) -> String {
    let extmatrix_spec::TargetKind::CFile { source } = &target.kind else {
        panic!("{} is not a C file", target.name);
    };
    format!(
        "  - {{name: {name}, c: {}, smoke: {}}}\n",
        serde_json::json!(source),
        serde_json::json!(target.smoke.as_deref().unwrap_or(""))
    )
}

/// `twin` passes 20 times out of 20 in every cycling scenario on every
/// build, each cell read by the leak rule against its baseline.
fn never_leaks_in_20_runs(twin: &str) {
    let (_dir, matrix) = copies_of(twin, 20);
    let run = run_matrix_with_cache(&matrix, &[], None);
    let cells = cells(&run.report);
    assert_eq!(cells.len(), 20 * CYCLING.len() * ALL_BUILDS.len());
    for c in cells {
        assert_eq!(c["outcome"], "pass", "{c}");
        // Read by the leak rule, against a baseline: not a pass unread.
        let leak = &c["details"]["leak"];
        assert_eq!(leak["baseline"].as_array().map(Vec::len), Some(8), "{c}");
        assert!(
            leak["checks"].as_array().is_some_and(|k| !k.is_empty()),
            "{c}"
        );
    }
}

/// The clean twins never flake into `leak`: every cycling scenario, every
/// build, 20 runs of each twin (1,260 cells), each run its own harness
/// process and cycles, read against its baseline (from the cache, as in a
/// user's second run).
///
/// Each twin's 20 runs are 20 copies of it in one `extmatrix run`, not 20
/// runs of the matrix: what a cell costs is its cycles (80-95% of a
/// `reinit` or `subinterp-cycle` cell is spent inside them, so batching
/// cycles into fewer processes would save little), while one run keeps
/// both cores busy from its first cell to its last and discovers,
/// provisions and judges once. One test per twin lets nextest spread them.
mod clean_twins_never_leak_in_20_runs {
    use super::never_leaks_in_20_runs;

    #[test]
    fn drops_its_references() {
        never_leaks_in_20_runs("drops_its_references");
    }

    #[test]
    fn frees_its_memory() {
        never_leaks_in_20_runs("frees_its_memory");
    }

    #[test]
    fn keeps_its_type_in_module_state() {
        never_leaks_in_20_runs("keeps_its_type_in_module_state");
    }
}

/// A type kept in a C global across Py_FinalizeEx crashes every time, on
/// every build, with the debug allocator on, while the target runs (its
/// import or its smoke code) in a cycle after the first: the second, or on
/// cp313 now and then the third, when the freed memory was first reused by
/// an object that still answers.
#[test]
fn use_after_finalize_fails_the_same_way_in_20_runs() {
    let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
    for _ in 0..20 {
        let run = run_leaks(&[
            "--target",
            "uses_its_type_after_finalize",
            "--scenario",
            "reinit",
        ]);
        for python in ALL_BUILDS {
            let c = cell(
                &run.report,
                "uses_its_type_after_finalize",
                python,
                "reinit",
            );
            let verdict = format!(
                "{} at {}",
                c["outcome"].as_str().unwrap(),
                c["details"]["step"].as_str().unwrap_or("?")
            );
            let step = c["details"]["step"].as_str().unwrap_or("?");
            let later_cycle_runs_target = step
                .strip_prefix("cycle ")
                .and_then(|rest| rest.split_once(": "))
                .is_some_and(|(n, action)| {
                    n.parse::<u32>().is_ok_and(|n| n >= 2) && ["import", "smoke"].contains(&action)
                });
            assert!(later_cycle_runs_target, "{python}: {verdict}");
            seen.entry(python.to_owned()).or_default().push(verdict);
        }
    }
    for (python, verdicts) in &seen {
        assert!(
            verdicts.iter().all(|v| v.starts_with("crash at cycle ")),
            "{python}: {verdicts:?}"
        );
    }
}

/// A baseline runs once and is kept with its interpreter's harness: a
/// second run reads the very same figures (wall times included), and
/// `cache list` shows the entry.
#[test]
fn baselines_are_kept_in_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let args = [
        "--target",
        "frees_its_memory",
        "--python",
        "cp313",
        "--scenario",
        "reinit",
    ];
    let matrix = repo_root().join("matrices/leaks.yaml");
    let baseline = |run: &Run| {
        cell(&run.report, "frees_its_memory", "cp313", "reinit")["details"]["leak"]["baseline"]
            .clone()
    };
    let first = run_matrix_with_cache(&matrix, &args, Some(cache.path()));
    let second = run_matrix_with_cache(&matrix, &args, Some(cache.path()));
    assert_eq!(baseline(&first).as_array().unwrap().len(), 8);
    assert_eq!(baseline(&first), baseline(&second));
    let listed = extmatrix_in(&["cache", "list"], Some(cache.path()));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("baselines"), "{text}");
}
