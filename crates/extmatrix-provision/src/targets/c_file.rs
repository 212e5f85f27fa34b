//! `c: path/to/file.c`: one C file is one extension module, compiled and
//! linked with the interpreter's `sysconfig` CC/CFLAGS/CCSHARED/LDSHARED.
//!
//! What a build depends on is in its key or in its recorded inputs:
//!
//! - the key hashes the C file's bytes, the module name, the interpreter's
//!   fingerprint, the compile and link command lines (every flag; the
//!   paths that change from build to build left out) and the first line of
//!   `--version` of the compiler and of the linker driver;
//! - the compile writes its dependency list (`-MD -MF`): every file the
//!   preprocessor read — headers next to the C file, under `-I`, the
//!   interpreter's, the system's — is recorded with its sha256 as an input
//!   of the entry, and the cache uses an entry only while every recorded
//!   input is unchanged. An edited `val.h` builds anew.
//!
//! Why the dependency list and not the C file's whole directory:
//! docs/architecture.md ("Keys").

use super::{ensure_target, BuildLimits, BuiltTarget, ModuleRecord, TargetBuilder};
use crate::toolchain::{
    compiler, compiler_version, dependency_inputs, python_fingerprint, split, Steps, KEY_SCHEME,
};
use crate::{BuildFailure, Store};
use extmatrix_cache::Input;
use extmatrix_core::BuildPhase;
use extmatrix_pythons::Python;
use std::path::{Path, PathBuf};

/// A C file that is one extension module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CFileTarget {
    /// Absolute path of the C file.
    pub source: PathBuf,
    /// Import name (`pkg.mod`: built at `pkg/mod<EXT_SUFFIX>` with an
    /// `__init__.py` per package level).
    pub module: String,
}

impl TargetBuilder for CFileTarget {
    fn build(
        &self,
        store: &Store,
        py: &Python,
        limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        let module = &self.module;
        let text = std::fs::read(&self.source).map_err(|e| {
            BuildFailure::message(format!("cannot read {}: {e}", self.source.display()))
        })?;
        let fingerprint = python_fingerprint(py);
        // The command lines with placeholders where build paths go.
        let commands = Commands::of(py, &self.source, Path::new("@out"))?;
        let versions = [
            compiler_version(store, &commands.compile.0),
            compiler_version(store, &commands.link.0),
        ];
        let commands_json = serde_json::to_vec(&commands).expect("command lines serialize");
        let key = extmatrix_cache::key([
            KEY_SCHEME.as_bytes(),
            text.as_slice(),
            module.as_bytes(),
            &fingerprint,
            &commands_json,
            versions[0].as_bytes(),
            versions[1].as_bytes(),
        ]);
        let name = format!("{module}-{}-{key}", py.id);
        // `pkg.mod` lives at pkg/mod<suffix>, with an __init__.py per package level.
        let mut components: Vec<&str> = module.split('.').collect();
        let leaf = components.pop().expect("split yields at least one part");
        let relative: PathBuf = components.iter().collect();
        let file_name = format!("{leaf}{}", py.build.ext_suffix);
        let source = Input::File {
            path: self.source.clone(),
            sha256: extmatrix_cache::sha256_hex(&text),
        };
        let source_path = self.source.clone();
        ensure_target(
            store,
            "c-file",
            &name,
            py,
            limits,
            vec![source],
            |dir, steps| {
                let headers =
                    compile_extension(py, &source_path, &dir.join(&relative), &file_name, steps)?;
                let mut pkg = dir.to_path_buf();
                for part in &components {
                    pkg.push(part);
                    std::fs::write(pkg.join("__init__.py"), "")?;
                }
                Ok((
                    vec![ModuleRecord {
                        name: module.clone(),
                        artifact: relative.join(&file_name),
                    }],
                    headers,
                ))
            },
        )
    }
}

/// The compile and link command lines of one extension: (program, args).
#[derive(serde::Serialize)]
struct Commands {
    compile: (String, Vec<String>),
    link: (String, Vec<String>),
}

impl Commands {
    /// Compiling `source` into `<out>/module.o` (with its dependency list
    /// `<out>/module.d`) and linking `<out>/module.so` from it.
    fn of(py: &Python, source: &Path, out: &Path) -> Result<Commands, BuildFailure> {
        let object = out.join("module.o").to_string_lossy().into_owned();
        let (cc, mut args) = compiler(py)?;
        args.extend(split(&py.build.cflags)?);
        args.extend(split(&py.build.ccshared)?);
        args.push(format!("-I{}", py.build.include_dir.display()));
        args.extend(["-MD".into(), "-MF".into()]);
        args.push(out.join("module.d").to_string_lossy().into_owned());
        args.extend([
            "-c".into(),
            source.to_string_lossy().into_owned(),
            "-o".into(),
            object.clone(),
        ]);

        let ld = split(&py.build.ldshared)?;
        let (ld_program, ld_args) = ld.split_first().ok_or_else(|| {
            BuildFailure::message("this interpreter's sysconfig has an empty LDSHARED")
        })?;
        let mut link = ld_args.to_vec();
        link.extend([
            object,
            "-o".into(),
            out.join("module.so").to_string_lossy().into_owned(),
        ]);
        Ok(Commands {
            compile: (cc, args),
            link: (ld_program.clone(), link),
        })
    }
}

/// Compile and link `source` into `out_dir/file_name`; the files the
/// compile read besides `source`, as inputs.
pub(crate) fn compile_extension(
    py: &Python,
    source: &Path,
    out_dir: &Path,
    file_name: &str,
    steps: &mut Steps,
) -> Result<Vec<Input>, BuildFailure> {
    std::fs::create_dir_all(out_dir)?;
    let mut commands = Commands::of(py, source, out_dir)?;
    // The module's own name, not `module.so`.
    let output = commands.link.1.last_mut().expect("link has an output");
    *output = out_dir.join(file_name).to_string_lossy().into_owned();
    let started = std::time::SystemTime::now();
    if let Some(dir) = source.parent() {
        steps.sources_in(dir);
    }
    steps.run(
        BuildPhase::Compiling,
        &commands.compile.0,
        &commands.compile.1,
    )?;
    let depfile = out_dir.join("module.d");
    let headers =
        dependency_inputs(&depfile, source, started).map_err(|e| steps.failure(e.summary))?;
    steps.run(BuildPhase::Linking, &commands.link.0, &commands.link.1)?;
    std::fs::remove_file(out_dir.join("module.o"))?;
    std::fs::remove_file(&depfile)?;
    Ok(headers)
}
