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

/// The clean twins never flake into `leak`: every cycling scenario, every
/// build, 20 runs (each with its own baselines).
#[test]
fn clean_twins_never_leak_in_20_runs() {
    for round in 0..20 {
        let run = run_leaks(&[
            "--target",
            "drops_its_references,frees_its_memory,keeps_its_type_in_module_state",
        ]);
        for c in cells(&run.report) {
            assert_eq!(c["outcome"], "pass", "round {round}: {c}");
        }
        assert_eq!(cells(&run.report).len(), 3 * 3 * ALL_BUILDS.len());
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
