//! Which base map the pages draw under the heat (DESIGN §11): the built-in
//! offline streets of `geodata/basemap/`, an operator's PMTiles archive
//! served at `/basemap.pmtiles`, or an operator's MapLibre style.
//!
//! This module owns the choice and its checks at start-up: an archive that
//! is not one stops the server with the file named, rather than leaving
//! every page with a blank map. `assets` serves the archive.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The path the archive is served at.
pub const PMTILES_PATH: &str = "/basemap.pmtiles";

/// The first bytes of every PMTiles version 3 archive: "PMTiles" and the
/// version byte.
const PMTILES_V3_MAGIC: &[u8; 8] = b"PMTiles\x03";

/// A PMTiles archive's header is 127 bytes; a shorter file is no archive.
const PMTILES_HEADER_LEN: u64 = 127;

/// The base map chosen for this deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Basemap {
    /// The demo's own streets and squares, drawn from `geodata/basemap/`.
    #[default]
    Builtin,
    /// A PMTiles v3 archive checked at start-up.
    Pmtiles(PathBuf),
    /// A MapLibre style the pages load instead: a path on this server, or
    /// an absolute http(s) URL the operator chose.
    Style(StyleUrl),
}

/// A MapLibre style's address: a same-origin path (`/styles/x.json`) or an
/// absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyleUrl(String);

impl StyleUrl {
    /// Checks `text`. A path must start with one `/` (`//host` would be
    /// another origin in disguise) and hold no control characters, `\` or
    /// `..`; a URL must be http(s) with a host and no credentials.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = |why: &str| format!("basemap_style {text:?}: {why}");
        if text.is_empty() || text.len() > 2048 {
            return Err(bad("must be 1-2048 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("must not hold control characters"));
        }
        if let Some(rest) = text.strip_prefix('/') {
            if rest.starts_with('/') || text.contains('\\') || text.split(['/', '?', '#']).any(|s| s == "..") {
                return Err(bad(
                    "a path on this server must start with a single / and not climb with ..",
                ));
            }
            return Ok(Self(text.to_owned()));
        }
        let url = url::Url::parse(text).map_err(|e| bad(&format!("neither a path starting with / nor a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be an http:// or https:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials: the pages would show them"));
        }
        Ok(Self(url.to_string()))
    }

    /// The style's address as given (a URL normalised).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin (`https://host:port`) the pages must be allowed to fetch
    /// from, for a style on another server; none for a path on this one.
    pub fn foreign_origin(&self) -> Option<String> {
        if self.0.starts_with('/') {
            return None;
        }
        url::Url::parse(&self.0).ok().map(|u| u.origin().ascii_serialization())
    }
}

impl Basemap {
    /// Resolves `--basemap` and `--basemap-style`: at most one of them; the
    /// archive must be a readable file that starts as a PMTiles v3 archive.
    pub fn resolve(pmtiles: Option<&Path>, style: Option<&str>) -> Result<Self, String> {
        match (pmtiles, style) {
            (Some(_), Some(_)) => Err("basemap and basemap_style are two base maps: give one".into()),
            (Some(path), None) => check_pmtiles(path).map(|()| Self::Pmtiles(path.to_owned())),
            (None, Some(text)) => StyleUrl::parse(text).map(Self::Style),
            (None, None) => Ok(Self::Builtin),
        }
    }
}

/// Reads the first bytes of `path`: a PMTiles v3 archive or a clear refusal.
fn check_pmtiles(path: &Path) -> Result<(), String> {
    let bad = |why: String| format!("basemap {}: {why}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a file".into()));
    }
    if meta.len() < PMTILES_HEADER_LEN {
        return Err(bad(format!(
            "{} bytes, shorter than a PMTiles header ({PMTILES_HEADER_LEN} bytes)",
            meta.len()
        )));
    }
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| bad(e.to_string()))?;
    if magic[..7] != PMTILES_V3_MAGIC[..7] {
        return Err(bad("not a PMTiles archive (it does not start with \"PMTiles\")".into()));
    }
    if magic[7] != PMTILES_V3_MAGIC[7] {
        return Err(bad(format!(
            "PMTiles version {} is not supported: convert it to version 3 (`pmtiles convert`)",
            magic[7]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_style_is_a_path_on_this_server_or_an_http_url() {
        for good in [
            "/styles/dark.json",
            "https://tiles.example.org/style.json",
            "http://10.0.0.2:8080/s.json",
        ] {
            assert!(StyleUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "//evil.example/style.json",
            "/a/../../etc/passwd",
            "/a\\b",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:application/json,{}",
            "https://user:pw@example.org/s.json",
            "/style\n.json",
            "style.json",
        ] {
            assert!(StyleUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(StyleUrl::parse("/s.json").ok().and_then(|s| s.foreign_origin()), None);
        assert_eq!(
            StyleUrl::parse("https://tiles.example.org:8443/s.json")
                .ok()
                .and_then(|s| s.foreign_origin()),
            Some("https://tiles.example.org:8443".to_owned())
        );
    }

    #[test]
    fn an_archive_must_start_as_pmtiles_version_3() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).expect("write");
            p
        };
        let mut v3 = b"PMTiles\x03".to_vec();
        v3.resize(200, 0);
        assert!(check_pmtiles(&write("ok.pmtiles", &v3)).is_ok());
        let mut v2 = b"PMTiles\x02".to_vec();
        v2.resize(200, 0);
        assert!(check_pmtiles(&write("v2.pmtiles", &v2)).is_err_and(|e| e.contains("version 2")));
        assert!(check_pmtiles(&write("short.pmtiles", b"PMTiles\x03")).is_err_and(|e| e.contains("shorter")));
        assert!(check_pmtiles(&write("zip.pmtiles", &[b'P'; 200])).is_err_and(|e| e.contains("not a PMTiles")));
        assert!(check_pmtiles(dir.path()).is_err_and(|e| e.contains("not a file")));
        assert!(check_pmtiles(&dir.path().join("missing.pmtiles")).is_err());
        assert!(Basemap::resolve(Some(&dir.path().join("ok.pmtiles")), Some("/s.json")).is_err());
    }
}
