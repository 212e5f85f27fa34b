use super::*;
use std::path::PathBuf;

fn fixture_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/projects/two_modules")
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_setuptools_fixture_is_a_pip_project_with_its_two_modules() {
    let project = detect(&fixture_project()).unwrap();
    assert_eq!(
        project,
        Project {
            name: "twomod".into(),
            kind: Kind::Pip,
            modules: vec!["twomod._isolated".into(), "twomod._single".into()],
        }
    );
}

#[test]
fn the_starter_file_is_a_valid_matrix_that_tests_the_project_in_place() {
    let project = detect(&fixture_project()).unwrap();
    let text = render(&project, &["cp312".into(), "cp313".into()]);
    // Written into the project's directory, `pip: .` names the project.
    let at = fixture_project().join("extmatrix.yaml");
    let matrix = extmatrix_spec::parse(&text, &at).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(matrix.scenarios, Scenario::ALL.to_vec());
    assert_eq!(matrix.pythons.len(), 2);
    let target = &matrix.targets[0];
    assert_eq!(target.name, "twomod");
    assert!(
        target.modules.is_empty(),
        "every module of the build is tested"
    );
    assert_eq!(
        target.kind,
        extmatrix_spec::TargetKind::Pip(extmatrix_spec::PipSource::Project(
            std::fs::canonicalize(fixture_project()).unwrap()
        ))
    );
    assert!(text.contains("The sources name: twomod._isolated, twomod._single."));
    // No interpreter found: `auto`, still valid.
    let text = render(&project, &[]);
    let matrix = extmatrix_spec::parse(&text, &at).unwrap();
    assert_eq!(matrix.pythons, [extmatrix_spec::PythonSelector::Auto]);
}

#[test]
fn setup_py_extensions_and_cython_sources_are_found() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "setup.py",
        "from setuptools import setup, Extension\nsetup(ext_modules=[\n  Extension('pkg._fast', ['a.c']),\n  Extension(name=\"pkg.other\", sources=['b.c']),\n  Extension(f'{name}.x', ['c.c']),\n  Extension('pkg.2fast', ['d.c']),\n])\n",
    );
    write(dir.path(), "src/pkg/_cy.pyx", "def f(): pass\n");
    write(dir.path(), "build/lib/pkg/_stale.pyx", "");
    let project = detect(dir.path()).unwrap();
    assert_eq!(project.kind, Kind::Pip);
    assert_eq!(project.modules, ["pkg._cy", "pkg._fast", "pkg.other"]);
}

#[test]
fn a_pyo3_crate_without_python_packaging_is_a_cargo_project() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Cargo.toml",
        "[package]\nname = \"my-ext\"\nversion = \"0.1.0\"\n[lib]\ncrate-type = [\"cdylib\"]\n[dependencies]\npyo3 = \"0.27\"\n",
    );
    let project = detect(dir.path()).unwrap();
    assert_eq!(project.kind, Kind::Cargo);
    assert_eq!(project.name, "my-ext");
    assert_eq!(project.modules, ["my_ext"]);
    let text = render(&project, &["cp313".into()]);
    assert!(text.contains("    cargo: .\n"), "{text}");
}

#[test]
fn anything_else_is_refused_with_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Cargo.toml", "[package]\nname = \"plain\"\n");
    let err = detect(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("no Python extension project") && err.contains("pyproject.toml"),
        "{err}"
    );
    write(dir.path(), "pyproject.toml", "[project\nname=");
    let err = detect(dir.path()).unwrap_err().to_string();
    assert!(err.contains("pyproject.toml:"), "{err}");
    // A pyproject.toml that cannot be read is an error, not "no project".
    std::fs::remove_file(dir.path().join("pyproject.toml")).unwrap();
    std::fs::create_dir(dir.path().join("pyproject.toml")).unwrap();
    let err = detect(dir.path()).unwrap_err();
    assert!(matches!(err, InitError::Unreadable { .. }), "{err}");
}
