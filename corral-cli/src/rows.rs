//! Inputs as rows, `--input-format csv|jsonl`: each row names its URL in one field
//! (`--url-field`), may give its own index in another (`--index-field`), and carries every
//! other field into its record unchanged, so a health check keeps its service name and a crawl
//! its row id.
//!
//! [`crate::input::Inputs`] reads the rows' text (a CSV row may span lines inside quotes); this
//! module turns one row's text into a URL, an index and the fields.

use serde_json::{Map, Value};

/// How the input's lines are read: `--input-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One URL per line.
    #[default]
    Lines,
    /// CSV with a header line naming the fields (RFC 4180 quoting; a quoted field may span
    /// lines).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// A row's other fields, carried into its record as `fields`.
pub type Fields = Map<String, Value>;

/// One row, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The URL's text: the URL field, or the row's text when the row is bad.
    pub text: String,
    /// What is wrong with the row (not a URL yet: no URL field, bad index, bad syntax).
    pub bad: Option<String>,
    /// The index the row gives itself with `--index-field`, if it does.
    pub index: Option<u64>,
    /// Every field but the URL's (the index field included: it is the row's own data).
    pub fields: Option<Box<Fields>>,
}

/// Turns rows' text into [`Row`]s, for one input.
#[derive(Debug, Clone)]
pub struct Rows {
    format: InputFormat,
    url_field: String,
    index_field: Option<String>,
    /// CSV: the header's names, once the header line has been read.
    header: Option<Vec<String>>,
}

impl Rows {
    /// Rows of `format` (csv or jsonl), with the URL in `url_field` and, if given, the index in
    /// `index_field`.
    pub fn new(format: InputFormat, url_field: String, index_field: Option<String>) -> Self {
        Rows {
            format,
            url_field,
            index_field,
            header: None,
        }
    }

    /// True for CSV, whose rows may span lines.
    pub fn is_csv(&self) -> bool {
        self.format == InputFormat::Csv
    }

    /// True while a CSV input's first row, its header, has not been read yet.
    pub fn wants_header(&self) -> bool {
        self.format == InputFormat::Csv && self.header.is_none()
    }

    /// Reads a CSV header row: the field names.
    ///
    /// # Errors
    ///
    /// The row is not CSV, or names no `--url-field` (or no `--index-field`, when given): a
    /// message for people, naming the fields it has.
    pub fn read_header(&mut self, text: &str) -> Result<(), String> {
        let names: Vec<String> = csv_row(text)?.iter().map(str::to_owned).collect();
        let has = |f: &str| names.iter().any(|n| n == f);
        for (flag, field) in [
            ("--url-field", Some(&self.url_field)),
            ("--index-field", self.index_field.as_ref()),
        ] {
            if let Some(field) = field.filter(|f| !has(f)) {
                return Err(format!(
                    "the CSV header has no field `{field}` (its fields: {}); name the right \
                     one with {flag}",
                    names.join(", ")
                ));
            }
        }
        self.header = Some(names);
        Ok(())
    }

    /// Takes one row apart. A row that is not CSV or JSON, lacks its URL field, or gives an
    /// index that is not a non-negative integer is bad: its record is `invalid_input`.
    pub fn parse(&self, text: &str) -> Row {
        let fields = match self.format {
            InputFormat::Lines => unreachable!("plain lines are not rows"),
            InputFormat::Jsonl => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("not a JSON object".to_owned()),
                Err(e) => Err(format!("not JSON ({e})")),
            },
            InputFormat::Csv => csv_row(text).map(|row| {
                let names = self.header.as_deref().unwrap_or_default();
                names
                    .iter()
                    .zip(row.iter())
                    .map(|(n, v)| (n.clone(), Value::String(v.to_owned())))
                    .collect()
            }),
        };
        let mut fields = match fields {
            Ok(f) => f,
            Err(why) => return Row::bad(text, why, None, None),
        };
        let index = match &self.index_field {
            None => None,
            Some(name) => match fields.get(name).map(index_of) {
                Some(Ok(i)) => Some(i),
                Some(Err(v)) => {
                    let why = format!("field `{name}` is not a non-negative integer: {v}");
                    return Row::bad(text, why, None, Some(fields));
                }
                None => return Row::bad(text, format!("no field `{name}`"), None, Some(fields)),
            },
        };
        match fields.remove(&self.url_field) {
            Some(Value::String(url)) => Row {
                text: url.trim().to_owned(),
                bad: None,
                index,
                fields: Some(Box::new(fields)),
            },
            Some(v) => {
                let why = format!("field `{}` is not a string: {v}", self.url_field);
                Row::bad(text, why, index, Some(fields))
            }
            None => {
                let why = format!("no field `{}`", self.url_field);
                Row::bad(text, why, index, Some(fields))
            }
        }
    }
}

impl Row {
    fn bad(text: &str, why: String, index: Option<u64>, fields: Option<Fields>) -> Self {
        Row {
            text: text.to_owned(),
            bad: Some(why),
            index,
            fields: fields.map(Box::new),
        }
    }
}

/// An index field's value: a non-negative integer, as a JSON number or as digits in a string
/// (CSV has only strings).
fn index_of(v: &Value) -> Result<u64, &Value> {
    match v {
        Value::Number(n) => n.as_u64().ok_or(v),
        Value::String(s) => s.trim().parse().map_err(|_| v),
        _ => Err(v),
    }
}

/// One CSV row's fields, parsed by the `csv` crate (quoting, doubled quotes, embedded line
/// breaks).
fn csv_row(text: &str) -> Result<csv::StringRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut row = csv::StringRecord::new();
    match reader.read_record(&mut row) {
        Ok(true) => Ok(row),
        Ok(false) => Err("an empty CSV row".to_owned()),
        Err(e) => Err(format!("not CSV ({e})")),
    }
}

/// True when `text` ends inside a quoted CSV field: the row goes on on the next line. (A
/// doubled quote inside a field counts twice, so the count's parity is the answer.)
pub fn csv_row_is_open(text: &[u8]) -> bool {
    text.iter().filter(|&&b| b == b'"').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(header: &str) -> Rows {
        let mut r = Rows::new(InputFormat::Csv, "url".into(), None);
        r.read_header(header).unwrap();
        r
    }

    #[test]
    fn a_csv_row_gives_its_url_and_carries_the_other_fields() {
        let r = csv("service,url,team").parse(r#""api, v2","http://a/x?y=1",core"#);
        assert_eq!(r.text, "http://a/x?y=1");
        assert_eq!(r.bad, None);
        let f = r.fields.unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f["service"], "api, v2");
        assert_eq!(f["team"], "core");
    }

    #[test]
    fn quoting_doubled_quotes_and_line_breaks_inside_a_field() {
        let r = csv("url,note").parse("http://a/,\"said \"\"hi\"\"\nthen left\"");
        assert_eq!(r.fields.unwrap()["note"], "said \"hi\"\nthen left");
        assert!(csv_row_is_open(b"http://a/,\"said \"\"hi\"\""));
        assert!(!csv_row_is_open(
            b"http://a/,\"said \"\"hi\"\"\nthen left\""
        ));
    }

    #[test]
    fn a_header_without_the_url_field_is_refused_naming_the_fields() {
        let mut r = Rows::new(InputFormat::Csv, "link".into(), None);
        let e = r.read_header("name,url").unwrap_err();
        assert!(
            e.contains("no field `link`") && e.contains("name, url"),
            "{e}"
        );
        assert!(e.contains("--url-field"), "{e}");
        let mut r = Rows::new(InputFormat::Csv, "url".into(), Some("id".into()));
        assert!(r.read_header("url").unwrap_err().contains("--index-field"));
    }

    #[test]
    fn a_short_csv_row_is_bad_not_a_panic() {
        let r = csv("name,url").parse("only-a-name");
        assert_eq!(r.bad.as_deref(), Some("no field `url`"));
        assert_eq!(r.text, "only-a-name");
    }

    #[test]
    fn a_jsonl_row_keeps_its_fields_as_json() {
        let rows = Rows::new(InputFormat::Jsonl, "u".into(), Some("i".into()));
        let r = rows.parse(r#"{"u": " http://a/ ", "i": 7, "tags": ["x"], "n": null}"#);
        assert_eq!(
            (r.text.as_str(), r.index, r.bad),
            ("http://a/", Some(7), None)
        );
        let f = r.fields.unwrap();
        assert_eq!(f["tags"], serde_json::json!(["x"]));
        assert_eq!(f["i"], 7, "the index field is the row's data too");
        assert!(f["n"].is_null());
    }

    #[test]
    fn bad_jsonl_rows_say_why() {
        let rows = Rows::new(InputFormat::Jsonl, "url".into(), Some("i".into()));
        let why = |t: &str| rows.parse(t).bad.unwrap();
        assert!(why("http://a/").starts_with("not JSON"));
        assert_eq!(why("[1]"), "not a JSON object");
        assert_eq!(
            why(r#"{"i": 1, "url": 5}"#),
            "field `url` is not a string: 5"
        );
        assert_eq!(why(r#"{"i": 1}"#), "no field `url`");
        assert_eq!(why(r#"{"url": "http://a/"}"#), "no field `i`");
        let neg = why(r#"{"url": "http://a/", "i": -1}"#);
        assert_eq!(neg, "field `i` is not a non-negative integer: -1");
        // a bad URL field still keeps a good index, so the record lands where it belongs
        assert_eq!(rows.parse(r#"{"i": 3}"#).index, Some(3));
    }

    #[test]
    fn a_csv_index_is_digits() {
        let mut rows = Rows::new(InputFormat::Csv, "url".into(), Some("id".into()));
        rows.read_header("id,url").unwrap();
        assert_eq!(rows.parse("42,http://a/").index, Some(42));
        let bad = rows.parse("x1,http://a/").bad.unwrap();
        assert_eq!(bad, r#"field `id` is not a non-negative integer: "x1""#);
    }
}
