//! Provision what the cells need, per interpreter: the harness binary and
//! the built targets, each an entry of the cache store (`extmatrix-cache`:
//! locked per entry, staged in `<cache>/tmp` and renamed into place,
//! `meta.json` last, pruned by `extmatrix cache prune`).
//!
//! Everything is compiled with the interpreter's own flags (`python-config
//! --embed` for the harness, `sysconfig` CC/CFLAGS/CCSHARED/LDSHARED/EXT_SUFFIX
//! for extensions). A target that does not compile is a [`BuildFailure`]
//! value, not an error: it becomes a `build-failed` cell.
//!
//! Targets are built behind one trait, [`TargetBuilder`]; [`builder_for`]
//! picks the builder of a [`TargetSpec`](extmatrix_spec::TargetSpec)'s kind.
//! A new target kind is one file in `targets/` and one arm in `builder_for`.

mod cause;
mod failure;
mod harness;
mod symbols;
mod targets;
mod toolchain;

pub use extmatrix_cache::Store;
pub use failure::BuildFailure;
pub use harness::{
    baseline_module_dir, baseline_module_file, harness, harness_sources_digest, HarnessMeta,
    BASELINE_MODULE, HARNESS_KIND, SOURCES_INPUT,
};
pub use symbols::{demangle, demangle_text, ImageSymbol, ImageSymbols};
pub use targets::c_file::CFileTarget;
pub use targets::cargo_dirs::{prune as prune_cargo_target_dirs, CARGO_TARGET_DIRS};
pub use targets::pip::{sdist_entry_name, SDISTS_KIND};
pub use targets::{
    build_target, builder_for, modules, tree, BuildLimits, BuiltModule, BuiltTarget, ModuleRecord,
    TargetBuilder, TargetMeta, Untestable, TARGETS_KIND,
};
pub use toolchain::{KEY_SCHEME, KEY_SCHEME_INPUT};
