//! `c: path/to/file.c`: one C file is one extension module, compiled and
//! linked with the interpreter's `sysconfig` CC/CFLAGS/CCSHARED/LDSHARED.
//!
//! The cache key hashes the C file's bytes, the module name and the
//! interpreter's fingerprint (headers it includes are not part of it).

use super::{ensure_target, BuiltTarget, ModuleRecord, TargetBuilder};
use crate::toolchain::{compiler, python_fingerprint, split, Steps};
use crate::{BuildFailure, Store};
use extmatrix_cache::Input;
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
    fn build(&self, store: &Store, py: &Python) -> Result<BuiltTarget, BuildFailure> {
        let module = &self.module;
        let text = std::fs::read(&self.source).map_err(|e| {
            BuildFailure::message(format!("cannot read {}: {e}", self.source.display()))
        })?;
        let fingerprint = python_fingerprint(py);
        let key = extmatrix_cache::key([text.as_slice(), module.as_bytes(), &fingerprint]);
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
        ensure_target(store, "c-file", &name, py, vec![source], |dir, steps| {
            compile_extension(py, &self.source, &dir.join(&relative), &file_name, steps)?;
            let mut pkg = dir.to_path_buf();
            for part in &components {
                pkg.push(part);
                std::fs::write(pkg.join("__init__.py"), "")?;
            }
            Ok(vec![ModuleRecord {
                name: module.clone(),
                artifact: relative.join(&file_name),
            }])
        })
    }
}

fn compile_extension(
    py: &Python,
    source: &Path,
    out_dir: &Path,
    file_name: &str,
    steps: &mut Steps,
) -> Result<(), BuildFailure> {
    std::fs::create_dir_all(out_dir)?;
    let object = out_dir.join("module.o");
    let (cc, mut args) = compiler(py)?;
    args.extend(split(&py.build.cflags)?);
    args.extend(split(&py.build.ccshared)?);
    args.push(format!("-I{}", py.build.include_dir.display()));
    args.extend([
        "-c".into(),
        source.to_string_lossy().into_owned(),
        "-o".into(),
    ]);
    args.push(object.to_string_lossy().into_owned());
    steps.run(&cc, &args)?;

    let ld = split(&py.build.ldshared)?;
    let (ld_program, ld_args) = ld.split_first().ok_or_else(|| {
        steps.failure("this interpreter's sysconfig has an empty LDSHARED".into())
    })?;
    let mut args = ld_args.to_vec();
    args.push(object.to_string_lossy().into_owned());
    args.push("-o".into());
    args.push(out_dir.join(file_name).to_string_lossy().into_owned());
    steps.run(ld_program, &args)?;
    std::fs::remove_file(&object)?;
    Ok(())
}
