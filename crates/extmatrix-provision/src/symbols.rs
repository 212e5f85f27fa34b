//! What an image holds, from its ELF symbol table: the symbol an address
//! falls in (the harness reports where a shared object sits as an offset
//! into its image), and the writable globals (`.data`, `.bss`): state every
//! instance of a module shares, whatever the module declares. `.symtab`
//! names static symbols too (a `static PyTypeObject Thing_Type`), which
//! `dladdr` cannot; a stripped image falls back to `.dynsym`.

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
        // Read on demand: only the section headers and symbol tables.
        let cache = object::ReadCache::new(std::fs::File::open(path)?);
        let file = object::File::parse(&cache).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn what_is_not_an_image_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("not.so");
        std::fs::write(&text, "hello").unwrap();
        let err = ImageSymbols::read(&text).unwrap_err();
        assert!(err.to_string().contains("is not a shared object"), "{err}");
    }
}
