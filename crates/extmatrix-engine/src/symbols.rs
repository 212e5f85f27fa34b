//! Naming what the harness could only locate. The harness knows a shared
//! object's image and offset; the image's ELF symbol table (static symbols
//! included) names what sits there: `static PyTypeObject Thing_Type` in
//! `.data`. And every built module's writable globals go into the report
//! as evidence of their own: process-wide C state no run may reach.
//!
//! Rust and C++ names are given in their author's language beside the
//! mangled ones (`symbol_demangled`, `held_by_demangled`, a writable
//! global's `demangled`), and crash frames get theirs demangled in place
//! where gdb had not (`Forensics::c`, the original in `c_mangled`).

use crate::execute::CellRun;
use crate::provision::Provisioned;
use extmatrix_judge::Evidence;
use extmatrix_plan::Plan;
use extmatrix_protocol::{Event, Forensics, SharedObject};
use extmatrix_provision::{demangle_text, ImageSymbol, ImageSymbols};
use extmatrix_schema::{ModuleImage, WritableGlobal};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Images read once per run, by path; `None` when one cannot be read.
#[derive(Default)]
struct Images(HashMap<PathBuf, Option<ImageSymbols>>);

impl Images {
    fn of(&mut self, path: &Path) -> Option<&ImageSymbols> {
        self.0
            .entry(path.to_owned())
            .or_insert_with(|| ImageSymbols::read(path).ok())
            .as_ref()
    }
}

/// Give every shared object that sits in an image the symbol at its
/// offset, and every heap object a C global holds that global's name.
pub fn name_shared_objects(runs: &mut [CellRun]) {
    let mut images = Images::default();
    for run in runs {
        let Evidence::Ran(obs) = &mut run.evidence else {
            continue;
        };
        for event in &mut obs.events {
            match event {
                Event::Shared(shared) => name_one(&mut images, shared),
                Event::Forensics(forensics) => demangle_frames(forensics),
                _ => {}
            }
        }
    }
}

fn name_one(images: &mut Images, shared: &mut SharedObject) {
    if let (Some(image), Some(offset)) = (shared.image.as_deref(), shared.offset) {
        if let Some(symbol) = images.of(Path::new(image)).and_then(|s| s.at(offset)) {
            shared.symbol = Some(symbol.name.clone());
            shared.symbol_demangled = symbol.demangled();
            shared.section = Some(symbol.section.clone());
        }
    }
    if let (Some(image), Some(offset)) = (shared.held_in.as_deref(), shared.held_at) {
        let holder = images.of(Path::new(image)).and_then(|s| s.at(offset));
        shared.held_by = holder.map(|s| s.name.clone());
        shared.held_by_demangled = holder.and_then(ImageSymbol::demangled);
    }
}

/// The C frames with their mangled symbols demangled, the frames as
/// written kept beside them.
fn demangle_frames(forensics: &mut Forensics) {
    if let Some(readable) = demangle_text(&forensics.c) {
        forensics.c_mangled = std::mem::replace(&mut forensics.c, readable);
    }
}

/// Every module each target built, per interpreter, with its writable
/// globals, in the plan's order.
pub fn module_images(plan: &Plan, provisioned: &Provisioned) -> Vec<ModuleImage> {
    let mut out = Vec::new();
    for (t, per_python) in provisioned.targets.iter().enumerate() {
        for (p, built) in per_python.iter().enumerate() {
            let Some(Ok(built)) = built else {
                continue;
            };
            for module in &built.modules {
                let Ok(symbols) = ImageSymbols::read(&module.artifact) else {
                    continue;
                };
                out.push(ModuleImage {
                    target: plan.targets[t].name.clone(),
                    module: module.name.clone(),
                    python: plan.pythons[p].id.clone(),
                    path: module.artifact.display().to_string(),
                    writable_globals: symbols
                        .writable_globals()
                        .map(|s| WritableGlobal {
                            name: s.name.clone(),
                            demangled: s.demangled(),
                            section: s.section.clone(),
                            size: s.size,
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_gdb_left_mangled_are_demangled_and_kept_as_written() {
        let written = "/x/holder.so(_ZN6holder4execEP7_object+0x1a) [0x7f00]\n/x/libpython.so(PyModule_ExecDef+0x5) [0x7f10]\n";
        let mut f = Forensics {
            signal: "SIGSEGV".into(),
            python: String::new(),
            c: written.into(),
            ..Forensics::default()
        };
        demangle_frames(&mut f);
        assert_eq!(
            f.c,
            "/x/holder.so(holder::exec(_object*)+0x1a) [0x7f00]\n/x/libpython.so(PyModule_ExecDef+0x5) [0x7f10]\n"
        );
        assert_eq!(f.c_mangled, written);
        // gdb's frames, demangled already: left as they are, nothing kept twice.
        let gdb = "#3  0x1 in holder::exec (module=0x2) at src/cppholder.cpp:12\n";
        let mut f = Forensics {
            c: gdb.into(),
            c_mangled: String::new(),
            ..f
        };
        demangle_frames(&mut f);
        assert_eq!((f.c.as_str(), f.c_mangled.as_str()), (gdb, ""));
    }
}
