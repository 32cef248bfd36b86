//! The docs' code that is not compiled as a doctest is an excerpt of `examples/minimal`, which
//! the test command builds and runs in a browser: this test checks that every such block really
//! is one, so the README and the guide cannot drift from a working app.
//!
//! A block is an excerpt when its first line names the file: `// examples/minimal/src/app.rs`
//! (or `# examples/minimal/Cargo.toml` in TOML). A line `// …` (or `# …`) inside it stands for
//! elided lines. The remaining runs of lines must appear in the file in that order, each run as
//! consecutive lines (compared without leading and trailing spaces, so an excerpt may be
//! re-indented).

use std::path::{Path, PathBuf};

/// The documents whose blocks are checked, relative to the repository root.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "crates/leptos_query_tags/README.md",
    "docs/guide.md",
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced code block: its info string, the line it starts on, its lines.
struct Block {
    info: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    line: n + 1,
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.extend(open.take()),
            (Some(block), _) => block.lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    blocks
}

/// The file a block is an excerpt of, if it is one.
fn excerpt_source(block: &Block) -> Option<String> {
    let first = block.lines.first()?.trim();
    let path = first
        .strip_prefix("// ")
        .or_else(|| first.strip_prefix("# "))?;
    path.starts_with("examples/minimal/")
        .then(|| path.to_owned())
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "// …" | "# …")
}

/// Checks that the runs of `excerpt` appear in `source` in order; returns what is wrong.
fn check_excerpt(excerpt: &[String], source: &str) -> Result<(), String> {
    let source: Vec<&str> = source.lines().map(str::trim).collect();
    let mut from = 0;
    for run in excerpt.split(|line| is_elision(line)) {
        let run: Vec<&str> = run.iter().map(|l| l.trim()).collect();
        let run = trim_blank_ends(&run);
        if run.is_empty() {
            continue;
        }
        let found = (from..=source.len().saturating_sub(run.len()))
            .find(|&start| source[start..start + run.len()] == *run)
            .ok_or_else(|| {
                format!(
                    "these lines are not in the file (in this order, after line {from}):\n{}",
                    run.join("\n")
                )
            })?;
        from = found + run.len();
    }
    Ok(())
}

fn trim_blank_ends<'a, 'b>(run: &'b [&'a str]) -> &'b [&'a str] {
    let start = run.iter().position(|l| !l.is_empty()).unwrap_or(run.len());
    let end = run
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    &run[start..end]
}

#[test]
fn every_excerpt_is_in_examples_minimal_and_every_ignored_block_is_an_excerpt() {
    let root = repository();
    let mut checked = 0;
    let mut problems = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document))
            .unwrap_or_else(|e| panic!("cannot read {document}: {e}"));
        for block in blocks(&text) {
            let place = format!("{document}:{}", block.line);
            match excerpt_source(&block) {
                Some(path) => {
                    let source = std::fs::read_to_string(root.join(&path))
                        .unwrap_or_else(|e| panic!("{place}: cannot read {path}: {e}"));
                    if let Err(problem) = check_excerpt(&block.lines[1..], &source) {
                        problems.push(format!("{place}: excerpt of {path}: {problem}"));
                    }
                    checked += 1;
                }
                // Rust that rustdoc does not compile must be checked here instead.
                None if block.info.starts_with("rust") && block.info.contains("ignore") => {
                    problems.push(format!(
                        "{place}: an ignored Rust block that is not an excerpt of examples/minimal"
                    ));
                }
                None => {}
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
    // The README, the crate README and the guide each quote the example at least once.
    assert!(checked >= 5, "only {checked} excerpts found");
}

#[test]
fn the_checker_refuses_what_is_not_in_the_file() {
    let source = "fn a() {\n    one();\n    two();\n}\nfn b() {}\n";
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(check_excerpt(&lines("fn a() {\n  one();\n  two();"), source).is_ok());
    assert!(check_excerpt(&lines("fn a() {\n// …\n}\nfn b() {}"), source).is_ok());
    // Not consecutive, out of order, or changed: refused.
    assert!(check_excerpt(&lines("fn a() {\n    two();"), source).is_err());
    assert!(check_excerpt(&lines("fn b() {}\n// …\nfn a() {"), source).is_err());
    assert!(check_excerpt(&lines("    one(1);"), source).is_err());
}
