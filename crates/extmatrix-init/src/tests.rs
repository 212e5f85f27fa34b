use super::*;
use std::path::PathBuf;

fn fixture_project(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/projects")
        .join(name)
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn project(name: &str, kind: Kind, path: &str, modules: &[&str]) -> Project {
    Project {
        name: name.into(),
        kind,
        path: path.into(),
        modules: modules.iter().map(|m| (*m).into()).collect(),
    }
}

fn skipped(path: &str, why: Why) -> Skipped {
    Skipped {
        path: path.into(),
        why,
    }
}

/// The file `render` writes for `repo`, parsed as `extmatrix run` would
/// read it in the repository's root.
fn parsed(repo: &Repository, pythons: &[String]) -> (String, extmatrix_spec::Matrix) {
    let text = render(repo, pythons);
    let at = repo.root.join("extmatrix.yaml");
    let matrix = extmatrix_spec::parse(&text, &at).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, matrix)
}

const PYO3_CDYLIB: &str = "[package]\nname = \"ext\"\nversion = \"0.1.0\"\n[lib]\ncrate-type = [\"cdylib\"]\n[dependencies]\npyo3 = \"0.28\"\n";
const SETUPTOOLS_EXT: &str =
    "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('pkg._x', ['x.c'])])\n";

#[test]
fn the_setuptools_fixture_is_one_pip_project_with_its_two_modules() {
    let repo = detect(&fixture_project("two_modules")).unwrap();
    assert_eq!(
        repo.projects,
        [project(
            "twomod",
            Kind::Pip,
            "",
            &["twomod._isolated", "twomod._single"]
        )]
    );
    assert_eq!(repo.skipped, []);
}

#[test]
fn a_uv_workspace_is_its_maturin_member_not_its_root() {
    let repo = detect(&fixture_project("uv_workspace")).unwrap();
    assert_eq!(
        repo.projects,
        [project(
            "tally",
            Kind::Pip,
            "crates/tally-python",
            &["tally.tally"]
        )]
    );
    // The member's own crate is the member: not listed at all.
    assert_eq!(
        repo.skipped,
        [
            skipped("", Why::NotAPackage),
            skipped("crates/tally", Why::NoPyo3)
        ]
    );
}

#[test]
fn a_cargo_workspace_is_its_pyo3_cdylib_members() {
    let repo = detect(&fixture_project("cargo_workspace")).unwrap();
    assert_eq!(
        repo.projects,
        [project(
            "stats-py",
            Kind::Cargo,
            "crates/stats-py",
            &["stats"]
        )]
    );
    assert_eq!(
        repo.skipped,
        [
            skipped("crates/stats-convert", Why::NotCdylib),
            skipped("crates/stats-core", Why::NoPyo3)
        ]
    );
}

#[test]
fn a_package_with_test_modules_is_one_target_that_leaves_them_out() {
    let dir = fixture_project("with_test_modules");
    let repo = detect(&dir).unwrap();
    assert_eq!(
        repo.projects,
        [project(
            "tripack",
            Kind::Pip,
            "",
            &["tripack._core", "tripack.tests._probe"]
        )]
    );
    let (text, matrix) = parsed(&repo, &["cp313".into()]);
    let target = &matrix.targets[0];
    assert_eq!(target.exclude, TEST_PACKAGES);
    assert!(!text.contains("Left out"), "nothing was: {text}");
    assert!(target.modules.is_empty(), "every other module is tested");
    assert!(
        text.contains("The sources name: tripack._core.")
            && text.contains(
                "(The sources also name tripack.tests._probe, which `exclude` leaves out.)"
            )
            && text.contains("Delete `exclude` to test\n    # them too."),
        "{text}"
    );
}

#[test]
fn the_file_has_one_target_per_project_and_says_what_it_left_out() {
    for (fixture, key, path) in [
        ("uv_workspace", "pip", "crates/tally-python"),
        ("cargo_workspace", "cargo", "crates/stats-py"),
    ] {
        let dir = fixture_project(fixture);
        let repo = detect(&dir).unwrap();
        let (text, matrix) = parsed(&repo, &["cp312".into(), "cp313".into()]);
        assert_eq!(matrix.targets.len(), 1, "{text}");
        assert_eq!(matrix.scenarios, extmatrix_core::Scenario::ALL.to_vec());
        assert_eq!(matrix.pythons.len(), 2);
        let canonical = std::fs::canonicalize(dir.join(path)).unwrap();
        let target = &matrix.targets[0];
        match &target.kind {
            extmatrix_spec::TargetKind::Pip(extmatrix_spec::PipSource::Project(p)) => {
                assert_eq!((key, p), ("pip", &canonical))
            }
            extmatrix_spec::TargetKind::Cargo { manifest } => {
                assert_eq!((key, manifest), ("cargo", &canonical.join("Cargo.toml")))
            }
            other => panic!("{other:?}"),
        }
        // A cargo target is one module: nothing to exclude.
        assert_eq!(target.exclude.is_empty(), key == "cargo", "{text}");
        assert!(text.contains(&format!("    {key}: {path}\n")), "{text}");
        assert!(text.contains("# Left out, no target:\n"), "{text}");
    }
    let repo = detect(&fixture_project("uv_workspace")).unwrap();
    let text = render(&repo, &[]);
    assert!(
        text.starts_with(
            "# extmatrix.yaml, written by `extmatrix init` for uv_workspace: one target per \
             project\n# that builds extension modules (1 found)."
        ),
        "{text}"
    );
    assert!(
        text.contains("#   .             not a package: `[tool.uv] package = false`\n")
            && text.contains("#   crates/tally  a crate that does not depend on pyo3\n"),
        "{text}"
    );
    // No interpreter found: `auto`, still valid.
    let (_, matrix) = parsed(&repo, &[]);
    assert_eq!(matrix.pythons, [extmatrix_spec::PythonSelector::Auto]);
}

#[test]
fn tests_examples_and_docs_are_left_out_unless_a_workspace_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "setup.py", SETUPTOOLS_EXT);
    write(
        root,
        "examples/demo/pyproject.toml",
        "[build-system]\nbuild-backend = \"maturin\"\nrequires = [\"maturin\"]\n[project]\nname = \"demo\"\n",
    );
    write(root, "examples/demo/Cargo.toml", PYO3_CDYLIB);
    write(root, "tests/data/proj/setup.py", SETUPTOOLS_EXT);
    write(root, "benches/ext/Cargo.toml", PYO3_CDYLIB);
    let repo = detect(root).unwrap();
    let names: Vec<&Path> = repo.projects.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(names, [Path::new("")]);
    let not_own = |under: &str, kind| Why::NotOwn {
        under: under.into(),
        kind,
    };
    assert_eq!(
        repo.skipped,
        [
            skipped("benches/ext", not_own("benches", Kind::Cargo)),
            skipped("examples/demo", not_own("examples", Kind::Pip)),
            skipped("tests/data/proj", not_own("tests", Kind::Pip)),
        ]
    );
    let text = render(&repo, &[]);
    assert!(
        text.contains("to test it: - { name: demo, pip: examples/demo }")
            && text.contains("to test it: - { name: ext, cargo: benches/ext }"),
        "{text}"
    );
    // Named by a Cargo workspace, the crate under benches/ is the
    // repository's own.
    write(
        root,
        "Cargo.toml",
        "[workspace]\nmembers = [\"benches/*\"]\nexclude = [\"benches/old\"]\n",
    );
    write(root, "benches/old/Cargo.toml", PYO3_CDYLIB);
    let repo = detect(root).unwrap();
    let paths: Vec<(&Path, Kind)> = repo
        .projects
        .iter()
        .map(|p| (p.path.as_path(), p.kind))
        .collect();
    assert_eq!(
        paths,
        [
            (Path::new(""), Kind::Pip),
            (Path::new("benches/ext"), Kind::Cargo)
        ]
    );
    assert!(repo
        .skipped
        .contains(&skipped("benches/old", not_own("benches", Kind::Cargo))));
}

#[test]
fn a_uv_workspace_names_its_members_with_globs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "pyproject.toml",
        "[project]\nname = \"ws\"\n[tool.uv.workspace]\nmembers = [\"docs/*\"]\nexclude = [\"docs/skip\"]\n",
    );
    for member in ["docs/ext", "docs/skip"] {
        write(
            root,
            &format!("{member}/pyproject.toml"),
            "[build-system]\nrequires = [\"setuptools\", \"Cython>=3\"]\n",
        );
    }
    let repo = detect(root).unwrap();
    let paths: Vec<&Path> = repo.projects.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(paths, [Path::new("docs/ext")]);
    // The root, a `[project]` without a backend and no sources, builds
    // nothing (uv's virtual root).
    assert_eq!(repo.skipped[0], skipped("", Why::CompilesNothing));
    assert!(matches!(repo.skipped[1].why, Why::NotOwn { .. }));
}

#[test]
fn a_python_project_compiles_when_its_backend_requirements_configuration_or_sources_say_so() {
    let compiles = |files: &[(&str, &str)]| {
        let dir = tempfile::tempdir().unwrap();
        for (f, text) in files {
            write(dir.path(), f, text);
        }
        match detect(dir.path()) {
            Ok(repo) => repo.projects.len() == 1,
            Err(InitError::NotAProject { skipped, .. }) => {
                assert_eq!(skipped, [self::skipped("", Why::CompilesNothing)]);
                false
            }
            Err(e) => panic!("{e}"),
        }
    };
    let pyproject = |build: &str| ("pyproject.toml", format!("[build-system]\n{build}\n"));
    for build in [
        "build-backend = \"scikit_build_core.build\"",
        "build-backend = \"mesonpy\"",
        "build-backend = \"maturin\"",
        "requires = [\"setuptools\", \"pybind11>=2.10\"]",
        "requires = [\"setuptools\", \"setuptools_rust\"]",
        "requires = [\"setuptools\", \"Cython >= 3.0 ; python_version > '3.8'\"]",
        "requires = [\"setuptools\"]\n[tool.setuptools]\next-modules = [{name = \"a\", sources = [\"a.c\"]}]",
    ] {
        let (f, text) = pyproject(build);
        assert!(compiles(&[(f, &text)]), "{build}");
    }
    for build in [
        "build-backend = \"hatchling.build\"\nrequires = [\"hatchling\"]",
        "requires = [\"setuptools\", \"wheel\"]",
        "build-backend = \"flit_core.buildapi\"",
    ] {
        let (f, text) = pyproject(build);
        assert!(!compiles(&[(f, &text)]), "{build}");
    }
    let hatch = pyproject("build-backend = \"hatchling.build\"");
    assert!(compiles(&[(hatch.0, &hatch.1), ("src/pkg/_x.c", "")]));
    assert!(compiles(&[(hatch.0, &hatch.1), ("pkg/_x.pyx", "")]));
    assert!(!compiles(&[(hatch.0, &hatch.1), ("pkg/x.py", "")]));
    assert!(compiles(&[("setup.py", SETUPTOOLS_EXT)]));
    assert!(compiles(&[(
        "setup.py",
        "from setuptools import setup\nsetup(cffi_modules=['build.py:ffi'])\n"
    )]));
    assert!(!compiles(&[(
        "setup.py",
        "from setuptools import setup\nsetup()\n"
    )]));
    // The C sources of a project nested below are that project's.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "setup.py",
        "from setuptools import setup\nsetup()\n",
    );
    write(
        dir.path(),
        "vendored/lib/setup.py",
        "from setuptools import setup\nsetup()\n",
    );
    write(dir.path(), "vendored/lib/x.c", "");
    let repo = detect(dir.path()).unwrap();
    assert_eq!(repo.skipped, [skipped("", Why::CompilesNothing)]);
    let paths: Vec<&Path> = repo.projects.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(paths, [Path::new("vendored/lib")]);
}

#[test]
fn a_crate_is_a_target_only_when_no_python_project_builds_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // maturin building a crate elsewhere in the repository.
    write(
        root,
        "python/pyproject.toml",
        "[build-system]\nbuild-backend = \"maturin\"\n[project]\nname = \"bound\"\n[tool.maturin]\nmanifest-path = \"../rust/Cargo.toml\"\nmodule-name = \"bound._native\"\n",
    );
    write(root, "rust/Cargo.toml", PYO3_CDYLIB);
    // setuptools-rust builds any crate in its tree.
    write(
        root,
        "sr/setup.py",
        "from setuptools import setup\nfrom setuptools_rust import RustExtension\nsetup(rust_extensions=[RustExtension('sr._r', 'native/Cargo.toml')])\n",
    );
    write(root, "sr/native/Cargo.toml", PYO3_CDYLIB);
    // ... also when only its build requirements name setuptools-rust.
    write(
        root,
        "srp/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\", \"setuptools-rust>=1.9\"]\n[project]\nname = \"srp\"\n",
    );
    write(root, "srp/native/Cargo.toml", PYO3_CDYLIB);
    // A C project does not build the PyO3 crate in its tree.
    write(root, "cproj/setup.py", SETUPTOOLS_EXT);
    write(
        root,
        "cproj/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\"]\n",
    );
    write(root, "cproj/pyo3ext/Cargo.toml", PYO3_CDYLIB);
    // maturin's own crate, with the module name its pyproject gives.
    write(
        root,
        "named/pyproject.toml",
        "[build-system]\nbuild-backend = \"maturin\"\n[project]\nname = \"named\"\n[tool.maturin]\nmodule-name = \"named._ext\"\n",
    );
    write(root, "named/Cargo.toml", PYO3_CDYLIB);
    // A crate with a pyproject.toml that only configures tools.
    write(root, "alone/Cargo.toml", PYO3_CDYLIB);
    write(
        root,
        "alone/pyproject.toml",
        "[tool.ruff]\nline-length = 100\n",
    );
    // Never looked into: build outputs and environments.
    write(root, "alone/target/package/x/Cargo.toml", PYO3_CDYLIB);
    write(root, ".venv/lib/pkg/setup.py", SETUPTOOLS_EXT);
    write(root, ".github/actions/build/setup.py", SETUPTOOLS_EXT);
    let repo = detect(root).unwrap();
    assert_eq!(
        repo.projects,
        [
            project("ext", Kind::Cargo, "alone", &["ext"]),
            // setup.py names no project: the directory's name.
            project("cproj", Kind::Pip, "cproj", &["pkg._x"]),
            // A second `ext`: its path makes its name unique.
            project("ext-cproj-pyo3ext", Kind::Cargo, "cproj/pyo3ext", &["ext"]),
            project("named", Kind::Pip, "named", &["named._ext"]),
            project("bound", Kind::Pip, "python", &["bound._native"]),
            project("sr", Kind::Pip, "sr", &["sr._r"]),
            project("srp", Kind::Pip, "srp", &[]),
        ]
    );
    let built_by = |python: &str| Why::BuiltBy {
        python: python.into(),
    };
    assert_eq!(
        repo.skipped,
        [
            skipped("rust", built_by("python")),
            skipped("sr/native", built_by("sr")),
            skipped("srp/native", built_by("srp")),
        ]
    );
}

#[test]
fn a_project_whose_sources_name_no_module_gets_the_generic_hint() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        "[build-system]\nbuild-backend = \"mesonpy\"\n",
    );
    let repo = detect(dir.path()).unwrap();
    assert_eq!(repo.projects[0].modules, Vec::<String>::new());
    // No `[project].name`: the directory's.
    let dir_name = dir.path().file_name().unwrap().to_string_lossy();
    assert_eq!(repo.projects[0].name, target_name(&dir_name));
    let text = render(&repo, &[]);
    assert!(
        text.contains("    # tested, each as its own row; to test only some, list them: modules: [pkg._speedups]\n"),
        "{text}"
    );
    assert_eq!(target_name("***"), "---");
    assert_eq!(target_name(""), "project");
}

#[test]
fn target_names_are_unique_and_fit_for_a_matrix() {
    let dir = tempfile::tempdir().unwrap();
    for at in ["a", "b"] {
        write(
            dir.path(),
            &format!("{at}/pyproject.toml"),
            "[build-system]\nbuild-backend = \"mesonpy\"\n[project]\nname = \"my ext\"\n",
        );
    }
    let repo = detect(dir.path()).unwrap();
    let names: Vec<&str> = repo.projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["my-ext", "my-ext-b"]);
    let (_, matrix) = parsed(&repo, &[]);
    assert_eq!(matrix.targets.len(), 2);
}

#[test]
fn nothing_to_build_is_refused_with_what_was_found() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Cargo.toml", "[package]\nname = \"plain\"\n");
    let err = detect(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("no project that builds Python extension modules (found: .: a crate that does not depend on pyo3)")
            && err.contains("pyproject.toml"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = detect(empty.path()).unwrap_err().to_string();
    assert!(err.contains("extension modules: expected"), "{err}");
    write(dir.path(), "pyproject.toml", "[project\nname=");
    let err = detect(dir.path()).unwrap_err().to_string();
    assert!(err.contains("pyproject.toml:"), "{err}");
    // A pyproject.toml that cannot be read is an error, not "no project".
    std::fs::remove_file(dir.path().join("pyproject.toml")).unwrap();
    std::fs::create_dir(dir.path().join("pyproject.toml")).unwrap();
    let err = detect(dir.path()).unwrap_err();
    assert!(matches!(err, InitError::Unreadable { .. }), "{err}");
}

#[test]
fn setup_py_extensions_and_cython_sources_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "setup.py",
        "from setuptools import setup, Extension\nsetup(ext_modules=[\n  Extension('pkg._fast', ['a.c']),\n  Extension(name=\"pkg.other\", sources=['b.c']),\n  Extension(f'{name}.x', ['c.c']),\n  Extension('pkg.2fast', ['d.c']),\n])\n",
    );
    write(dir.path(), "src/pkg/_cy.pyx", "def f(): pass\n");
    write(dir.path(), "build/lib/pkg/_stale.pyx", "");
    let repo = detect(dir.path()).unwrap();
    assert_eq!(repo.projects[0].kind, Kind::Pip);
    assert_eq!(
        repo.projects[0].modules,
        ["pkg._cy", "pkg._fast", "pkg.other"]
    );
    let text = render(&repo, &[]);
    assert!(
        text.contains("The sources name: pkg._cy, pkg._fast, pkg.other.\n    # To test only some: modules: [pkg._cy]\n"),
        "{text}"
    );
}

#[test]
fn a_pyo3_crate_without_python_packaging_is_a_cargo_project() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Cargo.toml",
        "[package]\nname = \"my-ext\"\nversion = \"0.1.0\"\n[lib]\ncrate-type = [\"cdylib\"]\n[dependencies]\npyo3 = \"0.27\"\n",
    );
    let repo = detect(dir.path()).unwrap();
    assert_eq!(
        repo.projects,
        [project("my-ext", Kind::Cargo, "", &["my_ext"])]
    );
    let text = render(&repo, &["cp313".into()]);
    assert!(
        text.contains("    cargo: .\n    # The crate's cdylib is one extension module (its sources name: my_ext).\n"),
        "{text}"
    );
    assert!(!text.contains("exclude"), "{text}");
}
