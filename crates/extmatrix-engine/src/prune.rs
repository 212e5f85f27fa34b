//! Which cache entries a future run can still use, and pruning the rest.
//! The store (`extmatrix-cache`) removes what this policy rejects, along with
//! incomplete entries and leftovers, and never touches a locked entry.
//!
//! - interpreter builds: kept when a given matrix builds them (same id,
//!   source and flags), names their id, or takes every interpreter (`auto`);
//!   a build entry whose tarball is not here to compute its key keeps every
//!   build of its id;
//! - harness and target builds: kept while every input they recorded is as
//!   it was (their C file and every header it read, their interpreter, the
//!   harness sources), their key was computed the way this extmatrix
//!   computes it (`KEY_SCHEME`: other keys are never looked up again), and
//!   their interpreter is not pruned in the same run;
//! - leak baselines: kept, as harness builds are, while their inputs are as
//!   they were (the harness binary they ran, its sources, the interpreter);
//! - downloaded sdists: kept while a given matrix names that `name==version`.
//! - cargo's target directories of `cargo:` targets (`<cache>/cargo-target/`,
//!   no store entries): kept while their crate's manifest and their
//!   interpreter are there, unchanged and not pruned in the same run.

use extmatrix_cache::{Input, Listed, Removed, Store};
use extmatrix_cpython_build::Meta;
use extmatrix_provision::{
    HARNESS_KIND, KEY_SCHEME, KEY_SCHEME_INPUT, SDISTS_KIND, SOURCES_INPUT, TARGETS_KIND,
};
use extmatrix_spec::{Matrix, PipSource, PythonSelector, TargetKind};
use std::path::PathBuf;

/// Prune `store`, keeping what `matrices` may use; with `dry_run`, only
/// say what would go. Each removal says why.
pub fn prune(store: &Store, matrices: &[Matrix], dry_run: bool) -> std::io::Result<Vec<Removed>> {
    let needed = Needed::of(matrices);
    // Interpreter builds first: what was built for them goes with them.
    let doomed: Vec<PathBuf> = store
        .list()
        .into_iter()
        .filter(|l| l.kind == extmatrix_cpython_build::KIND && l.is_complete())
        .filter(|l| needed.keeps(l).is_err())
        .map(|l| l.dir)
        .collect();
    let harness_sources = extmatrix_provision::harness_sources_digest();
    let mut removed = store.prune(
        |l| match l.kind.as_str() {
            extmatrix_cpython_build::KIND => needed.keeps(l),
            HARNESS_KIND | TARGETS_KIND | crate::BASELINES_KIND => {
                inputs_current(l, &doomed, &harness_sources)
            }
            SDISTS_KIND => needed.keeps_sdist(&l.name),
            _ => Ok(()),
        },
        dry_run,
    )?;
    // Cargo's target directories are no store entries (cargo keeps
    // rewriting them); they go with their crate or interpreter.
    removed.extend(extmatrix_provision::prune_cargo_target_dirs(
        store, &doomed, dry_run,
    )?);
    Ok(removed)
}

/// Which interpreter builds the matrices may use.
#[derive(Debug, Default)]
struct Needed {
    /// Keys of the builds they describe.
    keys: Vec<String>,
    /// Ids they name, or describe without a tarball here to compute the key.
    ids: Vec<String>,
    /// Some matrix takes every interpreter (`auto`).
    all: bool,
    /// The `sdists` entries of the requirements they name.
    sdists: Vec<String>,
}

impl Needed {
    fn of(matrices: &[Matrix]) -> Needed {
        let mut needed = Needed::default();
        for selector in matrices.iter().flat_map(|m| &m.pythons) {
            match selector {
                PythonSelector::Auto => needed.all = true,
                PythonSelector::Id { id, .. } => needed.ids.push(id.clone()),
                PythonSelector::Path { .. } => {}
                PythonSelector::Build(b) => match extmatrix_cpython_build::key_of(b) {
                    Some(key) => needed.keys.push(key),
                    None => needed.ids.push(b.id.clone()),
                },
            }
        }
        for target in matrices.iter().flat_map(|m| &m.targets) {
            if let TargetKind::Pip(PipSource::Requirement { name, version }) = &target.kind {
                needed
                    .sdists
                    .push(extmatrix_provision::sdist_entry_name(name, version));
            }
        }
        needed
    }

    fn keeps(&self, l: &Listed) -> Result<(), String> {
        let meta = l
            .meta_as::<Meta>()
            .ok_or("its meta.json is not an interpreter build this extmatrix can read")?;
        if self.all || self.keys.contains(&meta.key) || self.ids.contains(&meta.id) {
            Ok(())
        } else {
            Err(format!(
                "no given matrix builds {} with this source and these flags, or names it",
                meta.id
            ))
        }
    }
}

impl Needed {
    fn keeps_sdist(&self, name: &str) -> Result<(), String> {
        if self.sdists.iter().any(|s| s == name) {
            Ok(())
        } else {
            Err("no given matrix names this requirement".to_owned())
        }
    }
}

/// Whether a harness or target entry can still be used: every input it
/// recorded is as it was, and its interpreter is not being pruned.
fn inputs_current(l: &Listed, doomed: &[PathBuf], harness_sources: &str) -> Result<(), String> {
    let stamp = l
        .stamp
        .as_ref()
        .ok_or("it does not record what it was built from")?;
    let current_scheme = stamp.inputs.iter().any(|i| {
        matches!(i, Input::Value { name, value } if name == KEY_SCHEME_INPUT && value == KEY_SCHEME)
    });
    if !current_scheme {
        return Err(
            "its key was made by an older extmatrix, so no run looks it up again".to_owned(),
        );
    }
    for input in &stamp.inputs {
        match input {
            Input::Program { path, .. } if doomed.iter().any(|d| path.starts_with(d)) => {
                return Err(format!("its interpreter {} is pruned too", path.display()))
            }
            Input::Value { name, value } if name == SOURCES_INPUT && value != harness_sources => {
                return Err("built from other harness sources".to_owned())
            }
            _ => {}
        }
        if let Some(why) = input.changed() {
            return Err(why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete interpreter entry `<id>-<key>` in `store`.
    fn interpreter(store: &Store, id: &str, key: &str) {
        let meta = Meta {
            id: id.into(),
            key: key.into(),
            variant: extmatrix_core::Variant::Default,
            configure: vec![],
            source_sha256: "0".repeat(64),
            compiler: "cc".into(),
            seconds: vec![],
            size_bytes: 0,
            python: extmatrix_pythons::Python {
                id: id.into(),
                version: extmatrix_core::PythonVersion::new(3, 13, 0),
                debug: false,
                free_threaded: false,
                path: "/nonexistent/python3".into(),
                found_via: "built".into(),
                build: Default::default(),
            },
        };
        store
            .ensure::<Meta, std::io::Error>(
                extmatrix_cpython_build::KIND,
                &format!("{id}-{key}"),
                "test",
                &|| {},
                |_| Ok((meta, vec![])),
            )
            .unwrap();
    }

    fn matrix(dir: &std::path::Path, pythons: &str) -> Matrix {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../harness-c/fixtures/isolated_ok.c");
        let text = format!(
            "pythons: {pythons}\ntargets:\n  - name: ok\n    c: {}\n",
            fixture.display()
        );
        extmatrix_spec::parse(&text, &dir.join("m.yaml")).unwrap()
    }

    fn remaining(store: &Store) -> Vec<String> {
        let mut names: Vec<String> = store.list().into_iter().map(|l| l.name).collect();
        names.sort();
        names
    }

    #[test]
    fn an_interpreter_a_matrix_names_by_id_or_takes_with_auto_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cache"));
        interpreter(&store, "cp313t", "aa");
        interpreter(&store, "cp313d", "bb");
        let by_id = matrix(dir.path(), "[cp313t]");
        let dry = prune(&store, std::slice::from_ref(&by_id), true).unwrap();
        assert_eq!(dry.len(), 1);
        assert_eq!(
            remaining(&store),
            ["cp313d-bb", "cp313t-aa"],
            "a dry run removes nothing"
        );
        let auto = matrix(dir.path(), "auto");
        assert!(prune(&store, &[auto], false).unwrap().is_empty());
        let removed = prune(&store, &[by_id], false).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(
            removed[0].reason.contains("cp313d"),
            "{}",
            removed[0].reason
        );
        assert_eq!(remaining(&store), ["cp313t-aa"]);
    }

    fn scheme() -> Input {
        Input::value(KEY_SCHEME_INPUT, KEY_SCHEME)
    }

    /// A complete `kind` entry recording `inputs` (and the current key scheme).
    fn built_from(store: &Store, kind: &str, name: &str, inputs: Vec<Input>) {
        store
            .ensure::<serde_json::Value, std::io::Error>(kind, name, "test", &|| {}, |_| {
                let mut inputs = inputs;
                inputs.push(scheme());
                Ok((serde_json::json!({}), inputs))
            })
            .unwrap();
    }

    #[test]
    fn what_was_built_for_a_pruned_interpreter_or_from_changed_inputs_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cache"));
        interpreter(&store, "cp313t", "aa");
        interpreter(&store, "cp313d", "bb");
        let python_of = |name: &str| {
            let exe = store
                .entry_dir(extmatrix_cpython_build::KIND, name)
                .join("prefix/bin/python3");
            std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
            std::fs::write(&exe, "").unwrap();
            exe
        };
        let (kept_exe, doomed_exe) = (python_of("cp313t-aa"), python_of("cp313d-bb"));
        let sources = || Input::value(SOURCES_INPUT, extmatrix_provision::harness_sources_digest());
        built_from(
            &store,
            HARNESS_KIND,
            "cp313t-h",
            vec![Input::program(&kept_exe), sources()],
        );
        built_from(
            &store,
            HARNESS_KIND,
            "cp313d-h",
            vec![Input::program(&doomed_exe), sources()],
        );
        let source = dir.path().join("spam.c");
        std::fs::write(&source, "int x;").unwrap();
        let file = || Input::file(&source).unwrap();
        built_from(
            &store,
            TARGETS_KIND,
            "spam-t",
            vec![Input::program(&kept_exe), file()],
        );
        let other = dir.path().join("eggs.c");
        std::fs::write(&other, "int y;").unwrap();
        built_from(
            &store,
            TARGETS_KIND,
            "eggs-t",
            vec![Input::program(&kept_exe), Input::file(&other).unwrap()],
        );
        std::fs::write(&other, "int y = 1;").unwrap();

        let removed = prune(&store, &[matrix(dir.path(), "[cp313t]")], false).unwrap();
        let mut why: Vec<String> = removed
            .iter()
            .map(|r| format!("{}: {}", r.kind, r.reason))
            .collect();
        why.sort();
        assert_eq!(why.len(), 3, "{why:#?}");
        assert!(
            why[0].starts_with("harness: its interpreter") && why[0].contains("is pruned too"),
            "{why:#?}"
        );
        assert!(
            why[1].starts_with("pythons: no given matrix builds cp313d"),
            "{why:#?}"
        );
        assert!(
            why[2].starts_with("targets: ") && why[2].contains("eggs.c"),
            "{why:#?}"
        );
        assert_eq!(remaining(&store), ["cp313t-aa", "cp313t-h", "spam-t"]);
    }

    #[test]
    fn an_entry_for_an_interpreter_pruned_now_goes_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let python = dir.path().join("pythons/cp313d-abc/prefix/bin/python3");
        std::fs::create_dir_all(python.parent().unwrap()).unwrap();
        std::fs::write(&python, "").unwrap();
        let entry = store
            .ensure::<serde_json::Value, std::io::Error>(
                HARNESS_KIND,
                "cp313d-x",
                "test",
                &|| {},
                |_| {
                    Ok((
                        serde_json::json!({}),
                        vec![
                            Input::program(&python),
                            Input::value(
                                SOURCES_INPUT,
                                extmatrix_provision::harness_sources_digest(),
                            ),
                            scheme(),
                        ],
                    ))
                },
            )
            .unwrap();
        let listed = store
            .list()
            .into_iter()
            .find(|l| l.dir == entry.dir)
            .unwrap();
        let current = extmatrix_provision::harness_sources_digest();
        assert_eq!(inputs_current(&listed, &[], &current), Ok(()));
        let doomed = [dir.path().join("pythons/cp313d-abc")];
        assert!(inputs_current(&listed, &doomed, &current)
            .unwrap_err()
            .contains("is pruned too"));
        assert_eq!(
            inputs_current(&listed, &[], "other"),
            Err("built from other harness sources".to_owned())
        );
    }

    /// Mutation caught: entries keyed the old way (before the compiler's
    /// version and dependency list were part of a build) kept forever.
    #[test]
    fn an_sdist_goes_when_no_matrix_names_its_requirement() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cache"));
        built_from(&store, SDISTS_KIND, "ujson-6.1.0", vec![]);
        built_from(&store, SDISTS_KIND, "ujson-5.0.0", vec![]);
        std::fs::create_dir_all(dir.path().join("m")).unwrap();
        let m = extmatrix_spec::parse(
            "pythons: auto\ntargets: [{name: u, pip: \"ujson==6.1.0\"}]\n",
            &dir.path().join("m/m.yaml"),
        )
        .unwrap();
        let removed = prune(&store, &[m], false).unwrap();
        assert_eq!(remaining(&store), ["ujson-6.1.0"]);
        assert_eq!(removed.len(), 1);
        assert!(
            removed[0]
                .reason
                .contains("no given matrix names this requirement"),
            "{removed:?}"
        );
    }

    #[test]
    fn an_entry_keyed_by_an_older_extmatrix_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let source = dir.path().join("spam.c");
        std::fs::write(&source, "int x;").unwrap();
        for (name, scheme) in [
            ("old", None),
            ("other", Some("1")),
            ("new", Some(KEY_SCHEME)),
        ] {
            store
                .ensure::<serde_json::Value, std::io::Error>(
                    TARGETS_KIND,
                    name,
                    "test",
                    &|| {},
                    |_| {
                        let mut inputs = vec![Input::file(&source)?];
                        inputs.extend(scheme.map(|s| Input::value(KEY_SCHEME_INPUT, s)));
                        Ok((serde_json::json!({}), inputs))
                    },
                )
                .unwrap();
        }
        let removed = prune(&store, &[], false).unwrap();
        let mut gone: Vec<String> = removed
            .iter()
            .map(|r| {
                assert!(r.reason.contains("older extmatrix"), "{}", r.reason);
                r.path.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        gone.sort();
        assert_eq!(gone, ["old", "other"]);
        assert_eq!(remaining(&store), ["new"]);
    }
}
