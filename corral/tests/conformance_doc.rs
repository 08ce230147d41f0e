//! CONFORMANCE.md stays true: one row per item of the catalog's sections, each honoured,
//! changed or n/a, and every test a row names exists in `corral/tests/`.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
}

/// (section, item) -> (status, how)
fn rows() -> Vec<((u32, u32), String, String)> {
    let text = std::fs::read_to_string(root().join("CONFORMANCE.md")).expect("CONFORMANCE.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "| 2.1 | honoured | how |" splits into ["", "2.1", "honoured", "how", ""]
            let (s, i) = cells.get(1)?.split_once('.')?;
            let key = (s.parse().ok()?, i.parse().ok()?);
            Some((key, cells.get(2)?.to_string(), cells.get(3)?.to_string()))
        })
        .collect()
}

/// Test names `file::function` mentioned in a row.
fn named_tests(how: &str) -> Vec<(String, String)> {
    how.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|w| {
            let (file, func) = w.split_once("::")?;
            // Paths into crates (`corral::cancelled`, `tokio::join`) are API, not tests.
            let is_crate = ["corral", "tokio", "std", "futures"].contains(&file);
            let ok = !is_crate
                && !file.is_empty()
                && !func.is_empty()
                && !func.contains(':')
                && file.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            ok.then(|| (file.to_string(), func.to_string()))
        })
        .collect()
}

#[test]
fn every_row_has_a_status_and_a_reason() {
    let rows = rows();
    assert!(rows.len() > 100, "CONFORMANCE.md has {} rows", rows.len());
    for ((s, i), status, how) in &rows {
        assert!(
            ["honoured", "changed", "n/a"].contains(&status.as_str()),
            "row {s}.{i} has status {status:?}"
        );
        assert!(how.len() > 10, "row {s}.{i} does not say how or why");
    }
    let keys: Vec<_> = rows.iter().map(|r| r.0).collect();
    let unique: BTreeSet<_> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len(), "a catalog item has two rows");
}

#[test]
fn every_honoured_row_names_a_test_that_exists() {
    let mut missing = Vec::new();
    for ((s, i), status, how) in rows() {
        let tests = named_tests(&how);
        if status == "honoured" {
            assert!(!tests.is_empty(), "honoured row {s}.{i} names no test");
        }
        for (file, func) in tests {
            let path = root().join("corral/tests").join(format!("{file}.rs"));
            let found = std::fs::read_to_string(&path)
                .map(|src| src.contains(&format!("fn {func}(")))
                .unwrap_or(false);
            if !found {
                missing.push(format!("{s}.{i}: {file}::{func}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rows name tests that do not exist: {missing:#?}"
    );
}

#[test]
fn every_catalog_item_of_the_shared_catalog_has_a_row() {
    // The catalog lives beside the repository (shared/); skip quietly where it is absent.
    let catalog = root().join("../shared/conformance/asyncio-behaviours.md");
    let Ok(text) = std::fs::read_to_string(catalog) else {
        return;
    };
    let mut section = None;
    let mut items = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            section = rest.split('.').next().and_then(|n| n.parse::<u32>().ok());
            continue;
        }
        if let (Some(s), Some((n, rest))) = (section, line.split_once(". [")) {
            if let Ok(n) = n.parse::<u32>() {
                if rest.starts_with("core]")
                    || rest.starts_with("improve]")
                    || rest.starts_with("python-only]")
                {
                    items.insert((s, n));
                }
            }
        }
    }
    assert!(items.len() > 100, "parsed {} catalog items", items.len());
    let rows: BTreeSet<_> = rows().into_iter().map(|r| r.0).collect();
    let missing: Vec<_> = items.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "catalog items without a row: {missing:?}"
    );
}
