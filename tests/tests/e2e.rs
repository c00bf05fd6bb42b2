//! End to end: the `archetype` binary starts a coordinator and worker processes on loopback,
//! aggregates a generated LFM-1b-shaped data set, and the Parquet it writes equals a plain
//! single-threaded reference.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use archetype_datagen::{generate, BadRowInjection, GeneratorConfig};
use archetype_job::config::FilterConfig;
use archetype_lfm::parse::TimeWindow;
use archetype_worker::reference::{aggregate_files, load_tables};

fn bin(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; the workspace binaries one level up.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} missing: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}

fn filter() -> FilterConfig {
    FilterConfig {
        require_country: true,
        min_track_les: 8,
        keep_all_tracks: false,
        min_country_les: 1_000,
        min_country_users: 5,
    }
}

fn job_toml(data: &Path, out: &Path, workers: usize, extra: &str) -> String {
    let f = filter();
    format!(
        r#"
name = "e2e"
[input]
events = ["{d}/LFM-1b_LEs.txt"]
users = "{d}/LFM-1b_users.txt"
tracks = "{d}/LFM-1b_tracks.txt"
artists = "{d}/LFM-1b_artists.txt"
[output]
url = "{o}"
[ingest]
shard_bytes = 300000
max_bad_fraction = 0.01
[filter]
min_track_les = {mt}
min_country_les = {mcl}
min_country_users = {mcu}
[cluster]
workers = {workers}
threads = 1
listen = "127.0.0.1:0"
spawn_local_workers = true
worker_binary = "{w}"
heartbeat_ms = 200
lease_ms = 3000
register_timeout_s = 60
metrics_listen = "127.0.0.1:0"
{extra}
"#,
        d = data.display(),
        o = out.display(),
        mt = f.min_track_les,
        mcl = f.min_country_les,
        mcu = f.min_country_users,
        w = bin("archetype-worker").display(),
    )
}

fn run_job(config: &Path, summary: &Path) -> Output {
    Command::new(bin("archetype"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--summary-json")
        .arg(summary)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run archetype")
}

fn the_job_root(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one job directory expected: {dirs:?}");
    dirs[0].clone()
}

#[test]
fn two_worker_processes_write_what_the_reference_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let bad = BadRowInjection::default()
        .with("column_count", 3)
        .with("not_a_number", 2)
        .with("non_utf8", 2)
        .with("timestamp_out_of_range", 2)
        .with("duplicate_user", 2)
        .with("truncated_last_line", 1);
    let gen = GeneratorConfig {
        seed: 11,
        events: 300_000,
        bad_rows: bad,
        ..GeneratorConfig::default()
    };
    let truth = generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let summary_path = tmp.path().join("summary.json");

    let o = run_job(&cfg, &summary_path);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "job failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("succeeded"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["members"].as_array().unwrap().len(), 2);

    let root = archetype_job::open_url(the_job_root(&out).to_str().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(load_tables(&root)).unwrap();
    let want = aggregate_files(
        &[&data.join("LFM-1b_LEs.txt")],
        &data.join("LFM-1b_users.txt"),
        &filter(),
        TimeWindow::default(),
    )
    .unwrap();
    assert!(!want.interactions.is_empty() && want.countries.values().any(|c| c.2));
    assert_eq!(got.interactions, want.interactions);
    assert_eq!(got.users, want.users);
    assert_eq!(got.tracks, want.tracks);
    assert_eq!(got.country_profiles, want.country_profiles);
    assert_eq!(got.countries, want.countries);

    // Every injected bad row is counted under its kind, and reported with file and line.
    let by_kind = &summary["rejections"]["by_kind"];
    for (kind, n) in &truth.bad_rows_injected {
        assert_eq!(by_kind[kind].as_u64(), Some(*n), "kind {kind}: {by_kind}");
        assert_eq!(
            want.bad_rows.get(kind),
            Some(n),
            "reference disagrees on {kind}"
        );
    }
    let samples = summary["rejections"]["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    for s in samples {
        assert!(s["line"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["file"].as_str().unwrap().starts_with("file://"), "{s}");
        assert!(!s["field"].as_str().unwrap().is_empty(), "{s}");
    }
    // Track names joined from the tracks and artists files.
    assert!(summary["counters"]["tracks.with_names"].as_u64().unwrap() > 0);

    // The evaluation report: on the terminal, in the summary, and as files beside the tables.
    assert!(stdout.contains("MP global"), "{stdout}");
    assert!(stdout.contains("MP cluster: unavailable"), "{stdout}");
    let rows = summary["report"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let job = the_job_root(&out);
    let md = std::fs::read_to_string(job.join("report/report.md")).unwrap();
    assert!(
        md.contains("| Model | P@10 | P@100 | R@10 | R@100 | NDCG@10 | NDCG@100 |"),
        "{md}"
    );
    assert!(md.contains("Friedman"), "{md}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.join("report/report.json")).unwrap()).unwrap();
    assert_eq!(report["protocol"], "events");
    assert_eq!(report["seed"], 42);
    assert!(report["data_fingerprint"].as_str().unwrap().len() == 16);
    let global = &report["report"]["rows"][0];
    assert_eq!(global["name"], "MP global");
    let users = global["status"]["users"].as_u64().unwrap();
    assert!(users > 0, "{global}");
    let means = global["means"].as_array().unwrap();
    assert_eq!(means.len(), 8);
    assert!(means
        .iter()
        .all(|m| (0.0..=1.0).contains(&m.as_f64().unwrap())));
    assert!(job.join("report/per_user_metrics.parquet").exists());
}

#[test]
fn a_missing_input_fails_at_planning_with_its_url() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nothing-here");
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let o = run_job(&cfg, &tmp.path().join("s.json"));
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("planning failed"), "{stderr}");
    assert!(stderr.contains("nothing-here/LFM-1b_users.txt"), "{stderr}");
}

#[test]
fn rejected_rows_over_the_budget_fail_the_job_with_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 5,
        events: 20_000,
        bad_rows: BadRowInjection::default().with("not_a_number", 400),
        ..GeneratorConfig::default()
    };
    generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let o = run_job(&cfg, &tmp.path().join("s.json"));
    assert!(!o.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("error budget"), "{text}");
    assert!(text.contains("LFM-1b_LEs.txt line"), "{text}");
    assert!(text.contains("not_a_number"), "{text}");
    // No summary.json marks the failed job's tables as complete.
    let root = the_job_root(&out);
    assert!(!root.join("aggregate/summary.json").exists());
    assert!(root.join("aggregate/failed.json").exists());
}

#[test]
fn a_lost_member_fails_the_job_with_a_clear_message() {
    use archetype_proto::v1;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &GeneratorConfig {
            seed: 3,
            events: 20_000,
            ..GeneratorConfig::default()
        },
        &data,
        false,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    // One real worker is spawned by the test; the other member is a registration that never
    // heartbeats again, as a crashed worker would.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = job_toml(&data, &out, 2, "")
        .replace(
            "\nlisten = \"127.0.0.1:0\"",
            &format!("\nlisten = \"127.0.0.1:{port}\""),
        )
        .replace("spawn_local_workers = true", "spawn_local_workers = false")
        .replace("lease_ms = 3000", "lease_ms = 1500");
    std::fs::write(&cfg, text).unwrap();
    let coord = Command::new(bin("archetype"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = loop {
            match archetype_proto::CoordinatorClient::connect(endpoint.clone()).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        client
            .register(v1::RegisterRequest {
                hostname: "ghost".into(),
                timely_address: "127.0.0.1:1".into(),
                threads: 1,
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let mut worker = Command::new(bin("archetype-worker"))
        .args(["--coordinator", &endpoint, "--max-tasks", "1"])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let o = coord.wait_with_output().unwrap();
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("was lost during aggregation"), "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");
}
