//! Probe answers kept between runs, and discovery asking only for what it
//! is asked: counted with stand-in interpreters, shell scripts that append
//! a line to their own count file each time they are probed and answer
//! with a fixed description.

use extmatrix_pythons::{discover_with, Asking, BuildConfig, ProbeCache, Python, SearchPlaces};
use std::path::{Path, PathBuf};

/// A directory of stand-in interpreters and the cache of their answers.
struct Machine {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    cache: ProbeCache,
}

impl Machine {
    fn new() -> Machine {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for dir in ["bin", "include", "lib", "other"] {
            std::fs::create_dir(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("include/Python.h"), "").unwrap();
        std::fs::write(root.join("lib/libpython3.so"), "v1").unwrap();
        let cache = ProbeCache::new(root.join("cache/discovery"));
        Machine {
            _tmp: tmp,
            root,
            cache,
        }
    }

    /// `bin/<name>`, answering as CPython 3.`minor` whose executable is
    /// `executable` (itself when `None`).
    fn interpreter(&self, name: &str, minor: u32, executable: Option<&Path>) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = self.root.join("bin").join(name);
        let answer = serde_json::json!({
            "implementation": "cpython",
            "version": [3, minor, 0],
            "executable": executable.unwrap_or(&exe),
            "debug": false,
            "free_threaded": false,
            "abiflags": "",
            "ldversion": format!("3.{minor}"),
            "bindir": self.root.join("bin"),
            "libdir": self.root.join("lib"),
            "include": self.root.join("include"),
            "cc": "gcc",
            "cflags": "",
            "ccshared": "-fPIC",
            "ldshared": "gcc -shared",
            "ext_suffix": ".so",
            "extension_suffixes": [".so"],
            "configure_args": "",
            "depends_on": [self.root.join("lib/libpython3.so")],
        });
        let script = format!(
            "#!/bin/sh\necho probed >> '{}'\ncat <<'EOF'\n{answer}\nEOF\n",
            self.count_file(name).display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(self.root.join(format!("bin/python3.{minor}-config")), "").unwrap();
        settle();
        exe
    }

    fn count_file(&self, name: &str) -> PathBuf {
        self.root.join(format!("probes-{name}"))
    }

    /// How many times `bin/<name>` was probed.
    fn probes(&self, name: &str) -> usize {
        std::fs::read_to_string(self.count_file(name))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn places(&self) -> SearchPlaces {
        SearchPlaces {
            // `other/` first: a symlink there is found before its target.
            path_dirs: vec![self.root.join("other"), self.root.join("bin")],
            ..SearchPlaces::default()
        }
    }

    /// Discovery through the cache; the ids found.
    fn discover(&self, ids: Option<&[String]>) -> String {
        let asking = Asking {
            cache: Some(&self.cache),
            ids,
        };
        discover_with(&self.places(), asking).ids()
    }
}

/// Wait until what was just written is old enough for an answer read from
/// it to be kept (`extmatrix_cache::TIMESTAMP_SLACK`).
fn settle() {
    std::thread::sleep(extmatrix_cache::TIMESTAMP_SLACK * 2);
}

fn set_modified(path: &Path, secs_ago: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    settle();
}

#[test]
fn an_unchanged_interpreter_is_probed_once() {
    let m = Machine::new();
    m.interpreter("python3.12", 12, None);
    assert_eq!(m.discover(None), "cp312");
    assert_eq!(m.probes("python3.12"), 1);
    assert_eq!(m.discover(None), "cp312");
    // Another process's cache object, the same directory.
    let again = ProbeCache::new(m.root.join("cache/discovery"));
    let py = again
        .probe(&m.root.join("bin/python3.12"), "PATH", None)
        .unwrap();
    assert_eq!((py.id.as_str(), py.found_via.as_str()), ("cp312", "PATH"));
    assert_eq!(m.probes("python3.12"), 1, "answered from the cache");
}

#[test]
fn a_changed_executable_is_probed_again() {
    let m = Machine::new();
    let exe = m.interpreter("python3.12", 12, None);
    m.discover(None);
    // Its modification time only.
    set_modified(&exe, 3600);
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 2);
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 2, "unchanged since");
    // Its size.
    let mut text = std::fs::read_to_string(&exe).unwrap();
    text.push_str("# rebuilt\n");
    std::fs::write(&exe, text).unwrap();
    settle();
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 3);
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 3);
}

#[test]
fn a_changed_libpython_is_probed_again() {
    let m = Machine::new();
    m.interpreter("python3.12", 12, None);
    m.discover(None);
    // The file the probe said it loaded, replaced by an upgrade.
    std::fs::write(m.root.join("lib/libpython3.so"), "v2").unwrap();
    settle();
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 2);
}

#[test]
fn a_virtual_environment_appearing_beside_it_is_probed_again() {
    let m = Machine::new();
    m.interpreter("python3.12", 12, None);
    m.discover(None);
    // Where Python looks: one level up from the executable, and beside it.
    for (cfg, probes) in [("pyvenv.cfg", 2), ("bin/pyvenv.cfg", 3)] {
        std::fs::write(m.root.join(cfg), "home = /elsewhere\n").unwrap();
        settle();
        m.discover(None);
        assert_eq!(m.probes("python3.12"), probes, "{cfg}");
    }
}

#[test]
fn a_symlink_pointed_elsewhere_is_probed_again() {
    let m = Machine::new();
    m.interpreter("python3.12", 12, None);
    m.interpreter("python3.13", 13, None);
    let link = m.root.join("other/python3");
    std::os::unix::fs::symlink(m.root.join("bin/python3.12"), &link).unwrap();
    let cache = &m.cache;
    assert_eq!(cache.probe(&link, "PATH", None).unwrap().id, "cp312");
    assert_eq!(cache.probe(&link, "PATH", None).unwrap().id, "cp312");
    assert_eq!(m.probes("python3.12"), 1);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(m.root.join("bin/python3.13"), &link).unwrap();
    assert_eq!(cache.probe(&link, "PATH", None).unwrap().id, "cp313");
    assert_eq!(m.probes("python3.13"), 1);
    // To another name of the same file (a hard link elsewhere: Python
    // finds its prefix from the name), whose identity is the same.
    std::fs::hard_link(m.root.join("bin/python3.13"), m.root.join("lib/python3.13")).unwrap();
    settle();
    cache.probe(&link, "PATH", None).unwrap();
    assert_eq!(m.probes("python3.13"), 2, "the link count is the inode's");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(m.root.join("lib/python3.13"), &link).unwrap();
    cache.probe(&link, "PATH", None).unwrap();
    assert_eq!(m.probes("python3.13"), 3);
}

#[test]
fn a_damaged_cache_entry_is_probed_again_and_replaced() {
    let m = Machine::new();
    m.interpreter("python3.12", 12, None);
    m.discover(None);
    let dir = m.root.join("cache/discovery");
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    std::fs::write(&entries[0], "{\"format\": 1, \"answer\": ").unwrap();
    assert_eq!(m.discover(None), "cp312", "never an error");
    assert_eq!(m.probes("python3.12"), 2);
    m.discover(None);
    assert_eq!(m.probes("python3.12"), 2, "replaced");
}

#[test]
fn a_wrapper_that_answers_for_another_executable_is_probed_every_time() {
    let m = Machine::new();
    let real = m.interpreter("python3.12", 12, None);
    m.interpreter("python3.13", 13, Some(&real));
    m.discover(None);
    m.discover(None);
    assert_eq!(m.probes("python3.13"), 2);
    assert_eq!(m.probes("python3.12"), 1);
}

#[test]
fn only_the_candidates_that_can_have_an_id_asked_for_are_probed() {
    let m = Machine::new();
    m.interpreter("python3.11", 11, None);
    m.interpreter("python3.12", 12, None);
    // No version in its name: it must be asked.
    m.interpreter("python3", 13, None);
    // Its name has none, the file it links to does (found first: the
    // candidate python3.11 is).
    std::os::unix::fs::symlink(m.root.join("bin/python3.11"), m.root.join("other/python3"))
        .unwrap();
    let cp312 = ["cp312".to_owned()];
    assert_eq!(m.discover(Some(&cp312)), "cp312, cp313");
    assert_eq!(
        [
            m.probes("python3.11"),
            m.probes("python3.12"),
            m.probes("python3")
        ],
        [0, 1, 1]
    );
    // Asked again: the one without a version comes from the cache.
    m.discover(Some(&cp312));
    assert_eq!(m.probes("python3"), 1);
    // An id discovery never gives (a build's own name) asks no versioned name.
    assert_eq!(m.discover(Some(&["cp313t-tsan".to_owned()])), "cp313");
    assert_eq!(m.probes("python3.11"), 0);
    // Everything.
    assert_eq!(m.discover(None), "cp311, cp312, cp313");
    assert_eq!(m.probes("python3.11"), 1);
}

#[test]
fn an_interpreter_with_every_fact_is_not_probed_to_refresh_it() {
    let m = Machine::new();
    let exe = m.interpreter("python3.12", 12, None);
    let described = Python {
        id: "cp312-built".into(),
        version: extmatrix_core::PythonVersion::new(3, 12, 0),
        debug: false,
        free_threaded: false,
        path: exe,
        found_via: "built".into(),
        build: BuildConfig {
            extension_suffixes: vec![".so".into()],
            configure_args: Some(String::new()),
            ..BuildConfig::default()
        },
    };
    assert_eq!(described.clone().refreshed(), described);
    assert_eq!(m.probes("python3.12"), 0);
    // Described by an older extmatrix: asked for what it lacks.
    let older = Python {
        build: BuildConfig {
            configure_args: None,
            ..described.build.clone()
        },
        ..described
    };
    let refreshed = older.refreshed();
    assert_eq!(m.probes("python3.12"), 1);
    assert_eq!(refreshed.id, "cp312-built");
    assert_eq!(refreshed.build.configure_args.as_deref(), Some(""));
}
