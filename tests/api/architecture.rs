//! The module graph, read from the source as a newcomer would: which
//! top-level module of the library imports which. Data flows one way, so
//! the graph has no circle; the few imports that run from a lower layer to
//! a higher one are listed here, each with its reason, and a new one fails
//! this test until it is either removed or named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The test module of a file, if any: imports made only by tests do not
/// shape the library.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |at| &text[..at])
}

/// Top-level module → the top-level modules it names as `crate::x`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(first) = rel.components().next() else { continue };
        let top = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        // The binary and its instruments sit above the library.
        if top == "bin" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let code = without_tests(&text);
        let edges = graph.entry(top.clone()).or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != top {
                edges.insert(name);
            }
        }
        // `use crate::{a, b::c}` names several modules in one brace.
        let mut rest = code;
        while let Some(at) = rest.find("use crate::{") {
            rest = &rest[at + "use crate::{".len()..];
            let list = &rest[..rest.find("};").unwrap_or(rest.len())];
            let mut depth = 0;
            let mut start = true;
            let mut word = String::new();
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if start && !word.is_empty() => {
                        if word != top && word != "self" {
                            edges.insert(std::mem::take(&mut word));
                        }
                        word.clear();
                        start = false;
                    }
                    _ => {}
                }
            }
            if start && !word.is_empty() && word != top {
                edges.insert(word);
            }
        }
    }
    graph
}

/// The modules on a circle, if any (Tarjan's strongly connected components).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// Each top-level module's layer, bottom first: a module may import from
/// its own layer and the layers below (docs/ARCHITECTURE.md).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &[
            "domain",
            "privacy",
            "auth",
            "basemap",
            "geodata",
            "limits",
            "telemetry",
            "schedule",
            "integrity",
        ],
    ),
    ("storage", &["engine"]),
    ("intake", &["ingest"]),
    (
        "services",
        &["broadcasts", "reports", "rumours", "alert", "official", "demo", "crowd"],
    ),
    ("wire", &["protocol"]),
    ("fan-out", &["hub"]),
    ("sessions", &["ws"]),
    ("settings", &["config"]),
    ("edges", &["api", "assets"]),
    ("assembly", &["startup", "cli"]),
];

/// Imports from a lower layer to a higher one that stay, each with its
/// reason. Empty today: a new one must be argued here or removed.
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

#[test]
fn every_module_of_the_library_has_a_layer() {
    let graph = module_graph();
    let unplaced: Vec<&String> = graph.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules without a layer in LAYERS: {unplaced:?}");
    assert!(
        graph.len() >= 20,
        "the graph was read: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_module_graph_has_no_circle() {
    let graph = module_graph();
    assert!(graph["ws"].contains("hub"), "the reader sees imports: {graph:?}");
    assert_eq!(circles(&graph), Vec::<Vec<String>>::new());
}

#[test]
fn no_module_imports_from_a_higher_layer_unless_named_with_its_reason() {
    let graph = module_graph();
    let mut upward = Vec::new();
    for (from, imports) in &graph {
        for to in imports {
            let (Some(low), Some(high)) = (layer_of(from), layer_of(to)) else {
                continue;
            };
            let named = ALLOWED_UPWARD.iter().any(|(f, t, _)| f == from && t == to);
            if high > low && !named {
                upward.push(format!("{from} ({}) imports {to} ({})", LAYERS[low].0, LAYERS[high].0));
            }
        }
    }
    assert!(upward.is_empty(), "{upward:#?}");
}
