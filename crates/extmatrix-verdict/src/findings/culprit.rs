//! What a cell's outcome blames, as a key that names the same culprit in
//! every cell, interpreter and run: built from the evidence's structure
//! (which C global holds an object, which step's action crashed, which
//! series grew), never from a message's words, and with nothing that
//! changes from run to run (addresses, pids, durations, cycle numbers).
//!
//! A cell is blamed by what decided its outcome (the judge's rules, read
//! back from `Details`): a crash cell that also shared an object belongs
//! to its crash, not to the shared object.

use extmatrix_core::{Outcome, Reason};
use extmatrix_protocol::{Action, Forensics, GilSlot, ImportFailure, Lives, SharedObject};
use extmatrix_schema::{Details, FindingKind, LeakSeries};
use std::path::Path;

/// The path the harness gives the module object itself.
const MODULE_ITSELF: &str = "(module)";

/// One culprit of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Culprit {
    pub kind: FindingKind,
    /// The id's last part: the same for the same culprit anywhere.
    pub key: String,
    pub title: String,
    /// What to change, when no reason says it.
    pub fix: &'static str,
}

impl Culprit {
    fn new(kind: FindingKind, key: impl Into<String>, title: impl Into<String>) -> Self {
        Culprit {
            kind,
            key: key.into(),
            title: title.into(),
            fix: kind_fix(kind),
        }
    }
}

/// What to change for a finding of `kind` that has no reason (docs/outcomes.md,
/// "Findings"); a shared object's fix depends on what holds it ([`Holder::fix`]).
pub(crate) fn kind_fix(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::SharedObject => "create it for every module object, in the module's exec slot, and keep it in the module's state",
        FindingKind::ClobberedState => "keep what the smoke code relies on in the module's state (`PyModule_GetState`, `PyType_GetModuleByDef`), not in C globals or `PyState_FindModule`",
        FindingKind::Leak => "release what each instance allocates when it ends: the module's `m_clear` and `m_free`, its types' `tp_dealloc`",
        FindingKind::GilEnabled => "add `Py_mod_gil = Py_MOD_GIL_NOT_USED` once the module is thread-safe",
        FindingKind::DeclarationBroken => "make the module thread-safe without the GIL, or drop `Py_mod_gil = Py_MOD_GIL_NOT_USED`",
        FindingKind::Refusal => "port to multi-phase init with per-module state, or declare `Py_mod_multiple_interpreters = Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED`",
        FindingKind::ImportError => "the exception and its traceback in `details.errors`",
        FindingKind::Crash => "the code path in `details.forensics` (every thread's C and Python stacks) and `details.fatal_error`",
        FindingKind::Hang => "where each thread waits in `details.forensics` (a lock taken twice, a wait on another interpreter)",
        FindingKind::BuildFailed => "the build's cause in `details.build` (the compiler's, the linker's or the backend's words) and its log",
        FindingKind::HarnessError => "extmatrix's or the interpreter's side, not the module's: `details.build` and the notes say which",
    }
}

/// The culprits behind `outcome`, at least one for every outcome that is
/// not `pass`, `n/a` or `refused` (a refusal is the declaration kept; one
/// it does not explain is an `import-error`).
pub(crate) fn culprits(outcome: Outcome, details: &Details) -> Vec<Culprit> {
    let found = match outcome {
        Outcome::Pass | Outcome::NotApplicable | Outcome::Refused => return Vec::new(),
        Outcome::SharedState => shared_objects(&details.shared_objects),
        Outcome::StateClobbered => clobbered(details).into_iter().collect(),
        Outcome::Leak => leaks(details),
        Outcome::GilEnabled => vec![Culprit::new(
            FindingKind::GilEnabled,
            "gil",
            "importing the module turns the GIL on",
        )],
        Outcome::DeclarationMismatch => broken_declaration(details),
        Outcome::ImportError => vec![import_error(details)],
        Outcome::Crash | Outcome::Hang => vec![ended(outcome, details)],
        Outcome::BuildFailed => vec![build_failed(details)],
        Outcome::HarnessError => vec![harness_error(details)],
    };
    if found.is_empty() {
        return vec![unkeyed(outcome, details)];
    }
    found
}

/// A cell whose details name nothing more precise: one culprit per outcome.
fn unkeyed(outcome: Outcome, details: &Details) -> Culprit {
    let kind = match outcome {
        Outcome::SharedState => FindingKind::SharedObject,
        Outcome::StateClobbered => FindingKind::ClobberedState,
        Outcome::Leak => FindingKind::Leak,
        _ => FindingKind::DeclarationBroken,
    };
    Culprit::new(kind, "unkeyed", details.summary.clone())
}

/// What keeps a shared object alive across instances: the thing to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    /// A static object: a symbol of an image (a static type in `.data`).
    /// The image keeps the same static name in the module's image and in a
    /// bundled library apart.
    Static {
        symbol: String,
        section: String,
        image: Option<String>,
        lives: Lives,
        object: String,
    },
    /// A heap object a C global points to.
    Global { name: String, object: String },
    /// A single-phase module with `m_size == -1`: every later instance gets
    /// a copy of the first one's dict (CPython's `m_copy`).
    ModuleCopy,
    /// The module object itself, handed out again.
    Module,
    /// Nothing names a holder: the object, by its path and type.
    Unheld { path: String, type_name: String },
}

impl Holder {
    fn key(&self) -> String {
        match self {
            Holder::Static {
                symbol,
                section,
                image: Some(image),
                ..
            } => format!("{symbol}@{section}:{image}"),
            Holder::Static {
                symbol, section, ..
            } => format!("{symbol}@{section}"),
            Holder::Global { name, .. } => format!("held-by:{name}"),
            Holder::ModuleCopy => "m_copy".into(),
            Holder::Module => MODULE_ITSELF.into(),
            Holder::Unheld { path, type_name } => format!("attr:{path}:{type_name}"),
        }
    }

    fn title(&self) -> String {
        match self {
            Holder::Static {
                symbol,
                section,
                image,
                lives,
                object,
            } => {
                // The extension has one image, its own: naming it says nothing more.
                let image = image
                    .as_ref()
                    .filter(|_| *lives != Lives::Extension)
                    .map(|i| format!(" `{i}`"))
                    .unwrap_or_default();
                format!("static `{symbol}` ({section} of {lives}{image}) is one object for every instance: {object}")
            }
            Holder::Global { name, object } => {
                format!("the C global `{name}` holds one object for every instance: {object}")
            }
            Holder::ModuleCopy => "single-phase init with `m_size = -1`: every instance gets a copy of the first one's dict (m_copy)".into(),
            Holder::Module => "the module object itself is the same in every instance".into(),
            Holder::Unheld { path, type_name } => {
                format!("{path} ({type_name}) is the same object in every instance")
            }
        }
    }

    /// docs/outcomes.md, "Findings".
    fn fix(&self) -> &'static str {
        match self {
            Holder::Static { .. } => "make it a heap object of each module object: a type from `PyType_FromModuleAndSpec`, kept in the module's state",
            Holder::Global { .. } => "keep the object in the module's state (`PyModule_GetState`), not in a C global",
            Holder::ModuleCopy => "port to multi-phase init (`PyModuleDef_Init`) with per-module state",
            Holder::Module => "create a new module object every time (multi-phase init), never return a cached one",
            Holder::Unheld { .. } => kind_fix(FindingKind::SharedObject),
        }
    }
}

/// What holds `obj` by its own evidence: its symbol, the C global that
/// points to it, the module's copied dict, or being the module itself.
fn own_holder(obj: &SharedObject) -> Option<Holder> {
    let object = format!("{} ({})", obj.path, obj.type_name);
    if let (Some(symbol), Some(section)) = (
        obj.symbol_demangled.as_ref().or(obj.symbol.as_ref()),
        &obj.section,
    ) {
        return Some(Holder::Static {
            symbol: symbol.clone(),
            section: section.clone(),
            image: obj.image.as_deref().map(image_name),
            lives: obj.lives,
            object,
        });
    }
    if let Some(name) = obj.held_by_demangled.as_ref().or(obj.held_by.as_ref()) {
        return Some(Holder::Global {
            name: name.clone(),
            object,
        });
    }
    if obj.from_m_copy {
        return Some(Holder::ModuleCopy);
    }
    (obj.path == MODULE_ITSELF).then_some(Holder::Module)
}

/// An image by its name up to the first dot: the same on every machine,
/// in every run and for every interpreter, where its path and the rest of
/// its name are not (`/cache/m-cp312-…/m.cpython-312-x86_64-linux-gnu.so`
/// is `m`; `libfoo.so.1` is `libfoo`).
fn image_name(image: &str) -> String {
    let file = Path::new(image)
        .file_name()
        .map_or(image.into(), |f| f.to_string_lossy());
    file.split('.').next().unwrap_or_default().to_owned()
}

/// The nearest shared object `path` is an attribute of (`Widget` for
/// `Widget.__new__`; the module itself for everything, when it is shared).
fn parent<'a>(path: &str, objects: &'a [SharedObject]) -> Option<&'a SharedObject> {
    if path == MODULE_ITSELF {
        return None;
    }
    let mut prefix = path;
    while let Some((up, _)) = prefix.rsplit_once('.') {
        if let Some(found) = objects.iter().find(|o| o.path == up) {
            return Some(found);
        }
        prefix = up;
    }
    objects.iter().find(|o| o.path == MODULE_ITSELF)
}

/// What holds `obj`: its own holder, else its parent's (an attribute of a
/// static type is shared because the type is), else the object itself.
fn holder(obj: &SharedObject, objects: &[SharedObject]) -> Holder {
    own_holder(obj)
        .or_else(|| parent(&obj.path, objects).map(|p| holder(p, objects)))
        .unwrap_or_else(|| Holder::Unheld {
            path: obj.path.clone(),
            type_name: obj.type_name.clone(),
        })
}

/// One culprit per holder of the cell's shared objects.
fn shared_objects(objects: &[SharedObject]) -> Vec<Culprit> {
    let mut holders: Vec<Holder> = Vec::new();
    for obj in objects {
        let h = holder(obj, objects);
        if !holders.iter().any(|known| known.key() == h.key()) {
            holders.push(h);
        }
    }
    holders
        .into_iter()
        .map(|h| Culprit {
            kind: FindingKind::SharedObject,
            key: h.key(),
            title: h.title(),
            fix: h.fix(),
        })
        .collect()
}

/// A second instance broke the first (`smoke old instance` failed), or a
/// later instance failed only after an earlier one ran (its alone run
/// passed): keyed by the failing step's action and the exception's type.
fn clobbered(details: &Details) -> Option<Culprit> {
    let old = details
        .errors
        .iter()
        .find(|e| e.step.action == Action::SmokeOldInstance);
    if let Some(err) = old {
        return Some(Culprit::new(
            FindingKind::ClobberedState,
            format!("{}:{}", err.step.action, err.exc_type),
            format!(
                "the first instance's smoke code raises {} once a second instance exists",
                err.exc_type
            ),
        ));
    }
    details.alone.as_ref()?;
    let err = details
        .errors
        .iter()
        .find(|e| !e.step.stage.is_first_instance())?;
    Some(Culprit::new(
        FindingKind::ClobberedState,
        format!("{}:{}", err.step.action, err.exc_type),
        format!(
            "`{}` raises {} only after an earlier instance ran (alone, it passes)",
            err.step.action, err.exc_type
        ),
    ))
}

/// A promise of the declaration broken: by clobbered state, by objects
/// shared with a subinterpreter, or by the GIL turned on despite
/// `Py_MOD_GIL_NOT_USED` — each that the cell shows.
fn broken_declaration(details: &Details) -> Vec<Culprit> {
    let mut found: Vec<Culprit> = clobbered(details).into_iter().collect();
    found.extend(shared_objects(&details.shared_objects));
    let promised_no_gil = details
        .declared
        .as_ref()
        .is_some_and(|d| d.gil == Some(GilSlot::NotUsed));
    if promised_no_gil && details.gil.iter().any(|g| g.enabled) {
        found.push(Culprit::new(
            FindingKind::DeclarationBroken,
            "gil-not-used",
            "declares `Py_mod_gil = Py_MOD_GIL_NOT_USED` yet importing it turns the GIL on",
        ));
    }
    found
}

/// One culprit per series that fired.
fn leaks(details: &Details) -> Vec<Culprit> {
    let mut series: Vec<LeakSeries> = Vec::new();
    for check in details.leak.iter().flat_map(|l| &l.checks) {
        if check.fired && !series.contains(&check.series) {
            series.push(check.series);
        }
    }
    series
        .into_iter()
        .map(|s| {
            let (id, what) = match s {
                LeakSeries::Refs => ("refs", "references grow"),
                LeakSeries::Blocks => ("blocks", "allocated blocks grow"),
                LeakSeries::MallocKib => ("malloc_kib", "malloc's memory in use grows"),
                LeakSeries::RssKib => ("rss_kib", "the resident set grows"),
            };
            Culprit::new(
                FindingKind::Leak,
                id,
                format!("{what} with every cycle ({id})"),
            )
        })
        .collect()
}

/// The error that decided an `import-error`: the first but the first
/// instance's failure after a second existed (that is clobbered state).
fn deciding_error(details: &Details) -> Option<&ImportFailure> {
    details
        .errors
        .iter()
        .find(|e| e.step.action != Action::SmokeOldInstance)
}

/// Keyed by its reason when it has one (a refusal the declaration does
/// not explain is a `refusal`), else by the exception's type and the
/// step's action. A failure the control shares is its own culprit: the
/// interpreter's, not the module's.
fn import_error(details: &Details) -> Culprit {
    let err = deciding_error(details);
    let what = err.map_or_else(
        || "the import fails".to_owned(),
        |e| format!("{} in `{}`", e.exc_type, e.step.action),
    );
    let culprit = match details.reason.filter(|r| *r != Reason::AlsoWithoutTarget) {
        Some(r @ (Reason::SubinterpRefused | Reason::SubinterpRefusedFreeThreaded)) => {
            Culprit::new(
                FindingKind::Refusal,
                r.id(),
                "CPython refuses the module in a subinterpreter its declaration says it supports",
            )
        }
        Some(Reason::MissingDependency) => {
            let missing = err
                .and_then(|e| e.not_found.as_deref())
                .map(|m| m.split('.').next().unwrap_or(m))
                .unwrap_or_default();
            Culprit::new(
                FindingKind::ImportError,
                format!("{}:{missing}", Reason::MissingDependency),
                format!("{what}: `{missing}` is not installed beside the target"),
            )
        }
        Some(r) => Culprit::new(FindingKind::ImportError, r.id(), what),
        None => Culprit::new(
            FindingKind::ImportError,
            err.map_or_else(
                || "no-error".to_owned(),
                |e| format!("{}:{}", e.exc_type, e.step.action),
            ),
            what,
        ),
    };
    also_without_target(details, culprit)
}

/// A failure its control shares gets a culprit of its own.
fn also_without_target(details: &Details, mut culprit: Culprit) -> Culprit {
    if details.reason == Some(Reason::AlsoWithoutTarget) {
        culprit.key = format!("{}:{}", Reason::AlsoWithoutTarget, culprit.key);
        culprit.title.push_str(", also without the target");
    }
    culprit
}

/// A crash or a hang: how the process ended (the signal, the exit status,
/// `Py_FatalError`'s function), the step's action, and the innermost frame
/// of an extension module's image when the stacks name one.
fn ended(outcome: Outcome, details: &Details) -> Culprit {
    let how = match (outcome, &details.signal, details.exit_code) {
        (Outcome::Hang, ..) => "timeout".to_owned(),
        (_, Some(signal), _) => signal.clone(),
        (_, None, Some(code)) => format!("exit {code}"),
        _ => "ended".to_owned(),
    };
    let action = details
        .step
        .map_or_else(|| "start".to_owned(), |s| s.action.to_string());
    let fatal = details.fatal_error.as_deref().and_then(fatal_function);
    let frame = details.forensics.as_ref().and_then(extension_frame);
    let mut key = format!("{how}:{action}");
    let mut title = match outcome {
        Outcome::Hang => format!("hangs in `{action}`"),
        _ if how.starts_with("exit") => {
            format!("the target ends the process ({how}) in `{action}`")
        }
        _ => format!("{how} in `{action}`"),
    };
    if let Some(f) = fatal {
        key.push_str(&format!(":fatal {f}"));
        title.push_str(&format!(", Py_FatalError in {f}"));
    }
    if let Some(f) = &frame {
        key.push_str(&format!(":{f}"));
        title.push_str(&format!(", at {f}"));
    }
    let kind = match outcome {
        Outcome::Hang => FindingKind::Hang,
        _ => FindingKind::Crash,
    };
    also_without_target(details, Culprit::new(kind, key, title))
}

/// The function `Py_FatalError` names (`_Py_FatalErrorFunc` writes
/// "func: message"), when it names one.
fn fatal_function(first_line: &str) -> Option<&str> {
    let (func, _) = first_line.split_once(": ")?;
    let identifier = !func.is_empty()
        && !func.starts_with(|c: char| c.is_ascii_digit())
        && func.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    identifier.then_some(func)
}

/// The innermost frame, below the signal handler the stacks were taken
/// in, that sits in an extension module's image: a frame that names its
/// image (glibc's `backtrace`: `/x/m.so(func+0x1a) [0x…]`; gdb without
/// debug information: `#3 0x… in func () from /x/m.so`) whose file ends in
/// `.so` and is not a `lib*` library (libc, libpython). Only the function:
/// offsets and addresses change with every build.
fn extension_frame(forensics: &Forensics) -> Option<String> {
    let frames = forensics.c_frames();
    // Frames above the last handler line are the handler's own, not the crash's.
    let below_handler = frames
        .rsplit(|f| f.contains("<signal handler called>"))
        .next()
        .unwrap_or_default();
    below_handler.iter().find_map(|f| {
        let (image, function) = image_and_function(f)?;
        let file = image.rsplit('/').next().unwrap_or(image);
        (file.ends_with(".so") && !file.starts_with("lib")).then(|| function.to_owned())
    })
}

/// A frame's image and function, when the frame names its image.
fn image_and_function(frame: &str) -> Option<(&str, &str)> {
    if let Some((before, image)) = frame.rsplit_once(" from ") {
        let function = before.split(" in ").nth(1)?.split(" (").next()?;
        return Some((image.trim(), function.trim()));
    }
    let (image, rest) = frame.split_once('(')?;
    let function = rest.split(['+', ')']).next()?;
    (!function.is_empty() && image.starts_with('/')).then_some((image, function))
}

/// A failed build, keyed by its cause (kind, location, message): one build
/// per interpreter, so its cells are that interpreter's scenarios.
fn build_failed(details: &Details) -> Culprit {
    let key = details
        .build
        .as_ref()
        .and_then(|b| b.cause.as_ref())
        .map_or_else(
            || "no-cause".to_owned(),
            |c| {
                format!(
                    "{}:{}:{}",
                    c.kind,
                    c.location.as_deref().unwrap_or_default(),
                    c.message
                )
            },
        );
    Culprit::new(FindingKind::BuildFailed, key, details.summary.clone())
}

/// The harness's own failure, by what kind it is: it did not build, the
/// machine was too busy to finish it, it ended early in a step, it exited
/// by itself, or it did not start.
fn harness_error(details: &Details) -> Culprit {
    let key = match (&details.build, details.step, details.exit_code) {
        (Some(_), ..) => "did-not-build".to_owned(),
        _ if details.reason == Some(Reason::MachineBusy) => Reason::MachineBusy.id().to_owned(),
        (None, Some(step), _) => format!("ended-in:{}", step.action),
        (None, None, Some(code)) => format!("exit:{code}"),
        (None, None, None) => "did-not-run".to_owned(),
    };
    Culprit::new(FindingKind::HarnessError, key, details.summary.clone())
}
