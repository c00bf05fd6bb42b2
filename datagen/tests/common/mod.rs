//! Readers for the generated files, kept naive on purpose: they are the tests' independent
//! view of the format.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use archetype_datagen::{generate, GeneratedSummary, GeneratorConfig};

pub fn run(cfg: &GeneratorConfig, dir: &Path) -> GeneratedSummary {
    generate(cfg, dir, false).expect("generation succeeds")
}

pub fn config(seed: u64, events: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        events,
        threads: 2,
        ..GeneratorConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub user: u64,
    pub artist: u64,
    pub album: u64,
    pub track: u64,
    pub ts: u64,
}

/// Parses every line of a clean events file; panics on anything malformed.
pub fn events(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).expect("events file is UTF-8");
    assert!(text.ends_with('\n'), "clean file ends with a newline");
    text.lines()
        .map(|l| {
            let v: Vec<u64> = l
                .split('\t')
                .map(|f| f.parse().unwrap_or_else(|_| panic!("bad field in {l:?}")))
                .collect();
            assert_eq!(v.len(), 5, "{l:?}");
            Event {
                user: v[0],
                artist: v[1],
                album: v[2],
                track: v[3],
                ts: v[4],
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: u64,
    pub country: String,
    pub age: i64,
    pub gender: String,
    pub playcount: i64,
    pub registered: i64,
}

pub fn users(path: &Path) -> (String, Vec<UserRow>) {
    let text = std::fs::read_to_string(path).expect("users file is UTF-8");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let rows = lines
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 6, "{l:?}");
            UserRow {
                id: c[0].parse().expect("user id"),
                country: c[1].to_string(),
                age: c[2].parse().expect("age"),
                gender: c[3].to_string(),
                playcount: c[4].parse().expect("playcount"),
                registered: c[5].parse().expect("registered"),
            }
        })
        .collect();
    (header, rows)
}

/// track id -> artist id from the tracks file.
pub fn tracks(path: &Path) -> HashMap<u64, u64> {
    let text = std::fs::read_to_string(path).expect("tracks file is UTF-8");
    text.lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 3, "{l:?}");
            assert!(!c[1].is_empty(), "track name present: {l:?}");
            (
                c[0].parse().expect("track id"),
                c[2].parse().expect("artist id"),
            )
        })
        .collect()
}

pub fn ground_truth(summary: &GeneratedSummary) -> serde_json::Value {
    let text = std::fs::read_to_string(&summary.ground_truth).expect("ground truth readable");
    serde_json::from_str(&text).expect("ground truth is JSON")
}
