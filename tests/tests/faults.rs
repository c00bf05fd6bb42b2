//! Faults injected into whole jobs, checked against a fault-free run of the same job:
//! workers killed (SIGKILL) during aggregation, ALS and VAE training; the coordinator killed
//! mid-job and started again on its journal; a member that never comes back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use archetype_coordinator::local::LocalWorkers;
use archetype_datagen::{generate, GeneratorConfig};
use archetype_tests::{bin, free_port, Proc};

fn data(dir: &Path) {
    generate(
        &GeneratorConfig {
            seed: 11,
            events: 40_000,
            ..GeneratorConfig::default()
        },
        dir,
        false,
    )
    .unwrap();
}

/// A job with every phase, small enough for seconds per phase; many shards, so a worker
/// killed after its second shard dies mid-ingest.
fn job_text(data: &Path, out: &Path, listen: &str, local: bool) -> String {
    format!(
        r#"
name = "faults"
[input]
events = ["{d}/LFM-1b_LEs.txt"]
users = "{d}/LFM-1b_users.txt"
tracks = "{d}/LFM-1b_tracks.txt"
artists = "{d}/LFM-1b_artists.txt"
[output]
url = "{o}"
[ingest]
shard_bytes = 60000
[filter]
min_track_les = 8
min_country_les = 1000
min_country_users = 5
[cluster]
workers = 2
threads = 1
listen = "{listen}"
spawn_local_workers = {local}
worker_binary = "{w}"
heartbeat_ms = 200
lease_ms = 2000
register_timeout_s = 60
metrics_listen = ""
max_retries = 3
[als]
factors = 8
iterations = 4
[vae]
hidden = 16
latent = 8
epochs = 3
batch = 50
contexts = ["country_id"]
gates = ["scale"]
concat = []
"#,
        d = data.display(),
        o = out.display(),
        w = bin("archetype-worker").display(),
    )
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn job_root(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one job directory expected: {dirs:?}");
    dirs[0].clone()
}

/// Everything a fault must not change: what was kept, and every model's metric means.
struct Outcome {
    kept: serde_json::Value,
    counters: serde_json::Value,
    rows: Vec<(String, Vec<f64>)>,
    als_loss: Vec<f64>,
}

fn outcome(root: &Path) -> Outcome {
    let summary = json(&root.join("aggregate/summary.json"));
    let report = json(&root.join("report/report.json"));
    let rows = report["report"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["means"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        })
        .collect();
    let als = json(&root.join("als/state.json"));
    let als_loss = als["reports"]
        .as_array()
        .map(|its| its.iter().filter_map(|i| i["loss"].as_f64()).collect())
        .unwrap_or_default();
    let counters = summary["counters"].clone();
    Outcome {
        kept: summary["kept"].clone(),
        counters,
        rows,
        als_loss,
    }
}

fn assert_same(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(a.kept, b.kept, "{what}: kept differs");
    assert_eq!(a.counters, b.counters, "{what}: counters differ");
    assert_eq!(a.rows.len(), b.rows.len(), "{what}: report rows differ");
    assert!(
        a.rows.len() >= 4,
        "{what}: too few report rows: {:?}",
        a.rows
    );
    for ((na, ma), (nb, mb)) in a.rows.iter().zip(&b.rows) {
        assert_eq!(na, nb, "{what}: report rows differ");
        for (x, y) in ma.iter().zip(mb) {
            assert!(
                (x - y).abs() <= 1e-6 * x.abs().max(1.0) || (x.is_nan() && y.is_nan()),
                "{what}: {na} differs: {ma:?} vs {mb:?}"
            );
        }
    }
    assert_eq!(
        a.als_loss.len(),
        b.als_loss.len(),
        "{what}: ALS iterations differ"
    );
    for (x, y) in a.als_loss.iter().zip(&b.als_loss) {
        assert!(
            (x - y).abs() <= 1e-6 * x.abs().max(1.0),
            "{what}: ALS loss {x} vs {y}"
        );
    }
}

fn run(cfg: &Path, summary: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin("archetype"));
    cmd.args(["run", "--config"])
        .arg(cfg)
        .arg("--summary-json")
        .arg(summary)
        .env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn workers_killed_in_aggregation_als_and_vae_are_replaced_and_the_results_match_a_fault_free_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    data(&d);

    let clean_out = tmp.path().join("clean");
    let cfg = tmp.path().join("clean.toml");
    std::fs::write(&cfg, job_text(&d, &clean_out, "127.0.0.1:0", true)).unwrap();
    let o = run(&cfg, &tmp.path().join("clean.json"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let clean = outcome(&job_root(&clean_out));

    // Three SIGKILLs in one job: mid-ingest (after a worker's second event shard), before ALS
    // commits its third iteration, and at the fifth VAE step. Each fires once, in whichever
    // worker gets there first; the launcher restarts the dead worker.
    let faulty_out = tmp.path().join("faulty");
    let cfg = tmp.path().join("faulty.toml");
    std::fs::write(&cfg, job_text(&d, &faulty_out, "127.0.0.1:0", true)).unwrap();
    let once = tmp.path().join("fired");
    std::fs::create_dir_all(&once).unwrap();
    let summary_path = tmp.path().join("faulty.json");
    let o = run(
        &cfg,
        &summary_path,
        &[
            ("ARCHETYPE_FAILPOINT", "aggregate:2,als:3,vae:5"),
            ("ARCHETYPE_FAILPOINT_ONCE", once.to_str().unwrap()),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    for point in ["aggregate", "als", "vae"] {
        assert!(once.join(point).exists(), "failpoint {point} never fired");
    }
    let s = json(&summary_path);
    let phases: Vec<&str> = s["recoveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["aggregate", "als", "vae"], "{s:#}");
    for r in s["recoveries"].as_array().unwrap() {
        assert!(!r["lost"].as_array().unwrap().is_empty(), "{r}");
    }
    let root = job_root(&faulty_out);
    assert_same(&clean, &outcome(&root), "three workers killed");
    // Training resumed instead of starting over.
    let als = json(&root.join("als/state.json"));
    assert_eq!(als["completed"].as_u64(), Some(4), "{als:#}");

    // The coordinator killed mid-job and started again on its journal: the finished phases are
    // skipped (their outputs are not rewritten), the rest completes, and the results are the
    // same again.
    let served_out = tmp.path().join("served");
    let journal = tmp.path().join("journal");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let endpoint = format!("http://{listen}");
    let cfg = tmp.path().join("served.toml");
    std::fs::write(&cfg, job_text(&d, &served_out, &listen, false)).unwrap();
    let serve = |log: &str| {
        Proc::spawn(
            Command::new(bin("archetype")).args([
                "serve",
                "--listen",
                &listen,
                "--heartbeat-ms",
                "200",
                "--lease-ms",
                "2000",
                "--journal",
                journal.to_str().unwrap(),
            ]),
            tmp.path().join(log),
        )
    };
    let mut coordinator = serve("serve-1.log");
    let logs = tmp.path().join("workers");
    std::fs::create_dir_all(&logs).unwrap();
    let workers = LocalWorkers::spawn(
        Some(bin("archetype-worker").to_str().unwrap()),
        2,
        1,
        &endpoint,
        Some(&logs),
        3,
    )
    .unwrap();
    let submitted = loop {
        let o = Command::new(bin("archetype"))
            .args([
                "submit",
                "--coordinator",
                &endpoint,
                "--no-wait",
                "--config",
            ])
            .arg(&cfg)
            .output()
            .unwrap();
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let job_id = submitted
        .lines()
        .find_map(|l| l.strip_prefix("submitted "))
        .unwrap()
        .trim()
        .to_string();
    let root = served_out.join(&job_id);
    // Kill it once ALS is journaled as done, while the VAE trains.
    let t = Instant::now();
    loop {
        if let Ok(b) = std::fs::read(root.join("journal.json")) {
            let j: serde_json::Value = serde_json::from_slice(&b).unwrap();
            if j["done"].as_array().unwrap().iter().any(|p| p == "als") {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "ALS never finished: {}",
            coordinator.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    coordinator.kill9();
    let aggregated_at = std::fs::metadata(root.join("aggregate/summary.json"))
        .unwrap()
        .modified()
        .unwrap();
    let entry = json(&journal.join(format!("jobs/{job_id}.json")));
    assert_eq!(entry["state"], "running", "{entry}\n{}", coordinator.log());

    let mut coordinator = serve("serve-2.log");
    let t = Instant::now();
    let entry = loop {
        let e = json(&journal.join(format!("jobs/{job_id}.json")));
        if e["state"] != "running" && e["state"] != "queued" {
            break e;
        }
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "the restarted coordinator did not finish the job: {}",
            coordinator.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        entry["state"],
        "succeeded",
        "{entry}\n{}",
        coordinator.log()
    );
    let log = coordinator.log();
    assert!(log.contains("taking up a journaled job"), "{log}");
    assert!(log.contains("resuming from the job's journal"), "{log}");
    assert_eq!(
        std::fs::metadata(root.join("aggregate/summary.json"))
            .unwrap()
            .modified()
            .unwrap(),
        aggregated_at,
        "the aggregation was redone"
    );
    let j = json(&root.join("journal.json"));
    for phase in archetype_coordinator::journal::PHASES {
        assert!(
            j["done"].as_array().unwrap().iter().any(|p| p == phase),
            "{phase} not journaled: {j}"
        );
    }
    assert_same(&clean, &outcome(&root), "coordinator killed and restarted");
    coordinator.sigterm();
    coordinator.wait(Duration::from_secs(20));
    workers.finish(Duration::from_secs(20));
}

#[test]
fn a_member_that_never_comes_back_fails_the_job_after_the_retries_with_every_loss_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    data(&d);
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    // One worker, max_retries = 1, and a failpoint that fires in every life of the worker: the
    // cluster is re-formed once, loses its member again, and the job gives up.
    let text = job_text(&d, &out, "127.0.0.1:0", true)
        .replace("workers = 2", "workers = 1")
        .replace("max_retries = 3", "max_retries = 1");
    std::fs::write(&cfg, text).unwrap();
    let o = run(
        &cfg,
        &tmp.path().join("s.json"),
        &[("ARCHETYPE_FAILPOINT", "aggregate:1")],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(stderr.contains("was lost during aggregation"), "{stderr}");
    assert!(stderr.contains("cluster.max_retries = 1"), "{stderr}");
    assert!(
        stderr.contains("Earlier losses: aggregate attempt 0"),
        "{stderr}"
    );
    // No summary marks the tables as complete.
    assert!(!job_root(&out).join("aggregate/summary.json").exists());
}

#[test]
fn a_job_that_fails_in_training_reports_its_wall_time_as_total() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    data(&d);
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    // ALS loses its only member and no retry is left: the job fails after the aggregation,
    // which used to leave `total` at the aggregation's end.
    let text = job_text(&d, &out, "127.0.0.1:0", true)
        .replace("workers = 2", "workers = 1")
        .replace("max_retries = 3", "max_retries = 0");
    std::fs::write(&cfg, text).unwrap();
    let summary = tmp.path().join("s.json");
    let o = run(&cfg, &summary, &[("ARCHETYPE_FAILPOINT", "als:1")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    let s = json(&summary);
    assert!(
        s["error"]
            .as_str()
            .unwrap_or("")
            .contains("ALS phase failed"),
        "{s}"
    );
    let secs = |p: &str| s["phase_seconds"][p].as_f64().unwrap_or(0.0);
    let phases: f64 = ["aggregate", "archetypes", "context", "als"]
        .iter()
        .map(|p| secs(p))
        .sum();
    assert!(secs("als") > 0.0, "{s}");
    assert!(
        secs("total") >= phases,
        "total {} < phases {phases}: {s}",
        secs("total")
    );
}
