//! Reads the event's zones from `geodata/zones/` once at start-up: every
//! `*.geojson` file, in name order, checked by `domain::Zones`.

use std::path::Path;

use serde_json::Value;

use crate::domain::Zones;

/// Loads and merges every `*.geojson` in `dir`. A missing folder is no
/// zones; a broken file stops the start-up with its name.
pub fn load_zones(dir: &Path) -> Result<Zones, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Zones::default());
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "geojson"))
        .collect();
    paths.sort();
    let mut docs = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        docs.push((path.display().to_string(), doc));
    }
    Zones::from_collections(docs.iter().map(|(name, doc)| (name.clone(), doc)))
}
