//! The coordinator under load: 256 simulated workers register over mutual TLS with a token,
//! keep their leases by heartbeat, long-poll for tasks and report progress for a bounded time.
//! Nothing may be lost: every acknowledged report is counted by the coordinator, and every
//! worker still holds its lease at the end. Latency percentiles per call are printed
//! (`cargo test -p archetype-coordinator --test load -- --nocapture`); they are figures for
//! the notes, not assertions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use archetype_coordinator::server::{self, CoordinatorState};
use archetype_ops::security::{
    ClientSecurity, ClientSecurityArgs, ServerSecurity, ServerSecurityArgs, Token,
};
use archetype_proto::{v1, CoordinatorClient};
use tokio::sync::Mutex;

const WORKERS: usize = 256;
const RUN: Duration = Duration::from_secs(8);
const HEARTBEAT: Duration = Duration::from_millis(200);
const REPORT: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Latencies {
    register: Vec<f64>,
    heartbeat: Vec<f64>,
    report: Vec<f64>,
    poll_overrun: Vec<f64>,
}

fn percentiles(name: &str, v: &mut [f64]) -> String {
    if v.is_empty() {
        return format!("{name}: none");
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] * 1e3;
    format!(
        "{name:<12} n={:>6}  p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        v.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1] * 1e3
    )
}

#[test]
fn two_hundred_fifty_six_workers_lose_no_report_and_no_lease() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let pki = archetype_ops::certs::write_dev_pki(
            tmp.path(),
            &["localhost".to_string()],
            "load-worker",
        )
        .unwrap();
        let token = tmp.path().join("token");
        std::fs::write(&token, "load-test-token").unwrap();
        let server_sec = ServerSecurity::load(&ServerSecurityArgs {
            tls_cert: Some(pki.server_cert.clone()),
            tls_key: Some(pki.server_key.clone()),
            tls_ca: Some(pki.ca.clone()),
            token_file: Some(token.clone()),
        })
        .unwrap();
        assert!(server_sec.mutual_tls() && server_sec.token_required());
        let state = CoordinatorState::new(HEARTBEAT.as_millis() as u64, 5_000);
        // Every simulated worker comes from 127.0.0.1, unlike pods with addresses of their own.
        let limits = server::Limits {
            max_per_peer: 2 * WORKERS,
            ..server::Limits::default()
        };
        let srv = server::start_secure(state.clone(), "127.0.0.1:0", &server_sec, limits)
            .await
            .unwrap();
        let url = format!("https://localhost:{}", srv.addr.port());
        let client_sec = Arc::new(
            ClientSecurity::load(&ClientSecurityArgs {
                tls_ca: Some(pki.ca.clone()),
                tls_cert: Some(pki.client_cert.clone()),
                tls_key: Some(pki.client_key.clone()),
                tls_server_name: None,
                token_file: None,
            })
            .unwrap()
            .with_token(Some(Token::new("load-test-token", "test").unwrap())),
        );
        let lat = Arc::new(Mutex::new(Latencies::default()));
        let started = Instant::now();
        let mut handles = Vec::new();
        for i in 0..WORKERS {
            let (url, sec, lat) = (url.clone(), client_sec.clone(), lat.clone());
            handles.push(tokio::spawn(async move {
                let mut c = CoordinatorClient::new(sec.connect(&url).await.unwrap());
                let t = Instant::now();
                let id = c
                    .register(v1::RegisterRequest {
                        hostname: format!("sim-{i}"),
                        cores: 16,
                        memory_bytes: 1 << 37,
                        timely_address: format!("127.0.0.1:{}", 20_000 + i),
                        threads: 1,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .worker_id;
                lat.lock().await.register.push(t.elapsed().as_secs_f64());
                let end = Instant::now() + RUN;
                // A long poll runs beside the heartbeats and reports, as in a real worker.
                let mut poller = c.clone();
                let poll_id = id.clone();
                let poll_lat = lat.clone();
                let poll = tokio::spawn(async move {
                    while Instant::now() < end {
                        let t = Instant::now();
                        let r = poller
                            .next_task(v1::NextTaskRequest {
                                worker_id: poll_id.clone(),
                                wait_ms: 1_000,
                            })
                            .await
                            .unwrap()
                            .into_inner();
                        assert!(r.task.is_none() && !r.shutdown);
                        // How far past its 1 s wait the poll came back.
                        poll_lat
                            .lock()
                            .await
                            .poll_overrun
                            .push((t.elapsed().as_secs_f64() - 1.0).max(0.0));
                    }
                });
                let (mut next_hb, mut next_report) = (Instant::now(), Instant::now());
                let mut acked = 0u64;
                let mut step = 0u64;
                while Instant::now() < end {
                    let now = Instant::now();
                    if now >= next_hb {
                        let t = Instant::now();
                        let r = c
                            .heartbeat(v1::HeartbeatRequest {
                                worker_id: id.clone(),
                                task_id: format!("load/vae/{i}"),
                                leaving: false,
                            })
                            .await
                            .unwrap()
                            .into_inner();
                        assert!(r.known, "worker {id} lost its lease");
                        lat.lock().await.heartbeat.push(t.elapsed().as_secs_f64());
                        next_hb += HEARTBEAT;
                    }
                    if now >= next_report {
                        step += 1;
                        let gauges = ["vae.step", "vae.loss", "vae.kl", "vae.beta", "vae.epoch"]
                            .iter()
                            .map(|n| v1::Gauge {
                                name: (*n).to_string(),
                                value: step as f64,
                            })
                            .collect();
                        let t = Instant::now();
                        c.report_progress(v1::ProgressReport {
                            worker_id: id.clone(),
                            task_id: format!("load/vae/{i}"),
                            phase: "vae:plain".into(),
                            counters: vec![v1::Counter {
                                name: "events_read".into(),
                                value: step,
                            }],
                            gauges,
                        })
                        .await
                        .unwrap();
                        acked += 1;
                        lat.lock().await.report.push(t.elapsed().as_secs_f64());
                        next_report += REPORT;
                    }
                    let wake = next_hb.min(next_report);
                    tokio::time::sleep(wake.saturating_duration_since(Instant::now())).await;
                }
                poll.await.unwrap();
                (id, acked)
            }));
        }
        let mut sent = Vec::new();
        for h in handles {
            sent.push(h.await.unwrap());
        }
        let wall = started.elapsed().as_secs_f64();
        let reg_count = state.lock().workers.len();
        assert_eq!(reg_count, WORKERS, "every simulated worker registered");
        assert_eq!(
            state.live_workers().len(),
            WORKERS,
            "every worker holds its lease at the end"
        );
        let total: u64 = sent.iter().map(|s| s.1).sum();
        {
            let reg = state.lock();
            for (id, acked) in &sent {
                let got = reg.reports_received.get(id).copied().unwrap_or(0);
                assert_eq!(got, *acked, "{id}: reports acknowledged vs counted");
            }
            assert_eq!(
                reg.progress.len(),
                WORKERS,
                "the latest report of every task"
            );
        }
        let mut l = lat.lock().await;
        let calls = l.register.len() + l.heartbeat.len() + l.report.len() + l.poll_overrun.len();
        println!(
            "{WORKERS} workers over mutual TLS + token, {:.1} s: {total} progress reports, \
             {} heartbeats, {calls} calls ({:.0} calls/s)",
            wall,
            l.heartbeat.len(),
            calls as f64 / wall
        );
        println!("{}", percentiles("register", &mut l.register));
        println!("{}", percentiles("heartbeat", &mut l.heartbeat));
        println!("{}", percentiles("report", &mut l.report));
        println!("{}", percentiles("poll overrun", &mut l.poll_overrun));
        // Each worker reported about every 250 ms for the whole run: none was starved.
        let min = sent.iter().map(|s| s.1).min().unwrap_or(0);
        let expected = (RUN.as_secs_f64() / REPORT.as_secs_f64()) as u64;
        assert!(
            min * 2 >= expected,
            "a worker sent only {min} of ~{expected} reports"
        );
        srv.stop().await;
    });
}
