//! A released sdist fetched from the package index by its JSON Simple API
//! (PEP 691): the file's URL and sha256 from `<index>/<name>/`, then the
//! file, checked against that sha256.
//!
//! Why not `pip download --no-binary`: pip prepares an sdist's metadata
//! before it saves the file, and a build backend without
//! `prepare_metadata_for_build_wheel` (meson-python: numpy, scipy) makes
//! pip build the whole wheel for it — many minutes inside a step meant to
//! download a file, under that step's timeout, once more for nothing. The
//! index is `$PIP_INDEX_URL` when set, else PyPI; an index that does not
//! answer this way leaves the download to pip (`pip.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// An sdist as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexFile {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
}

const PYPI: &str = "https://pypi.org/simple";

/// The index pip would ask: `$PIP_INDEX_URL`, else PyPI.
pub(crate) fn index_url() -> String {
    index_from(std::env::var("PIP_INDEX_URL").ok())
}

/// `pip_index_url` when set and not empty, else PyPI.
fn index_from(pip_index_url: Option<String>) -> String {
    pip_index_url
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| PYPI.to_owned())
}

/// Download the sdist of `name==version` from `index` into `into`: that
/// file, its sha256 checked when the index gives one.
pub(crate) fn fetch_sdist(
    index: &str,
    name: &str,
    version: &str,
    into: &Path,
    timeout: Duration,
) -> Result<PathBuf, String> {
    let agent = extmatrix_cache::http::agent(Some(timeout));
    let page = format!("{}/{}/", index.trim_end_matches('/'), normalize(name));
    let mut response = agent
        .get(&page)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| format!("{page}: {e}"))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{page}: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{page}: not the JSON Simple API: {e}"))?;
    let file = sdist_in(&json, name, version)
        .ok_or_else(|| format!("{page} lists no sdist of {name}=={version}"))?;
    let url = absolute(&page, &file.url);
    let path = into.join(&file.filename);
    let mut body = agent
        .get(&url)
        .call()
        .map_err(|e| format!("{url}: {e}"))?
        .into_body()
        .into_reader();
    let mut out = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::copy(&mut body, &mut out).map_err(|e| format!("download of {url} broke off: {e}"))?;
    if let Some(expected) = &file.sha256 {
        check_sha256(&path, expected, &url)?;
    }
    Ok(path)
}

/// That the file at `path`, downloaded from `url`, has the sha256 the index gave.
fn check_sha256(path: &Path, expected: &str, url: &str) -> Result<(), String> {
    let got = extmatrix_cache::sha256_file(path).map_err(|e| e.to_string())?;
    if got != expected {
        return Err(format!(
            "{url}: sha256 {got}, the index says {expected}: a damaged or altered download"
        ));
    }
    Ok(())
}

/// The sdist of `name==version` in a JSON Simple API page (a yanked one
/// too: a pinned version takes it, as pip does, PEP 592).
pub(crate) fn sdist_in(page: &serde_json::Value, name: &str, version: &str) -> Option<IndexFile> {
    let wanted = normalize(name);
    page["files"].as_array()?.iter().find_map(|f| {
        let filename = f["filename"].as_str()?;
        let stem = filename
            .strip_suffix(".tar.gz")
            .or_else(|| filename.strip_suffix(".zip"))?;
        let (dist, ver) = stem.rsplit_once('-')?;
        if normalize(dist) != wanted || ver != version {
            return None;
        }
        Some(IndexFile {
            filename: filename.to_owned(),
            url: f["url"].as_str()?.to_owned(),
            sha256: f["hashes"]["sha256"].as_str().map(str::to_owned),
        })
    })
}

/// A project name as PEP 503 compares them: lower case, every run of
/// `-`, `_`, `.` one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `url` as the page at `page` means it (PEP 691 allows relative URLs).
fn absolute(page: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_owned();
    }
    let origin_end = page
        .find("://")
        .and_then(|s| page[s + 3..].find('/').map(|i| s + 3 + i))
        .unwrap_or(page.len());
    match url.strip_prefix('/') {
        Some(rest) => format!("{}/{rest}", &page[..origin_end]),
        None => format!("{}/{url}", page.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> serde_json::Value {
        json!({"files": [
            {"filename": "numpy-2.3.5-cp313-cp313-manylinux_2_28_x86_64.whl", "url": "https://f/w.whl", "hashes": {"sha256": "w"}},
            {"filename": "numpy-2.3.4.tar.gz", "url": "https://f/old.tar.gz", "hashes": {"sha256": "o"}},
            {"filename": "numpy-2.3.5.tar.gz", "url": "https://f/n.tar.gz", "hashes": {"sha256": "n"}},
        ]})
    }

    #[test]
    fn the_sdist_of_the_version_is_chosen_not_a_wheel_nor_another_version() {
        let file = sdist_in(&page(), "numpy", "2.3.5").unwrap();
        assert_eq!(file.url, "https://f/n.tar.gz");
        assert_eq!(file.sha256.as_deref(), Some("n"));
        assert_eq!(sdist_in(&page(), "numpy", "2.3.6"), None);
        assert_eq!(sdist_in(&page(), "numpyx", "2.3.5"), None);
    }

    #[test]
    fn names_compare_as_pep_503_says_and_a_pinned_yanked_file_is_taken() {
        let page = json!({"files": [
            {"filename": "Zope-Interface-8.6.zip", "url": "old", "hashes": {}},
            {"filename": "zope_interface-8.7.tar.gz", "url": "a", "hashes": {}, "yanked": "bad"},
        ]});
        let file = sdist_in(&page, "zope.interface", "8.7").unwrap();
        assert_eq!((file.url.as_str(), file.sha256), ("a", None));
        assert_eq!(sdist_in(&page, "ZOPE_interface", "8.6").unwrap().url, "old");
        assert_eq!(normalize("Zope__Interface.x"), "zope-interface-x");
    }

    #[test]
    fn the_index_is_pips_own_else_pypi() {
        assert_eq!(index_from(None), PYPI);
        assert_eq!(index_from(Some(String::new())), PYPI);
        assert_eq!(
            index_from(Some("https://mirror/simple".into())),
            "https://mirror/simple"
        );
    }

    #[test]
    fn a_download_whose_sha256_is_not_the_indexs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-1.0.tar.gz");
        std::fs::write(&path, b"abc").unwrap();
        // sha256("abc")
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(check_sha256(&path, abc, "u"), Ok(()));
        let e = check_sha256(&path, "00", "https://f/x-1.0.tar.gz").unwrap_err();
        assert!(
            e.contains("the index says 00: a damaged or altered download"),
            "{e}"
        );
    }

    #[test]
    fn relative_urls_are_read_against_the_page() {
        let page = "https://pypi.org/simple/numpy/";
        assert_eq!(
            absolute(page, "https://files/x.tar.gz"),
            "https://files/x.tar.gz"
        );
        assert_eq!(absolute(page, "/p/x.tar.gz"), "https://pypi.org/p/x.tar.gz");
        assert_eq!(
            absolute(page, "../../p/x.tar.gz"),
            "https://pypi.org/simple/numpy/../../p/x.tar.gz"
        );
    }
}
