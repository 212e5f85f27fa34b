//! Which interpreters a matrix makes discovery ask, on a stand-in machine:
//! shell scripts on `PATH` that count their probes. One test, alone in its
//! binary: it sets the process's environment.

use extmatrix_plan::Filters;
use extmatrix_provision::Store;
use std::path::{Path, PathBuf};

/// `bin/python3.<minor>`, answering as CPython 3.`minor`, counting its
/// probes in `probes-3.<minor>`.
fn interpreter(root: &Path, minor: u32) {
    use std::os::unix::fs::PermissionsExt;
    let exe = root.join(format!("bin/python3.{minor}"));
    let answer = serde_json::json!({
        "implementation": "cpython",
        "version": [3, minor, 0],
        "executable": exe,
        "debug": false,
        "free_threaded": false,
        "abiflags": "",
        "ldversion": format!("3.{minor}"),
        "bindir": root.join("bin"),
        "libdir": root.join("lib"),
        "include": root.join("include"),
        "cc": "gcc",
        "cflags": "",
        "ccshared": "-fPIC",
        "ldshared": "gcc -shared",
        "ext_suffix": ".so",
    });
    let count = root.join(format!("probes-3.{minor}"));
    let script = format!(
        // `PATH` is only `bin/`: `cat` by its path.
        "#!/bin/sh\necho probed >> '{}'\n/bin/cat <<'EOF'\n{answer}\nEOF\n",
        count.display()
    );
    std::fs::write(&exe, script).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join(format!("bin/python3.{minor}-config")), "").unwrap();
}

fn probes(root: &Path, minor: u32) -> usize {
    std::fs::read_to_string(root.join(format!("probes-3.{minor}"))).map_or(0, |s| s.lines().count())
}

/// A matrix file running one C target on `pythons`.
fn matrix(root: &Path, pythons: &str) -> extmatrix_spec::Matrix {
    let path = root.join("m.yaml");
    std::fs::write(
        &path,
        format!("pythons: {pythons}\nscenarios: [import]\ntargets:\n  - name: t\n    c: t.c\n"),
    )
    .unwrap();
    extmatrix_spec::load(&path).unwrap()
}

#[test]
fn a_matrix_of_ids_asks_only_the_candidates_that_can_have_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf = tmp.path().canonicalize().unwrap();
    for dir in ["bin", "include", "lib", "home", "data", "pyenv"] {
        std::fs::create_dir(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("include/Python.h"), "").unwrap();
    std::fs::write(root.join("t.c"), "").unwrap();
    interpreter(&root, 11);
    interpreter(&root, 12);
    // This machine as far as discovery looks, but /usr/bin and /usr/local/bin.
    std::env::set_var("PATH", root.join("bin"));
    std::env::set_var("HOME", root.join("home"));
    std::env::set_var("PYENV_ROOT", root.join("pyenv"));
    std::env::set_var("XDG_DATA_HOME", root.join("data"));
    std::env::remove_var("UV_PYTHON_INSTALL_DIR");
    let store = Store::new(root.join("cache"));

    let found =
        extmatrix_engine::matrix_pythons(&matrix(&root, "[cp312]"), &Filters::default(), &store);
    assert_eq!(
        found.get("cp312").unwrap().path,
        root.join("bin/python3.12")
    );
    assert_eq!((probes(&root, 11), probes(&root, 12)), (0, 1));

    // What `--python` leaves out is not asked either.
    let only_cp312 = Filters {
        pythons: vec!["cp312".into()],
        ..Filters::default()
    };
    extmatrix_engine::matrix_pythons(&matrix(&root, "[cp311, cp312]"), &only_cp312, &store);
    assert_eq!(probes(&root, 11), 0);

    // An id this machine lacks: everything is asked, so that the error can
    // say what the machine has.
    let found =
        extmatrix_engine::matrix_pythons(&matrix(&root, "[cp399]"), &Filters::default(), &store);
    assert_eq!(probes(&root, 11), 1);
    assert!(found.get("cp311").is_some(), "{}", found.ids());
    let err = extmatrix_engine::prepare(
        &matrix(&root, "[cp399]"),
        &Filters::default(),
        &store,
        1,
        &extmatrix_engine::Silent,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("no interpreter `cp399`"), "{message}");
    assert!(
        message.contains("cp311") && message.contains("cp312"),
        "{message}"
    );
}
