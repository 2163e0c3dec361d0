//! Arrows point one way: no module of either crate imports from a module
//! that imports it back, directly or through others.
//!
//! A module is a file. Its imports are every path it names that starts with
//! `crate::`, `super::` or `self::` (in `use` lines, expanded through their
//! braces, and in code), and every path through a child module it declares.
//! A path counts for the longest module it names. So a `mod.rs` that
//! dispatches to its children may not be imported by them: what they share
//! goes in a sibling (`error.rs`, `api.rs`, …). `super::` inside an inline
//! `mod tests { … }` names the file itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every `.rs` file below `root`, as its module path and its text.
fn modules(root: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if !path.extension().is_some_and(|e| e == "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The text without comments, string literals and char literals, so that
/// neither docs nor messages count as imports.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// `(name, body)` of each inline `mod name { … }`, and the text outside them.
fn split_inline_modules(text: &str) -> (String, Vec<String>) {
    let mut rest = String::new();
    let mut bodies = Vec::new();
    let mut at = 0;
    let bytes = text.as_bytes();
    while let Some(found) = text[at..].find("mod ") {
        let start = at + found;
        let after = &text[start + 4..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let tail = after[name_len..].trim_start();
        let word_start = start == 0 || !(bytes[start - 1] as char).is_alphanumeric();
        if name_len == 0 || !word_start || !tail.starts_with('{') {
            rest.push_str(&text[at..start + 4]);
            at = start + 4;
            continue;
        }
        let open = start + 4 + name_len + (after[name_len..].len() - tail.len());
        let mut depth = 0;
        let mut end = open;
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest.push_str(&text[at..start]);
        bodies.push(text[open + 1..end].to_string());
        at = end + 1;
    }
    rest.push_str(&text[at..]);
    (rest, bodies)
}

/// A `use` tree, expanded: `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let close = tree.rfind('}').unwrap();
    let (prefix, inner) = (&tree[..open], &tree[open + 1..close]);
    let mut parts = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(&format!("{prefix}{}", p.trim())))
        .collect()
}

/// Every path in `code` that starts with one of `roots` followed by `::`.
fn paths_from(code: &str, roots: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    for root in roots {
        let needle = format!("{root}::");
        let mut at = 0;
        while let Some(found) = code[at..].find(&needle) {
            let start = at + found;
            at = start + needle.len();
            if code[..start]
                .chars()
                .next_back()
                .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            let len = code[start..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - start);
            out.push(code[start..start + len].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The modules `module`'s text imports from.
fn imports(module: &Module, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let code = code_only(text);
    let (outside, inline) = split_inline_modules(&code);
    let children: Vec<String> = outside
        .split(';')
        .filter_map(|s| {
            let s = s.trim();
            let s = s.rsplit(['\n', '}']).next().unwrap_or(s).trim();
            let s = s.strip_prefix("pub ").unwrap_or(s);
            s.strip_prefix("mod ").map(str::trim).map(str::to_string)
        })
        .collect();
    let mut paths = Vec::new();
    // Inline modules' `super::` is this file.
    let inline: Vec<String> = inline
        .iter()
        .map(|b| b.replace("super::", "self::"))
        .collect();
    for unit in std::iter::once(&outside).chain(&inline) {
        for statement in unit.split(';') {
            let is_use = |at: &usize| {
                !statement[..*at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            };
            let found = statement
                .match_indices("use ")
                .map(|(at, _)| at)
                .find(is_use);
            if let Some(at) = found {
                let tree: String = statement[at + 4..].split_whitespace().collect();
                if tree.matches('{').count() == tree.matches('}').count() {
                    paths.extend(expand(&tree));
                }
            }
        }
        paths.extend(paths_from(unit, &["crate", "super", "self"]));
        let child_roots: Vec<&str> = children.iter().map(String::as_str).collect();
        paths.extend(
            paths_from(unit, &child_roots)
                .into_iter()
                .map(|p| format!("self::{p}")),
        );
    }
    let mut out = BTreeSet::new();
    for path in paths {
        let path = path.split(" as ").next().unwrap().to_string();
        let mut segments = path.split("::").map(str::to_string);
        let mut full: Module = match segments.next().as_deref() {
            Some("crate") => Vec::new(),
            Some("self") => module.clone(),
            Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
            _ => continue,
        };
        for segment in segments {
            if segment == "super" {
                full.pop();
            } else {
                full.push(segment);
            }
        }
        let target = (0..=full.len())
            .rev()
            .map(|n| full[..n].to_vec())
            .find(|m| known.contains(m));
        if let Some(target) = target.filter(|t| t != module) {
            out.insert(target);
        }
    }
    out
}

/// Each cycle of the graph, as a path `a → b → … → a`.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        // Depth-first from `start`, looking for a way back to it through
        // modules not yet reported.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in &graph[&node] {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    if !cycle.iter().any(|m| done.contains(m)) {
                        found.push(cycle);
                    }
                } else if seen.insert(next.clone()) && !done.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
        if found.last().is_some_and(|c| &c[0] == start) {
            done.insert(start.clone());
        }
    }
    found
}

fn graph(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules(root);
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(m, text)| (m.clone(), imports(m, text, &known)))
        .collect()
}

fn name(module: &Module) -> String {
    match module.is_empty() {
        true => "crate".into(),
        false => module.join("::"),
    }
}

fn assert_acyclic(crate_dir: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir);
    let graph = graph(&root);
    assert!(
        graph.len() > 10,
        "read only {} modules of {crate_dir}",
        graph.len()
    );
    let found = cycles(&graph);
    let lines: Vec<String> = found
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" → "))
        .collect();
    assert!(
        lines.is_empty(),
        "import cycles in {crate_dir}/ (move what both sides need into a module below them):\n{}",
        lines.join("\n")
    );
}

#[test]
fn the_cli_crate_has_no_import_cycle() {
    assert_acyclic("src");
}

#[test]
fn the_lambda_crate_has_no_import_cycle() {
    assert_acyclic("lambda/src");
}

#[test]
fn the_check_finds_a_cycle_and_its_direction() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    write(
        "a.rs",
        "use crate::b::{self, f};\n// crate::c::x in a comment\n",
    );
    write("b.rs", "pub fn f() { super::c::g(\"crate::a::h\") }\n");
    write(
        "c/mod.rs",
        "mod d;\npub fn g() { d::k() }\n#[cfg(test)]\nmod tests { use super::*; }\n",
    );
    write("c/d.rs", "pub fn k() {}\n");
    let g = graph(dir.path());
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Module>();
    assert_eq!(g[&m("a")], BTreeSet::from([m("b")]));
    assert_eq!(g[&m("b")], BTreeSet::from([m("c")]));
    assert_eq!(g[&m("c")], BTreeSet::from([m("c::d")]));
    assert!(cycles(&g).is_empty());

    write("c/d.rs", "use crate::a;\npub fn k() {}\n");
    let found = cycles(&graph(dir.path()));
    assert_eq!(found.len(), 1, "{found:?}");
    let names: Vec<String> = found[0].iter().map(name).collect();
    assert_eq!(names.first(), names.last());
    assert_eq!(names.len(), 5, "{names:?}");
}
