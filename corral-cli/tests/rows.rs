//! `--input-format csv|jsonl`: rows whose URL is one field, whose other fields reach their
//! records unchanged, and which may carry their own index (`--index-field`), end to end
//! against the server started in-process on 127.0.0.1.

use serde_json::json;

mod common;
use common::{fetch_jsonl, TestServer};

#[test]
fn a_csv_health_check_keeps_each_rows_service_name() {
    let srv = TestServer::start();
    let csv = format!(
        "service,url,owner\n\
         \"checkout, eu\",{},\"team \"\"pay\"\"\"\n\
         search,{},\"two\nlines\"\n\
         broken,not a url,x\n",
        srv.url("/status/200"),
        srv.url("/status/503"),
    );
    let run = fetch_jsonl(&["-q", "--input-format", "csv", "-i", "-"], &csv);
    assert_eq!(run.code, 1, "a 503 and a bad row: {}", run.stderr);
    assert_eq!(run.records.len(), 3);
    let first = run.at(0);
    assert_eq!(first["ok"], true);
    assert_eq!(first["url"], srv.url("/status/200"));
    assert_eq!(
        first["fields"],
        json!({"service": "checkout, eu", "owner": "team \"pay\""})
    );
    let order: Vec<&String> = first["fields"].as_object().unwrap().keys().collect();
    assert_eq!(order, ["service", "owner"], "the row's own order");
    let second = run.at(1);
    assert_eq!(
        (second["status"].as_u64(), second["line"].as_u64()),
        (Some(503), Some(3))
    );
    assert_eq!(second["fields"]["owner"], "two\nlines");
    // the third row starts on line 5: the quoted line break counts as a line
    let bad = run.at(2);
    assert_eq!(bad["error_kind"], "invalid_input");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .starts_with("line 5: not a URL"),
        "{bad}"
    );
    assert_eq!(bad["fields"]["service"], "broken");
}

#[test]
fn jsonl_rows_keep_their_json_fields_and_bad_rows_say_why() {
    let srv = TestServer::start();
    let jsonl = format!(
        "{{\"link\": \"{}\", \"id\": 7, \"tags\": [\"a\"]}}\n\
         not json\n\
         {{\"id\": 8}}\n",
        srv.url("/get")
    );
    let run = fetch_jsonl(
        &["-q", "--input-format", "jsonl", "--url-field", "link"],
        &jsonl,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.at(0)["ok"], true);
    assert_eq!(run.at(0)["fields"], json!({"id": 7, "tags": ["a"]}));
    let not_json = run.at(1)["error"].as_str().unwrap();
    assert!(not_json.starts_with("line 2: not JSON"), "{not_json}");
    assert_eq!(run.at(2)["error"], "line 3: no field `link`");
    assert_eq!(run.at(2)["fields"], json!({"id": 8}));
}

/// An input split elsewhere (here: in two halves, out of order) keeps every row's index in
/// the whole with --index-field, so the two halves' records together cover 0..n once.
#[test]
fn index_field_keeps_the_index_of_a_split_input() {
    let srv = TestServer::start();
    let row = |i: u64| format!("{{\"i\": {i}, \"url\": \"{}?i={i}\"}}\n", srv.url("/get"));
    let halves: [String; 2] = [
        (0..10).rev().filter(|i| i % 2 == 0).map(row).collect(),
        (0..10).filter(|i| i % 2 == 1).map(row).collect(),
    ];
    let mut seen = Vec::new();
    for half in &halves {
        let args = ["-q", "-k", "--input-format", "jsonl", "--index-field", "i"];
        let run = fetch_jsonl(&args, half);
        assert_eq!(run.code, 0, "{}", run.stderr);
        for r in &run.records {
            let i = r["index"].as_u64().unwrap();
            assert!(
                r["url"].as_str().unwrap().ends_with(&format!("?i={i}")),
                "{r}"
            );
            seen.push(i);
        }
        // -k keeps the input's order, which here is not the indexes' order
        let order: Vec<u64> = run
            .records
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert!(
            order == sorted || order.iter().rev().eq(sorted.iter()),
            "{order:?}"
        );
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_csv_header_without_the_url_field_exits_2_naming_the_fields() {
    let run = fetch_jsonl(
        &["--input-format", "csv", "--url-field", "link"],
        "name,url\nx,http://127.0.0.1:9/\n",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no field `link`") && run.stderr.contains("name, url"),
        "{}",
        run.stderr
    );
    assert!(run.records.is_empty());
}

#[test]
fn row_flags_need_a_row_format_and_no_url_arguments() {
    let lone = fetch_jsonl(&["--url-field", "u", "http://127.0.0.1:9/"], "");
    assert_eq!(lone.code, 2, "{}", lone.stderr);
    let args = fetch_jsonl(&["--input-format", "csv", "http://127.0.0.1:9/"], "");
    assert_eq!(args.code, 2, "{}", args.stderr);
}
