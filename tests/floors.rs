//! Floors point one way: no circle between the crate's rooms (its
//! top-level modules) nor between its files. The model is the ground
//! floor; the state machine stands on it; the journal, the planner, the
//! ports, the driver and the drills stand on those, and nothing below
//! imports anything above.
//!
//! The check reads `src/` as text: every `crate::…` and `super::…` path
//! names the file it leads to (through the `pub use` re-exports of a
//! folder's `mod.rs` or of `lib.rs`). A folder's `mod.rs` naming its own
//! children by a relative path (`use lease::HeldLease;`) is the room's
//! entrance, not a floor above them, and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `src/`, by module path (`lib.rs` is `[]`).
fn modules() -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).expect("under src/");
            let mut module: Module = relative
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|s| s == "mod" || s == "lib") {
                module.pop();
            }
            (module, path)
        })
        .collect()
}

/// The source without comments and string literals' contents.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                    out.push('"');
                }
                continue;
            }
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path starting with `crate::` or `super::`, each group
/// (`a::{b, c::D}`) expanded into one path per member.
fn paths(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for base in ["crate", "super"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(base).map(|i| i + from) {
            from = at + base.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let rest = &code[from..];
            if !rest.starts_with("::") {
                continue;
            }
            let mut segments = Vec::new();
            let mut rest = &rest[2..];
            loop {
                let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
                if len == 0 {
                    break;
                }
                segments.push(rest[..len].to_owned());
                rest = &rest[len..];
                if let Some(next) = rest.strip_prefix("::") {
                    rest = next;
                } else {
                    break;
                }
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for member in group[..end].split(',') {
                    let mut path = segments.clone();
                    path.extend(
                        member
                            .split("::")
                            .map(str::trim)
                            .filter(|s| !s.is_empty() && s.chars().all(is_ident))
                            .take(1)
                            .map(str::to_owned),
                    );
                    found.push((base.to_owned(), path));
                }
            } else {
                found.push((base.to_owned(), segments));
            }
        }
    }
    found
}

/// The names a folder's `mod.rs` (or `lib.rs`) re-exports from one of its
/// own children: `pub use child::{A, B};`.
fn reexports(modules: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, Module> {
    let mut names = BTreeMap::new();
    for (module, path) in modules {
        let text = code(&std::fs::read_to_string(path).expect("readable"));
        for statement in text.split(';') {
            let Some(used) = statement.trim().strip_prefix("pub use ") else {
                continue;
            };
            let used = used.trim_start_matches("self::");
            let Some((child, rest)) = used.split_once("::") else {
                continue;
            };
            let mut child_module = module.clone();
            child_module.push(child.trim().to_owned());
            if !modules.contains_key(&child_module) {
                continue;
            }
            let rest = rest.trim().trim_start_matches('{').trim_end_matches('}');
            for name in rest.split(',') {
                let name = name.split("::").last().unwrap_or("").trim();
                if !name.is_empty() && name.chars().all(is_ident) {
                    let mut key = module.clone();
                    key.push(name.to_owned());
                    names.insert(key, child_module.clone());
                }
            }
        }
    }
    names
}

/// The file a path leads to: the deepest module it names, or the child a
/// name is re-exported from.
fn resolve(
    path: &[String],
    modules: &BTreeMap<Module, PathBuf>,
    reexported: &BTreeMap<Module, Module>,
) -> Module {
    let mut module: Module = Vec::new();
    for segment in path {
        let mut next = module.clone();
        next.push(segment.clone());
        if let Some(child) = reexported.get(&next) {
            return child.clone();
        }
        if !modules.contains_key(&next) {
            break;
        }
        module = next;
    }
    module
}

/// Which file imports which.
fn imports() -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules();
    let reexported = reexports(&modules);
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, path) in &modules {
        let text = code(&std::fs::read_to_string(path).expect("readable"));
        let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
        for (base, segments) in paths(&text) {
            let mut full = if base == "crate" {
                Vec::new()
            } else {
                parent.clone()
            };
            full.extend(segments);
            let target = resolve(&full, &modules, &reexported);
            if !target.is_empty() && target != *module {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// A circle in `graph`, if there is one, as the nodes along it.
fn circle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        node: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        done: &mut BTreeSet<N>,
        path: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.clone());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, path) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn shown(path: &[Module]) -> String {
    path.iter()
        .map(|m| m.join("::"))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[test]
fn floors_point_one_way_no_circle_between_files() {
    let graph = imports();
    assert!(graph.len() > 50, "the check read too little of src/");
    if let Some(found) = circle(&graph) {
        panic!("files import each other in a circle: {}", shown(&found));
    }
}

#[test]
fn floors_point_one_way_no_circle_between_rooms() {
    let mut rooms: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (file, targets) in imports() {
        let room = file[..1].to_vec();
        for target in targets {
            let other = target[..1].to_vec();
            if other != room {
                rooms.entry(room.clone()).or_default().insert(other);
            }
        }
    }
    if let Some(found) = circle(&rooms) {
        panic!("rooms import each other in a circle: {}", shown(&found));
    }
}

#[test]
fn floors_point_one_way_the_ground_floors_import_nothing_above() {
    let graph = imports();
    let below = |file: &[&str], above: &[&str]| {
        let file: Module = file.iter().map(|s| (*s).to_owned()).collect();
        graph.get(&file).into_iter().flatten().find(|target| {
            above
                .iter()
                .any(|room| target.first().is_some_and(|r| r == room))
        })
    };
    // The model is the ground floor.
    for (file, _) in modules()
        .iter()
        .filter(|(m, _)| m.first().is_some_and(|r| r == "model"))
    {
        let names: Vec<&str> = file.iter().map(String::as_str).collect();
        assert_eq!(
            below(
                &names,
                &["machine", "journal", "recovery", "port", "driver"]
            ),
            None,
            "{} imports a floor above the model",
            file.join("::")
        );
    }
    // Events do not know how they are stored; ports do not know adapters.
    assert_eq!(below(&["machine", "event"], &["journal"]), None);
    assert_eq!(below(&["port"], &["adapters"]), None);
    assert_eq!(below(&["startup"], &["driver"]), None);
    assert_eq!(below(&["retro"], &["picture"]), None);
}

#[test]
fn floors_point_one_way_the_check_sees_a_circle() {
    // The check is not blind: a circle made on purpose is found.
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let mut graph = BTreeMap::new();
    graph.insert(a.clone(), BTreeSet::from([b.clone()]));
    graph.insert(b.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(circle(&graph), Some(vec![a.clone(), b.clone(), a.clone()]));
    graph.insert(b, BTreeSet::new());
    assert_eq!(circle(&graph), None);
    // And reading real code, it finds a path through a group.
    let found = paths("use crate::machine::{event::Slot, State};\nlet x = super::rehearse::run;");
    assert!(found.contains(&("crate".into(), vec!["machine".into(), "event".into()])));
    assert!(found.contains(&("crate".into(), vec!["machine".into(), "State".into()])));
    assert!(found.contains(&("super".into(), vec!["rehearse".into(), "run".into()])));
}
