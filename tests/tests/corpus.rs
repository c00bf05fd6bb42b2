//! The bad-input corpus (`tests/corpus/cases/`, written by `tests/corpus/make.py`), run end
//! to end: every case is a whole job on one worker. A case either completes with exactly the
//! rejected rows it planted, counted by kind, each sample naming file, line and field, and
//! every good row kept; or fails with an error that names the file at fault.

use std::path::{Path, PathBuf};
use std::process::Command;

use archetype_tests::bin;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/cases");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").exists())
        .collect();
    v.sort();
    v
}

fn job(case: &Path, out: &Path, spec: &serde_json::Value) -> String {
    let extra = spec["extra_toml"].as_str().unwrap_or("");
    let ingest = if extra.contains("[ingest]") {
        ""
    } else {
        "[ingest]\nmax_bad_fraction = 0.5\n"
    };
    format!(
        r#"
name = "corpus"
[input]
events = ["{d}/{ev}"]
users = "{d}/LFM-1b_users.txt"
tracks = "{d}/LFM-1b_tracks.txt"
artists = "{d}/LFM-1b_artists.txt"
[output]
url = "{o}"
[filter]
min_track_les = 1
min_country_les = 1
min_country_users = 1
[cluster]
workers = 1
threads = 1
listen = "127.0.0.1:0"
worker_binary = "{w}"
heartbeat_ms = 200
lease_ms = 5000
metrics_listen = ""
max_retries = 0
[archetypes]
enabled = false
[als]
enabled = false
[vae]
enabled = false
[eval]
enabled = false
{ingest}{extra}
"#,
        d = case.display(),
        ev = spec["events_file"].as_str().unwrap(),
        o = out.display(),
        w = bin("archetype-worker").display(),
    )
}

#[test]
fn every_case_of_the_bad_input_corpus_is_counted_or_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let all = cases();
    assert!(all.len() >= 20, "corpus missing: {all:?}");
    let mut failures = Vec::new();
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("case.json")).unwrap()).unwrap();
        let out = tmp.path().join(&name);
        let cfg = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, job(case, &out, &spec)).unwrap();
        let summary_path = tmp.path().join(format!("{name}.json"));
        let o = Command::new(bin("archetype"))
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--summary-json")
            .arg(&summary_path)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if let Err(why) = check(&spec, o.status.success(), &text, &summary_path) {
            failures.push(format!("{name}: {why}\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check(
    spec: &serde_json::Value,
    ok: bool,
    text: &str,
    summary_path: &Path,
) -> Result<(), String> {
    if spec["outcome"] == "error" {
        if ok {
            return Err("the job succeeded; it must fail".into());
        }
        for needle in spec["error_contains"].as_array().unwrap() {
            let needle = needle.as_str().unwrap();
            if !text.contains(needle) {
                return Err(format!("the error does not say `{needle}`"));
            }
        }
        return Ok(());
    }
    if !ok {
        return Err("the job failed".into());
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary_path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let by_kind = s["rejections"]["by_kind"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let total: u64 = by_kind.values().filter_map(|v| v.as_u64()).sum();
    if s["rejections"]["rejected"].as_u64() != Some(total) {
        return Err(format!(
            "rejected {} != sum by kind {total}",
            s["rejections"]["rejected"]
        ));
    }
    if let Some(want) = spec["rejected"].as_object() {
        let got: serde_json::Map<String, serde_json::Value> = by_kind
            .iter()
            .filter(|(_, v)| v.as_u64() != Some(0))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if &got != want {
            return Err(format!("rejected by kind {got:?}, expected {want:?}"));
        }
    }
    if let Some(min) = spec["rejected_at_least"].as_u64() {
        if total < min {
            return Err(format!("{total} rows rejected, expected at least {min}"));
        }
        let allowed: Vec<&str> = spec["rejected_kinds_within"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        if let Some(k) = by_kind.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unexpected kind {k}"));
        }
    }
    // Every sample names a file, a line and a field.
    for r in s["rejections"]["samples"].as_array().unwrap() {
        if r["file"].as_str().is_none_or(str::is_empty)
            || r["field"].as_str().is_none_or(str::is_empty)
            || r["line"].as_u64().is_none_or(|l| l == 0)
        {
            return Err(format!("a sample without file, line or field: {r}"));
        }
    }
    if total > 0 && s["rejections"]["samples"].as_array().unwrap().is_empty() {
        return Err("rows rejected but no sample kept".into());
    }
    // No good row is lost: 400 good events in every case, less the Parquet nulls.
    let nulls = by_kind
        .get("null_value")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let read = s["events_read"].as_u64().unwrap_or(0);
    if read != 400 - nulls {
        return Err(format!("{read} events read, expected {}", 400 - nulls));
    }
    Ok(())
}
