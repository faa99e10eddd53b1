//! No import cycle among the core's modules: shared types live in data
//! modules of their own (`link`, `rule`, `route`, `options`, `error`...)
//! apart from the code that uses them, so a reader knows from a module
//! what it may touch. Reads every `crate::` path outside comments and
//! unit tests, and fails naming the modules of any cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the modules its code names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.extension().is_some_and(|x| x == "rs") && name != "lib" {
            files.insert(name, p);
        }
    }
    let mut g = BTreeMap::new();
    for (name, p) in &files {
        let text = std::fs::read_to_string(p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut deps = BTreeSet::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let m: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if files.contains_key(&m) && m != *name {
                    deps.insert(m);
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    g
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
    assert!(g.len() > 20, "read the modules: {:?}", g.keys());
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
