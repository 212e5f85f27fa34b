//! What extmatrix changes in CPython's own `make install`, and why: an
//! interpreter build installs only what cells use. Measured on cp313d
//! (docs/building-pythons.md, "What a build leaves out"): the installed test
//! suite and bytecode for optimisation levels 1 and 2 were most of the
//! install phase and about half of the prefix.
//!
//! Everything here is part of the cache key ([`install_parts`] and
//! [`RECIPE`]): a build made another way is another entry, never mistaken
//! for this one.

use std::path::Path;

/// Names how the build steps run; bumped when they change in a way the
/// hashed parts do not show. What the steps use as data (the configure
/// flags, [`INSTALL_OVERRIDES`], [`BYTECODE_LEVELS`]) is hashed into the
/// key as it is, so changing it changes every key without a bump.
/// 2: the test suite, bytecode for levels 1 and 2 and the static libpython
/// are left out.
pub(crate) const RECIPE: &str = "extmatrix-cpython-build/2";

/// Overrides of the Makefile's own variables for `make install`.
/// `TEST_MODULES=no` is what `--disable-test-modules` sets, and in the
/// Makefile it only decides whether `libinstall` installs (and compiles)
/// `Lib/test` and `idlelib/idle_test`: the test suite was most of the
/// install's time, and no cell imports it. Given to `make install` alone,
/// it leaves configure's choice to build the `_test*` extension modules
/// (`_testcapi`, `_testmultiphase`, `_testsinglephase`, …) as it was, so they
/// are still installed into lib-dynload for the stdlib's truth table; the
/// configure flag drops them too (matrices/tsan.yaml uses it for that).
pub(crate) const INSTALL_OVERRIDES: &[&str] = &["TEST_MODULES=no"];

/// `libinstall` compiles the installed stdlib's bytecode at optimisation
/// levels 0, 1 and 2, written into its rules (not a variable): in the
/// configured Makefile the first text becomes the second. Every process
/// extmatrix starts runs at level 0 (the harness's isolated `PyConfig`, the
/// probe, pip), so levels 1 and 2 were two thirds of compileall's time for
/// files nothing reads; an interpreter run with `-O` compiles what it
/// imports on first use, as for any module without bytecode.
pub(crate) const BYTECODE_LEVELS: [&str; 2] = ["-o 0 -o 1 -o 2", "-o 0"];

/// What the cache key hashes of the install, after the configure flags.
pub(crate) fn install_parts<'a>() -> impl Iterator<Item = &'a str> {
    let parts = INSTALL_OVERRIDES.iter().copied().chain(BYTECODE_LEVELS);
    parts.map(|part| -> &'a str { part })
}

/// The install's changes in words (recorded in `meta.json`'s inputs).
pub(crate) fn describe() -> String {
    let [all_levels, level_0] = BYTECODE_LEVELS;
    format!(
        "make install {}; compileall {level_0} instead of {all_levels}",
        INSTALL_OVERRIDES.join(" ")
    )
}

/// Rewrites `makefile` so that its compileall rules compile optimisation
/// level 0 only; how many it changed. A Makefile that spells it otherwise
/// (older CPythons ran compileall once per level) is left as it is: such a
/// build is slower, never different in what cells see.
pub(crate) fn compile_bytecode_for_level_0_only(makefile: &Path) -> std::io::Result<usize> {
    let [all_levels, level_0] = BYTECODE_LEVELS;
    let text = std::fs::read_to_string(makefile)?;
    let changed = text.matches(all_levels).count();
    if changed > 0 {
        std::fs::write(makefile, text.replace(all_levels, level_0))?;
    }
    Ok(changed)
}

/// The build log's line about [`compile_bytecode_for_level_0_only`].
pub(crate) fn bytecode_note(changed: usize) -> String {
    let [all_levels, level_0] = BYTECODE_LEVELS;
    if changed == 0 {
        format!(
            "extmatrix: the Makefile has no `{all_levels}`; its bytecode is compiled as it says"
        )
    } else {
        format!("extmatrix: bytecode `{level_0}` only, instead of `{all_levels}` ({changed} compileall rules)")
    }
}

#[cfg(test)]
mod tests;
