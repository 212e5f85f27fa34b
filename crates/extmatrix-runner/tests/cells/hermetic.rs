//! Cells run without `site`: only the standard library and the module's
//! own directory (with its `.pth` files) are on `sys.path`; a target that
//! asks for `site` gets it.

use crate::common::{command, errors, module_dir};
use extmatrix_core::Scenario;
use extmatrix_protocol::Event;
use extmatrix_runner::{run_cell, Lease, Observation, Termination};

fn passed(obs: &Observation) -> bool {
    obs.termination == (Termination::Exited { code: 0 }) && obs.events.contains(&Event::Done)
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
