//! Discovery against the real interpreters of the machine, through search
//! places built for each test.

use extmatrix_pythons::{discover, probe, ProbeCache, SearchPlaces};
use std::os::unix::fs::symlink;
use std::path::PathBuf;

/// The executable of a discovered interpreter, found the way the tool finds it.
fn real_python(id: &str) -> PathBuf {
    let d = discover(&SearchPlaces::from_env());
    d.get(id)
        .unwrap_or_else(|| {
            panic!(
                "{id} is not on this machine (found {}); CI must provide it",
                d.ids()
            )
        })
        .path
        .clone()
}

fn only_dir(dir: PathBuf) -> SearchPlaces {
    SearchPlaces {
        path_dirs: vec![dir],
        ..SearchPlaces::default()
    }
}

#[test]
fn the_id_comes_from_the_interpreter_not_its_name() {
    let dir = tempfile::tempdir().unwrap();
    // A misleading name: discovery must ask the interpreter what it is.
    symlink(real_python("cp312"), dir.path().join("python3.13")).unwrap();
    let d = discover(&only_dir(dir.path().to_path_buf()));
    assert_eq!(d.ids(), "cp312");
    let py = &d.pythons[0];
    assert_eq!((py.version.major, py.version.minor), (3, 12));
    assert!(!py.debug && !py.free_threaded);
    assert_eq!(py.found_via, "PATH");
    assert!(py.build.include_dir.join("Python.h").is_file());
    assert!(py.build.config_script.is_file());
    assert!(py.build.ext_suffix.contains("312"));
}

#[test]
fn the_same_interpreter_found_twice_is_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let exe = real_python("cp313");
    symlink(&exe, dir.path().join("python3")).unwrap();
    symlink(&exe, dir.path().join("python3.13")).unwrap();
    let d = discover(&only_dir(dir.path().to_path_buf()));
    assert_eq!(d.pythons.len(), 1);
    assert!(d.shadowed.is_empty());
}

#[test]
fn what_is_not_an_embeddable_cpython_is_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("python3.99");
    std::fs::write(&fake, "#!/bin/sh\necho 'not json'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d = discover(&only_dir(dir.path().to_path_buf()));
    assert!(d.pythons.is_empty());
    assert_eq!(d.rejected.len(), 1);
    assert!(
        d.rejected[0].reason.contains("not its JSON"),
        "{:?}",
        d.rejected
    );
}

#[test]
fn probe_takes_the_id_a_matrix_gives() {
    let py = probe(&real_python("cp311"), "matrix", Some("cp311-mine")).unwrap();
    assert_eq!(py.id, "cp311-mine");
    assert_eq!(py.version.minor, 11);
    let err = probe(std::path::Path::new("/nonexistent/python3"), "matrix", None).unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/python3"));
}

#[test]
fn a_kept_answer_describes_a_real_interpreter_as_its_probe_does() {
    let d = discover(&SearchPlaces::from_env());
    let dir = tempfile::tempdir().unwrap();
    let cache = ProbeCache::new(dir.path());
    for id in ["cp311", "cp312", "cp313"] {
        let exe = &d.get(id).expect("CI provides it").path;
        let fresh = probe(exe, "PATH", None).unwrap();
        assert_eq!(
            cache.probe(exe, "PATH", None).unwrap(),
            fresh,
            "{id}, probed"
        );
        assert_eq!(cache.probe(exe, "PATH", None).unwrap(), fresh, "{id}, kept");
    }
    // Each answer was kept: what the probe says it read is there and old.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
