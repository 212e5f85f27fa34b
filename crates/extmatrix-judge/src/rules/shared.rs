//! Shared state: which objects found at the same address in two places
//! count as state the extension shares (docs/outcomes.md, "When is an object
//! shared?").

use super::declaration::broken_isolation_promise;
use crate::{CellFacts, Finding};
use extmatrix_core::Outcome;
use extmatrix_protocol::{
    Comparison, Declaration, Event, InitStyle, Lives, Observation, SharedObject,
};
use extmatrix_schema::Details;

/// The path the harness gives the module object itself.
pub const MODULE_ITSELF: &str = "(module)";

/// Whether an object found at the same address in two places is state the
/// extension shares, rather than CPython's own.
///
/// By where it lives, not by refcount: since 3.13 a static type defined by an
/// extension is immortal too, and it is exactly the bug to catch.
///
/// An attribute of a type in libpython's image (`OSError.__new__`, which a
/// module that sets `error = OSError` reaches) is in that type's dict, and
/// the runtime owns a static builtin type's dict (since 3.12 one per
/// interpreter; before, one for the process): it is the interpreter's own
/// object wherever it lives.
///
/// After a re-import, in the same interpreter, only what the target's own
/// initialisation made can be its state: an object alive before the
/// target's first import, another module of `sys.modules`, or a type or
/// function another module defined (`from json import dumps`) is the
/// interpreter's or a dependency's, which the re-import does not import
/// again. An object in the extension's own image is always its own. Across
/// interpreters the same objects do count: one interpreter's object must
/// not be reachable from another.
pub fn counts_as_shared(obj: &SharedObject) -> bool {
    // The runtime keeps a managed static type's state per interpreter
    // (what makes builtin types safe to share), wherever it lives.
    if obj.owner_lives == Some(Lives::Libpython) || obj.runtime_managed {
        return false;
    }
    let interpreters =
        obj.existed_before_import || obj.registered_module || obj.defined_by_dependency;
    // What lives in the extension's own image is the extension's, whoever
    // its `__module__` names.
    if obj.label == Comparison::OldNew && interpreters && obj.lives != Lives::Extension {
        return false;
    }
    match obj.lives {
        Lives::Extension => true,
        Lives::Libpython => false,
        // Interned strings are the runtime's: CPython shares them between
        // interpreters itself. Immortality alone excuses nothing on the
        // heap: free-threaded 3.13 makes every heap type and function
        // immortal once a second thread exists (deferred reference
        // counting), the extension's own included.
        Lives::Heap => !obj.interned,
        // Another library's static objects are immortal since 3.12, like
        // libpython's; which library owns them is for the "where shared
        // objects live" evidence.
        Lives::OtherImage => !(obj.immortal || obj.interned),
    }
}

/// Whether `path` names module or type metadata (`__name__`,
/// `Widget.__doc__`): shared when the module is, but not what a user fixes.
fn is_metadata(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.len() > 4 && last.starts_with("__") && last.ends_with("__")
}

/// Sorts the objects found at the same address into `details` (counted
/// ones first: the module itself, then the extension's own objects, then
/// the rest, metadata last; the others only counted) and reports
/// `shared-state` when any count — `declaration-mismatch` when they are
/// shared with a subinterpreter by a module that promised isolation.
pub fn findings(facts: &CellFacts, obs: &Observation, details: &mut Details) -> Option<Finding> {
    let copied = loaded_from_m_copy(details.declared.as_ref());
    for event in &obs.events {
        if let Event::Shared(s) = event {
            if counts_as_shared(s) {
                let mut s = s.clone();
                s.from_m_copy = copied && s.lives == Lives::Heap && is_module_attribute(&s.path);
                details.shared_objects.push(s);
            } else {
                details.core_objects_ignored += 1;
            }
        }
    }
    // The very same module object is the plainest evidence, then objects
    // in the extension's own image; what a user would fix (a type, a
    // function, a container) before the metadata that comes with it.
    details.shared_objects.sort_by_key(|s| {
        (
            s.path != MODULE_ITSELF,
            s.lives != Lives::Extension,
            is_metadata(&s.path),
        )
    });
    let first = details.shared_objects.first()?;
    let more = details.shared_objects.len() - 1;
    let compared = match first.label {
        Comparison::OldNew => "after re-import",
        Comparison::MainSubinterp => "in the subinterpreter",
    };
    let mut summary = if first.path == MODULE_ITSELF {
        format!("the module object itself is the same object {compared}")
    } else {
        format!(
            "{} ({}, {}) is the same object {compared}",
            first.path,
            first.type_name,
            where_it_lives(first)
        )
    };
    if more > 0 {
        summary.push_str(&format!(", and {more} more"));
    }
    let across_interpreters = details
        .shared_objects
        .iter()
        .any(|s| s.label == Comparison::MainSubinterp);
    let broken = across_interpreters
        .then(|| broken_isolation_promise(facts, details.declared.as_ref(), &summary))
        .flatten();
    Some(broken.unwrap_or_else(|| Finding::new(Outcome::SharedState, summary)))
}

/// Whether a module is loaded again from a copy of its first instance's
/// dict (`m_copy`): single-phase with `m_size == -1`, whose init function
/// CPython runs once per process (gh-101758); every later instance, in any
/// interpreter, gets the first one's attributes.
fn loaded_from_m_copy(declared: Option<&Declaration>) -> bool {
    declared.is_some_and(|d| d.init == InitStyle::SinglePhase && d.m_size == Some(-1))
}

/// A module's own attribute (`cache`), not a type's (`Widget.__doc__`)
/// and not the module itself.
fn is_module_attribute(path: &str) -> bool {
    path != MODULE_ITSELF && !path.contains('.')
}

/// Where a shared object lives, as precisely as the evidence says:
/// "in heap", "`Thing_Type` in .data of extension", "in other-image
/// libfoo.so", "in heap, copied from the first instance (m_copy)".
fn where_it_lives(obj: &SharedObject) -> String {
    let symbol = obj.symbol_demangled.as_ref().or(obj.symbol.as_ref());
    let mut at = match (symbol, &obj.section) {
        (Some(symbol), Some(section)) => format!("`{symbol}` in {section} of {}", obj.lives),
        _ => format!("in {}", obj.lives),
    };
    if let Some(image) = obj
        .image
        .as_deref()
        .filter(|_| obj.lives == Lives::OtherImage)
    {
        let name = image.rsplit('/').next().unwrap_or(image);
        at.push_str(&format!(" {name}"));
    }
    if let Some(global) = obj.held_by_demangled.as_ref().or(obj.held_by.as_ref()) {
        at.push_str(&format!(", held by the C global `{global}`"));
    }
    if obj.from_m_copy {
        at.push_str(", copied from the first instance (m_copy)");
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::Scenario;

    fn shared(lives: &str, immortal: bool, interned: bool) -> SharedObject {
        match shared_event(lives, immortal, interned) {
            Event::Shared(s) => s,
            _ => unreachable!(),
        }
    }

    #[test]
    fn where_an_object_lives_decides() {
        // A static type is immortal on 3.13, and still the extension's.
        assert!(counts_as_shared(&shared("extension", true, false)));
        assert!(counts_as_shared(&shared("extension", false, true)));
        assert!(!counts_as_shared(&shared("libpython", false, false)));
        assert!(counts_as_shared(&shared("heap", false, false)));
        // Immortal on the heap: a free-threaded build's deferred objects.
        assert!(counts_as_shared(&shared("heap", true, false)));
        assert!(!counts_as_shared(&shared("heap", false, true)));
        assert!(counts_as_shared(&shared("other-image", false, false)));
        assert!(!counts_as_shared(&shared("other-image", true, false)));
        // A static type the runtime manages per interpreter (3.13's
        // _datetime types), and its attributes: the runtime's.
        let managed = SharedObject {
            runtime_managed: true,
            ..shared("extension", true, false)
        };
        assert!(!counts_as_shared(&managed));
    }

    #[test]
    fn an_attribute_of_a_type_in_libpython_is_the_runtimes() {
        let attribute = |owner: Option<Lives>| SharedObject {
            owner_lives: owner,
            ..shared("heap", false, false)
        };
        assert!(!counts_as_shared(&attribute(Some(Lives::Libpython))));
        assert!(counts_as_shared(&attribute(Some(Lives::Extension))));
        assert!(counts_as_shared(&attribute(Some(Lives::Heap))));
        assert!(counts_as_shared(&attribute(None)));
        // A reimported multi-phase module with `error = OSError`: nothing of
        // its own is shared.
        let mut new = shared_event("heap", false, false);
        if let Event::Shared(s) = &mut new {
            s.path = "error.__new__".into();
            s.owner_lives = Some(Lives::Libpython);
        }
        let obs = observation(
            vec![shared_event("libpython", true, false), new, done()],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.core_objects_ignored, 2);
    }

    #[test]
    fn after_a_reimport_only_what_the_import_made_counts() {
        let across = |mut s: SharedObject| {
            s.label = Comparison::MainSubinterp;
            s
        };
        let old = shared("heap", false, false);
        assert!(counts_as_shared(&old));
        let before = SharedObject {
            existed_before_import: true,
            ..old.clone()
        };
        let dependency = SharedObject {
            registered_module: true,
            type_name: "module".into(),
            ..old.clone()
        };
        // The interpreter's own objects, and modules the target imported,
        // are the same after a re-import by design...
        assert!(!counts_as_shared(&before));
        assert!(!counts_as_shared(&dependency));
        // ...but one interpreter's objects must not reach another.
        let imported = SharedObject {
            defined_by_dependency: true,
            type_name: "function".into(),
            ..old.clone()
        };
        assert!(!counts_as_shared(&imported));
        assert!(counts_as_shared(&across(before)));
        assert!(counts_as_shared(&across(dependency)));
        assert!(counts_as_shared(&across(imported)));
        // A static type whose tp_name claims another module is still the
        // extension's.
        let liar = SharedObject {
            defined_by_dependency: true,
            ..shared("extension", true, false)
        };
        assert!(counts_as_shared(&liar));
        // Even an old object in the extension's image is not excused by
        // where it lives, only by being the interpreter's: a static type
        // exists before the import only if another module made it.
        let static_type = SharedObject {
            existed_before_import: false,
            ..shared("extension", true, false)
        };
        assert!(counts_as_shared(&static_type));
    }

    #[test]
    fn a_module_handed_back_again_leads_the_summary() {
        let mut module = shared_event("heap", false, false);
        if let Event::Shared(s) = &mut module {
            s.path = MODULE_ITSELF.into();
            s.type_name = "module".into();
        }
        let obs = observation(
            vec![shared_event("extension", true, false), module, done()],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::SharedState);
        assert_eq!(
            v.details.summary,
            "the module object itself is the same object after re-import, and 1 more"
        );
    }

    #[test]
    fn the_extensions_own_objects_lead_the_summary() {
        let mut heap = shared_event("heap", false, false);
        if let Event::Shared(s) = &mut heap {
            s.path = "cache".into();
            s.type_name = "dict".into();
        }
        let mut widget = shared_event("extension", true, false);
        if let Event::Shared(s) = &mut widget {
            s.path = "Widget".into();
        }
        let obs = observation(
            vec![
                heap,
                shared_event("libpython", false, false),
                widget,
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::SharedState);
        assert_eq!(
            v.details.summary,
            "Widget (type, in extension) is the same object after re-import, and 1 more"
        );
        assert_eq!(v.details.shared_objects.len(), 2);
        assert_eq!(v.details.core_objects_ignored, 1);
    }

    #[test]
    fn one_shared_object_is_named_alone() {
        let obs = observation(vec![shared_event("heap", false, false), done()], exited(0));
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::SharedState);
        assert_eq!(
            v.details.summary,
            "X (type, in heap) is the same object after re-import"
        );
    }

    #[test]
    fn only_runtime_objects_is_no_finding() {
        let obs = observation(
            vec![
                shared_event("libpython", true, false),
                shared_event("heap", true, true),
                shared_event("other-image", true, false),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::SubinterpOwn), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.core_objects_ignored, 3);
    }

    fn at(path: &str, lives: &str, label: &str) -> Event {
        let mut e = shared_event(lives, false, false);
        if let Event::Shared(s) = &mut e {
            s.path = path.into();
            s.label = label.parse().unwrap();
        }
        e
    }

    #[test]
    fn shared_with_a_subinterpreter_by_a_module_promising_isolation_is_a_mismatch() {
        let judged = |declaration: Event, label: &str| {
            let obs = observation(
                vec![declaration, at("cache", "heap", label), done()],
                exited(0),
            );
            judge_cell(&facts(Scenario::SubinterpOwn), &Evidence::Ran(obs))
        };
        let liar = judged(
            declared("multi-phase", Some("per-interpreter-gil")),
            "main/subinterp",
        );
        assert_eq!(liar.outcome, Outcome::DeclarationMismatch);
        assert_eq!(
            liar.details.summary,
            "declares `Py_mod_multiple_interpreters = per-interpreter-gil` yet cache (type, in heap) \
             is the same object in the subinterpreter"
        );
        assert_eq!(liar.details.shared_objects.len(), 1);
        let promised_nothing = judged(declared("single-phase", None), "main/subinterp");
        assert_eq!(promised_nothing.outcome, Outcome::SharedState);
        let said_no = judged(
            declared("multi-phase", Some("not-supported")),
            "main/subinterp",
        );
        assert_eq!(said_no.outcome, Outcome::SharedState);
        // A re-import in one interpreter is not what the slot promises.
        let reimported = judged(declared("multi-phase", None), "old/new");
        assert_eq!(reimported.outcome, Outcome::SharedState);
    }

    #[test]
    fn metadata_comes_after_what_a_user_would_fix() {
        let obs = observation(
            vec![
                at("__name__", "heap", "old/new"),
                at("Widget.__doc__", "heap", "old/new"),
                at("encode", "heap", "old/new"),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert!(
            v.details.summary.starts_with("encode (type, in heap)"),
            "{}",
            v.details.summary
        );
        assert!(!is_metadata("__"));
        assert!(!is_metadata("____"));
        assert!(is_metadata("_____"));
        assert!(!is_metadata("__init"));
        assert!(!is_metadata("x.__init"));
    }

    #[test]
    fn another_librarys_image_is_named() {
        let mut e = shared_event("other-image", false, false);
        if let Event::Shared(s) = &mut e {
            s.image = Some("/usr/lib/libfoo.so.1".into());
        }
        let v = judge_cell(
            &facts(Scenario::SubinterpLegacy),
            &Evidence::Ran(observation(vec![e, done()], exited(0))),
        );
        assert_eq!(
            v.details.summary,
            "X (type, in other-image libfoo.so.1) is the same object after re-import"
        );
    }

    #[test]
    fn the_symbol_and_section_say_where_in_the_image() {
        let mut e = shared_event("extension", true, false);
        if let Event::Shared(s) = &mut e {
            s.path = "Thing".into();
            s.symbol = Some("Thing_Type".into());
            s.section = Some(".data".into());
        }
        let mut held = shared_event("heap", false, false);
        if let Event::Shared(s) = &mut held {
            s.path = "cache".into();
            s.held_by = Some("the_cache".into());
        }
        let v = judge_cell(
            &facts(Scenario::Reimport),
            &Evidence::Ran(observation(vec![held, done()], exited(0))),
        );
        assert_eq!(
            v.details.summary,
            "cache (type, in heap, held by the C global `the_cache`) is the same object after re-import"
        );
        let v = judge_cell(
            &facts(Scenario::Reimport),
            &Evidence::Ran(observation(vec![e, done()], exited(0))),
        );
        assert_eq!(
            v.details.summary,
            "Thing (type, `Thing_Type` in .data of extension) is the same object after re-import"
        );
    }

    #[test]
    fn rust_and_cpp_names_are_shown_demangled() {
        let mut held = shared_event("heap", false, false);
        if let Event::Shared(s) = &mut held {
            s.path = "Fragment".into();
            s.held_by = Some("_ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE.0".into());
            s.held_by_demangled = Some("orjson::typeref::FRAGMENT_TYPE".into());
        }
        let mut static_type = shared_event("extension", true, false);
        if let Event::Shared(s) = &mut static_type {
            s.path = "Widget".into();
            s.symbol = Some("_ZN6holderL11widget_typeE".into());
            s.symbol_demangled = Some("holder::widget_type".into());
            s.section = Some(".data".into());
        }
        let judged = |e: Event| {
            judge_cell(
                &facts(Scenario::Reimport),
                &Evidence::Ran(observation(vec![e, done()], exited(0))),
            )
        };
        assert_eq!(
            judged(static_type).details.summary,
            "Widget (type, `holder::widget_type` in .data of extension) is the same object after re-import"
        );
        let v = judged(held);
        assert_eq!(
            v.details.summary,
            "Fragment (type, in heap, held by the C global `orjson::typeref::FRAGMENT_TYPE`) is the same object after re-import"
        );
        // The mangled names stay in the details.
        assert_eq!(
            v.details.shared_objects[0].held_by.as_deref(),
            Some("_ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE.0")
        );
    }

    #[test]
    fn a_single_phase_modules_attributes_come_from_m_copy() {
        let judged = |m_size: i64| {
            let obs = observation(
                vec![
                    event(
                        serde_json::json!({"ev": "declared", "init": "single-phase", "m_size": m_size}),
                    ),
                    at("cache", "heap", "main/subinterp"),
                    at("Widget.__doc__", "heap", "main/subinterp"),
                    at("Static", "extension", "main/subinterp"),
                    done(),
                ],
                exited(0),
            );
            judge_cell(&facts(Scenario::SubinterpLegacy), &Evidence::Ran(obs))
        };
        let v = judged(-1);
        let copied: Vec<(&str, bool)> = v
            .details
            .shared_objects
            .iter()
            .map(|s| (s.path.as_str(), s.from_m_copy))
            .collect();
        assert_eq!(
            copied,
            [
                ("Static", false),
                ("cache", true),
                ("Widget.__doc__", false)
            ]
        );
        assert!(
            v.details.summary.starts_with("Static (type, in extension)"),
            "{}",
            v.details.summary
        );
        let cache = v
            .details
            .shared_objects
            .iter()
            .find(|s| s.path == "cache")
            .unwrap();
        assert_eq!(
            where_it_lives(cache),
            "in heap, copied from the first instance (m_copy)"
        );
        // With module state, init runs again per interpreter: no m_copy.
        assert!(judged(8)
            .details
            .shared_objects
            .iter()
            .all(|s| !s.from_m_copy));
        assert!(!is_module_attribute(MODULE_ITSELF));
    }
}
