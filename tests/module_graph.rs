//! The module graph has no cycles and no upward imports (issue 11).
//!
//! Scans `src/**/*.rs` for paths that name another module (`crate::x::..`,
//! `use crate::{x::.., y}`, `super::..` chains resolved against the file's
//! and any inline `mod`'s position), builds the graph between top-level
//! modules, and checks every edge points to a strictly lower layer of
//! [`LAYERS`]: a module may use only modules listed before its own layer,
//! never one in its own layer or above. A layering admits no cycle; the
//! test also looks for cycles directly so a failure names one. The
//! submodules of `controller` and `controller_client` are checked the same
//! way against their own layerings.
//!
//! Paths are resolved by name, not by type: an item re-exported by a
//! parent (`super::ControllerError`) counts as the parent's, which sits
//! above its children and is never checked. Comments and string literals
//! are skipped.
//!
//! `cargo test --test module_graph -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first. Edges go only to earlier layers.
const LAYERS: &[&[&str]] = &[
    // Leaf utilities (the wall clock).
    &["util"],
    // Configuration, the record format, the Kafka wire protocol.
    &["config", "record", "wire"],
    // Logs on disk; the cluster metadata image and its listeners.
    &["storage", "metadata"],
    // The broker's client to the controller and the types both share.
    &["controller_client"],
    // The replica layer (partitions, ISR, fetchers); the controller
    // (quorum, managers, controller listener), which only the composition
    // root depends on.
    &["replica", "controller"],
    // Group coordinator and producer-id manager.
    &["coordinator"],
    // The broker's read-only context; offline tools.
    &["broker", "tools"],
    // Request handlers; the broker's registration and heartbeats.
    &["handlers", "broker_lifecycle"],
    // The network front end.
    &["server"],
    // The composition root.
    &["node"],
];

/// Submodule layerings checked inside one top-level module.
const SUB_LAYERS: &[(&str, &[&[&str]])] = &[
    (
        "controller",
        &[&["placement", "quorum", "config_control", "listener"], &["replication_control"], &["cluster_control"]],
    ),
    (
        "controller_client",
        &[&["error", "raft_types"], &["ops", "topic"], &["rpc"], &["channel"], &["metadata_follower"]],
    ),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Tokens of Rust source without comments, strings and char literals.
fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let starts_word = i == 0 || !is_ident(c[i - 1]);
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some((quote, hashes)) = raw_string_at(&c, i).filter(|_| starts_word) {
            // r"..", r#".."#, br".."
            i = quote + 1;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#')) {
                i += 1;
            }
            i += 1 + hashes;
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == 'b' && starts_word && (at(i + 1) == '"' || at(i + 1) == '\'') {
            // A byte string or byte char: the literal is skipped next.
            i += 1;
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // '\n', '\u{..}'
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or a label.
                i += 1;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
            }
        } else if is_ident(ch) {
            // Identifiers, keywords, numbers; `r#ident` loses its `r#`.
            let mut start = i;
            if ch == 'r' && at(i + 1) == '#' && is_ident(at(i + 2)) {
                start = i + 2;
            }
            i = start;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// If a raw string starts at `i` (`r"`, `r#"`, `br"`...): its opening
/// quote's index and its number of `#`s.
fn raw_string_at(c: &[char], i: usize) -> Option<(usize, usize)> {
    let r = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i,
        (Some('b'), Some('r')) => i + 1,
        _ => return None,
    };
    let mut q = r + 1;
    while c.get(q) == Some(&'#') {
        q += 1;
    }
    (c.get(q) == Some(&'"')).then_some((q, q - r - 1))
}

/// Parses a use tree (or a plain path) at `toks[i]`, appending every full
/// path it names to `out`, each prefixed with `prefix`.
fn parse_tree(toks: &[Tok], mut i: usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let depth = prefix.len();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(name)) => {
                prefix.push(name.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Path) {
                    i += 1;
                    continue;
                }
                out.push(prefix.clone());
                break;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Punct('}')) | None => {
                            i += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => i += 1,
                        _ => i = parse_tree(toks, i, prefix, out),
                    }
                }
                break;
            }
            _ => {
                // `*` or the end of the path.
                out.push(prefix.clone());
                break;
            }
        }
    }
    prefix.truncate(depth);
    i
}

/// The absolute module paths (from the crate root) that one file names.
/// `module` is the file's own module path.
fn referenced_paths(src: &str, module: &[String]) -> Vec<Vec<String>> {
    let toks = tokenize(src);
    let mut out = Vec::new();
    // Inline modules open in this file: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) = (toks.get(i + 1), toks.get(i + 2)) {
                    inline.push((name.clone(), depth + 1));
                }
            }
            // `use child::Item` (relative to this module): how a parent
            // re-exports its children's items.
            Tok::Ident(kw) if kw == "use" => {
                if let Some(Tok::Ident(first)) = toks.get(i + 1) {
                    if !["crate", "super", "self", "std", "core", "alloc"].contains(&first.as_str()) {
                        let mut base: Vec<String> = module.to_vec();
                        base.extend(inline.iter().map(|(n, _)| n.clone()));
                        i = parse_tree(&toks, i + 1, &mut base, &mut out);
                        continue;
                    }
                }
            }
            Tok::Ident(kw) if kw == "crate" || kw == "super" => {
                let after_path = i > 0 && toks[i - 1] == Tok::Path;
                let macro_crate = i > 0 && toks[i - 1] == Tok::Punct('$');
                if !after_path && !macro_crate && toks.get(i + 1) == Some(&Tok::Path) {
                    let mut base: Vec<String> = Vec::new();
                    let mut j = i;
                    if kw == "super" {
                        let mut here: Vec<String> = module.to_vec();
                        here.extend(inline.iter().map(|(n, _)| n.clone()));
                        while toks.get(j) == Some(&Tok::Ident("super".into())) && toks.get(j + 1) == Some(&Tok::Path) {
                            here.pop();
                            j += 2;
                        }
                        base = here;
                    } else {
                        j += 2;
                    }
                    i = parse_tree(&toks, j, &mut base, &mut out).max(i + 1);
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Edges between top-level modules, and between the submodules of each
/// module in `SUB_LAYERS` (keyed by that module), from `(module path,
/// source)` pairs.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn build_graphs(files: &[(Vec<String>, String)]) -> (Graph, BTreeMap<String, Graph>) {
    let tops: BTreeSet<String> = files.iter().filter_map(|(m, _)| m.first().cloned()).collect();
    let submodules_of = |top: &str| -> BTreeSet<String> {
        files.iter().filter(|(m, _)| m.len() >= 2 && m[0] == top).map(|(m, _)| m[1].clone()).collect()
    };
    let referenced: Vec<Vec<Vec<String>>> = files.iter().map(|(m, src)| referenced_paths(src, m)).collect();
    // Items a module's root file imports from its children (`pub use
    // channel::ControllerChannel`), so `super::ControllerChannel` in a
    // sibling counts as an edge to `channel`.
    let mut aliases: BTreeMap<(String, String), String> = BTreeMap::new();
    for ((module, _), paths) in files.iter().zip(&referenced) {
        if let [root] = module.as_slice() {
            let children = submodules_of(root);
            for p in paths.iter().filter(|p| p.len() >= 3 && p[0] == *root && children.contains(&p[1])) {
                aliases.insert((root.clone(), p[p.len() - 1].clone()), p[1].clone());
            }
        }
    }
    let mut top = Graph::new();
    let mut subs: BTreeMap<String, Graph> = BTreeMap::new();
    for ((module, _), paths) in files.iter().zip(&referenced) {
        let Some(from) = module.first() else { continue };
        top.entry(from.clone()).or_default();
        let submodules = submodules_of(from);
        for path in paths {
            let Some(to) = path.first() else { continue };
            if to != from && tops.contains(to) {
                top.entry(from.clone()).or_default().insert(to.clone());
            }
            if to == from && module.len() >= 2 && path.len() >= 2 {
                let a = &module[1];
                let b = if submodules.contains(&path[1]) {
                    Some(&path[1])
                } else {
                    aliases.get(&(from.clone(), path[1].clone()))
                };
                if let Some(b) = b.filter(|b| *b != a) {
                    subs.entry(from.clone()).or_default().entry(a.clone()).or_default().insert(b.clone());
                }
            }
        }
    }
    (top, subs)
}

/// Violations of `layers` in `graph`: unlisted modules, edges to the same
/// or a higher layer, and cycles.
fn check(graph: &Graph, layers: &[&[&str]], what: &str) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> =
        layers.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |m| (*m, i))).collect();
    let mut problems = Vec::new();
    for (from, tos) in graph {
        let Some(&lf) = layer_of.get(from.as_str()) else {
            let p = format!("{what}: module `{from}` is in no layer; add it to the layering");
            if !problems.contains(&p) {
                problems.push(p);
            }
            continue;
        };
        for to in tos {
            match layer_of.get(to.as_str()) {
                None => {
                    let p = format!("{what}: module `{to}` is in no layer; add it to the layering");
                    if !problems.contains(&p) {
                        problems.push(p);
                    }
                }
                Some(&lt) if lt >= lf => problems.push(format!(
                    "{what}: `{from}` (layer {lf}) imports `{to}` (layer {lt}): {}",
                    if lt == lf { "same layer" } else { "upward" }
                )),
                Some(_) => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(graph) {
        problems.push(format!("{what}: cycle {}", cycle.join(" -> ")));
    }
    problems
}

/// One cycle of `graph`, if any (depth-first search).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, graph: &Graph, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).expect("on stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn crate_sources() -> Vec<(Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| (module_of(&src, &f), f))
        // The crate roots declare modules; they import none of the graph.
        .filter(|(m, _)| !(m.len() == 1 && (m[0] == "lib" || m[0] == "main")))
        .map(|(m, f)| (m, std::fs::read_to_string(&f).expect("read source")))
        .collect()
}

fn print_graph(title: &str, graph: &Graph) {
    println!("{title}:");
    for (from, tos) in graph {
        println!("  {from} -> {}", tos.iter().cloned().collect::<Vec<_>>().join(", "));
    }
}

#[test]
fn module_graph_follows_the_layering() {
    let files = crate_sources();
    let (top, subs) = build_graphs(&files);
    print_graph("top-level modules", &top);
    let mut problems = check(&top, LAYERS, "crate");
    for (name, layers) in SUB_LAYERS {
        let graph = subs.get(*name).cloned().unwrap_or_default();
        print_graph(&format!("{name} submodules"), &graph);
        problems.extend(check(&graph, layers, name));
    }
    // Every layered module exists (a stale layering checks nothing).
    for layer in LAYERS {
        for m in *layer {
            assert!(files.iter().any(|(p, _)| p[0] == *m), "LAYERS names `{m}`, which is not a module");
        }
    }
    assert!(problems.is_empty(), "module graph violations:\n{}", problems.join("\n"));
}

/// Only the composition root may reach into the controller.
#[test]
fn only_the_composition_root_imports_the_controller() {
    let (top, _) = build_graphs(&crate_sources());
    let importers: Vec<&String> = top.iter().filter(|(_, tos)| tos.contains("controller")).map(|(f, _)| f).collect();
    assert_eq!(importers, vec!["node"], "modules importing `controller`");
}

/// The checker itself: an upward import, a same-layer import and a cycle
/// are all reported; comments, strings, `$crate` and inline test modules
/// do not fool it.
#[test]
fn checker_reports_upward_imports_and_cycles() {
    let m = |p: &str| p.split('/').map(String::from).collect::<Vec<_>>();
    let files = vec![
        (
            m("low"),
            "use crate::high::Thing; // crate::mid::x\nconst S: &str = \"crate::mid::y\";\n\
             const R: &str = r#\"crate::mid::z\"#;\nmacro_rules! m { () => { $crate::mid::x } }"
                .to_string(),
        ),
        (m("mid"), "use crate::{low::A, high::{B, c}};".to_string()),
        (m("high"), "pub fn f() { crate::low::g(); }\n#[cfg(test)]\nmod tests { use super::*; }".to_string()),
        (m("high/a"), "use super::b::X;".to_string()),
        (m("high/b"), "use super::super::high::a::Y; use crate::high::c;".to_string()),
        (m("high"), "pub use d::Reexported;".to_string()),
        (m("high/d"), "pub struct Reexported;".to_string()),
        (m("high/e"), "use super::Reexported;".to_string()),
        (m("high/c"), "fn f() { let _ = '{'; }\n#[cfg(test)]\nmod tests { use super::super::a::Z; }".to_string()),
    ];
    let (top, subs) = build_graphs(&files);
    assert_eq!(top["low"], BTreeSet::from(["high".to_string()]));
    assert_eq!(top["mid"], BTreeSet::from(["low".to_string(), "high".to_string()]));
    assert_eq!(top["high"], BTreeSet::from(["low".to_string()]));
    let problems = check(&top, &[&["low"], &["mid"], &["high"]], "crate");
    assert!(problems.iter().any(|p| p.contains("`low` (layer 0) imports `high` (layer 2): upward")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("`mid` (layer 1) imports `high`")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("cycle")), "{problems:?}");
    let sub = &subs["high"];
    assert_eq!(sub["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(sub["b"], BTreeSet::from(["a".to_string(), "c".to_string()]));
    // `super::super` inside an inline `mod tests` climbs from the test module.
    assert_eq!(sub["c"], BTreeSet::from(["a".to_string()]));
    // An item the parent re-exports counts as its child's.
    assert_eq!(sub["e"], BTreeSet::from(["d".to_string()]));
    let problems = check(sub, &[&["a", "b", "c"]], "high");
    assert!(problems.iter().any(|p| p.contains("same layer")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("cycle a -> b -> a")), "{problems:?}");
    // The same graph against a layering it fits is clean.
    let acyclic: Graph = [("x".to_string(), BTreeSet::from(["y".to_string()])), ("y".to_string(), BTreeSet::new())]
        .into_iter()
        .collect();
    assert!(check(&acyclic, &[&["y"], &["x"]], "ok").is_empty());
}
