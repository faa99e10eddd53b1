//! The core's layout holds: no import cycle among its modules (shared
//! types live in data modules of their own, apart from the code that uses
//! them), and data flows one way between its folders, input -> plan ->
//! kernel -> report, so a reader knows from a file's folder what it may
//! touch. Reads every `crate::` path outside comments and unit tests,
//! grouped imports included, and fails naming what breaks the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of the crate by path (`kernel`, `kernel::program`,
/// `pass`) -> its file. Test modules of their own file are left out.
fn modules(src: &Path) -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut name = rel.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name.ends_with("::tests") {
                continue;
            }
            out.insert(name, p);
        }
    }
    out
}

/// The paths a `crate::` reference names: `a::b::C`, or each item of
/// `{a::b, c::{D, E}}` (one level of nesting is enough here).
fn paths(rest: &str) -> Vec<String> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect()
    };
    let Some(inner) = rest.strip_prefix('{') else {
        return vec![word(rest)];
    };
    let mut out = Vec::new();
    let (mut depth, mut item) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(word(item.trim()));
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    out.push(word(item.trim()));
    out
}

/// Module path -> the modules its code names (the longest module prefix
/// of each path).
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = modules(src);
    let mut g = BTreeMap::new();
    for (name, p) in &files {
        let text = std::fs::read_to_string(p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut deps = BTreeSet::new();
        // Whole statements: a grouped import spans lines.
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        for (i, _) in code.match_indices("crate::") {
            for path in paths(&code[i + "crate::".len()..]) {
                let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                let found = (1..=segs.len())
                    .rev()
                    .map(|k| segs[..k].join("::"))
                    .find(|m| files.contains_key(m));
                if let Some(m) = found.filter(|m| m != name) {
                    deps.insert(m);
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    g
}

/// A module's step: its folder's place in input -> plan -> kernel ->
/// report. The top-level modules are helpers every step may use (`log`,
/// `error`, `proc`, `lock`, `arena`) or drive them all (`app`, `pass`,
/// `fuzz`): None.
fn step(m: &str) -> Option<usize> {
    let folder = m.split("::").next().unwrap();
    ["input", "plan", "kernel", "report"]
        .iter()
        .position(|f| *f == folder)
}

/// The modules of each cycle (strongly connected components of more than
/// one module, or a module naming itself).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Which modules each one reaches; two modules that reach each other
    // share a cycle.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in g.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = g.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in g.keys() {
        if !reached[m].contains(m) || out.iter().any(|c| c.contains(m)) {
            continue;
        }
        let c: Vec<String> = g
            .keys()
            .filter(|o| reached[m].contains(*o) && reached[*o].contains(m))
            .cloned()
            .collect();
        out.push(c);
    }
    out
}

#[test]
fn no_module_of_the_core_imports_itself_through_others() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    assert!(
        g.len() > 30 && g.contains_key("kernel::program") && g.contains_key("input::read"),
        "read the modules: {:?}",
        g.keys()
    );
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "import cycles: {}",
        found
            .iter()
            .map(|c| c
                .iter()
                .map(|m| format!(
                    "{m} -> {:?}",
                    g[m].intersection(&c.iter().cloned().collect())
                        .collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>()
                .join("; "))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, d)| (m.to_string(), d.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&g), [["a", "b", "c"]]);
}

#[test]
fn data_flows_one_way_between_the_folders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let drivers = ["app", "pass", "fuzz"];
    let mut against = Vec::new();
    for (m, deps) in &g {
        for d in deps {
            let back = match (step(m), step(d)) {
                // A later step's module, named by an earlier step's.
                (Some(a), Some(b)) => b > a,
                // A helper naming a step, or anything naming a driver.
                (None, Some(_)) => !drivers.contains(&m.as_str()),
                (_, None) => drivers.contains(&d.as_str()) && !drivers.contains(&m.as_str()),
            };
            if back {
                against.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(
        against.is_empty(),
        "against the flow: {}",
        against.join("; ")
    );
}

#[test]
fn grouped_imports_are_read() {
    assert_eq!(
        paths("{input::read, kernel::{Kernel, State}, Error};"),
        ["input::read", "kernel::", "Error"]
    );
    assert_eq!(paths("plan::route::Route;"), ["plan::route::Route"]);
}
