//! Matrix files in, `Matrix` values or located errors out.

use extmatrix_core::{Scenario, SubinterpKind};
use extmatrix_spec::{
    load, parse, BuildSpec, Location, Matrix, Options, PipSource, PythonSelector, SourceSpec,
    SpecError, TargetKind, TargetSpec, Variant,
};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A scratch project: `matrices/` for matrix files and a real C file at
/// `harness-c/fixtures/isolated_ok.c`, like the repository's layout.
struct Project {
    dir: TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("matrices")).unwrap();
        std::fs::create_dir_all(dir.path().join("harness-c/fixtures")).unwrap();
        std::fs::write(
            dir.path().join("harness-c/fixtures/isolated_ok.c"),
            "/* module */\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("matrices/other-mod.c"), "/* module */\n").unwrap();
        Project { dir }
    }

    fn matrix_path(&self) -> PathBuf {
        self.dir.path().join("matrices/m.yaml")
    }

    fn matrices_dir(&self) -> PathBuf {
        self.dir.path().join("matrices")
    }

    fn c_file(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path().join("harness-c/fixtures/isolated_ok.c")).unwrap()
    }

    fn parse(&self, text: &str) -> Result<Matrix, SpecError> {
        parse(text, &self.matrix_path())
    }

    /// Parse text that must fail; check where and return the message.
    fn error_at(&self, text: &str, line: usize, column: usize) -> String {
        let err = match self.parse(text) {
            Ok(matrix) => panic!("expected an error, got {matrix:?}"),
            Err(err) => err,
        };
        assert_eq!(
            (err.line, err.column),
            (line, column),
            "wrong location for: {err}"
        );
        assert_eq!(err.path, self.matrix_path().display().to_string());
        err.message
    }
}

fn at(line: usize, column: usize) -> Location {
    Location { line, column }
}

/// A minimal valid target, for tests about other sections.
const TARGETS: &str = "targets:\n  - {name: t, c: ../harness-c/fixtures/isolated_ok.c}\n";

#[test]
fn valid_full_file_round_trips() {
    let project = Project::new();
    let text = "\
pythons:
  - auto
  - cp313t
  - {id: cp311-debian, path: bin/python3.11}
  - id: system
    path: /usr/bin/python3
scenarios: [reinit, import, subinterp-own]
options: { cycles: 3, timeout_s: 120, jobs: 2, warmup: 0, leak_kib_per_cycle: 512,
           leak_blocks_per_cycle: 10, debug_allocator: false, subinterp: own, threads: 4, interpreters: 6, rounds: 9, waves: 2, repeat: 5,
           deadlock_s: 0 }
targets:
  - name: isolated_ok
    c: ../harness-c/fixtures/isolated_ok.c
    module: pkg.isolated_ok
    site: true
    smoke: |
      assert m.bump() >= 1
      assert m.bump() >= 2
  - name: plain.2
    c: ../harness-c/fixtures/isolated_ok.c
    smoke: \"m.bump()\"
";
    let expected = Matrix {
        source: project.matrix_path(),
        pythons: vec![
            PythonSelector::Auto,
            PythonSelector::Id {
                id: "cp313t".into(),
                at: at(3, 5),
            },
            PythonSelector::Path {
                id: "cp311-debian".into(),
                path: project.matrices_dir().join("bin/python3.11"),
                at: at(4, 5),
            },
            PythonSelector::Path {
                id: "system".into(),
                path: PathBuf::from("/usr/bin/python3"),
                at: at(5, 5),
            },
        ],
        scenarios: vec![Scenario::Reinit, Scenario::Import, Scenario::SubinterpOwn],
        options: Options {
            cycles: 3,
            warmup: 0,
            leak_kib_per_cycle: 512,
            leak_blocks_per_cycle: 10,
            debug_allocator: false,
            subinterp: Some(SubinterpKind::Own),
            timeout_s: 120,
            deadlock_s: 0,
            jobs: Some(2),
            threads: Some(4),
            interpreters: Some(6),
            rounds: 9,
            waves: 2,
            repeat: Some(5),
            memory_mb: 4096,
            build_timeout_s: 600,
        },
        targets: vec![
            TargetSpec {
                name: "isolated_ok".into(),
                kind: TargetKind::CFile {
                    source: project.c_file(),
                },
                modules: vec!["pkg.isolated_ok".into()],
                exclude: vec![],
                smoke: Some("assert m.bump() >= 1\nassert m.bump() >= 2\n".into()),
                site: true,
                expect: vec![],
                at: at(12, 5),
            },
            TargetSpec {
                name: "plain.2".into(),
                kind: TargetKind::CFile {
                    source: project.c_file(),
                },
                modules: vec!["isolated_ok".into()],
                exclude: vec![],
                smoke: Some("m.bump()".into()),
                site: false,
                expect: vec![],
                at: at(19, 5),
            },
        ],
    };
    assert_eq!(project.parse(text).unwrap(), expected);
}

#[test]
fn optional_sections_default() {
    let project = Project::new();
    let matrix = project.parse(&format!("pythons: auto\n{TARGETS}")).unwrap();
    assert_eq!(matrix.pythons, vec![PythonSelector::Auto]);
    assert_eq!(matrix.scenarios, Scenario::ALL.to_vec());
    assert_eq!(
        matrix.options,
        Options {
            cycles: 8,
            warmup: 2,
            leak_kib_per_cycle: 64,
            leak_blocks_per_cycle: 64,
            debug_allocator: true,
            subinterp: None,
            timeout_s: 60,
            deadlock_s: 3,
            jobs: None,
            threads: None,
            interpreters: None,
            rounds: 50,
            waves: 3,
            repeat: None,
            memory_mb: 4096,
            build_timeout_s: 600,
        }
    );
    assert_eq!(matrix.targets[0].modules, ["isolated_ok"]);
    assert_eq!(matrix.targets[0].smoke, None);
    assert_eq!(matrix.targets[0].at, at(3, 5));

    let matrix = project
        .parse(&format!("pythons: auto\noptions: {{jobs: 8}}\n{TARGETS}"))
        .unwrap();
    assert_eq!(
        matrix.options,
        Options {
            jobs: Some(8),
            ..Options::default()
        }
    );
}

#[test]
fn load_reads_the_file() {
    let project = Project::new();
    let text = format!("pythons: auto\n{TARGETS}");
    std::fs::write(project.matrix_path(), &text).unwrap();
    assert_eq!(
        load(&project.matrix_path()).unwrap(),
        project.parse(&text).unwrap()
    );
}

#[test]
fn load_unreadable_file_is_at_line_0() {
    let project = Project::new();
    let err = load(&project.matrix_path()).unwrap_err();
    assert_eq!((err.line, err.column), (0, 0));
    assert!(err.message.contains("cannot read the matrix file"), "{err}");
    assert_eq!(
        err.to_string(),
        format!("{}:0:0: {}", project.matrix_path().display(), err.message)
    );
}

#[test]
fn load_invalid_utf8_names_the_first_bad_byte() {
    let project = Project::new();
    std::fs::write(
        project.matrix_path(),
        b"pythons: auto\ntargets: [\xc3\xa9, \xff]\n",
    )
    .unwrap();
    let err = load(&project.matrix_path()).unwrap_err();
    assert_eq!((err.line, err.column), (2, 14), "{err}");
    assert!(err.message.contains("not valid UTF-8"), "{err}");
}

#[test]
fn display_is_path_line_column_message() {
    let err = parse("pythons: auto\nbogus: 1\n", Path::new("matrices/x.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matrices/x.yaml:2:1: unknown key `bogus` in the matrix file; allowed keys: pythons, scenarios, options, targets"
    );
}

#[test]
fn unknown_key_in_options() {
    let project = Project::new();
    let message = project.error_at(
        &format!("pythons: auto\n\noptions: {{ retries: 3 }}\n{TARGETS}"),
        3,
        12,
    );
    assert_eq!(
        message,
        "unknown key `retries` in `options`; allowed keys: cycles, warmup, leak_kib_per_cycle, \
         leak_blocks_per_cycle, debug_allocator, subinterp, timeout_s, deadlock_s, jobs, threads, \
         interpreters, rounds, waves, repeat, memory_mb, build_timeout_s"
    );
}

#[test]
fn unknown_key_in_target() {
    let project = Project::new();
    let text = "pythons: auto\ntargets:\n  - name: t\n    c: ../harness-c/fixtures/isolated_ok.c\n    smok: x\n";
    let message = project.error_at(text, 5, 5);
    assert!(
        message.contains("unknown key `smok`")
            && message.contains("name, c, pip, cargo, stdlib, module, modules, exclude, smoke"),
        "{message}"
    );
}

#[test]
fn unknown_scenario_in_flow_list() {
    let project = Project::new();
    let message = project.error_at(
        &format!("pythons: auto\nscenarios: [import, subinterp]\n{TARGETS}"),
        2,
        21,
    );
    assert_eq!(message, "subinterp".parse::<Scenario>().unwrap_err());
    assert!(message.contains("allowed: import, reinit"), "{message}");
}

#[test]
fn duplicate_scenario() {
    let project = Project::new();
    let text = format!("pythons: auto\nscenarios:\n  - import\n  - reinit\n  - import\n{TARGETS}");
    let message = project.error_at(&text, 5, 5);
    assert_eq!(message, "scenario `import` is listed twice (first at 3:5)");
}

#[test]
fn wrong_type_for_an_option() {
    let project = Project::new();
    let text = format!("pythons: auto\noptions:\n  timeout_s: 10\n  cycles: five\n{TARGETS}");
    let message = project.error_at(&text, 4, 11);
    assert_eq!(
        message,
        "`cycles` must be an integer >= 1, found string \"five\""
    );

    let message = project.error_at(
        &format!("pythons: auto\noptions: {{jobs: 0}}\n{TARGETS}"),
        2,
        17,
    );
    assert_eq!(message, "`jobs` must be an integer >= 1, found integer 0");

    let message = project.error_at(
        &format!("pythons: auto\noptions: {{cycles: \"5\"}}\n{TARGETS}"),
        2,
        19,
    );
    assert_eq!(
        message,
        "`cycles` must be an integer >= 1, found string \"5\""
    );

    let message = project.error_at(
        &format!("pythons: auto\noptions: [cycles]\n{TARGETS}"),
        2,
        10,
    );
    assert!(message.starts_with(
        "`options` must be a mapping with keys cycles, warmup, leak_kib_per_cycle, \
         leak_blocks_per_cycle, debug_allocator, subinterp, timeout_s, deadlock_s, jobs, threads, \
         interpreters, rounds, waves, repeat, memory_mb, build_timeout_s, found a list"
    ));
}

#[test]
fn wrong_type_for_pythons_and_targets() {
    let project = Project::new();
    let message = project.error_at(&format!("pythons: cp313\n{TARGETS}"), 1, 10);
    assert!(
        message.starts_with("`pythons` must be `auto` or a list"),
        "{message}"
    );
    assert!(message.ends_with("found string \"cp313\""), "{message}");

    let message = project.error_at("pythons: auto\ntargets:\n", 2, 8);
    assert!(
        message.contains("`targets` must be a list") && message.ends_with("found nothing (null)"),
        "{message}"
    );

    let message = project.error_at("pythons: auto\ntargets: [{name: t, c: 3}]\n", 2, 24);
    assert!(
        message.contains("`c` must be the path of a C source file, found integer 3"),
        "{message}"
    );
}

#[test]
fn invalid_python_entries() {
    let project = Project::new();
    let message = project.error_at(&format!("pythons: [auto, CPython3.13]\n{TARGETS}"), 1, 17);
    assert!(
        message.starts_with("invalid interpreter id \"CPython3.13\""),
        "{message}"
    );

    let message = project.error_at(
        &format!("pythons:\n  - id: cp311\n    exe: /x\n{TARGETS}"),
        3,
        5,
    );
    assert!(
        message.contains("unknown key `exe`") && message.contains("id, path"),
        "{message}"
    );

    let message = project.error_at(
        &format!("pythons:\n  - auto\n  - id: cp311\n{TARGETS}"),
        3,
        5,
    );
    assert_eq!(
        message,
        "a `pythons` entry needs `path` or `source`; choose one: `path` for an installed \
         interpreter, `source` to build one"
    );

    let message = project.error_at(
        &format!("pythons: [cp313, {{id: cp313, path: x}}]\n{TARGETS}"),
        1,
        18,
    );
    assert_eq!(
        message,
        "interpreter id `cp313` is listed twice (first at 1:11)"
    );
}

#[test]
fn missing_c_file() {
    let project = Project::new();
    let text = "pythons: auto\ntargets:\n  - name: gone\n    c: fixtures/gone.c\n";
    let message = project.error_at(text, 4, 8);
    let resolved = project.matrices_dir().join("fixtures/gone.c");
    assert!(
        message.contains(&resolved.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("relative to the matrix file's directory"),
        "{message}"
    );
}

#[test]
fn c_path_that_is_a_directory() {
    let project = Project::new();
    let message = project.error_at(
        "pythons: auto\ntargets: [{name: d, c: ../harness-c}]\n",
        2,
        24,
    );
    assert!(message.contains("is not a regular file"), "{message}");
}

#[test]
fn duplicate_target_name() {
    let project = Project::new();
    let text = "\
pythons: auto
targets:
  - name: a
    c: ../harness-c/fixtures/isolated_ok.c
  - name: b
    c: ../harness-c/fixtures/isolated_ok.c
  - c: ../harness-c/fixtures/isolated_ok.c
    name: a
";
    let message = project.error_at(text, 8, 11);
    assert_eq!(
        message,
        "duplicate target name `a` (first at 3:11); target names must be unique"
    );
}

#[test]
fn invalid_target_name() {
    let project = Project::new();
    let message = project.error_at(
        "pythons: auto\ntargets: [{name: a/b, c: other-mod.c}]\n",
        2,
        18,
    );
    assert!(
        message.starts_with("invalid target name \"a/b\""),
        "{message}"
    );
}

#[test]
fn missing_required_keys_point_at_the_enclosing_mapping() {
    let project = Project::new();
    let message = project.error_at("# a comment\nscenarios: [import]\npythons: auto\n", 2, 1);
    assert_eq!(message, "missing required key `targets` in the matrix file");

    let message = project.error_at(
        "pythons: auto\ntargets:\n  - name: t\n    module: x\n",
        3,
        5,
    );
    assert!(
        message.starts_with("target `t` says nothing to test: give one of `c: file.c`, `pip: "),
        "{message}"
    );
}

#[test]
fn invalid_module_names() {
    let project = Project::new();
    let text = "pythons: auto\ntargets:\n  - name: t\n    c: other-mod.c\n    module: pkg.2fast\n";
    let message = project.error_at(text, 5, 13);
    assert!(
        message.starts_with("invalid module name \"pkg.2fast\""),
        "{message}"
    );

    // The default (the C file's stem) must be a valid name too.
    let message = project.error_at(
        "pythons: auto\ntargets:\n  - name: t\n    c: other-mod.c\n",
        4,
        8,
    );
    assert!(
        message.contains("\"other-mod\"") && message.contains("set `module:`"),
        "{message}"
    );

    let ok =
        project.parse("pythons: auto\ntargets: [{name: t, c: other-mod.c, module: other_mod}]\n");
    assert_eq!(ok.unwrap().targets[0].modules, ["other_mod"]);
}

#[test]
fn empty_lists() {
    let project = Project::new();
    let message = project.error_at(&format!("pythons: []\n{TARGETS}"), 1, 10);
    assert!(
        message.starts_with("`pythons` must not be empty"),
        "{message}"
    );

    let message = project.error_at(&format!("pythons: auto\nscenarios: []\n{TARGETS}"), 2, 12);
    assert!(
        message.starts_with("`scenarios` must not be empty"),
        "{message}"
    );

    let message = project.error_at("pythons: auto\ntargets: []\n", 2, 10);
    assert!(
        message.starts_with("`targets` must not be empty"),
        "{message}"
    );
}

#[test]
fn yaml_syntax_errors_use_the_parser_location() {
    let project = Project::new();
    let message = project.error_at(&format!("{TARGETS}scenarios: [import, reinit\n"), 3, 12);
    assert!(
        message.starts_with("invalid YAML: ") && message.contains("bracket"),
        "{message}"
    );

    let message = project.error_at("pythons:\n\t- auto\n", 2, 2);
    assert!(message.contains("tabs"), "{message}");
}

#[test]
fn duplicate_yaml_key() {
    let project = Project::new();
    let message = project.error_at(&format!("pythons: auto\n{TARGETS}pythons: [cp313]\n"), 4, 1);
    assert_eq!(
        message,
        "duplicate key `pythons`; each key may appear only once in a mapping"
    );
}

#[test]
fn junk_input_is_an_error_not_a_panic() {
    let deep_block: String = (0..500)
        .map(|i| format!("{}- \n", "  ".repeat(i)))
        .collect();
    let deep_flow = "[".repeat(10_000);
    let laughs = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
    let junk = [
        "",
        "   \n\n",
        "hello",
        "42",
        "- pythons\n- targets\n",
        "\t",
        "pythons: auto\n\tx: 1\n",
        "{",
        "]",
        ":",
        "? ",
        "\0\u{1}\u{7f}",
        "*nope",
        "a: &x [*x]",
        "---\npythons: auto\n---\npythons: auto\n",
        "pythons: {}\ntargets: {}\n",
        "pythons: [[auto]]\ntargets: [[]]\n",
        "pythons: [{}]\ntargets: [{}]\n",
        "pythons: auto\ntargets: [{name: '', c: ''}]\n",
        "pythons: [{id: '', path: ''}]\n",
        "pythons: auto\noptions: {cycles: 1e99, jobs: -1, timeout_s: .inf}\n",
        "pythons: auto\n? [complex, key]\n: 1\n",
        "!!binary aGVsbG8=: 1",
        "pythons: !!int auto\n",
        "pythons: \"\\ud800\"\n",
        "%YAML 9.9\n---\n",
        &deep_block,
        &deep_flow,
        laughs,
    ];
    for text in junk {
        let result = std::panic::catch_unwind(|| parse(text, Path::new("junk.yaml")));
        let Ok(result) = result else {
            panic!("panicked on {text:?}")
        };
        let err = result.expect_err(text);
        assert!(
            err.line >= 1 && err.column >= 1,
            "no location for {text:?}: {err}"
        );
    }
}

#[test]
fn threads_option() {
    let project = Project::new();
    let matrix = project.parse(&format!("pythons: auto\n{TARGETS}")).unwrap();
    assert_eq!(matrix.options.threads, None);
    assert_eq!(matrix.options.threads_on(2), 4, "two per core");
    assert_eq!(matrix.options.threads_on(8), 16);
    assert_eq!(matrix.options.threads_on(1000), 16, "at most 16 by default");

    let matrix = project
        .parse(&format!(
            "pythons: auto\noptions: {{threads: 16}}\n{TARGETS}"
        ))
        .unwrap();
    assert_eq!(matrix.options.threads_on(2), 16);

    let message = project.error_at(
        &format!("pythons: auto\noptions: {{threads: 0}}\n{TARGETS}"),
        2,
        20,
    );
    assert_eq!(
        message,
        "`threads` must be an integer >= 1, found integer 0"
    );
}

#[test]
fn stress_options() {
    let project = Project::new();
    let matrix = project
        .parse(&format!(
            "pythons: auto\noptions: {{interpreters: 8, rounds: 7, waves: 2, repeat: 5}}\n{TARGETS}"
        ))
        .unwrap();
    let o = &matrix.options;
    assert_eq!((o.interpreters_on(2), o.rounds, o.waves), (8, 7, 2));
    assert_eq!(
        o.repeat_of(Scenario::Import),
        5,
        "repeat applies to every cell"
    );

    let defaults = project
        .parse(&format!("pythons: auto\n{TARGETS}"))
        .unwrap()
        .options;
    assert_eq!(defaults.interpreters_on(3), 6, "two per core");
    assert_eq!(defaults.repeat_of(Scenario::SubinterpParallel), 3);
    assert_eq!(defaults.repeat_of(Scenario::FreeThreading), 3);
    assert_eq!(defaults.repeat_of(Scenario::Reinit), 1);

    let most = project
        .parse(&format!(
            "pythons: auto\noptions: {{threads: 256}}\n{TARGETS}"
        ))
        .unwrap();
    assert_eq!(
        most.options.threads,
        Some(256),
        "the harness's limit itself"
    );
    let message = project.error_at(
        &format!("pythons: auto\noptions: {{interpreters: 257}}\n{TARGETS}"),
        2,
        25,
    );
    assert_eq!(
        message,
        "`interpreters` must be at most 256 (workers at once), found 257"
    );
    let message = project.error_at(
        &format!("pythons: auto\noptions: {{repeat: 0}}\n{TARGETS}"),
        2,
        19,
    );
    assert_eq!(message, "`repeat` must be an integer >= 1, found integer 0");
}

#[test]
fn memory_mb_option() {
    let project = Project::new();
    let matrix = project.parse(&format!("pythons: auto\n{TARGETS}")).unwrap();
    assert_eq!(matrix.options.memory_mb, extmatrix_spec::DEFAULT_MEMORY_MB);

    let matrix = project
        .parse(&format!(
            "pythons: auto\noptions: {{memory_mb: 1024}}\n{TARGETS}"
        ))
        .unwrap();
    assert_eq!(matrix.options.memory_mb, 1024);

    for (value, found) in [
        ("0", "integer 0"),
        ("-5", "integer -5"),
        ("lots", "string \"lots\""),
    ] {
        let message = project.error_at(
            &format!("pythons: auto\noptions: {{memory_mb: {value}}}\n{TARGETS}"),
            2,
            22,
        );
        assert!(
            message.starts_with("`memory_mb` must be an integer >= 1, found ")
                && message.contains(found),
            "{value}: {message}"
        );
    }
}

/// 64 hex digits, upper case (stored lower case).
const SHA_UPPER: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn build_entries_round_trip() {
    let project = Project::new();
    let text = format!(
        "\
pythons:
  - auto
  - cp313
  - {{ id: cp313d,  source: {{ tarball: ../cache/Python-3.13.tar.xz, sha256: \"{SHA_UPPER}\" }}, variant: debug }}
  - {{ id: cp313t,  source: {{ tarball: ../cache/Python-3.13.tar.xz }}, variant: free-threaded }}
  - {{ id: cp313td, source: {{ url: \"https://example.org/Python-3.13.5.tar.xz\", sha256: \"{SHA}\" }}, variant: free-threaded-debug }}
  - id: cp313-asan
    source: {{ tarball: /opt/src/x.tar.xz }}
    configure: [\"--with-address-sanitizer\", \"--without-pymalloc\"]
{TARGETS}"
    );
    let tarball = project.matrices_dir().join("../cache/Python-3.13.tar.xz");
    let expected = vec![
        PythonSelector::Auto,
        PythonSelector::Id {
            id: "cp313".into(),
            at: at(3, 5),
        },
        PythonSelector::Build(BuildSpec {
            id: "cp313d".into(),
            source: SourceSpec::Tarball {
                path: tarball.clone(),
                sha256: Some(SHA_UPPER.to_ascii_lowercase()),
            },
            variant: Variant::Debug,
            configure: vec![],
            at: at(4, 5),
        }),
        PythonSelector::Build(BuildSpec {
            id: "cp313t".into(),
            source: SourceSpec::Tarball {
                path: tarball,
                sha256: None,
            },
            variant: Variant::FreeThreaded,
            configure: vec![],
            at: at(5, 5),
        }),
        PythonSelector::Build(BuildSpec {
            id: "cp313td".into(),
            source: SourceSpec::Url {
                url: "https://example.org/Python-3.13.5.tar.xz".into(),
                sha256: SHA.into(),
            },
            variant: Variant::FreeThreadedDebug,
            configure: vec![],
            at: at(6, 5),
        }),
        PythonSelector::Build(BuildSpec {
            id: "cp313-asan".into(),
            source: SourceSpec::Tarball {
                path: PathBuf::from("/opt/src/x.tar.xz"),
                sha256: None,
            },
            variant: Variant::Default,
            configure: vec![
                "--with-address-sanitizer".into(),
                "--without-pymalloc".into(),
            ],
            at: at(7, 5),
        }),
    ];
    let matrix = project.parse(&text).unwrap();
    assert_eq!(matrix.pythons, expected);
    let ids: Vec<_> = matrix.pythons.iter().map(PythonSelector::id).collect();
    assert_eq!(
        ids,
        [
            None,
            Some("cp313"),
            Some("cp313d"),
            Some("cp313t"),
            Some("cp313td"),
            Some("cp313-asan")
        ]
    );
}

#[test]
fn build_source_without_tarball_or_url() {
    let project = Project::new();
    let text = format!("pythons:\n  - id: b\n    source: {{sha256: \"{SHA}\"}}\n{TARGETS}");
    let message = project.error_at(&text, 3, 13);
    assert!(
        message.starts_with("`source` needs `tarball`") && message.contains("or `url`"),
        "{message}"
    );
}

#[test]
fn build_source_with_tarball_and_url() {
    let project = Project::new();
    let text = format!(
        "pythons:\n  - id: b\n    source:\n      tarball: x.tar.xz\n      url: https://e.org/x.tar.xz\n      sha256: \"{SHA}\"\n{TARGETS}"
    );
    let message = project.error_at(&text, 5, 12);
    assert!(
        message.starts_with("`source` has both `tarball` and `url`; choose one"),
        "{message}"
    );
}

#[test]
fn build_url_without_sha256() {
    let project = Project::new();
    let text =
        format!("pythons:\n  - {{id: b, source: {{url: \"https://e.org/x.tgz\"}}}}\n{TARGETS}");
    let message = project.error_at(&text, 2, 21);
    assert!(
        message.starts_with("missing required key `sha256` in `source`"),
        "{message}"
    );
}

#[test]
fn build_bad_sha256() {
    let project = Project::new();
    let text =
        format!("pythons:\n  - {{id: b, source: {{tarball: x, sha256: abc123}}}}\n{TARGETS}");
    let message = project.error_at(&text, 2, 42);
    assert_eq!(
        message,
        "invalid `sha256`: it must be 64 hexadecimal digits, but it has 6 digits"
    );

    let bad = format!("{}g", &SHA[..63]);
    let text = format!(
        "pythons:\n  - id: b\n    source:\n      tarball: x\n      sha256: {bad}\n{TARGETS}"
    );
    let message = project.error_at(&text, 5, 15);
    assert_eq!(
        message,
        "invalid `sha256`: it must be 64 hexadecimal digits, but it contains 'g'"
    );
}

#[test]
fn build_unknown_variant() {
    let project = Project::new();
    let text =
        format!("pythons:\n  - id: b\n    source: {{tarball: x}}\n    variant: debugg\n{TARGETS}");
    let message = project.error_at(&text, 4, 14);
    assert_eq!(message, "debugg".parse::<Variant>().unwrap_err());
    assert!(
        message.contains("allowed: default, debug, free-threaded, free-threaded-debug"),
        "{message}"
    );
}

#[test]
fn build_configure_item_not_a_string() {
    let project = Project::new();
    let text = format!(
        "pythons:\n  - id: b\n    source: {{tarball: x}}\n    configure:\n      - --enable-x\n      - 3\n{TARGETS}"
    );
    let message = project.error_at(&text, 6, 9);
    assert!(
        message.starts_with("a `configure` argument must be a string")
            && message.ends_with("found integer 3"),
        "{message}"
    );
}

#[test]
fn build_unknown_key_lists_both_forms() {
    let project = Project::new();
    let text =
        format!("pythons:\n  - id: b\n    source: {{tarball: x}}\n    varient: debug\n{TARGETS}");
    let message = project.error_at(&text, 4, 5);
    assert_eq!(
        message,
        "unknown key `varient` in a `pythons` entry; allowed keys: id, path (an installed \
         interpreter) or id, source, variant, configure (a build from source)"
    );
}

#[test]
fn path_and_source_together() {
    let project = Project::new();
    let text = format!(
        "pythons:\n  - id: b\n    path: /usr/bin/python3\n    source: {{tarball: x}}\n{TARGETS}"
    );
    let message = project.error_at(&text, 4, 5);
    assert_eq!(
        message,
        "a `pythons` entry has both `path` and `source`; choose one: `path` for an installed \
         interpreter, `source` to build one"
    );
}

#[test]
fn duplicate_id_between_build_and_id_entry() {
    let project = Project::new();
    let text =
        format!("pythons:\n  - cp313d\n  - {{id: cp313d, source: {{tarball: x}}}}\n{TARGETS}");
    let message = project.error_at(&text, 3, 5);
    assert_eq!(
        message,
        "interpreter id `cp313d` is listed twice (first at 2:5)"
    );
}

#[test]
fn other_build_errors() {
    let project = Project::new();
    let message = project.error_at(
        &format!("pythons: [{{id: b, source: {{url: ftp://e.org/x, sha256: {SHA}}}}}]\n{TARGETS}"),
        1,
        33,
    );
    assert!(
        message.starts_with("invalid `url` \"ftp://e.org/x\""),
        "{message}"
    );
    assert!(message.contains("https://, http://, file://"), "{message}");

    let message = project.error_at(
        &format!("pythons: [{{id: CP313, source: {{tarball: x}}}}]\n{TARGETS}"),
        1,
        16,
    );
    assert!(
        message.starts_with("invalid interpreter id \"CP313\""),
        "{message}"
    );

    let message = project.error_at(
        &format!("pythons: [{{id: auto, source: {{tarball: x}}}}]\n{TARGETS}"),
        1,
        16,
    );
    assert!(message.starts_with("`auto` is reserved"), "{message}");

    let message = project.error_at(
        &format!("pythons: [{{id: b, path: x, variant: debug}}]\n{TARGETS}"),
        1,
        28,
    );
    assert_eq!(
        message,
        "unknown key `variant` in a `pythons` entry with `path`; allowed keys: id, path"
    );

    let message = project.error_at(
        &format!("pythons: [{{id: b, source: x.tar.xz}}]\n{TARGETS}"),
        1,
        27,
    );
    assert!(
        message.starts_with("`source` must be a mapping with keys tarball, url, sha256"),
        "{message}"
    );

    let message = project.error_at(
        &format!("pythons: [{{id: b, source: {{tarball: x}}, configure: --x}}]\n{TARGETS}"),
        1,
        52,
    );
    assert!(
        message.starts_with("`configure` must be a list"),
        "{message}"
    );
}

/// Mutation caught: `load` reading the whole file (`extmatrix run
/// /dev/zero` grew without bound).
#[test]
fn load_reads_a_matrix_only_up_to_the_cap() {
    let project = Project::new();
    // Just under the cap: read and parsed (a YAML comment pads it).
    let text = format!("pythons: auto\n{TARGETS}#");
    let padded = format!(
        "{text}{}\n",
        "x".repeat(extmatrix_spec::MAX_MATRIX_BYTES - text.len() - 1)
    );
    assert_eq!(padded.len(), extmatrix_spec::MAX_MATRIX_BYTES);
    std::fs::write(project.matrix_path(), &padded).unwrap();
    load(&project.matrix_path()).unwrap();

    // One byte more: an error where reading stopped.
    std::fs::write(project.matrix_path(), format!("{padded}\n")).unwrap();
    let err = load(&project.matrix_path()).unwrap_err();
    let lines = padded.matches('\n').count();
    assert_eq!((err.line, err.column), (lines + 1, 1), "{err}");
    assert!(err.message.contains("longer than 1 MiB"), "{err}");

    // A device that never ends.
    let err = load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "/dev/zero:1:{}: {}",
            extmatrix_spec::MAX_MATRIX_BYTES + 1,
            err.message
        )
    );
    assert!(err.message.contains("longer than 1 MiB"), "{err}");
}

#[test]
fn load_a_fifo_that_never_ends_is_capped_too() {
    let project = Project::new();
    let fifo = project.dir.path().join("matrix.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let line = "# endless\n".repeat(1000);
        // Until the reader closes its end (EPIPE).
        while f.write_all(line.as_bytes()).is_ok() {}
    });
    let err = load(&fifo).unwrap_err();
    assert!(err.message.contains("longer than 1 MiB"), "{err}");
    writer.join().unwrap();
}

#[test]
fn load_a_directory_says_so() {
    let project = Project::new();
    let err = load(&project.matrices_dir()).unwrap_err();
    assert!(err.message.contains("it is a directory"), "{err}");
}

/// A target of the given YAML body (indented under `- name: t`) in a
/// project with a Python project dir `proj/`, an sdist, and a crate.
fn target_of(project: &Project, body: &str) -> Result<TargetSpec, SpecError> {
    let root = project.dir.path();
    std::fs::create_dir_all(root.join("matrices/proj")).unwrap();
    std::fs::write(root.join("matrices/proj/pyproject.toml"), "[project]\n").unwrap();
    std::fs::create_dir_all(root.join("matrices/notproj")).unwrap();
    std::fs::write(root.join("matrices/pkg-1.0.tar.gz"), "").unwrap();
    std::fs::create_dir_all(root.join("matrices/crate")).unwrap();
    std::fs::write(root.join("matrices/crate/Cargo.toml"), "[package]\n").unwrap();
    project
        .parse(&format!("pythons: auto\ntargets:\n  - name: t\n{body}"))
        .map(|m| m.targets[0].clone())
}

#[test]
fn pip_targets_are_a_project_an_sdist_or_a_pinned_requirement() {
    let project = Project::new();
    let dir = project.matrices_dir().canonicalize().unwrap();
    let t = target_of(&project, "    pip: proj\n    modules: [a._x, b]\n").unwrap();
    assert_eq!(
        t.kind,
        TargetKind::Pip(PipSource::Project(dir.join("proj")))
    );
    assert_eq!(t.modules, ["a._x", "b"]);
    let t = target_of(&project, "    pip: pkg-1.0.tar.gz\n").unwrap();
    assert_eq!(
        t.kind,
        TargetKind::Pip(PipSource::Sdist(dir.join("pkg-1.0.tar.gz")))
    );
    assert!(t.modules.is_empty(), "empty: every module of the wheel");
    let t = target_of(&project, "    pip: \"ujson==5.10.0\"\n").unwrap();
    assert_eq!(
        t.kind,
        TargetKind::Pip(PipSource::Requirement {
            name: "ujson".into(),
            version: "5.10.0".into()
        })
    );

    let err = |body: &str| target_of(&project, body).unwrap_err().to_string();
    let e = err("    pip: \"ujson>=5\"\n");
    assert!(
        e.contains(":4:10:") && e.contains("pinned requirement"),
        "{e}"
    );
    let e = err("    pip: \"ujson==5.*\"\n");
    assert!(e.contains("one exact version"), "{e}");
    let e = err("    pip: \"ujson[extra]==5.10.0\"\n");
    assert!(e.contains("no wildcards, extras"), "{e}");
    let e = err("    pip: ujson-5.10.0-cp313-cp313-linux_x86_64.whl\n");
    assert!(e.contains("is a wheel") && e.contains("from source"), "{e}");
    let e = err("    pip: notproj\n");
    assert!(
        e.contains("not a Python project") && e.contains("pyproject.toml"),
        "{e}"
    );
    let e = err("    pip: nowhere\n");
    assert!(
        e.contains("cannot read") && e.contains("relative to the matrix file"),
        "{e}"
    );
    let e = err("    pip: proj\n    module: a\n");
    assert!(
        e.contains(":5:13:") && e.contains("`modules: [...]`"),
        "{e}"
    );
    let e = err("    pip: proj\n    modules: [a, a]\n");
    assert!(e.contains("`a` is listed twice"), "{e}");
    let e = err("    pip: proj\n    modules: []\n");
    assert!(e.contains("must not be empty"), "{e}");
}

#[test]
fn cargo_and_stdlib_targets() {
    let project = Project::new();
    let dir = project.matrices_dir().canonicalize().unwrap();
    let t = target_of(&project, "    cargo: crate\n").unwrap();
    assert_eq!(
        t.kind,
        TargetKind::Cargo {
            manifest: dir.join("crate/Cargo.toml")
        }
    );
    let t = target_of(&project, "    cargo: crate/Cargo.toml\n    modules: [x]\n").unwrap();
    assert_eq!(t.modules, ["x"]);
    let e = target_of(&project, "    cargo: nocrate\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read Cargo.toml"), "{e}");

    let t = target_of(&project, "    stdlib: all\n").unwrap();
    assert_eq!((t.kind, t.modules.len()), (TargetKind::Stdlib, 0));
    let t = target_of(&project, "    stdlib: [_csv, _random]\n").unwrap();
    assert_eq!(t.modules, ["_csv", "_random"]);
    let e = target_of(&project, "    stdlib: some\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`all` or a list"), "{e}");
    let e = target_of(&project, "    stdlib: all\n    modules: [x]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("in `stdlib: [...]` itself"), "{e}");
}

#[test]
fn exclude_takes_module_patterns_for_every_kind_but_c() {
    let project = Project::new();
    let t = target_of(
        &project,
        "    pip: proj\n    exclude: [\"**.tests.**\", pkg._test*]\n",
    )
    .unwrap();
    assert_eq!(t.exclude, ["**.tests.**", "pkg._test*"]);
    assert!(t.modules.is_empty());
    for kind in ["cargo: crate", "stdlib: all"] {
        let t = target_of(&project, &format!("    {kind}\n    exclude: [x]\n")).unwrap();
        assert_eq!(t.exclude, ["x"], "{kind}");
    }
    assert!(target_of(&project, "    pip: proj\n")
        .unwrap()
        .exclude
        .is_empty());

    let err = |body: &str| target_of(&project, body).unwrap_err().to_string();
    let e = err("    c: other-mod.c\n    module: x\n    exclude: [y]\n");
    assert!(
        e.contains(":6:14:") && e.contains("`exclude` belongs to `pip`, `cargo` and `stdlib`"),
        "{e}"
    );
    let e = err("    pip: proj\n    exclude: \"**.tests.**\"\n");
    assert!(e.contains("must be a list of module patterns"), "{e}");
    let e = err("    pip: proj\n    exclude: []\n");
    assert!(e.contains("must not be empty"), "{e}");
    let e = err("    pip: proj\n    exclude: [x, \"a/b\"]\n");
    assert!(
        e.contains(":5:18:") && e.contains("invalid module pattern \"a/b\""),
        "{e}"
    );
    // A module wanted and left out at once is a contradiction, whichever
    // key lists it.
    let e = err(
        "    pip: proj\n    modules: [pkg.tests._x, pkg._core]\n    exclude: [\"**.tests.**\"]\n",
    );
    assert!(
        e.contains(":6:15:") && e.contains("matches pkg.tests._x, which the target lists"),
        "{e}"
    );
    let e = err("    stdlib: [_testcapi]\n    exclude: [_test*]\n");
    assert!(e.contains("matches _testcapi"), "{e}");
}

#[test]
fn a_target_is_exactly_one_kind() {
    let project = Project::new();
    let e = target_of(&project, "    stdlib: all\n    pip: proj\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":5:10:") && e.contains("has both `stdlib` and `pip`"),
        "{e}"
    );
    let e = target_of(&project, "    c: other-mod.c\n    modules: [x]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a `c` target is one module"), "{e}");
}

#[test]
fn leak_options_are_checked_where_they_are_written() {
    let project = Project::new();
    let at_column = |options: &str, column: usize| {
        project.error_at(
            &format!("pythons: auto\noptions: {{{options}}}\n{TARGETS}"),
            2,
            column,
        )
    };
    assert_eq!(
        at_column("subinterp: mine", 22),
        "`subinterp` must be `auto` or one of legacy, shared, own, found `mine`"
    );
    assert_eq!(
        at_column("debug_allocator: yes please", 28),
        "`debug_allocator` must be true or false, found string \"yes please\""
    );
    assert_eq!(
        at_column("warmup: -1", 19),
        "`warmup` must be an integer >= 1, found integer -1"
    );
    assert_eq!(
        at_column("leak_kib_per_cycle: 0", 31),
        "`leak_kib_per_cycle` must be an integer >= 1, found integer 0"
    );
    let matrix = project
        .parse(&format!(
            "pythons: auto\noptions: {{warmup: 0, subinterp: auto}}\n{TARGETS}"
        ))
        .unwrap();
    assert_eq!(matrix.options.warmup, 0);
    assert_eq!(matrix.options.subinterp, None);
}

/// A matrix with one target `t` whose `expect:` is `expect` (one line).
fn with_expect(expect: &str) -> String {
    format!(
        "pythons: [cp313]\ntargets:\n  - name: t\n    c: ../harness-c/fixtures/isolated_ok.c\n    expect: {expect}\n"
    )
}

#[test]
fn expect_maps_cell_patterns_to_outcomes_and_remembers_where() {
    use extmatrix_core::expect::CellPattern;
    use extmatrix_core::Outcome;
    let project = Project::new();
    let m = project
        .parse(&with_expect(
            "{subinterp-own: refused, \"cp313t/*\": [gil-enabled, crash], \"pkg.*/*/reinit\": crash}",
        ))
        .unwrap();
    let e = &m.targets[0].expect;
    assert_eq!(e.len(), 3);
    assert!(e.iter().all(|e| e.target == "t"));
    let file = project.matrix_path().display().to_string();
    assert_eq!(e[0].origin, format!("{file}:5:14"));
    assert_eq!(e[0].cells, CellPattern::parse("subinterp-own").unwrap());
    assert_eq!(e[0].outcomes, [Outcome::Refused]);
    assert_eq!(e[1].origin, format!("{file}:5:38"));
    assert_eq!(e[1].outcomes, [Outcome::GilEnabled, Outcome::Crash]);
    assert_eq!(e[2].cells.module.as_deref(), Some("pkg.*"));
    assert_eq!(m.expectations().count(), 3);
}

#[test]
fn a_bad_expectation_is_an_error_where_it_stands() {
    let project = Project::new();
    let cases = [
        ("{reinit: crashed}", 5, 22, "unknown outcome `crashed`"),
        ("{reinit: [crash, hang, crash]}", 5, 36, "listed twice"),
        ("{reinit: []}", 5, 22, "an empty list expects no outcome"),
        ("{reinit: 3}", 5, 22, "a list of outcomes"),
        ("{a/b/c/d: crash}", 5, 14, "at most three parts"),
        ("{\"cp313/\": crash}", 5, 14, "no empty part"),
        (
            "{reinti: crash}",
            5,
            14,
            "the scenario part `reinti` is not a scenario",
        ),
        ("{\"CP313/*\": crash}", 5, 14, "interpreter part `CP313`"),
        ("{\"pkg-x/*/*\": crash}", 5, 14, "module part `pkg-x`"),
        ("{}", 5, 13, "leave it out"),
        ("[reinit]", 5, 13, "must be a mapping from cell patterns"),
    ];
    for (expect, line, column, words) in cases {
        let message = project.error_at(&with_expect(expect), line, column);
        assert!(message.contains(words), "{expect}: {message}");
    }
    // A scenario pattern with wildcards is checked against the cells later.
    assert!(project
        .parse(&with_expect("{\"subinterp-*\": refused}"))
        .is_ok());
}

#[test]
fn an_expectations_file_names_targets_of_the_matrix() {
    use extmatrix_core::Outcome;
    use extmatrix_spec::parse_expectations;
    let project = Project::new();
    let mut m = project.parse(&with_expect("{reinit: crash}")).unwrap();
    let file = project.dir.path().join("ci/expect.yaml");
    let e = parse_expectations("t:\n  \"*/import\": [pass, refused]\n", &file, &m).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].target, "t");
    assert_eq!(e[0].outcomes, [Outcome::Pass, Outcome::Refused]);
    assert_eq!(e[0].origin, format!("{}:2:3", file.display()));
    m.add_expectations(e);
    assert_eq!(m.targets[0].expect.len(), 2);
    assert_eq!(m.expectations().count(), 2);

    let err =
        parse_expectations("t: {reinit: crash}\nother: {reinit: crash}\n", &file, &m).unwrap_err();
    assert_eq!((err.line, err.column), (2, 1), "{err}");
    assert_eq!(err.path, file.display().to_string());
    assert!(err.message.contains("no target `other`"), "{err}");
    assert!(err.message.ends_with("its targets: t"), "{err}");
    let err = parse_expectations("t: {reinit: crashes}\n", &file, &m).unwrap_err();
    assert_eq!((err.line, err.column), (1, 13), "{err}");
    let err = parse_expectations("- t\n", &file, &m).unwrap_err();
    assert!(err.message.contains("mapping from target names"), "{err}");
}

#[test]
fn load_expectations_reads_the_file() {
    let project = Project::new();
    let m = project.parse(&with_expect("{reinit: crash}")).unwrap();
    let path = project.dir.path().join("expect.yaml");
    std::fs::write(&path, "t: {\"cp31?/subinterp-*\": refused}\n").unwrap();
    let e = extmatrix_spec::load_expectations(&path, &m).unwrap();
    assert_eq!(e[0].cells.python, "cp31?");
    let missing = project.dir.path().join("none.yaml");
    let err = extmatrix_spec::load_expectations(&missing, &m).unwrap_err();
    assert!(
        err.message.starts_with("cannot read the expectations file"),
        "{err}"
    );
}

#[test]
fn site_is_a_boolean_and_off_unless_asked_for() {
    let project = Project::new();
    let matrix = project.parse(&format!("pythons: auto\n{TARGETS}")).unwrap();
    assert!(!matrix.targets[0].site);
    let message = project.error_at(
        "pythons: auto\ntargets:\n  - {name: t, c: ../harness-c/fixtures/isolated_ok.c, site: 1}\n",
        3,
        61,
    );
    assert!(
        message.starts_with("`site` must be true or false"),
        "{message}"
    );
}

#[test]
fn deadlock_s_zero_turns_early_deadlock_verdicts_off() {
    let project = Project::new();
    let matrix = project
        .parse(&format!(
            "pythons: auto\noptions: {{deadlock_s: 0}}\n{TARGETS}"
        ))
        .unwrap();
    assert_eq!(matrix.options.deadlock_s, 0);
    let message = project.error_at(
        &format!("pythons: auto\noptions: {{deadlock_s: -1}}\n{TARGETS}"),
        2,
        23,
    );
    assert!(
        message.starts_with("`deadlock_s (0: off)` must be an integer >= 0, found integer -1"),
        "{message}"
    );
}
