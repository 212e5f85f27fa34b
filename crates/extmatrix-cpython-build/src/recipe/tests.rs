//! The recipe against a small CPython-shaped source tree whose Makefile
//! carries `libinstall`'s rules as CPython 3.13 writes them (the test suite
//! chosen by `TEST_MODULES`, compileall at `-o 0 -o 1 -o 2`, the static
//! libpython by `STATIC_LIBPYTHON`), built by the real steps: tar, its
//! configure script, make, and a real python3 running compileall.

use super::*;
use crate::{configure_args, Quiet, Steps};
use extmatrix_core::Variant;
use extmatrix_spec::{BuildSpec, Location, SourceSpec};
use std::path::PathBuf;
use std::process::Command;

/// Sets `prefix` and `STATIC_LIBPYTHON` from its arguments, as CPython's
/// configure does for `--prefix` and `--without-static-libpython`.
const CONFIGURE: &str = r#"#!/bin/sh
prefix=/usr/local
static=1
for a in "$@"; do
  case $a in
    --prefix=*) prefix=${a#--prefix=} ;;
    --without-static-libpython) static=0 ;;
  esac
done
sed -e "s|@prefix@|$prefix|" -e "s|@STATIC_LIBPYTHON@|$static|" Makefile.pre > Makefile
"#;

/// The parts of CPython 3.13's Makefile.pre.in the recipe changes; the two
/// compileall rules are copied as they are.
const MAKEFILE_PRE: &str = "prefix=@prefix@
LIBDEST=$(prefix)/lib/python3.13
DESTSHARED=$(LIBDEST)/lib-dynload
LIBPL=$(LIBDEST)/config-3.13
STATIC_LIBPYTHON=@STATIC_LIBPYTHON@
PYTHON_FOR_BUILD=python3
RUNSHARED=
COMPILEALL_OPTS=-j0
TEST_MODULES=yes
LIBSUBDIRS=json
TESTSUBDIRS=test

all:
\ttrue

install: all
\tmkdir -p $(DESTDIR)$(DESTSHARED) $(DESTDIR)$(LIBPL)
\tcp Modules/_testcapi.so $(DESTDIR)$(DESTSHARED)/
\t@if test \"$(STATIC_LIBPYTHON)\" = 1; then cp libpython3.13.a $(DESTDIR)$(LIBPL)/; fi
\tcp Lib/*.py $(DESTDIR)$(LIBDEST)/
\t@if test \"$(TEST_MODULES)\" = yes; then \\
\t\tsubdirs=\"$(LIBSUBDIRS) $(TESTSUBDIRS)\"; \\
\telse \\
\t\tsubdirs=\"$(LIBSUBDIRS)\"; \\
\tfi; \\
\tfor d in $$subdirs; do \\
\t\tmkdir -p $(DESTDIR)$(LIBDEST)/$$d; cp Lib/$$d/*.py $(DESTDIR)$(LIBDEST)/$$d/; \\
\tdone
\t-PYTHONPATH=$(DESTDIR)$(LIBDEST) $(RUNSHARED) \\
\t\t$(PYTHON_FOR_BUILD) -Wi $(DESTDIR)$(LIBDEST)/compileall.py \\
\t\t-o 0 -o 1 -o 2 $(COMPILEALL_OPTS) -d $(LIBDEST) -f \\
\t\t-x 'bad_coding|badsyntax|site-packages' \\
\t\t$(DESTDIR)$(LIBDEST)
\t-PYTHONPATH=$(DESTDIR)$(LIBDEST) $(RUNSHARED) \\
\t\t$(PYTHON_FOR_BUILD) -Wi $(DESTDIR)$(LIBDEST)/compileall.py \\
\t\t-o 0 -o 1 -o 2 $(COMPILEALL_OPTS) -d $(LIBDEST)/site-packages -f \\
\t\t-x badsyntax $(DESTDIR)$(LIBDEST)/site-packages
";

/// `Python-fake.tar` in `dir`: the tree above with a stdlib module, a
/// package, a test, an extension module, a static libpython and python3's
/// own compileall.py (the Makefile runs the installed copy).
fn fake_cpython_tarball(dir: &Path) -> PathBuf {
    let src = dir.join("Python-fake");
    for sub in ["Lib/json", "Lib/test", "Modules"] {
        std::fs::create_dir_all(src.join(sub)).unwrap();
    }
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
    write("configure", CONFIGURE);
    write("Makefile.pre", MAKEFILE_PRE);
    write("Lib/textwrap.py", "WIDTH = 70\n");
    write("Lib/json/__init__.py", "def dumps(x):\n    return str(x)\n");
    write("Lib/test/test_textwrap.py", "import textwrap\n");
    write("Modules/_testcapi.so", "an extension module");
    write("libpython3.13.a", "an archive");
    let compileall = Command::new("python3")
        .args(["-c", "import compileall; print(compileall.__file__)"])
        .output()
        .expect("python3 runs");
    let compileall = String::from_utf8(compileall.stdout).unwrap();
    std::fs::copy(compileall.trim(), src.join("Lib/compileall.py")).unwrap();
    let exe = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(src.join("configure"), exe).unwrap();
    let tarball = dir.join("Python-fake.tar");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg("Python-fake")
        .status()
        .unwrap();
    assert!(tar.success());
    tarball
}

/// Every file under `root`, relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn spec(tarball: &Path) -> BuildSpec {
    BuildSpec {
        id: "cp313fake".into(),
        source: SourceSpec::Tarball {
            path: tarball.to_owned(),
            sha256: None,
        },
        variant: Variant::Debug,
        configure: Vec::new(),
        at: Location::default(),
    }
}

/// What the fake's own `configure && make install` leaves: the recipe's
/// absence, so that the test below shows what the recipe removes.
fn installed_as_cpython_does(dir: &Path, tarball: &Path, prefix: &Path) -> Vec<String> {
    let src_root = dir.join("plain");
    std::fs::create_dir_all(&src_root).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    };
    run(Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(&src_root));
    let src = src_root.join("Python-fake");
    run(Command::new("./configure")
        .arg(format!("--prefix={}", prefix.display()))
        .current_dir(&src));
    let destdir = dir.join("plain-destdir");
    run(Command::new("make")
        .arg("install")
        .arg(format!("DESTDIR={}", destdir.display()))
        .current_dir(&src));
    files_under(&destdir.join(prefix.strip_prefix("/").unwrap()))
}

/// What the recipe leaves out of an installed tree: the test suite,
/// bytecode for optimisation levels 1 and 2, the static libpython.
fn left_out(file: &str) -> bool {
    file.contains("/test/")
        || file.contains(".opt-1.pyc")
        || file.contains(".opt-2.pyc")
        || file.ends_with(".a")
}

#[test]
fn a_build_installs_neither_the_test_suite_nor_optimised_bytecode_nor_the_static_libpython() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = fake_cpython_tarball(dir.path());
    let prefix = dir.path().join("entry/prefix");
    let plain = installed_as_cpython_does(dir.path(), &tarball, &prefix);
    for file in [
        "lib/python3.13/test/test_textwrap.py",
        "lib/python3.13/test/__pycache__/test_textwrap.cpython-",
        "lib/python3.13/__pycache__/textwrap.cpython-",
        ".opt-1.pyc",
        ".opt-2.pyc",
        "lib/python3.13/config-3.13/libpython3.13.a",
    ] {
        assert!(plain.iter().any(|f| f.contains(file)), "{file}: {plain:#?}");
    }

    let spec = spec(&tarball);
    let log_path = dir.path().join("build.log");
    let mut log = std::fs::File::create(&log_path).unwrap();
    let mut steps = Steps {
        spec: &spec,
        log: &mut log,
        log_path: &log_path,
        progress: &Quiet,
        seconds: Vec::new(),
    };
    let work = dir.path().join("work");
    let configure = configure_args(&spec, &prefix);
    let destdir = steps
        .compile_and_install(&work, &tarball, &configure, 2)
        .unwrap();
    let lean = files_under(&destdir.join(prefix.strip_prefix("/").unwrap()));

    // Exactly what CPython installs, less what the recipe leaves out.
    let expected: Vec<&String> = plain.iter().filter(|f| !left_out(f)).collect();
    assert_eq!(lean.iter().collect::<Vec<_>>(), expected);
    for kept in [
        "lib/python3.13/lib-dynload/_testcapi.so",
        "lib/python3.13/textwrap.py",
        "lib/python3.13/json/__init__.py",
    ] {
        assert!(lean.iter().any(|f| f == kept), "{kept}: {lean:#?}");
    }
    let level_0: Vec<&String> = lean.iter().filter(|f| f.ends_with(".pyc")).collect();
    assert!(
        level_0.iter().any(|f| f.contains("__pycache__/textwrap."))
            && level_0
                .iter()
                .any(|f| f.contains("json/__pycache__/__init__.")),
        "level-0 bytecode is still compiled at install: {level_0:#?}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("TEST_MODULES=no") && log.contains(&bytecode_note(2)),
        "{log}"
    );
}

#[test]
fn a_makefile_that_compiles_otherwise_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let makefile = dir.path().join("Makefile");
    // CPython 3.8's libinstall: one compileall per level.
    let older = "libinstall:\n\t$(PYTHON_FOR_BUILD) -Wi compileall.py -d $(LIBDEST) -f\n\
                 \t$(PYTHON_FOR_BUILD) -Wi -O compileall.py -d $(LIBDEST) -f\n";
    std::fs::write(&makefile, older).unwrap();
    assert_eq!(compile_bytecode_for_level_0_only(&makefile).unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&makefile).unwrap(), older);
    assert!(bytecode_note(0).contains("compiled as it says"));
}

#[test]
fn every_part_of_the_install_recipe_is_in_the_key() {
    let parts: Vec<&str> = install_parts().collect();
    for part in INSTALL_OVERRIDES.iter().chain(&BYTECODE_LEVELS) {
        assert!(parts.contains(part), "{part} is not hashed: {parts:?}");
    }
    let described = describe();
    assert!(
        described.contains("TEST_MODULES=no") && described.contains("-o 0 instead of"),
        "{described}"
    );
}
