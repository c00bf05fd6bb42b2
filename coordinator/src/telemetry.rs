//! Prometheus metrics for running jobs, served over HTTP at `/metrics`.
//!
//! While a job runs, operators want to see where it is (phase), how fast it goes (events per
//! second, shards done), what it threw away (rows rejected) and, at the end, what the evaluation
//! found. The coordinator's job loop records those through the free functions of this module; a
//! [`Telemetry`] serves them in the Prometheus text format.
//!
//! # What is exported
//!
//! Every metric is a gauge, prefixed `archetype_`, and carries a `job` label so that several jobs
//! served by one coordinator stay apart:
//!
//! | metric | labels | set by | meaning |
//! |---|---|---|---|
//! | `archetype_job_info` | `job` | [`set_job`] | always 1; announces the job |
//! | `archetype_job_phase` | `job`, `phase` | [`set_phase`] | 1 for the current phase, 0 for the phases already left |
//! | `archetype_phase_seconds` | `job`, `phase` | [`set_job_seconds`] | seconds spent in a phase |
//! | `archetype_events_read_total` | `job` | [`set_progress`] | listening events read so far |
//! | `archetype_bytes_read_total` | `job` | [`set_progress`] | input bytes read so far |
//! | `archetype_rows_rejected_total` | `job` | [`set_progress`] | input rows rejected so far |
//! | `archetype_shards_done` | `job` | [`set_progress`] | shards finished |
//! | `archetype_shards_total` | `job` | [`set_progress`] | shards planned |
//! | `archetype_events_per_second` | `job` | [`set_progress`] | current read rate |
//! | `archetype_workers_alive` | `job` | [`set_progress`] | cluster members holding a lease |
//! | `archetype_training_iteration` | `job`, `model` | [`set_training`] | iterations completed |
//! | `archetype_training_loss` | `job`, `model` | [`set_training`] | training loss after the last one |
//! | `archetype_validation_ndcg` | `job`, `model` | [`set_training`] | validation NDCG@100 after the last one |
//! | `archetype_eval_metric` | `job`, `model`, `metric` | [`set_metric_value`] | an evaluation result, e.g. `metric="NDCG@100"` |
//! | `archetype_promoted` | `job` | [`set_promotion`] | 1 when the gate promoted the run to `latest`, else 0 |
//! | `archetype_promotion_value` | `job` | [`set_promotion`] | the run's value of the gate's metric |
//!
//! The `*_total` metrics are gauges, not counters, although they only grow: workers report
//! running totals and the coordinator sums them, so what we hold is an absolute value, not an
//! increment. Setting a gauge to it is exact; turning totals back into increments would be
//! fragile (a member lost and its shards handed to another would make the total step back).
//! Integer values are exported as `f64`, exact up to 2^53.
//!
//! # How it is served
//!
//! [`archetype_ops::prometheus`] serves the process-wide registry; see there.
//!
//! The recording functions go to the global recorder and are no-ops until a [`Telemetry`] has
//! been started (values recorded before that are lost), so start it before the job does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use archetype_ops::prometheus::MetricsEndpoint;
use metrics::{describe_gauge, gauge};

const JOB_INFO: &str = "archetype_job_info";
const JOB_PHASE: &str = "archetype_job_phase";
const PHASE_SECONDS: &str = "archetype_phase_seconds";
const TRAINING_ITERATION: &str = "archetype_training_iteration";
const TRAINING_LOSS: &str = "archetype_training_loss";
const VALIDATION_NDCG: &str = "archetype_validation_ndcg";
const TRAINING_STEP: &str = "archetype_training_step";
const STEP_LOSS: &str = "archetype_training_step_loss";
const STEP_KL: &str = "archetype_training_step_kl";
const STEP_BETA: &str = "archetype_training_step_beta";
const EVENTS_READ: &str = "archetype_events_read_total";
const BYTES_READ: &str = "archetype_bytes_read_total";
const ROWS_REJECTED: &str = "archetype_rows_rejected_total";
const SHARDS_DONE: &str = "archetype_shards_done";
const SHARDS_TOTAL: &str = "archetype_shards_total";
const EVENTS_PER_SECOND: &str = "archetype_events_per_second";
const WORKERS_ALIVE: &str = "archetype_workers_alive";
const EVAL_METRIC: &str = "archetype_eval_metric";
const PROMOTED: &str = "archetype_promoted";
const PROMOTION_VALUE: &str = "archetype_promotion_value";
const RECOVERIES: &str = "archetype_cluster_recoveries_total";

/// The promotion gate's verdict on a run: `archetype_promoted{job} 1|0` and the candidate's
/// value of the gate's metric.
pub fn set_promotion(job: &str, promoted: bool, value: Option<f64>) {
    gauge!(PROMOTED, "job" => job.to_owned()).set(f64::from(u8::from(promoted)));
    if let Some(v) = value {
        gauge!(PROMOTION_VALUE, "job" => job.to_owned()).set(v);
    }
}

/// One more member loss survived in `phase` (the cluster was re-formed and the phase redone).
pub fn count_recovery(job: &str, phase: &str) {
    gauge!(RECOVERIES, "job" => job.to_owned(), "phase" => phase.to_owned()).increment(1.0);
}

/// Failure to start serving metrics.
pub use archetype_ops::prometheus::MetricsError as TelemetryError;

/// A running `/metrics` listener over the job metrics below; dropping it stops the listener.
#[derive(Debug)]
pub struct Telemetry(MetricsEndpoint);

impl Telemetry {
    /// Serves `/metrics` on `addr` (port 0 picks one); any number per process, one registry.
    pub async fn start(addr: &str) -> Result<Telemetry, TelemetryError> {
        MetricsEndpoint::start(addr, describe_all)
            .await
            .map(Telemetry)
    }

    /// Where it listens: the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    pub fn stop(self) {
        drop(self);
    }
}

/// The `# HELP` lines (idempotent; registered by every start).
fn describe_all() {
    describe_gauge!(
        RECOVERIES,
        "Times the job re-formed its cluster after losing a member, by the phase redone."
    );
    describe_gauge!(
        PROMOTED,
        "1 when the promotion gate made the run `latest`, 0 when it kept it aside."
    );
    describe_gauge!(
        PROMOTION_VALUE,
        "The run's value of the promotion metric (its candidate model)."
    );
    describe_gauge!(
        TRAINING_ITERATION,
        "Iterations a training model has completed."
    );
    describe_gauge!(
        TRAINING_LOSS,
        "Training loss after the model's last iteration."
    );
    describe_gauge!(
        VALIDATION_NDCG,
        "Validation NDCG@100 after the model's last validated iteration."
    );
    describe_gauge!(TRAINING_STEP, "Optimiser steps a model has taken (VAE).");
    describe_gauge!(
        STEP_LOSS,
        "The last step's loss (mean over the global batch of NLL + beta KL; VAE)."
    );
    describe_gauge!(STEP_KL, "The last step's mean KL divergence (VAE).");
    describe_gauge!(STEP_BETA, "The KL weight beta of the last step (VAE).");
    describe_gauge!(
        JOB_INFO,
        "Always 1; the job label names a job this coordinator runs."
    );
    describe_gauge!(
        JOB_PHASE,
        "1 for the job's current phase, 0 for the phases it has left."
    );
    describe_gauge!(PHASE_SECONDS, "Seconds the job spent in a phase.");
    describe_gauge!(
        EVENTS_READ,
        "Listening events read so far (running total reported by the workers)."
    );
    describe_gauge!(
        BYTES_READ,
        "Input bytes read so far (running total reported by the workers)."
    );
    describe_gauge!(
        ROWS_REJECTED,
        "Input rows rejected so far (running total reported by the workers)."
    );
    describe_gauge!(SHARDS_DONE, "Input shards finished.");
    describe_gauge!(SHARDS_TOTAL, "Input shards planned for the job.");
    describe_gauge!(
        EVENTS_PER_SECOND,
        "Current rate of events read, per second."
    );
    describe_gauge!(WORKERS_ALIVE, "Cluster members currently holding a lease.");
    describe_gauge!(
        EVAL_METRIC,
        "Evaluation result of a model, by metric (e.g. NDCG@100)."
    );
}

/// Progress of a job as the coordinator sees it: sums over the members' latest reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgressSample {
    pub events_read: u64,
    pub bytes_read: u64,
    pub rows_rejected: u64,
    pub shards_done: u64,
    pub shards_total: u64,
    pub events_per_second: f64,
    pub workers_alive: u64,
}

/// Announces a job: `archetype_job_info{job="..."} 1`.
pub fn set_job(job: &str) {
    gauge!(JOB_INFO, "job" => job.to_owned()).set(1.0);
}

/// The phases each job has been in, in order, so that entering a phase can set the ones left
/// to 0 (a gauge per phase label, rather than one that would lose the history).
static PHASES: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

/// Moves `job` to `phase`: `archetype_job_phase{job, phase}` becomes 1 and every phase set
/// before for that job becomes 0. Setting the current phase again changes nothing.
pub fn set_phase(job: &str, phase: &str) {
    // The lock is held while the gauges are set, so that two concurrent calls cannot leave
    // two phases at 1.
    let mut guard = PHASES.lock().unwrap_or_else(PoisonError::into_inner);
    let seen = guard
        .get_or_insert_with(HashMap::new)
        .entry(job.to_owned())
        .or_default();
    for old in seen.iter().filter(|old| *old != phase) {
        gauge!(JOB_PHASE, "job" => job.to_owned(), "phase" => old.clone()).set(0.0);
    }
    gauge!(JOB_PHASE, "job" => job.to_owned(), "phase" => phase.to_owned()).set(1.0);
    if !seen.iter().any(|old| old == phase) {
        seen.push(phase.to_owned());
    }
}

/// Records a job's progress. The totals are running totals (see the module docs for why they
/// are gauges).
pub fn set_progress(job: &str, p: &ProgressSample) {
    let set = |name: &'static str, value: f64| gauge!(name, "job" => job.to_owned()).set(value);
    set(EVENTS_READ, p.events_read as f64);
    set(BYTES_READ, p.bytes_read as f64);
    set(ROWS_REJECTED, p.rows_rejected as f64);
    set(SHARDS_DONE, p.shards_done as f64);
    set(SHARDS_TOTAL, p.shards_total as f64);
    set(EVENTS_PER_SECOND, p.events_per_second);
    set(WORKERS_ALIVE, p.workers_alive as f64);
}

/// Records a training model's last iteration.
pub fn set_training(job: &str, model: &str, iteration: f64, loss: f64, ndcg: Option<f64>) {
    let labels = [("job", job.to_string()), ("model", model.to_string())];
    gauge!(TRAINING_ITERATION, &labels).set(iteration);
    gauge!(TRAINING_LOSS, &labels).set(loss);
    if let Some(n) = ndcg {
        gauge!(VALIDATION_NDCG, &labels).set(n);
    }
}

/// Records a VAE step: `archetype_training_step{job, model}` and the step's loss, KL and
/// beta.
pub fn set_step(job: &str, model: &str, step: f64, loss: f64, kl: f64, beta: f64) {
    let labels = [("job", job.to_string()), ("model", model.to_string())];
    gauge!(TRAINING_STEP, &labels).set(step);
    gauge!(STEP_LOSS, &labels).set(loss);
    gauge!(STEP_KL, &labels).set(kl);
    gauge!(STEP_BETA, &labels).set(beta);
}

/// Records an evaluation result: `archetype_eval_metric{job, model, metric}`, e.g.
/// `metric="NDCG@100"`.
pub fn set_metric_value(job: &str, model: &str, metric: &str, value: f64) {
    gauge!(
        EVAL_METRIC,
        "job" => job.to_owned(),
        "model" => model.to_owned(),
        "metric" => metric.to_owned()
    )
    .set(value);
}

/// Records how long a job spent in a phase: `archetype_phase_seconds{job, phase}`.
pub fn set_job_seconds(job: &str, phase: &str, seconds: f64) {
    gauge!(PHASE_SECONDS, "job" => job.to_owned(), "phase" => phase.to_owned()).set(seconds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A raw `GET path` over TCP; returns (status line, headers, body).
    async fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .expect("a complete response");
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.to_owned(), headers.to_owned(), body.to_owned())
    }

    async fn scrape(t: &Telemetry) -> String {
        let (status, headers, body) = get(t.local_addr(), "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: text/plain; version=0.0.4"),
            "{headers}"
        );
        assert!(
            headers.contains(&format!("Content-Length: {}", body.len())),
            "{headers}"
        );
        body
    }

    fn has_line(body: &str, line: &str) -> bool {
        body.lines().any(|l| l == line)
    }

    #[tokio::test]
    async fn serves_phase_progress_and_metric_values() {
        let t = Telemetry::start("127.0.0.1:0").await.unwrap();
        assert_ne!(t.local_addr().port(), 0);

        set_job("t1");
        set_phase("t1", "read");
        set_progress(
            "t1",
            &ProgressSample {
                events_read: 1234,
                bytes_read: 56_789,
                rows_rejected: 3,
                shards_done: 2,
                shards_total: 8,
                events_per_second: 1500.5,
                workers_alive: 4,
            },
        );
        set_metric_value("t1", "lfm", "NDCG@100", 0.25);
        set_job_seconds("t1", "read", 12.5);

        let body = scrape(&t).await;
        for line in [
            r#"archetype_job_info{job="t1"} 1"#,
            r#"archetype_job_phase{job="t1",phase="read"} 1"#,
            r#"archetype_events_read_total{job="t1"} 1234"#,
            r#"archetype_bytes_read_total{job="t1"} 56789"#,
            r#"archetype_rows_rejected_total{job="t1"} 3"#,
            r#"archetype_shards_done{job="t1"} 2"#,
            r#"archetype_shards_total{job="t1"} 8"#,
            r#"archetype_events_per_second{job="t1"} 1500.5"#,
            r#"archetype_workers_alive{job="t1"} 4"#,
            r#"archetype_eval_metric{job="t1",model="lfm",metric="NDCG@100"} 0.25"#,
            r#"archetype_phase_seconds{job="t1",phase="read"} 12.5"#,
            "# TYPE archetype_events_read_total gauge",
        ] {
            assert!(has_line(&body, line), "missing {line:?} in:\n{body}");
        }
        assert!(
            body.contains("# HELP archetype_events_read_total "),
            "{body}"
        );
        assert!(body.contains("# HELP archetype_eval_metric "), "{body}");

        // Progress is a running total: a later sample replaces the earlier one.
        set_progress(
            "t1",
            &ProgressSample {
                events_read: 2000,
                ..Default::default()
            },
        );
        let body = scrape(&t).await;
        assert!(
            has_line(&body, r#"archetype_events_read_total{job="t1"} 2000"#),
            "{body}"
        );
        t.stop();
    }

    #[tokio::test]
    async fn switching_phase_zeroes_the_previous_ones() {
        let t = Telemetry::start("127.0.0.1:0").await.unwrap();
        set_phase("t2", "plan");
        set_phase("t2", "read");
        set_phase("t2", "train");
        set_phase("t2", "train");
        let body = scrape(&t).await;
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="plan"} 0"#),
            "{body}"
        );
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="read"} 0"#),
            "{body}"
        );
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="train"} 1"#),
            "{body}"
        );

        // Going back to a phase already seen works too.
        set_phase("t2", "read");
        let body = scrape(&t).await;
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="read"} 1"#),
            "{body}"
        );
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="train"} 0"#),
            "{body}"
        );

        // Another job's phases are left alone.
        set_phase("t2b", "plan");
        let body = scrape(&t).await;
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2b",phase="plan"} 1"#),
            "{body}"
        );
        assert!(
            has_line(&body, r#"archetype_job_phase{job="t2",phase="read"} 1"#),
            "{body}"
        );
    }

    #[tokio::test]
    async fn two_instances_serve_at_once() {
        let a = Telemetry::start("127.0.0.1:0").await.unwrap();
        let b = Telemetry::start("127.0.0.1:0").await.unwrap();
        assert_ne!(a.local_addr(), b.local_addr());
        set_metric_value("t3", "popularity", "Recall@50", 0.125);
        let line = r#"archetype_eval_metric{job="t3",model="popularity",metric="Recall@50"} 0.125"#;
        assert!(has_line(&scrape(&a).await, line));
        assert!(has_line(&scrape(&b).await, line));

        // Stopping one leaves the other serving.
        let a_addr = a.local_addr();
        a.stop();
        assert!(has_line(&scrape(&b).await, line));
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(a_addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "{a_addr} still accepts connections after stop");
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        let t = Telemetry::start("127.0.0.1:0").await.unwrap();
        let (status, _, _) = get(t.local_addr(), "/").await;
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        let (status, _, _) = get(t.local_addr(), "/metrics?x=1").await;
        assert_eq!(status, "HTTP/1.1 200 OK");

        let mut stream = TcpStream::connect(t.local_addr()).await.unwrap();
        stream
            .write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn bad_address_is_a_bind_error_naming_it() {
        match Telemetry::start("not an address").await {
            Err(TelemetryError::Bind { addr, .. }) => assert_eq!(addr, "not an address"),
            other => panic!("expected a bind error, got {other:?}"),
        }

        // A port already taken is a bind error too, and the message names the address.
        let t = Telemetry::start("127.0.0.1:0").await.unwrap();
        let taken = t.local_addr().to_string();
        let err = Telemetry::start(&taken).await.unwrap_err();
        assert!(
            matches!(&err, TelemetryError::Bind { addr, .. } if *addr == taken),
            "{err:?}"
        );
        assert!(err.to_string().contains(&taken), "{err}");
    }
}
