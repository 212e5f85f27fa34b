//! What an image holds, from its ELF symbol table: the symbol an address
//! falls in (the harness reports where a shared object sits as an offset
//! into its image), and the writable globals (`.data`, `.bss`): state every
//! instance of a module shares, whatever the module declares. `.symtab`
//! names static symbols too (a `static PyTypeObject Thing_Type`), which
//! `dladdr` cannot; a stripped image falls back to `.dynsym`.
//!
//! Rust and C++ symbols are mangled (`_ZN6orjson7typeref13FRAGMENT_TYPE17h…E`);
//! [`demangle`] says them in their author's language
//! (`orjson::typeref::FRAGMENT_TYPE`), with the crates each scheme's own
//! toolchain uses: `rustc-demangle` (Rust's legacy and v0 schemes) and
//! `cpp_demangle` (the Itanium C++ ABI's, as gcc and clang mangle).

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use std::path::Path;

/// One defined data or code symbol of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSymbol {
    pub name: String,
    /// Its address in the image (the offset from the load base).
    pub address: u64,
    pub size: u64,
    /// The section it lives in (`.data`, `.bss`, `.data.rel.ro`, `.text`).
    pub section: String,
    /// Whether the running process can write it: `.data` and `.bss`, not
    /// what relocation makes read-only (`.data.rel.ro`).
    pub writable: bool,
}

/// An image's symbols, sorted by address.
#[derive(Debug, Clone, Default)]
pub struct ImageSymbols {
    symbols: Vec<ImageSymbol>,
}

/// The runtime's own bookkeeping that every shared object has (crtstuff,
/// the linker): not the module's state.
fn is_toolchain_symbol(name: &str) -> bool {
    name.starts_with("__")
        || name.starts_with("_GLOBAL_")
        || name == "_DYNAMIC"
        || name == "completed.0"
}

impl ImageSymbols {
    pub fn read(path: &Path) -> std::io::Result<Self> {
        // Mapped, not read: only the pages of the section headers and the
        // symbol tables are touched. (Reading on demand through
        // `object::ReadCache` made a seek and a read per symbol name:
        // 9,000 system calls, tens of milliseconds, for libpython.)
        let image = std::fs::File::open(path)?;
        // SAFETY: the map is only read, and dropped before this returns
        // (everything kept is copied out). The images read are built
        // modules in extmatrix's cache and interpreters' libraries, which
        // nothing rewrites in place while a run reads them; a file
        // truncated meanwhile could fault the read, as for any reader.
        let map = unsafe { memmap2::Mmap::map(&image)? };
        let file = object::File::parse(&*map).map_err(|e| {
            std::io::Error::other(format!("{} is not a shared object: {e}", path.display()))
        })?;
        let table: Vec<_> = if file.symbols().next().is_some() {
            file.symbols().collect()
        } else {
            file.dynamic_symbols().collect()
        };
        let mut symbols: Vec<ImageSymbol> = table
            .into_iter()
            .filter(|s| s.is_definition() && s.size() > 0)
            .filter(|s| matches!(s.kind(), SymbolKind::Data | SymbolKind::Text))
            .filter_map(|s| {
                let section = file.section_by_index(s.section_index()?).ok()?;
                let section_name = section.name().ok()?.to_owned();
                let writable = matches!(
                    section.kind(),
                    SectionKind::Data | SectionKind::UninitializedData
                ) && !section_name.starts_with(".data.rel.ro");
                Some(ImageSymbol {
                    name: s.name().ok()?.to_owned(),
                    address: s.address(),
                    size: s.size(),
                    section: section_name,
                    writable,
                })
            })
            .collect();
        symbols.sort_by_key(|s| s.address);
        Ok(ImageSymbols { symbols })
    }

    /// The symbol whose bytes hold `offset`, if any.
    pub fn at(&self, offset: u64) -> Option<&ImageSymbol> {
        let after = self.symbols.partition_point(|s| s.address <= offset);
        self.symbols[..after]
            .iter()
            .rev()
            .find(|s| offset < s.address + s.size)
    }

    /// The writable globals the module's own code defined, by address.
    pub fn writable_globals(&self) -> impl Iterator<Item = &ImageSymbol> {
        self.symbols
            .iter()
            .filter(|s| s.writable && !is_toolchain_symbol(&s.name))
    }
}

impl ImageSymbol {
    /// Its name in its author's language, when it is a mangled one.
    pub fn demangled(&self) -> Option<String> {
        demangle(&self.name)
    }
}

/// A mangled Rust or C++ symbol as its author wrote it:
/// `orjson::typeref::FRAGMENT_TYPE` for
/// `_ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE.0`, `holder::registry`
/// for `_ZN6holderL8registryE`. What the compiler added is left out: Rust's
/// hash, and the suffixes after a `.` that the compiler and the linker give
/// local copies and clones (`.0`, `.llvm.123`, `.constprop.0`), which no
/// mangled name has otherwise. `None` for a name that is not mangled (C's).
pub fn demangle(symbol: &str) -> Option<String> {
    let mangled = symbol.split('.').next()?;
    if !(mangled.starts_with("_Z") || mangled.starts_with("_R")) {
        return None;
    }
    // Rust's legacy scheme is the C++ one with a hash: Rust first, so the
    // hash is recognised and left out.
    if let Ok(rust) = rustc_demangle::try_demangle(mangled) {
        return Some(format!("{rust:#}"));
    }
    cpp_demangle::Symbol::new(mangled).ok()?.demangle().ok()
}

/// `text` (C frames: glibc's `backtrace`, gdb's) with every mangled symbol
/// in it demangled; `None` when it has none.
pub fn demangle_text(text: &str) -> Option<String> {
    let is_symbol_char = |c: char| c.is_ascii_alphanumeric() || "_$.".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find('_') {
        let starts_a_word = !rest[..start].ends_with(is_symbol_char);
        let len = rest[start..]
            .find(|c| !is_symbol_char(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        out.push_str(&rest[..start]);
        match demangle(word).filter(|_| starts_a_word) {
            Some(readable) => {
                out.push_str(&readable);
                changed = true;
            }
            None => out.push_str(word),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_cpp_symbols_are_said_in_their_authors_language() {
        let cases = [
            // A released Rust extension's static (orjson), LLVM's `.0` on it.
            (
                "_ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE.0",
                "orjson::typeref::FRAGMENT_TYPE",
            ),
            (
                "_ZN18pyo3_static_holder8REGISTRY17hf139397204638e41E",
                "pyo3_static_holder::REGISTRY",
            ),
            // Rust's v0 scheme.
            ("_RNvCs1234_7mycrate3foo", "mycrate::foo"),
            // C++: a namespace's static, a file's static, a function and its clone.
            ("_ZN6holderL8registryE", "holder::registry"),
            ("_ZL8sentinel", "sentinel"),
            ("_ZN3foo3barEv", "foo::bar()"),
            ("_ZN5cache3getEi.constprop.0", "cache::get(int)"),
        ];
        for (mangled, readable) in cases {
            assert_eq!(demangle(mangled).as_deref(), Some(readable), "{mangled}");
        }
        for plain in ["counter", "Thing_Type", "_Read_buffer", ""] {
            assert_eq!(demangle(plain), None, "{plain}");
        }
    }

    #[test]
    fn frames_get_their_mangled_symbols_demangled_in_place() {
        let backtrace = "/x/libfoo.so(_ZN3foo3barEv+0x1a) [0x7f00]
/x/holder.so(PyInit_holder+0x5) [0x7f10]
";
        assert_eq!(
            demangle_text(backtrace).as_deref(),
            Some(
                "/x/libfoo.so(foo::bar()+0x1a) [0x7f00]
/x/holder.so(PyInit_holder+0x5) [0x7f10]
"
            )
        );
        let gdb = "#3  0x00007f in holder::exec (module=0x1) at src/cppholder.cpp:12
#4  0x1 in _PyImport_X ()";
        assert_eq!(demangle_text(gdb), None, "gdb demangled it already");
        // Inside a word, `_Z` starts no symbol.
        assert_eq!(demangle_text("x_ZN3foo3barEv"), None);
        assert_eq!(
            demangle_text("in _ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE.0 ()")
                .as_deref(),
            Some("in orjson::typeref::FRAGMENT_TYPE ()")
        );
    }

    /// A small shared object compiled here, with a static, a global, a
    /// constant and a function.
    fn compiled(dir: &Path) -> std::path::PathBuf {
        let src = dir.join("m.c");
        std::fs::write(
            &src,
            "static long counter;\n\
             int table[16] = {1};\n\
             const char banner[] = \"read only\";\n\
             long bump(void) { return ++counter + table[0] + banner[0]; }\n",
        )
        .unwrap();
        let so = dir.join("m.so");
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O0", "-o"])
            .arg(&so)
            .arg(&src)
            .status()
            .expect("cc runs");
        assert!(status.success());
        so
    }

    #[test]
    fn statics_and_globals_are_named_with_their_sections() {
        let dir = tempfile::tempdir().unwrap();
        let symbols = ImageSymbols::read(&compiled(dir.path())).unwrap();
        let globals: Vec<(&str, &str, u64)> = symbols
            .writable_globals()
            .map(|s| (s.name.as_str(), s.section.as_str(), s.size))
            .collect();
        assert!(globals.contains(&("counter", ".bss", 8)), "{globals:?}");
        assert!(globals.contains(&("table", ".data", 64)), "{globals:?}");
        assert!(!globals.iter().any(|g| g.0 == "banner" || g.0 == "bump"));
        assert!(
            !globals.iter().any(|g| is_toolchain_symbol(g.0)),
            "{globals:?}"
        );
        let table = symbols
            .writable_globals()
            .find(|s| s.name == "table")
            .unwrap();
        assert_eq!(symbols.at(table.address).unwrap().name, "table");
        assert_eq!(symbols.at(table.address + 63).unwrap().name, "table");
        assert_ne!(
            symbols.at(table.address + 64).map(|s| s.name.as_str()),
            Some("table")
        );
        let bump = symbols.symbols.iter().find(|s| s.name == "bump").unwrap();
        assert!(!bump.writable);
        assert_eq!(symbols.at(bump.address + 1).unwrap().name, "bump");
        assert!(symbols.at(0).is_none());
    }

    #[test]
    fn a_cpp_images_globals_are_named_demangled_too() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("m.cpp");
        std::fs::write(
            &src,
            "namespace holder { static void *registry; }\n\
             extern \"C\" { long plain_global; }\n\
             extern \"C\" void *keep(void *p) { holder::registry = p; return holder::registry; }\n",
        )
        .unwrap();
        let so = dir.path().join("m.so");
        let status = std::process::Command::new("g++")
            .args(["-shared", "-fPIC", "-O0", "-o"])
            .arg(&so)
            .arg(&src)
            .status()
            .expect("g++ runs");
        assert!(status.success());
        let symbols = ImageSymbols::read(&so).unwrap();
        let named: Vec<(String, Option<String>)> = symbols
            .writable_globals()
            .map(|s| (s.name.clone(), s.demangled()))
            .collect();
        assert!(
            named.contains(&(
                "_ZN6holderL8registryE".into(),
                Some("holder::registry".into())
            )),
            "{named:?}"
        );
        // An `extern "C"` name is not mangled.
        assert!(named.contains(&("plain_global".into(), None)), "{named:?}");
    }

    #[test]
    fn what_is_not_an_image_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("not.so");
        std::fs::write(&text, "hello").unwrap();
        let err = ImageSymbols::read(&text).unwrap_err();
        assert!(err.to_string().contains("is not a shared object"), "{err}");
    }
}
