//! Cells run without `site`: only the standard library and the module's
//! own directory (with its `.pth` files) are on `sys.path`; a target that
//! asks for `site` gets it.

use crate::common::{command, errors, module_dir};
use extmatrix_core::Scenario;
use extmatrix_protocol::Event;
use extmatrix_runner::{run_cell, Lease, Observation, Termination};

/// Ran to its end with neither the import nor the smoke code raising.
fn passed(obs: &Observation) -> bool {
    obs.termination == (Termination::Exited { code: 0 })
        && obs.events.contains(&Event::Done)
        && errors(obs).is_empty()
}

/// Mutations caught: `site_import` left on; `--site` not passed.
#[test]
fn no_site_packages_unless_the_target_asks_for_site() {
    let dir = module_dir("hermetic_probe");
    let smoke = "import sys\n\
                 assert sys.flags.no_site == 1, sys.flags\n\
                 assert not [p for p in sys.path if 'site-packages' in p], sys.path\n";
    for scenario in [Scenario::Reinit, Scenario::SubinterpLegacy] {
        let cmd = command(scenario, "hermetic_probe", dir.path().to_owned(), smoke);
        let obs = run_cell(&cmd, &Lease::none()).unwrap();
        assert!(passed(&obs), "{scenario}: {:?}", errors(&obs));
    }
    let mut cmd = command(
        Scenario::Import,
        "hermetic_probe",
        dir.path().to_owned(),
        "import sys\nassert sys.flags.no_site == 0, sys.flags\n",
    );
    cmd.site = true;
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(passed(&obs), "{:?}", errors(&obs));
}

/// A `.pth` file in the module's directory is read (as `site` reads a site
/// directory's) in every interpreter: its path line and its `import` line.
/// Mutations caught: the module directory's `.pth` files not read.
#[test]
fn the_module_directorys_pth_files_are_read() {
    let dir = module_dir("needs_a_pth");
    let extra = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(extra.path().join("from_pth.py"), "WHERE = 'extra'\n").unwrap();
    std::fs::write(
        dir.path().join("deps.pth"),
        format!(
            "{}\nimport sys; sys.pth_ran = getattr(sys, 'pth_ran', 0) + 1\n",
            extra.path().display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("needs_a_pth.py"),
        "import from_pth\nVALUE = from_pth.WHERE\n",
    )
    .unwrap();
    let smoke = "import sys\nassert m.VALUE == 'extra'\nassert sys.pth_ran == 1, sys.pth_ran\n";
    for scenario in [Scenario::Reinit, Scenario::SubinterpShared] {
        let cmd = command(scenario, "needs_a_pth", dir.path().to_owned(), smoke);
        let obs = run_cell(&cmd, &Lease::none()).unwrap();
        assert!(passed(&obs), "{scenario}: {:?}", errors(&obs));
    }
}

/// What an import warns about is kept — from C before `warnings` exists,
/// a category the default filters ignore, from Python — and the harness
/// imports no `warnings` of its own for it: the module finds none, a
/// filter of the module's own still wins, and no trace of the capture is
/// left in the filters afterwards. Every cycle's import is watched.
/// Mutations caught: the witness not put first, not taken out, or a
/// warning it saw not kept.
#[test]
fn an_imports_warnings_are_kept_without_importing_warnings() {
    let dir = module_dir("warns");
    std::fs::write(
        dir.path().join("warns.py"),
        "import _warnings, sys\n\
         HAD_WARNINGS = 'warnings' in sys.modules\n\
         _warnings.warn('from C, before warnings exists', RuntimeWarning)\n\
         _warnings.warn('ignored by default', DeprecationWarning)\n\
         import warnings\n\
         warnings.warn('from Python', UserWarning)\n\
         with warnings.catch_warnings():\n    \
             warnings.simplefilter('ignore')\n    \
             warnings.warn('the module ignores this one', UserWarning)\n",
    )
    .unwrap();
    let smoke = "import warnings\n\
                 assert not m.HAD_WARNINGS\n\
                 left = [f for f in warnings.filters if not isinstance(f[2], type)]\n\
                 assert not left, left\n";
    let cmd = command(Scenario::Reinit, "warns", dir.path().to_owned(), smoke);
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(passed(&obs), "{:?}", errors(&obs));
    let warned: Vec<(String, String, String)> = obs
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Warning(w) => Some((w.step.to_string(), w.category.clone(), w.message.clone())),
            _ => None,
        })
        .collect();
    let each_cycle = |n: u32| {
        [
            ("RuntimeWarning", "from C, before warnings exists"),
            ("DeprecationWarning", "ignored by default"),
            ("UserWarning", "from Python"),
        ]
        .map(|(c, m)| (format!("cycle {n}: import"), c.to_owned(), m.to_owned()))
    };
    let expected: Vec<_> = (1..=cmd.cycles).flat_map(each_cycle).collect();
    assert_eq!(warned, expected);
}
