//! Architecture invariant: engine-core depends on nothing, in the workspace or outside it.
//!
//! The manifest is read at compile time, so editing it rebuilds and reruns this test. Only
//! `[dev-dependencies]` (test tools) are allowed.

const MANIFEST: &str = include_str!("../Cargo.toml");

#[test]
fn engine_core_has_no_dependencies() {
    let found = dependencies(MANIFEST);
    assert!(
        found.is_empty(),
        "engine-core must depend on nothing (ARCHITECTURE.md, architecture invariants); \
         engine/core/Cargo.toml declares: {found:?}"
    );
}

#[test]
fn manifest_declares_an_empty_dependencies_table() {
    // Guards the check above against a manifest it cannot see into: the table is there, and empty.
    assert!(MANIFEST.lines().any(|line| strip(line) == "[dependencies]"), "no [dependencies] table found");
}

#[test]
fn the_check_catches_every_form_of_dependency() {
    let forms = [
        "[dependencies]\nserde = \"1\"\n",
        "[dependencies]\n# a comment\n\nengine-proto = { path = \"../proto\" }\n",
        "[dependencies.serde]\nversion = \"1\"\n",
        "[build-dependencies]\ncc = \"1\"\n",
        "[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n",
        "[target.x86_64-unknown-linux-gnu.build-dependencies.cc]\nversion = \"1\"\n",
        "[package]\nname = \"engine-core\"\n\n[dependencies]\n\n[dev-dependencies]\nproptest = \"1\"\n\n[dependencies]\nrand = \"0.8\"\n",
        "dependencies.serde = \"1\"\n",
        "dependencies = { serde = \"1\" }\n",
    ];
    for manifest in forms {
        assert!(!dependencies(manifest).is_empty(), "missed a dependency in:\n{manifest}");
    }

    let clean = "[package]\nname = \"engine-core\"\n\n# no dependencies\n[dependencies]\n\n\
                 [dev-dependencies]\nproptest.workspace = true\n\n[target.'cfg(unix)'.dev-dependencies]\n\
                 libc = \"0.2\"\n\n[lints]\nworkspace = true\n";
    assert_eq!(dependencies(clean), Vec::<String>::new());
}

/// Every dependency (normal or build, for any target) a manifest declares, as `table: line`.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut table = String::new();
    for raw in manifest.lines() {
        let line = strip(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            table = line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            // `[dependencies.serde]` declares a dependency by its header alone.
            if is_dependency_table(&table) && table_depth(&table) > base_depth(&table) {
                found.push(format!("[{table}]"));
            }
            continue;
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if table.is_empty() {
            // Top-level dotted keys: `dependencies.serde = "1"`, `dependencies = { ... }`.
            if is_dependency_table(key.split('.').next().unwrap_or("")) {
                found.push(line.to_string());
            }
        } else if is_dependency_table(&table) {
            found.push(format!("[{table}] {line}"));
        }
    }
    found
}

/// `dependencies`, `build-dependencies`, their target-specific forms, and tables below them.
/// Not `dev-dependencies`.
fn is_dependency_table(table: &str) -> bool {
    let parts = split_key(table);
    let base = match parts.first().map(String::as_str) {
        Some("target") if parts.len() >= 3 => &parts[2],
        Some(_) => &parts[0],
        None => return false,
    };
    base == "dependencies" || base == "build-dependencies"
}

/// How many dotted parts the dependency table itself has: 1, or 3 under `target.<cfg>.`.
fn base_depth(table: &str) -> usize {
    if split_key(table).first().map(String::as_str) == Some("target") {
        3
    } else {
        1
    }
}

fn table_depth(table: &str) -> usize {
    split_key(table).len()
}

/// Splits a dotted TOML key, keeping quoted parts (`'cfg(unix)'`, `"x86_64.linux"`) whole.
fn split_key(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in key.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, '.') => parts.push(std::mem::take(&mut current).trim().to_string()),
            (None, c) => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts
}

/// A line without its comment and surrounding whitespace. (A `#` inside a quoted value is rare
/// in a manifest; cutting there still leaves the key, which is all this check reads.)
fn strip(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}
