//! The README documents the command as it is: every flag each subcommand accepts, every
//! error_kind a record can carry, and every exit code `--help` lists.

use assert_cmd::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root")
}

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("corral")
        .unwrap()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "corral {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The long flags (`--name`) named at the start of an option line of `--help`.
fn long_flags(help: &str) -> Vec<String> {
    help.lines()
        .take_while(|l| !l.starts_with("Exit codes"))
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split([' ', ',', '='])
                .find(|w| w.starts_with("--"))
                .map(str::to_string)
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

#[test]
fn readme_documents_every_flag_of_every_subcommand() {
    let readme = readme();
    for sub in ["fetch", "serve", "report"] {
        let flags = long_flags(&help(&[sub]));
        assert!(!flags.is_empty(), "{sub} --help lists its flags: {flags:?}");
        for flag in flags {
            assert!(
                readme.contains(&format!("`{flag}"))
                    || readme.contains(&format!(", {flag}"))
                    || readme.contains(&format!("{flag} ")),
                "README.md does not document `corral {sub} {flag}`"
            );
        }
    }
    assert!(readme.contains("corral demo"));
}

#[test]
fn readme_documents_every_exit_code_in_help() {
    let readme = readme();
    let help = help(&[]);
    let codes: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(codes, ["0", "1", "2", "124", "130", "141"], "help: {help}");
    for code in codes {
        assert!(
            readme.contains(&format!("| {code} |")),
            "README.md has no row for exit code {code}"
        );
    }
}

#[test]
fn readme_documents_every_record_field_and_error_kind() {
    let readme = readme();
    // the fields of a real record (a bad argument needs no server)
    let out = Command::cargo_bin("corral")
        .unwrap()
        .args(["fetch", "not-a-url", "-o", "jsonl", "-q"])
        .output()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fields: Vec<&String> = record.as_object().unwrap().keys().collect();
    assert!(fields.len() >= 9, "{record}");
    for field in fields {
        assert!(
            readme.contains(&format!("| `{field}` |")),
            "README.md has no row for record field {field}"
        );
    }
    for kind in corral_cli::record::ErrorKind::ALL.map(|k| k.as_str()) {
        assert!(
            readme.contains(&format!("| `{kind}` |")),
            "README.md has no row for error_kind {kind}"
        );
    }
}
