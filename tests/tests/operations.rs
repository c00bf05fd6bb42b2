//! End to end, the way a platform team runs the cluster: a long-running coordinator
//! (`archetype serve`) behind mutual TLS and a token, workers that register over it, jobs
//! submitted by `archetype submit` (as the retraining CronJob does) through the promotion gate,
//! gRPC health, Prometheus, and SIGTERM.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use archetype_datagen::{generate, GeneratorConfig};
use archetype_tests::{bin, free_port, Proc};

fn wait_serving(health: &str) {
    let t = Instant::now();
    loop {
        let o = Command::new(bin("archetype"))
            .args(["health", "--addr", health])
            .output()
            .unwrap();
        if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "SERVING" {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{health} never reported SERVING: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until something accepts connections on `addr`: `archetype submit` does not wait for
/// a coordinator that is still starting, and a loaded machine can take seconds to start one.
fn wait_listening(addr: &str) {
    let t = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scrape(addr: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

fn small_data(dir: &Path, seed: u64) {
    generate(
        &GeneratorConfig {
            seed,
            events: 60_000,
            ..GeneratorConfig::default()
        },
        dir,
        false,
    )
    .unwrap();
}

fn job_text(data: &Path, out: &Path, extra: &str) -> String {
    format!(
        r#"
name = "ops"
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
spawn_local_workers = false
heartbeat_ms = 200
lease_ms = 5000
register_timeout_s = 60
[als]
factors = 8
iterations = 2
{extra}
"#,
        d = data.display(),
        o = out.display(),
    )
}

/// The TLS material and token of one cluster, and the flags a client passes.
struct Creds {
    pki: archetype_ops::certs::DevPki,
    token: PathBuf,
}

impl Creds {
    fn client_args(&self) -> Vec<String> {
        vec![
            "--tls-ca".into(),
            self.pki.ca.display().to_string(),
            "--tls-cert".into(),
            self.pki.client_cert.display().to_string(),
            "--tls-key".into(),
            self.pki.client_key.display().to_string(),
            "--token-file".into(),
            self.token.display().to_string(),
        ]
    }
}

/// Runs a worker that must be refused; returns what it printed.
fn refused_worker(url: &str, args: &[String], token: Option<&str>) -> String {
    let mut c = Command::new(bin("archetype-worker"));
    c.args(["--coordinator", url]).args(args);
    c.env_remove("ARCHETYPE_TOKEN").env("RUST_BACKTRACE", "0");
    if let Some(t) = token {
        c.env("ARCHETYPE_TOKEN", t);
    }
    let o: Output = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "a stranger was let in: {text}");
    text
}

fn submit(url: &str, creds: &Creds, config: &Path, sets: &[&str]) -> (bool, String) {
    let mut c = Command::new(bin("archetype"));
    c.args(["submit", "--coordinator", url, "--config"])
        .arg(config)
        .args(creds.client_args())
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "warn");
    for s in sets {
        c.args(["--set", s]);
    }
    let o = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn submitted_id(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("submitted "))
        .unwrap_or_else(|| panic!("no job id in: {text}"))
        .trim()
        .to_string()
}

fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn mutual_tls_and_a_token_guard_the_coordinator_and_the_gate_promotes_only_a_better_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    small_data(&data, 5);
    let out = tmp.path().join("out");
    let pki = archetype_ops::certs::write_dev_pki(
        &tmp.path().join("pki"),
        &["localhost".to_string(), "127.0.0.1".to_string()],
        "worker",
    )
    .unwrap();
    let rogue = archetype_ops::certs::write_dev_pki(
        &tmp.path().join("rogue"),
        &["localhost".to_string()],
        "intruder",
    )
    .unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "s3cret-cluster-token\n").unwrap();
    let creds = Creds { pki, token };

    let (port, health, metrics) = (free_port(), free_port(), free_port());
    let url = format!("https://localhost:{port}");
    let health_addr = format!("127.0.0.1:{health}");
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let mut coord = Proc::spawn(
        Command::new(bin("archetype"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--health-listen", &health_addr])
            .args(["--metrics-listen", &metrics_addr])
            .args(["--heartbeat-ms", "200", "--lease-ms", "5000"])
            .arg("--tls-cert")
            .arg(&creds.pki.server_cert)
            .arg("--tls-key")
            .arg(&creds.pki.server_key)
            .arg("--tls-ca")
            .arg(&creds.pki.ca)
            .arg("--token-file")
            .arg(&creds.token)
            .env_remove("ARCHETYPE_TOKEN"),
        tmp.path().join("coordinator.log"),
    );
    wait_serving(&health_addr);

    // Strangers are refused, each with a message that says what to fix.
    let tls = |cert: &archetype_ops::certs::DevPki, ca: &archetype_ops::certs::DevPki| {
        vec![
            "--tls-ca".to_string(),
            ca.ca.display().to_string(),
            "--tls-cert".to_string(),
            cert.client_cert.display().to_string(),
            "--tls-key".to_string(),
            cert.client_key.display().to_string(),
        ]
    };
    let good = tls(&creds.pki, &creds.pki);
    let t = refused_worker(&url, &good, None);
    assert!(t.contains("refused registration: no cluster token"), "{t}");
    let t = refused_worker(&url, &good, Some("guess"));
    assert!(
        t.contains("refused registration: wrong cluster token"),
        "{t}"
    );
    let t = refused_worker(&url, &tls(&rogue, &creds.pki), Some("s3cret-cluster-token"));
    assert!(
        t.contains("TLS handshake failed") && t.contains("did not accept this client certificate"),
        "{t}"
    );
    let no_cert = vec!["--tls-ca".to_string(), creds.pki.ca.display().to_string()];
    let t = refused_worker(&url, &no_cert, Some("s3cret-cluster-token"));
    assert!(t.contains("requires a client certificate"), "{t}");
    let t = refused_worker(&url, &tls(&creds.pki, &rogue), Some("s3cret-cluster-token"));
    assert!(t.contains("not signed by --tls-ca"), "{t}");
    // A plaintext client at the TLS port is told what the port speaks (it used to see only
    // "h2 protocol error").
    let plain = format!("http://127.0.0.1:{port}");
    let t = refused_worker(&plain, &[], Some("s3cret-cluster-token"));
    assert!(
        t.contains("speaks TLS on this port: use https://127.0.0.1"),
        "{t}"
    );
    let cfg = tmp.path().join("job.toml");
    std::fs::write(
        &cfg,
        job_text(
            &data,
            &out,
            "[promotion]\nenabled = true\nmetric = \"NDCG@100\"\nmodel = \"best\"\nmargin = 0.0\n\
             [vae]\nhidden = 16\nlatent = 8\nepochs = 2\nbatch = 100\ncontexts = [\"country_id\"]\n\
             gates = [\"scale\"]\nconcat = []\n",
        ),
    )
    .unwrap();
    let mut tokenless = Command::new(bin("archetype"));
    tokenless
        .args(["submit", "--coordinator", &url, "--config"])
        .arg(&cfg)
        .args(&good)
        .env_remove("ARCHETYPE_TOKEN")
        .env("RUST_BACKTRACE", "0");
    let o = tokenless.output().unwrap();
    let t = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        t.contains("refused the job submission: no cluster token"),
        "{t}"
    );
    let log = coord.log();
    assert!(log.contains("refused a call without a token"), "{log}");
    assert!(
        !log.contains("s3cret-cluster-token"),
        "the token leaked into the log"
    );

    // Members with the cluster's certificate and token join and run jobs.
    let mut workers: Vec<(Proc, String)> = (0..2)
        .map(|i| {
            let m = format!("127.0.0.1:{}", free_port());
            let p = Proc::spawn(
                Command::new(bin("archetype-worker"))
                    .args(["--coordinator", &url])
                    .args(creds.client_args())
                    .args(["--metrics-listen", &m])
                    .args(["--health-listen", &format!("127.0.0.1:{}", free_port())])
                    .args(["--log-format", if i == 1 { "json" } else { "text" }])
                    .env_remove("ARCHETYPE_TOKEN"),
                tmp.path().join(format!("worker-{i}.log")),
            );
            (p, m)
        })
        .collect();

    let (ok, first) = submit(&url, &creds, &cfg, &[]);
    assert!(ok, "{first}");
    assert!(first.contains("PROMOTED to latest"), "{first}");
    let job1 = submitted_id(&first);
    // Same data, same seeds: the same metrics, so a margin above zero keeps it aside.
    let (ok, second) = submit(&url, &creds, &cfg, &["promotion.margin=0.05"]);
    assert!(ok, "a run kept aside is not a failure: {second}");
    let job2 = submitted_id(&second);
    assert!(second.contains("kept aside"), "{second}");
    assert!(second.contains("does not beat latest"), "{second}");

    let latest = read_json(&out.join("latest.json"));
    assert_eq!(latest["job_id"], job1.as_str());
    assert_eq!(latest["metric"], "NDCG@100");
    let model = latest["model"].as_str().unwrap().to_string();
    assert!(
        !model.starts_with("MP "),
        "a baseline was promoted: {model}"
    );
    let d1 = read_json(&out.join(&job1).join("promotion.json"));
    let d2 = read_json(&out.join(&job2).join("promotion.json"));
    assert_eq!(d1["promoted"], true);
    assert!(d1["previous"].is_null());
    assert_eq!(d2["promoted"], false);
    assert_eq!(d2["previous"]["job_id"], job1.as_str());
    assert_eq!(d2["margin"], 0.05);
    // The kept-aside run is whole: its model and report are there to inspect.
    assert!(out.join(&job2).join("report/report.json").exists());
    assert!(out.join(&job2).join("vae/models.json").exists());
    let run2 = read_json(&out.join(&job2).join("run.json"));
    assert_eq!(run2["state"], "succeeded");
    assert!(run2["metrics"].as_array().is_some_and(|m| !m.is_empty()));

    let o = Command::new(bin("archetype"))
        .args(["jobs", "--json", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["job_id"], job1.as_str());
    assert_eq!(list[0]["latest"], true);
    assert_eq!(list[1]["latest"], false);
    assert_eq!(list[1]["state"], "succeeded");
    let o = Command::new(bin("archetype"))
        .args(["jobs", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains(&format!("* latest: {job1}")), "{table}");
    assert!(table.contains("kept aside"), "{table}");

    let m = scrape(&metrics_addr);
    assert!(
        m.contains(&format!("archetype_promoted{{job=\"{job2}\"}} 0")),
        "{m}"
    );
    assert!(m.contains(&format!("archetype_promoted{{job=\"{job1}\"}} 1")));
    let wm = scrape(&workers[1].1);
    assert!(wm.contains("archetype_worker_task_phase"), "{wm}");
    assert!(
        wm.contains("archetype_worker_allreduce_seconds_total"),
        "{wm}"
    );

    // Structured logs: the JSON worker's log lines are objects (timely's own connection
    // messages, `worker N: ...` and `awaiting connections (at i/n)`, are plain text
    // printed by timely_communication::networking), and the lines of a task carry its job id.
    let log = workers[1].0.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with("worker ")
                && !l.starts_with("awaiting connections")
        })
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let tagged = lines
        .iter()
        .filter(|v| v["span"]["job"] == job2.as_str())
        .count();
    assert!(tagged > 0, "no log line carries job {job2}:\n{log}");
    assert!(
        !log.contains("s3cret-cluster-token"),
        "the token leaked into a log"
    );

    // SIGTERM: the coordinator stops taking work and exits; its workers leave with it.
    coord.sigterm();
    let st = coord.wait(Duration::from_secs(20));
    assert!(
        st.is_some_and(|s| s.success()),
        "coordinator: {st:?}\n{}",
        coord.log()
    );
    for (w, _) in workers.iter_mut() {
        let st = w.wait(Duration::from_secs(20));
        assert!(
            st.is_some_and(|s| s.success()),
            "worker: {st:?}\n{}",
            w.log()
        );
    }
}

#[test]
fn sigterm_during_vae_training_checkpoints_mid_epoch_on_every_replica_and_exits() {
    use archetype_proto::v1;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    small_data(&data, 6);
    let out = tmp.path().join("out");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _coord = Proc::spawn(
        Command::new(bin("archetype"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--heartbeat-ms", "200", "--lease-ms", "5000"])
            .env_remove("ARCHETYPE_TOKEN"),
        tmp.path().join("coordinator.log"),
    );
    let spawn_worker = |name: &str| {
        Proc::spawn(
            Command::new(bin("archetype-worker"))
                .args(["--coordinator", &url])
                .env_remove("ARCHETYPE_TOKEN"),
            tmp.path().join(format!("{name}.log")),
        )
    };
    let mut workers: Vec<Proc> = vec![spawn_worker("worker-0"), spawn_worker("worker-1")];
    wait_listening(&format!("127.0.0.1:{port}"));
    let cfg = tmp.path().join("job.toml");
    // Long enough that the signal lands inside training: many epochs, no early stopping.
    const EPOCHS: u64 = 150;
    std::fs::write(
        &cfg,
        job_text(
            &data,
            &out,
            &format!(
                "[vae]\nhidden = 32\nlatent = 8\nepochs = {EPOCHS}\npatience = 0\nbatch = 50\n\
                 contexts = []\ngates = []\nconcat = []\n"
            ),
        ),
    )
    .unwrap();
    let o = Command::new(bin("archetype"))
        .args(["submit", "--no-wait", "--coordinator", &url, "--config"])
        .arg(&cfg)
        // A drained member is a lost one: without this the job would wait for a replacement
        // and go on (tests/tests/faults.rs); here the job must stop, to be resumed by hand.
        .args(["--set", "cluster.max_retries=0"])
        .env_remove("ARCHETYPE_TOKEN")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job = submitted_id(&String::from_utf8_lossy(&o.stdout));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let mut c = archetype_proto::CoordinatorClient::connect(url.clone())
                .await
                .unwrap();
            c.get_job(v1::GetJobRequest {
                job_id: job.clone(),
            })
            .await
            .unwrap()
            .into_inner()
        })
    };
    // Wait for the VAE phase and a checkpoint of a few epochs.
    let plain = out.join(&job).join("vae/plain");
    let t = Instant::now();
    loop {
        let st = status(&rt);
        assert!(st.state != "failed", "{}", st.error);
        let epochs = std::fs::read_to_string(plain.join("state.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["epochs_done"].as_u64())
            .unwrap_or(0);
        if st.state == "vae" && epochs >= 2 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no VAE epochs: {} {}",
            st.state,
            workers[0].log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The second member is the one asked to stop: the leader learns it through the step's
    // all-reduce and writes the checkpoint.
    workers[1].sigterm();
    let st = workers[1].wait(Duration::from_secs(60));
    assert!(
        st.is_some_and(|s| s.success()),
        "the signalled worker: {st:?}\n{}",
        workers[1].log()
    );
    assert!(workers[1].log().contains("SIGTERM"), "{}", workers[1].log());
    let t = Instant::now();
    let failed = loop {
        let st = status(&rt);
        if st.state == "failed" {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "job state {}",
            st.state
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        failed.error.contains("interrupted by a shutdown request"),
        "{}",
        failed.error
    );
    let state = read_json(&plain.join("state.json"));
    assert_eq!(state["complete"], false);
    let bytes = std::fs::read(plain.join("checkpoint.safetensors")).unwrap();
    let loaded = archetype_vae::checkpoint::load(&bytes).unwrap();
    let train = loaded.state.expect("a training checkpoint");
    let partial = train.partial.expect("the checkpoint is mid-epoch");
    assert!(partial.batches >= 1);
    assert_eq!(train.step, state["steps"].as_u64().unwrap());
    assert_eq!(train.epoch as u64, state["epochs_done"].as_u64().unwrap());
    assert!(train.epoch >= 2 && (train.epoch as u64) < EPOCHS);
    let interrupted_at = train.step;

    // The checkpoint is usable: the same job, resubmitted under its id on fresh workers,
    // continues from it and completes.
    workers[0].sigterm();
    assert!(workers[0]
        .wait(Duration::from_secs(60))
        .is_some_and(|s| s.success()));
    let mut workers = [spawn_worker("worker-2"), spawn_worker("worker-3")];
    let o = Command::new(bin("archetype"))
        .args([
            "submit",
            "--coordinator",
            &url,
            "--resume",
            &job,
            "--config",
        ])
        .arg(&cfg)
        .args(["--set", "cluster.max_retries=0"])
        .env_remove("ARCHETYPE_TOKEN")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let state = read_json(&plain.join("state.json"));
    assert_eq!(state["complete"], true, "{state}");
    assert_eq!(state["epochs_done"].as_u64(), Some(EPOCHS));
    assert_eq!(
        state["history"].as_array().map(Vec::len),
        Some(EPOCHS as usize),
        "one report per epoch, the interrupted one once"
    );
    assert!(state["steps"].as_u64().unwrap() > interrupted_at);
    let resumed = workers[0].log() + &workers[1].log();
    assert!(
        resumed.contains("resuming the VAE from its checkpoint"),
        "{resumed}"
    );
    // The journal spared the phases before the VAE.
    let journal = read_json(&out.join(&job).join("journal.json"));
    assert_eq!(journal["done"][0], "aggregate", "{journal}");
    assert!(!resumed.contains("aggregate task started"), "{resumed}");
    assert!(!plain.join("checkpoint.safetensors").exists());
    assert!(plain.join("model.safetensors").exists());
    assert_eq!(
        read_json(&out.join(&job).join("run.json"))["state"],
        "succeeded"
    );
    for w in workers.iter_mut() {
        w.sigterm();
        assert!(w.wait(Duration::from_secs(30)).is_some_and(|s| s.success()));
    }
}
