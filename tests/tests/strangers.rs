//! Strangers on the network: while a two-worker job runs every phase, a client keeps
//! connecting to both workers' timely ports with garbage, with silence, and with a claim to be
//! member 1 under a secret of its own. Before members proved a per-formation secret to each
//! other, any of these failed the formation and the job; now the job succeeds, and its
//! results are those of the same job run without them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use archetype_datagen::{generate, GeneratorConfig};
use archetype_tests::{bin, free_port, Proc};

fn job_text(data: &Path, out: &Path, listen: &str) -> String {
    format!(
        r#"
name = "strangers"
[input]
events = ["{d}/LFM-1b_LEs.txt"]
users = "{d}/LFM-1b_users.txt"
tracks = "{d}/LFM-1b_tracks.txt"
artists = "{d}/LFM-1b_artists.txt"
[output]
url = "{o}"
[filter]
min_track_les = 8
min_country_les = 1000
min_country_users = 5
[cluster]
workers = 2
threads = 1
listen = "{listen}"
spawn_local_workers = false
heartbeat_ms = 200
lease_ms = 2000
register_timeout_s = 60
metrics_listen = ""
max_retries = 0
[als]
factors = 8
iterations = 3
[vae]
hidden = 16
latent = 8
epochs = 2
batch = 50
contexts = ["country_id"]
gates = ["literal"]
concat = []
"#,
        d = data.display(),
        o = out.display(),
    )
}

/// Runs the job with two workers on fixed timely ports; `attack` runs while it does.
/// Returns the output, the strangers' connections, and the refusals the workers logged.
fn run_job(tmp: &Path, name: &str, data: &Path, attack: bool) -> (PathBuf, u64, usize) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = tmp.join(name);
    let cfg = tmp.join(format!("{name}.toml"));
    std::fs::write(&cfg, job_text(data, &out, &listen)).unwrap();
    let timely = [free_port(), free_port()];
    let mut job = Proc::spawn(
        Command::new(bin("archetype"))
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--summary-json")
            .arg(tmp.join(format!("{name}.json"))),
        tmp.join(format!("{name}-job.log")),
    );
    let workers: Vec<Proc> = timely
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Proc::spawn(
                Command::new(bin("archetype-worker"))
                    // Member 1 dials late, so every formation listens long enough for the
                    // strangers to reach it.
                    .env("ARCHETYPE_DELAY", "dial:1500")
                    .args([
                        "--coordinator",
                        &format!("http://{listen}"),
                        "--timely-port",
                        &p.to_string(),
                    ]),
                tmp.join(format!("{name}-worker-{i}.log")),
            )
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let tries = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = if attack {
        timely
            .iter()
            .flat_map(|&p| (0..3).map(move |kind| (p, kind)))
            .map(|(p, kind)| {
                let (stop, tries) = (stop.clone(), tries.clone());
                std::thread::spawn(move || hammer(p, kind, &stop, &tries))
            })
            .collect()
    } else {
        Vec::new()
    };
    let status = job.wait(Duration::from_secs(600));
    stop.store(true, Ordering::Release);
    for a in attackers {
        let _ = a.join();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "{name} job failed: {}",
        job.log()
    );
    let refused = workers
        .iter()
        .map(|w| {
            w.log()
                .matches("refused a connection to the timely port")
                .count()
        })
        .sum::<usize>();
    (out, tries.load(Ordering::Acquire), refused)
}

/// Connects to `port` again and again until told to stop: `kind` 0 sends garbage that
/// starts like the old handshake's member index, 1 stays silent for a while, 2 answers the
/// greeting as member 1 with a proof under another secret.
fn hammer(port: u16, kind: u8, stop: &AtomicBool, tries: &AtomicU64) {
    while !stop.load(Ordering::Acquire) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        tries.fetch_add(1, Ordering::AcqRel);
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        match kind {
            0 => {
                let _ = s.write_all(&[0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
            }
            1 => std::thread::sleep(Duration::from_millis(700)),
            _ => {
                let mut hello = [0u8; 40];
                if s.read_exact(&mut hello).is_ok() {
                    let mut claim = 1u64.to_be_bytes().to_vec();
                    claim.extend_from_slice(&[7u8; 64]);
                    let _ = s.write_all(&claim);
                    let _ = s.read(&mut hello);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn means(out: &Path) -> serde_json::Value {
    let root = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("report/report.json")).unwrap()).unwrap();
    report["report"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["name"], r["means"]]))
        .collect()
}

#[test]
fn strangers_on_the_timely_ports_neither_fail_nor_change_a_job() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &GeneratorConfig {
            seed: 5,
            events: 40_000,
            ..GeneratorConfig::default()
        },
        &data,
        false,
    )
    .unwrap();
    let (quiet, _, _) = run_job(tmp.path(), "quiet", &data, false);
    let (attacked, tries, refused) = run_job(tmp.path(), "attacked", &data, true);
    // The ports listen only while a phase forms its cluster, so most tries find them closed;
    // the refusals show that strangers did reach a formation.
    assert!(
        refused >= 10,
        "{tries} connections, {refused} refused: the strangers never reached a formation"
    );
    let (a, b) = (means(&quiet), means(&attacked));
    assert!(a.as_array().is_some_and(|r| r.len() >= 4), "{a}");
    for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
        assert_eq!(x[0], y[0]);
        for (u, v) in x[1]
            .as_array()
            .unwrap()
            .iter()
            .zip(y[1].as_array().unwrap())
        {
            let (u, v) = (u.as_f64().unwrap_or(0.0), v.as_f64().unwrap_or(0.0));
            assert!((u - v).abs() <= 1e-6 * u.abs().max(1.0), "{x} vs {y}");
        }
    }
}
