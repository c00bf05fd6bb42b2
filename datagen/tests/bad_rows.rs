//! Injected malformed rows: each lands in the file, is counted in the ground truth, and has
//! exactly the defect of its kind.

mod common;

use std::collections::{BTreeMap, HashMap};

use archetype_datagen::{BadRowInjection, GeneratorConfig, OutputEncoding};
use common::{config, run};

/// Mirrors the reader's classification rules: UTF-8 first, then column count, then ids
/// (must fit u32), then the timestamp window 1e9..=2e9.
fn classify(line: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(line).is_err() {
        return Some("non_utf8");
    }
    let cols: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
    if cols.len() != 5 {
        return Some("column_count");
    }
    let num = |f: &[u8]| -> Option<u64> {
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            None
        } else {
            std::str::from_utf8(f).ok()?.parse().ok()
        }
    };
    for f in &cols[..4] {
        match num(f) {
            None => return Some("not_a_number"),
            Some(v) if v > u64::from(u32::MAX) => return Some("id_out_of_range"),
            _ => {}
        }
    }
    match num(cols[4]) {
        None => Some("not_a_number"),
        Some(v) if !(1_000_000_000..=2_000_000_000).contains(&v) => Some("timestamp_out_of_range"),
        _ => None,
    }
}

#[test]
fn injected_rows_are_counted_present_and_classified() {
    let dir = tempfile::tempdir().expect("tmp");
    let wanted = BadRowInjection::default()
        .with("column_count", 7)
        .with("not_a_number", 11)
        .with("id_out_of_range", 5)
        .with("non_utf8", 3)
        .with("timestamp_out_of_range", 13)
        .with("truncated_last_line", 1)
        .with("duplicate_user", 9);
    let cfg = GeneratorConfig {
        bad_rows: wanted.clone(),
        ..config(17, 200_000)
    };
    let s = run(&cfg, dir.path());
    assert_eq!(s.bad_rows_injected, wanted.per_kind);
    let truth = common::ground_truth(&s);
    let in_truth: BTreeMap<String, u64> =
        serde_json::from_value(truth["bad_rows_injected"].clone()).expect("map");
    assert_eq!(in_truth, wanted.per_kind);

    let bytes = std::fs::read(dir.path().join("LFM-1b_LEs.txt")).expect("events");
    assert!(
        !bytes.ends_with(b"\n"),
        "truncated last line has no newline"
    );
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    let mut valid = 0u64;
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let (last, body) = lines.split_last().expect("lines");
    for line in body {
        match classify(line) {
            Some(kind) => *found.entry(kind.to_string()).or_insert(0) += 1,
            None => valid += 1,
        }
    }
    assert!(
        classify(last).is_some(),
        "last partial line does not parse: {last:?}"
    );
    found.insert("truncated_last_line".into(), 1);
    assert_eq!(valid, 200_000, "bad rows come on top of the valid events");

    let (_, users) = common::users(&dir.path().join("LFM-1b_users.txt"));
    let mut first: HashMap<u64, (usize, String)> = HashMap::new();
    let mut dups = 0;
    for (i, u) in users.iter().enumerate() {
        match first.get(&u.id) {
            Some((j, country)) => {
                dups += 1;
                assert!(*j < i, "duplicate after the original");
                assert_ne!(country, &u.country, "duplicate has another country");
            }
            None => {
                first.insert(u.id, (i, u.country.clone()));
            }
        }
    }
    found.insert("duplicate_user".into(), dups);
    assert_eq!(found, wanted.per_kind);
    assert_eq!(first.len() as u64, s.users);
}

#[test]
fn invalid_injections_are_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let unknown = GeneratorConfig {
        bad_rows: BadRowInjection::default().with("gremlins", 1),
        ..config(1, 100_000)
    };
    assert!(archetype_datagen::generate(&unknown, dir.path(), false).is_err());
    let parquet = GeneratorConfig {
        encoding: OutputEncoding::Parquet,
        bad_rows: BadRowInjection::default().with("not_a_number", 1),
        ..config(1, 100_000)
    };
    assert!(archetype_datagen::generate(&parquet, dir.path(), false).is_err());
    let two_ends = GeneratorConfig {
        bad_rows: BadRowInjection::default().with("truncated_last_line", 2),
        ..config(1, 100_000)
    };
    assert!(archetype_datagen::generate(&two_ends, dir.path(), false).is_err());
}
