//! The harness binary per interpreter: `harness-c/` compiled and linked
//! with `python-config --embed`.

use crate::toolchain::{
    compiler, compiler_version, key_scheme, python_fingerprint, split, Steps, BUILT_BY, KEY_SCHEME,
};
use crate::{BuildFailure, Store};
use extmatrix_cache::Input;
use extmatrix_core::BuildPhase;
use extmatrix_pythons::Python;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The harness sources, compiled into this binary so an installed extmatrix
/// needs no checkout.
const HARNESS_SOURCES: [(&str, &str); 9] = [
    ("harness.h", include_str!("../../../harness-c/harness.h")),
    ("harness.c", include_str!("../../../harness-c/harness.c")),
    ("figures.c", include_str!("../../../harness-c/figures.c")),
    (
        "forensics.c",
        include_str!("../../../harness-c/forensics.c"),
    ),
    ("identity.c", include_str!("../../../harness-c/identity.c")),
    (
        "scenarios.c",
        include_str!("../../../harness-c/scenarios.c"),
    ),
    (
        "supervisor.c",
        include_str!("../../../harness-c/supervisor.c"),
    ),
    ("warned.c", include_str!("../../../harness-c/warned.c")),
    ("workers.c", include_str!("../../../harness-c/workers.c")),
];

/// The empty extension module of the leak baseline, built beside the
/// harness binary (`<entry>/baseline/`), never linked into it.
const BASELINE_SOURCE: (&str, &str) = (
    "extmatrix_baseline.c",
    include_str!("../../../harness-c/extmatrix_baseline.c"),
);

/// The baseline module's import name.
pub const BASELINE_MODULE: &str = "extmatrix_baseline";

/// The directory holding the baseline module of the harness at `binary`.
pub fn baseline_module_dir(binary: &Path) -> PathBuf {
    binary.with_file_name("baseline")
}

/// The baseline module's file beside the harness at `binary` (what
/// `inittab` registers), if it is there.
pub fn baseline_module_file(binary: &Path) -> Option<PathBuf> {
    let dir = baseline_module_dir(binary);
    let prefix = format!("{BASELINE_MODULE}.");
    std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".so"))
        })
}

/// The cache kind of harness builds (`<cache>/harness/<id>-<key>`).
pub const HARNESS_KIND: &str = "harness";

/// The name of the [`Input::Value`] under which a harness entry records
/// [`harness_sources_digest`].
pub const SOURCES_INPUT: &str = "harness_sources";

/// extmatrix's own compiler flags for the harness (part of its key).
/// -fPIC: reach data symbols such as Py_None through the GOT, so they keep
/// their libpython address (no copy relocation into the executable).
const HARNESS_FLAGS: [&str; 3] = ["-fPIC", "-g", "-Wno-deprecated-declarations"];

/// And for linking it (part of its key too). --export-dynamic: extensions
/// resolve Py* symbols against the process when libpython is static;
/// -pthread: the stress scenarios' workers.
const HARNESS_LINK_FLAGS: [&str; 3] = ["-Wl,--export-dynamic", "-ldl", "-pthread"];

/// The binary's file name inside its entry.
const BINARY: &str = "extmatrix-harness";

/// A digest of the harness sources this extmatrix carries: an entry that
/// recorded another one was built from other sources and is never used again.
pub fn harness_sources_digest() -> String {
    extmatrix_cache::key(
        HARNESS_SOURCES
            .iter()
            .chain([&BASELINE_SOURCE])
            .map(|(_, src)| src.as_bytes()),
    )
}

/// What a harness entry records (`meta.json`, beside the store's stamp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarnessMeta {
    /// The interpreter's id and executable.
    pub python: String,
    pub python_path: PathBuf,
    /// [`harness_sources_digest`] at build time.
    pub sources: String,
    /// The binary, relative to the entry.
    pub binary: PathBuf,
}

/// The harness binary for `py`, compiled on a cache miss, with the
/// baseline module beside it ([`baseline_module_dir`]).
pub fn harness(store: &Store, py: &Python) -> Result<PathBuf, BuildFailure> {
    let sources = harness_sources_digest();
    let (cc, _) = compiler(py)?;
    let key = extmatrix_cache::key([
        KEY_SCHEME.as_bytes(),
        sources.as_bytes(),
        &python_fingerprint(py),
        HARNESS_FLAGS.join(" ").as_bytes(),
        HARNESS_LINK_FLAGS.join(" ").as_bytes(),
        compiler_version(store, &cc).as_bytes(),
    ]);
    let name = format!("{}-{key}", py.id);
    let entry = store.ensure(HARNESS_KIND, &name, BUILT_BY, &|| {}, |b| {
        let mut steps = Steps::new(b, crate::toolchain::STEP_TIMEOUT)?;
        compile_harness(py, b.staging(), &mut steps)?;
        b.artifact(BINARY);
        b.artifact(compile_baseline(py, b.staging(), &mut steps)?);
        let meta = HarnessMeta {
            python: py.id.clone(),
            python_path: py.path.clone(),
            sources: sources.clone(),
            binary: PathBuf::from(BINARY),
        };
        let inputs = vec![
            Input::program(&py.path),
            Input::value(SOURCES_INPUT, meta.sources.clone()),
            key_scheme(),
        ];
        Ok::<_, BuildFailure>((meta, inputs))
    })?;
    Ok(entry.dir.join(entry.meta.binary))
}

/// The baseline module, compiled as any C target is; its path in the entry.
fn compile_baseline(py: &Python, dir: &Path, steps: &mut Steps) -> Result<PathBuf, BuildFailure> {
    let (name, src) = BASELINE_SOURCE;
    let source = dir.join(name);
    std::fs::write(&source, src)?;
    let out = baseline_module_dir(&dir.join(BINARY));
    let file_name = format!("{BASELINE_MODULE}{}", py.build.ext_suffix);
    crate::targets::c_file::compile_extension(py, &source, &out, &file_name, steps)?;
    std::fs::remove_file(&source)?;
    Ok(out
        .strip_prefix(dir)
        .expect("inside the entry")
        .join(file_name))
}

fn compile_harness(py: &Python, dir: &Path, steps: &mut Steps) -> Result<(), BuildFailure> {
    for (name, src) in HARNESS_SOURCES {
        std::fs::write(dir.join(name), src)?;
    }
    let script = py.build.config_script.to_string_lossy().into_owned();
    let cflags = split(&steps.run(BuildPhase::Building, &script, &["--cflags".into()])?)?;
    let ldflags = split(&steps.run(
        BuildPhase::Building,
        &script,
        &["--embed".into(), "--ldflags".into()],
    )?)?;
    let (cc, mut args) = compiler(py)?;
    args.extend(cflags);
    args.extend(HARNESS_FLAGS.map(String::from));
    for (name, _) in HARNESS_SOURCES.iter().filter(|(n, _)| n.ends_with(".c")) {
        args.push(dir.join(name).to_string_lossy().into_owned());
    }
    args.push("-o".into());
    args.push(dir.join(BINARY).to_string_lossy().into_owned());
    args.extend(ldflags);
    args.push(format!("-Wl,-rpath,{}", py.build.libdir.display()));
    args.extend(HARNESS_LINK_FLAGS.map(String::from));
    // `python-config --ldflags` does not name a sanitizer's runtime.
    args.extend(py.build.sanitizers().into_iter().map(String::from));
    steps.run(BuildPhase::Compiling, &cc, &args)?;
    Ok(())
}
