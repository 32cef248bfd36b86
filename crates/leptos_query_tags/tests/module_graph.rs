//! The crate's shape, checked: which module may use which (docs/architecture.md, "Module
//! map"). Reads `src/` and follows `crate::<module>` paths (and `super::<file>` inside
//! `server/`), skipping comments and test files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::x::y` → `x`, `crate::{x::A, y}` → `x`, `y` (`prefix` is `crate::`, `super::` or
/// `crate::server::`).
fn targets(line: &str, prefix: &str) -> Vec<String> {
    let name = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // One level of braces: each item's first segment.
            let inside = group.split('}').next().unwrap_or_default();
            found.extend(inside.split(',').map(name).filter(|n| !n.is_empty()));
        } else {
            let first = name(rest);
            if !first.is_empty() {
                found.push(first);
            }
        }
    }
    found
}

/// Edges between top-level modules, and between the files of `server/`.
fn graphs() -> (Graph, Graph) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let (mut top, mut server) = (Graph::new(), Graph::new());
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if relative.ends_with("tests.rs") {
            continue; // test modules may use anything
        }
        let module = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let server_file = relative.strip_prefix("server/").map(|f| {
            f.split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned()
        });
        let text = std::fs::read_to_string(&file).unwrap();
        // Stop at the file's test module (`#[cfg(test)]` then `mod`): tests may reach across.
        // Other `#[cfg(test)]` items are read.
        let code = text.split("#[cfg(test)]\nmod ").next().unwrap();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for target in targets(line, "crate::") {
                if target != module {
                    top.entry(module.clone()).or_default().insert(target);
                }
            }
            if let Some(from) = &server_file {
                let mut inside = targets(line, "crate::server::");
                if from != "mod" {
                    inside.extend(targets(line, "super::"));
                }
                for target in inside {
                    if &target != from && target != "super" {
                        server.entry(from.clone()).or_default().insert(target);
                    }
                }
            }
        }
    }
    (top, server)
}

/// Every cycle's edges (a pair of modules reaching each other, directly or not).
fn cyclic_pairs(graph: &Graph) -> BTreeSet<(String, String)> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if seen.insert(node.clone()) {
                stack.extend(graph.get(&node).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut pairs = BTreeSet::new();
    for (from, tos) in graph {
        for to in tos {
            if reaches(to, from) {
                pairs.insert((from.clone(), to.clone()));
            }
        }
    }
    pairs
}

#[test]
fn the_query_layer_knows_neither_the_browser_runtime_nor_the_server() {
    let (top, _) = graphs();
    let query = top.get("query").cloned().unwrap_or_default();
    assert!(!query.contains("client"), "query uses client: {query:?}");
    assert!(!query.contains("server"), "query uses server: {query:?}");
    let cache = top.get("cache").cloned().unwrap_or_default();
    assert!(
        cache
            .iter()
            .all(|m| ["tags", "platform", "sort"].contains(&m.as_str())),
        "the cache engine depends on tags, the platform and the sorts only: {cache:?}"
    );
    for leaf in ["platform", "sort"] {
        let uses = top.get(leaf).cloned().unwrap_or_default();
        assert!(uses.is_empty(), "{leaf} is a leaf: {uses:?}");
    }
}

#[test]
fn the_modules_of_the_crate_form_no_cycle() {
    let (top, _) = graphs();
    // The crate root re-exports everything; it is not a module of the graph.
    let mut modules = top.clone();
    modules.remove("lib");
    assert_eq!(cyclic_pairs(&modules), BTreeSet::new(), "{modules:#?}");
}

#[test]
fn the_files_of_the_server_form_no_cycle() {
    let (_, server) = graphs();
    assert_eq!(cyclic_pairs(&server), BTreeSet::new(), "{server:#?}");
    // The hub holds a shared log through the interface of `backend`, which knows neither.
    let uses = |file: &str, other: &str| server.get(file).is_some_and(|u| u.contains(other));
    assert!(
        uses("hub", "backend") && uses("redis_backend", "backend"),
        "{server:#?}"
    );
    assert!(
        !uses("redis_backend", "hub"),
        "the Redis driver reaches the hub through HubLink"
    );
    assert!(!uses("backend", "hub") && !uses("backend", "redis_backend"));
    assert!(
        !uses("hub", "sse"),
        "the hub encodes frames with protocol::sse, not the endpoint's module"
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert!(cyclic_pairs(&graph).is_empty());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cyclic_pairs(&graph).len(), 3);
    assert_eq!(
        targets("use crate::query::{A, B}; crate::tags::Tag", "crate::"),
        ["query", "tags"]
    );
}
