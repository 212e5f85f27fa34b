//! A generated report of 500 targets on the seven builds of
//! matrices/full.yaml in every scenario: what a distributor's page holds,
//! at a size no run of this machine makes. Every outcome kind appears,
//! with the details each kind has in a real report (shared objects with
//! their symbol, section and holding global, forensics, leak checks with
//! cycles and a baseline, errors, builds); expectations, a baseline and
//! the findings are concluded by `extmatrix_verdict`, as a run does it.
//! Deterministic: the same bytes every time (a fixed-seed xorshift).

use extmatrix_core::expect::{CellPattern, Expectation};
use extmatrix_core::{Outcome, PythonVersion, Scenario};
use extmatrix_schema::{
    CellKey, CellResult, Details, FailOn, ModuleImage, PythonEntry, Report, RunInfo, WritableGlobal,
};
use extmatrix_verdict::{conclude, findings, Policy};
use serde_json::{json, Value};

pub const TARGETS: usize = 500;

/// xorshift64*: enough to spread outcomes, and the same on every machine.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// matrices/full.yaml's interpreters, as discovery reports them.
fn pythons() -> Vec<PythonEntry> {
    let built = |flags: &str| {
        Some(format!(
            "'--prefix=/root/.cache/extmatrix/pythons/3.13.1' '--enable-shared' {flags}"
        ))
    };
    let entry =
        |id: &str, version: &str, debug, free_threaded, found_via: &str, args| PythonEntry {
            id: id.into(),
            version: version.into(),
            debug,
            free_threaded,
            path: format!("/opt/pythons/{id}/bin/python3"),
            found_via: found_via.into(),
            configure_args: args,
        };
    vec![
        entry("cp311", "3.11.7", false, false, "pyenv", None),
        entry("cp311d", "3.11.2", true, false, "system", None),
        entry("cp312", "3.12.1", false, false, "pyenv", None),
        entry("cp313", "3.13.1", false, false, "pyenv", None),
        entry(
            "cp313d",
            "3.13.1",
            true,
            false,
            "matrix",
            built("'--with-pydebug'"),
        ),
        entry(
            "cp313t",
            "3.13.1",
            false,
            true,
            "matrix",
            built("'--disable-gil'"),
        ),
        entry(
            "cp313td",
            "3.13.1",
            true,
            true,
            "matrix",
            built("'--disable-gil' '--with-pydebug'"),
        ),
    ]
}

fn target_name(t: usize) -> String {
    format!("ext_{t:03}")
}

/// Every tenth target is a package's submodule (rows named `target/module`).
fn module_name(t: usize) -> String {
    if t % 10 == 4 {
        format!("pkg_{t:03}._speedups")
    } else {
        target_name(t)
    }
}

/// The outcome of one cell: n/a where the build cannot run the scenario,
/// mostly `pass`, and every other kind spread over the rest.
fn outcome(dice: &mut Dice, t: usize, python: &PythonEntry, scenario: Scenario) -> Outcome {
    let part = |i: usize| python.version.split('.').nth(i).unwrap().parse().unwrap();
    let version = PythonVersion::new(part(0), part(1), part(2));
    if scenario
        .unsupported_reason(version, python.free_threaded)
        .is_some()
    {
        return Outcome::NotApplicable;
    }
    if t % 61 == 3 && python.free_threaded {
        return Outcome::BuildFailed;
    }
    let roll = dice.below(100);
    if scenario == Scenario::FreeThreading {
        return if roll < 30 {
            Outcome::GilEnabled
        } else {
            Outcome::Pass
        };
    }
    let spread = [
        (55, Outcome::Pass),
        (61, Outcome::Refused),
        (71, Outcome::SharedState),
        (75, Outcome::StateClobbered),
        (80, Outcome::Leak),
        (87, Outcome::DeclarationMismatch),
        (91, Outcome::ImportError),
        (95, Outcome::Crash),
        (97, Outcome::Hang),
        (98, Outcome::BuildFailed),
        (100, Outcome::HarnessError),
    ];
    spread.iter().find(|(below, _)| roll < *below).unwrap().1
}

fn image(t: usize, python: &str) -> String {
    format!(
        "/root/.cache/extmatrix/targets/{}-{python}/{}.so",
        target_name(t),
        module_name(t)
    )
}

/// Cycle figures and the leak rule's reading of them; `leaks` makes the
/// target's blocks grow by 40 a cycle where the baseline's stay flat.
fn leak_details(dice: &mut Dice, leaks: bool) -> Value {
    let figures = |growth: i64, dice: &mut Dice| -> Vec<Value> {
        (1..=5)
            .map(|n| {
                json!({"n": n, "us": 40_000 + dice.below(20_000), "ok": true,
                       "allocated_blocks": 36_500 + growth * n + dice.below(3) as i64,
                       "allocator": "pymalloc", "rss_kb": 12_000 + 8 * n,
                       "malloc_kb": 600 + growth / 8 * n})
            })
            .collect()
    };
    let growth = if leaks { 40 } else { 0 };
    let cycles = figures(growth, dice);
    let baseline = figures(0, dice);
    let values: Vec<f64> = (3..=5).map(|n| (growth * n) as f64 + 0.5).collect();
    let check = |series: &str, slope: f64| {
        json!({"series": series, "test": "slope", "values": values, "slope": slope,
               "spread": 1.5, "threshold": 8.0, "fired": slope - 1.5 > 8.0})
    };
    json!({
        "cycles": cycles,
        "leak": {"warmup": 2, "allocator": "pymalloc", "baseline": baseline,
                 "checks": [check("blocks", growth as f64), check("malloc_kib", growth as f64 / 8.0)]},
    })
}

/// A static type in the image's `.data` and a heap object a C global
/// holds (copied by `m_copy` in single-phase modules).
fn shared_objects(t: usize, python: &str, label: &str) -> Value {
    let name = target_name(t);
    json!([
        {"label": label, "path": "Thing", "type": "type", "addr": "0x7f28f3f5e120",
         "lives": "extension", "image": image(t, python), "offset": 16_672,
         "symbol": format!("{name}_Thing_Type"), "section": ".data",
         "immortal": false, "interned": false},
        {"label": label, "path": "_cache", "type": "dict", "addr": "0x7f28f3e87110",
         "lives": "heap", "held_in": image(t, python), "held_at": 17_024,
         "held_by": format!("{name}_cache"), "from_m_copy": t.is_multiple_of(3),
         "immortal": false, "interned": false},
    ])
}

fn forensics(signal: &str, frame: &str) -> Value {
    json!({"signal": signal,
           "python": format!("Current thread 0x00007f0843631b80 (most recent call first):\n  File \"<string>\", line 4 in <module>\n"),
           "c": format!("#0  0x00007f0842ef1bd3 in {frame} () at fixture.c:42\n#1  0x00007f0842e11111 in PyImport_ImportModule ()\n")})
}

fn error(step: &str, exc: &str, message: &str) -> Value {
    json!([{"where": step, "phase": "import", "exc_type": exc, "message": message,
            "traceback": format!("Traceback (most recent call last):\n  File \"<string>\", line 4, in <module>\n{exc}: {message}\n")}])
}

/// The details a real cell of `outcome` carries.
fn details(dice: &mut Dice, outcome: Outcome, t: usize, python: &str, s: Scenario) -> Details {
    let name = target_name(t);
    let step = if s.is_cycling() {
        "cycle 2: import"
    } else {
        "import"
    };
    let multi = json!({"init": "multi-phase", "m_size": 0, "multiple_interpreters": "per-interpreter-gil", "gil": "not-used"});
    let single = json!({"init": "single-phase", "m_size": -1});
    let label = if s == Scenario::Reimport {
        "old/new"
    } else {
        "main/subinterp"
    };
    let mut d = match outcome {
        Outcome::Pass => json!({"summary": "imported; smoke code ran", "declared": multi}),
        Outcome::NotApplicable => json!({"summary": "the build cannot run this scenario"}),
        Outcome::Refused => {
            json!({"summary": format!("refused as declared: module {name} does not support loading in subinterpreters"),
            "reason": "subinterp-refused", "declared": single,
            "errors": error("subinterp shared: import", "ImportError", "does not support loading in subinterpreters")})
        }
        Outcome::SharedState => {
            json!({"summary": format!("Thing (type, `{name}_Thing_Type` in .data) is the same object, and 1 more"),
            "declared": single, "shared_objects": shared_objects(t, python, label), "core_objects_ignored": 2})
        }
        Outcome::DeclarationMismatch => {
            json!({"summary": "declares `per-interpreter-gil` yet shares Thing",
            "declared": multi, "shared_objects": shared_objects(t, python, label)})
        }
        Outcome::StateClobbered => {
            json!({"summary": format!("step `{step}` raised only after an earlier instance ran"),
            "reason": "once-per-process", "alone": {"outcome": "pass", "summary": "imported; smoke code ran"},
            "errors": error(step, "ImportError", "cannot load module more than once per process")})
        }
        Outcome::Leak => {
            json!({"summary": "allocated blocks grow by 40 a cycle beyond the baseline's"})
        }
        Outcome::GilEnabled => {
            json!({"summary": "the import re-enabled the GIL", "reason": "gil-reenabled",
            "gil": [{"where": "import", "enabled": true}],
            "warnings": [{"where": "import", "category": "RuntimeWarning", "message": format!("The global interpreter lock (GIL) has been enabled to load module '{name}'")}]})
        }
        Outcome::ImportError => {
            json!({"summary": "ModuleNotFoundError: No module named 'numpy'", "reason": "missing-dependency",
            "errors": [{"where": "import", "phase": "import", "exc_type": "ModuleNotFoundError", "message": "No module named 'numpy'", "not_found": "numpy"}]})
        }
        Outcome::Crash => {
            json!({"summary": format!("SIGSEGV in step `{step}`"), "step": step, "signal": "SIGSEGV",
            "control": {"outcome": "pass", "summary": "5 init/finalize cycles"},
            "forensics": forensics("SIGSEGV", &format!("{name}_exec")),
            "stderr_tail": "Fatal Python error: Segmentation fault\n"})
        }
        Outcome::Hang => {
            json!({"summary": format!("still in step `{step}` after 10s; process group killed"), "step": step,
            "forensics": forensics("SIGRTMAX", "pthread_cond_wait"), "stdout_tail": "waiting for the lock\n"})
        }
        Outcome::BuildFailed => json!({"summary": "fixture.c:2: error: unknown type name 'this'",
            "build": {"command": format!("cc -shared -o {name}.so fixture.c"), "output": "fixture.c:2:1: error: unknown type name 'this'\n",
                      "cause": {"phase": "compiling", "kind": "compiler-error", "location": "fixture.c:2", "message": "unknown type name 'this'"}}}),
        Outcome::HarnessError => {
            json!({"summary": "the harness broke its protocol", "notes": ["3 lines without the run's token"],
            "foreign_lines": 3, "stderr_tail": "garbage on the channel\n"})
        }
    };
    if s.is_cycling()
        && (outcome == Outcome::Leak || (outcome == Outcome::Pass && dice.below(8) == 0))
    {
        let leak = leak_details(dice, outcome == Outcome::Leak);
        d.as_object_mut()
            .unwrap()
            .extend(leak.as_object().unwrap().clone());
    }
    serde_json::from_value(d).unwrap_or_else(|e| panic!("{outcome} details: {e}"))
}

fn cells(dice: &mut Dice, pythons: &[PythonEntry]) -> Vec<CellResult> {
    let mut cells = Vec::new();
    for t in 0..TARGETS {
        for python in pythons {
            for &scenario in Scenario::ALL {
                let outcome = outcome(dice, t, python, scenario);
                let key = CellKey {
                    target: target_name(t),
                    module: module_name(t),
                    python: python.id.clone(),
                    scenario,
                };
                let details = details(dice, outcome, t, &python.id, scenario);
                cells.push(CellResult::new(
                    key,
                    outcome,
                    20 + dice.below(3000),
                    details,
                ));
            }
        }
    }
    cells
}

/// The same cells as they were a night earlier: some passed that fail now
/// (regressed), some crashed that do better now (fixed), some were not there.
fn baseline(now: &Report) -> Report {
    let cells: Vec<CellResult> = now
        .cells
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 101 != 0)
        .map(|(i, c)| {
            let mut was = c.clone();
            match i % 89 {
                0 => was.outcome = Outcome::Pass,
                1 => was.outcome = Outcome::Crash,
                _ => {}
            }
            was
        })
        .collect();
    let mut report = Report::new(now.matrix.clone(), now.pythons.clone(), cells, 0);
    report.findings = findings(&report.cells);
    report
}

/// Every 25th target expects its re-init cells to crash.
fn expectations() -> Vec<Expectation> {
    (0..TARGETS)
        .step_by(25)
        .map(|t| Expectation {
            target: target_name(t),
            cells: CellPattern::parse("*/reinit").unwrap(),
            outcomes: vec![Outcome::Crash],
            origin: format!("expected.yaml:{}:3", t / 25 + 1),
        })
        .collect()
}

fn images(pythons: &[PythonEntry]) -> Vec<ModuleImage> {
    let global = |name: String, section: &str| WritableGlobal {
        name,
        demangled: None,
        section: section.into(),
        size: 8,
    };
    (0..TARGETS)
        .flat_map(|t| {
            pythons.iter().map(move |p| ModuleImage {
                target: target_name(t),
                module: module_name(t),
                python: p.id.clone(),
                path: image(t, &p.id),
                writable_globals: vec![
                    global(format!("{}_Thing_Type", target_name(t)), ".data"),
                    global(format!("{}_cache", target_name(t)), ".bss"),
                ],
            })
        })
        .collect()
}

/// 500 targets × 7 interpreters × every scenario, concluded.
pub fn five_hundred_targets() -> Report {
    let pythons = pythons();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let cells = cells(&mut dice, &pythons);
    let mut report = Report::new(
        "matrices/generated-500.yaml".into(),
        pythons,
        cells,
        5_400_000,
    );
    report.images = images(&report.pythons);
    report.run = Some(RunInfo {
        started_at: "2026-12-06T02:00:00Z".into(),
        host: "nightly-runner".into(),
        os: "Linux 6.1.0-18-amd64".into(),
        arch: "x86_64".into(),
        cores: 32,
        jobs: 32,
    });
    let policy = Policy {
        expectations: expectations(),
        baseline: Some(("nightly-previous.json".into(), baseline(&report))),
        fail_on: FailOn::Failure,
        strict: false,
    };
    conclude(&mut report, &policy);
    report
}
