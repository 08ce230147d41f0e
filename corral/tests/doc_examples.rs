//! The project's rule: every public item of the library has a doc comment with a runnable
//! example. This scans the sources for `pub` items (functions, methods, types, traits,
//! constants) whose doc comment has no code block. `pub(crate)` items are not public.

use std::path::{Path, PathBuf};

/// Items that are public only in name: `Sealed` is in a private module (it seals `WaitTask`),
/// and `ReadmeDoctests` exists only under `cfg(doctest)` to run the README's examples.
const EXEMPT: &[&str] = &["Sealed", "ReadmeDoctests"];

fn public_item(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
    let kinds = [
        "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ",
    ];
    let rest = kinds.iter().find_map(|k| rest.strip_prefix(k))?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The `.rs` files under `dir`, in its subfolders too (a module that grew into a folder).
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

#[test]
fn every_public_item_has_an_example() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    let mut seen = 0;
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = public_item(line) else {
                continue;
            };
            if EXEMPT.contains(&name) {
                continue;
            }
            seen += 1;
            // The doc comment and attributes directly above the item.
            let doc = lines[..i]
                .iter()
                .rev()
                .take_while(|l| {
                    let t = l.trim_start();
                    t.starts_with("///") || t.starts_with("#[")
                })
                .any(|l| l.contains("```"));
            if !doc {
                let name_of = file.strip_prefix(&src).unwrap().display();
                missing.push(format!("{name_of}:{} {name}", i + 1));
            }
        }
    }
    assert!(seen > 100, "the scan found only {seen} public items");
    assert!(
        missing.is_empty(),
        "{} public items have no example in their doc comment:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
