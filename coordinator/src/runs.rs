//! Versioned runs and the promotion gate.
//!
//! Every job writes under `<output.url>/<job id>/`, so runs never overwrite each other. This
//! module adds what scheduled retraining needs on top:
//!
//! - `<job id>/run.json`: the run's state (`running`, `succeeded`, `failed`), its error, times,
//!   headline metrics and the promotion decision, written when the run starts and when it ends;
//! - the gate: a succeeded run's model is compared with the one `<output.url>/latest.json`
//!   points at, on the configured metric; it is promoted (written to `latest.json`) only when it
//!   beats it by more than the margin, and `<job id>/promotion.json` records the decision and
//!   its reason either way;
//! - [`list_runs`]: what `archetype jobs` prints.
//!
//! Each record is one object put, which the object stores make atomic: a reader sees the old
//! `latest.json` or the new one, never half of either. Gates running at once on one output URL
//! are serialised (a conditional put of `latest.json`, or a lock object where the store cannot
//! compare versions): one of them wins, the others decide again against the winner.

use std::time::{SystemTime, UNIX_EPOCH};

use archetype_eval::report::{ModelStatus, Report};
use archetype_job::config::PromotionConfig;
use archetype_job::StoreUrl;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};

/// Where the promoted run is recorded, below the output URL.
pub const LATEST: &str = "latest.json";
/// A run's state, below its job root.
pub const RUN: &str = "run.json";
/// A run's promotion decision, below its job root.
pub const PROMOTION: &str = "promotion.json";

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("{url}: {message}")]
    Store { url: String, message: String },
    #[error("{url} is not a run record: {message}")]
    Format { url: String, message: String },
    /// Other gates kept moving `latest.json` (or holding its lock); running the gate again
    /// later decides against the newer latest.
    #[error("{url}: the promotion gate lost the race {attempts} times; run it again")]
    Contended { url: String, attempts: u32 },
    /// The store can neither replace an object only if unchanged nor create one only if
    /// absent, so concurrent gates could both promote.
    #[error(
        "{url}: the store supports no conditional put, so the promotion gate cannot run safely"
    )]
    NoConditionalPut { url: String },
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `<output>/latest.json`: the promoted run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    pub job_id: String,
    /// The job root of the promoted run.
    pub url: String,
    /// The model that won, by report name.
    pub model: String,
    pub metric: String,
    pub value: f64,
    pub promoted_at_unix: f64,
}

/// `<job>/promotion.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub job_id: String,
    pub promoted: bool,
    pub reason: String,
    pub metric: String,
    pub margin: f64,
    /// The candidate model and its value (`None` when the run has no such model).
    pub model: Option<String>,
    pub value: Option<f64>,
    /// What was `latest` when the gate ran.
    pub previous: Option<Latest>,
    pub decided_at_unix: f64,
}

/// `<job>/run.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job_id: String,
    pub name: String,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    #[serde(default)]
    pub error: Option<String>,
    pub started_at_unix: f64,
    #[serde(default)]
    pub finished_at_unix: Option<f64>,
    /// Refreshed every [`HEARTBEAT_SECS`] while the run's coordinator runs it: a `running`
    /// record whose heartbeat stopped is a run whose coordinator died.
    #[serde(default)]
    pub heartbeat_unix: Option<f64>,
    /// Report rows' headline metric (the promotion metric, else NDCG@100), by model.
    #[serde(default)]
    pub metrics: Vec<(String, f64)>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub promotion: Option<Decision>,
}

fn store_error(url: &StoreUrl, e: object_store::Error) -> RunsError {
    RunsError::Store {
        url: url.url.clone(),
        message: e.to_string(),
    }
}

fn to_json<T: Serialize>(url: &StoreUrl, value: &T) -> Result<Vec<u8>, RunsError> {
    serde_json::to_vec_pretty(value).map_err(|e| RunsError::Format {
        url: url.url.clone(),
        message: e.to_string(),
    })
}

async fn put_json<T: Serialize>(url: &StoreUrl, value: &T) -> Result<(), RunsError> {
    let bytes = to_json(url, value)?;
    url.store
        .put(&url.path, bytes.into())
        .await
        .map(|_| ())
        .map_err(|e| store_error(url, e))
}

/// Reads a JSON record; `Ok(None)` when it does not exist.
async fn get_json<T: for<'de> Deserialize<'de>>(url: &StoreUrl) -> Result<Option<T>, RunsError> {
    Ok(get_versioned(url).await?.map(|(v, _)| v))
}

/// Reads a JSON record with the version a conditional put of it needs.
async fn get_versioned<T: for<'de> Deserialize<'de>>(
    url: &StoreUrl,
) -> Result<Option<(T, UpdateVersion)>, RunsError> {
    let got = match url.store.get(&url.path).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error(url, e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got.bytes().await.map_err(|e| store_error(url, e))?;
    serde_json::from_slice(&bytes)
        .map(|v| Some((v, version)))
        .map_err(|e| RunsError::Format {
            url: url.url.clone(),
            message: e.to_string(),
        })
}

/// A run's `run.json`, if it has one.
pub async fn read_run(job_root: &StoreUrl) -> Result<Option<RunRecord>, RunsError> {
    get_json(&job_root.join(RUN)).await
}

/// Writes `run.json` (a run starting, or ending).
pub async fn write_run(job_root: &StoreUrl, record: &RunRecord) -> Result<(), RunsError> {
    put_json(&job_root.join(RUN), record).await
}

pub fn started(job_id: &str, name: &str) -> RunRecord {
    let now = now_unix();
    RunRecord {
        job_id: job_id.to_string(),
        name: name.to_string(),
        state: "running".to_string(),
        started_at_unix: now,
        heartbeat_unix: Some(now),
        ..RunRecord::default()
    }
}

/// How often a running job's `run.json` is refreshed.
pub const HEARTBEAT_SECS: f64 = 30.0;
/// A `running` record whose heartbeat is older than this is shown as abandoned: several
/// heartbeats were missed, which a live coordinator does not do.
pub const STALE_AFTER_SECS: f64 = 4.0 * HEARTBEAT_SECS;

impl RunRecord {
    /// The state to show at `now`: `abandoned` for a `running` record whose heartbeat is
    /// stale (a record of a version without heartbeats counts from its start).
    pub fn state_at(&self, now: f64) -> &str {
        let beat = self.heartbeat_unix.unwrap_or(self.started_at_unix);
        if self.state == "running" && now - beat > STALE_AFTER_SECS {
            "abandoned"
        } else {
            &self.state
        }
    }
}

/// Keeps a running job's `run.json` heartbeat fresh until stopped or dropped (a job whose
/// future is dropped, as at a shutdown, stops beating and becomes abandoned).
pub struct Heartbeat {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(job_root: StoreUrl, mut record: RunRecord, every: std::time::Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                // The write is outside the select: a stop never cuts one short, so `stop`
                // returning means no heartbeat write is left in flight.
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(every) => {}
                }
                record.heartbeat_unix = Some(now_unix());
                if let Err(e) = write_run(&job_root, &record).await {
                    tracing::warn!(job = record.job_id, error = %e, "cannot refresh run.json");
                }
            }
        });
        Heartbeat {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the heartbeat and waits for a write in flight, so that the run's final record,
    /// written after this, is not overwritten with `running`.
    pub async fn stop(mut self) {
        self.stop.take();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Dropping the sender ends the loop at its next wake-up.
        self.stop.take();
    }
}

/// The ended run's record.
pub fn finished(
    mut record: RunRecord,
    error: Option<String>,
    report: Option<&Report>,
    metric: &str,
    promotion: Option<Decision>,
) -> RunRecord {
    record.state = if error.is_some() {
        "failed"
    } else {
        "succeeded"
    }
    .to_string();
    record.error = error;
    record.finished_at_unix = Some(now_unix());
    record.heartbeat_unix = record.finished_at_unix;
    if let Some(r) = report {
        record.metrics = r
            .rows
            .iter()
            .filter_map(|row| value_of(r, &row.name, metric).map(|v| (row.name.clone(), v)))
            .collect();
        record.metric = Some(metric.to_string());
    }
    record.promotion = promotion;
    record
}

/// `metric` of the report row `model`, when that row was evaluated.
pub fn value_of(report: &Report, model: &str, metric: &str) -> Option<f64> {
    let col = archetype_eval::metrics::columns(&report.ks)
        .iter()
        .position(|c| c == metric)?;
    let row = report.rows.iter().find(|r| r.name == model)?;
    match row.status {
        ModelStatus::Evaluated { users, .. } if users > 0 => row.means.get(col).copied(),
        _ => None,
    }
}

/// Popularity rankers are the baselines a model has to beat, never a model to promote.
fn is_baseline(name: &str) -> bool {
    name.starts_with("MP ")
}

/// The candidate of a report under `cfg`: the named model, or the best trained one.
pub fn candidate(report: &Report, cfg: &PromotionConfig) -> Option<(String, f64)> {
    if cfg.model != "best" {
        return value_of(report, &cfg.model, &cfg.metric).map(|v| (cfg.model.clone(), v));
    }
    report
        .rows
        .iter()
        .filter(|r| !is_baseline(&r.name))
        .filter_map(|r| value_of(report, &r.name, &cfg.metric).map(|v| (r.name.clone(), v)))
        .filter(|(_, v)| v.is_finite())
        // Ties go to the earlier row, so the choice does not depend on float noise in sorting.
        .fold(None, |best: Option<(String, f64)>, (n, v)| match best {
            Some((bn, bv)) if bv >= v => Some((bn, bv)),
            _ => Some((n, v)),
        })
}

/// The gate's verdict for a run against what is `latest` now (a pure function; see
/// [`promote`] for the I/O).
pub fn decide(
    job_id: &str,
    cfg: &PromotionConfig,
    report: Option<&Report>,
    previous: Option<Latest>,
) -> Decision {
    let mut d = Decision {
        job_id: job_id.to_string(),
        promoted: false,
        reason: String::new(),
        metric: cfg.metric.clone(),
        margin: cfg.margin,
        model: None,
        value: None,
        previous: previous.clone(),
        decided_at_unix: now_unix(),
    };
    let Some(report) = report else {
        d.reason = "the run has no evaluation report".to_string();
        return d;
    };
    let Some((model, value)) = candidate(report, cfg) else {
        d.reason = if cfg.model == "best" {
            format!(
                "no trained model of the run was evaluated on {}",
                cfg.metric
            )
        } else {
            format!(
                "the run's report has no evaluated model `{}` (rows: {})",
                cfg.model,
                report
                    .rows
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return d;
    };
    d.model = Some(model.clone());
    d.value = Some(value);
    match previous {
        None => {
            d.promoted = true;
            d.reason = format!(
                "first run with {} = {value:.6} ({model}); nothing was promoted before",
                cfg.metric
            );
        }
        Some(p) if p.metric != cfg.metric => {
            d.promoted = true;
            d.reason = format!(
                "latest ({}) was judged on {}, this gate on {}: promoted, as the values do \
                 not compare",
                p.job_id, p.metric, cfg.metric
            );
        }
        Some(p) => {
            let needed = p.value + cfg.margin;
            d.promoted = value > needed;
            d.reason = if d.promoted {
                format!(
                    "{} {value:.6} ({model}) beats latest {} {:.6} ({}) by {:+.6}, more than \
                     the margin {}",
                    cfg.metric,
                    p.job_id,
                    p.value,
                    p.model,
                    value - p.value,
                    cfg.margin
                )
            } else {
                format!(
                    "not promoted: {} {value:.6} ({model}) does not beat latest {} {:.6} ({}) \
                     by more than the margin {} (needs > {needed:.6})",
                    cfg.metric, p.job_id, p.value, p.model, cfg.margin
                )
            };
        }
    }
    d
}

/// Runs the gate for a finished run: reads `latest.json`, decides, moves `latest.json` when
/// promoted, and writes `promotion.json`.
///
/// Concurrent gates on one output URL must not both win: `latest.json` is replaced with a
/// conditional put against the version that was read (`Create` when there was none), and a
/// gate that loses the race reads again and decides again. A store that cannot compare
/// versions (the local file system) serialises the gates with a lock object instead.
pub async fn promote(
    output: &StoreUrl,
    job_root: &StoreUrl,
    job_id: &str,
    cfg: &PromotionConfig,
    report: Option<&Report>,
) -> Result<Decision, RunsError> {
    let gate = Gate {
        output,
        job_root,
        job_id,
        cfg,
        report,
    };
    for attempt in 0..GATE_ATTEMPTS {
        match gate.attempt(false).await? {
            Attempt::Decided(d) => return Ok(*d),
            Attempt::Lost => backoff(attempt).await,
            Attempt::Unsupported => return gate.locked().await,
        }
    }
    Err(RunsError::Contended {
        url: output.join(LATEST).url,
        attempts: GATE_ATTEMPTS,
    })
}

/// How often a gate reads and decides again after losing a race before it gives up.
const GATE_ATTEMPTS: u32 = 32;
/// A lock older than this was left by a gate that died holding it.
const LOCK_STALE_SECS: f64 = 60.0;
/// Beside `latest.json`, held while a gate reads, decides and writes on stores without
/// conditional updates.
pub const LATEST_LOCK: &str = "latest.json.lock";

enum Attempt {
    Decided(Box<Decision>),
    /// `latest.json` changed between the read and the write.
    Lost,
    /// The store cannot replace an object only if it is unchanged.
    Unsupported,
}

async fn backoff(attempt: u32) {
    let ms = 5 + 5 * u64::from(attempt.min(20));
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

struct Gate<'a> {
    output: &'a StoreUrl,
    job_root: &'a StoreUrl,
    job_id: &'a str,
    cfg: &'a PromotionConfig,
    report: Option<&'a Report>,
}

impl Gate<'_> {
    /// One read-decide-write. `locked`: this gate holds [`LATEST_LOCK`], so an existing
    /// `latest.json` may be overwritten without a version check.
    async fn attempt(&self, locked: bool) -> Result<Attempt, RunsError> {
        let at = self.output.join(LATEST);
        let read = get_versioned::<Latest>(&at).await?;
        let (previous, version) = read.map_or((None, None), |(l, v)| (Some(l), Some(v)));
        let d = decide(self.job_id, self.cfg, self.report, previous);
        if d.promoted {
            let mode = match version {
                None => PutMode::Create,
                Some(_) if locked => PutMode::Overwrite,
                Some(v) => PutMode::Update(v),
            };
            match put_conditional(&at, &self.latest(&d), mode).await? {
                Put::Written => {}
                Put::Lost => return Ok(Attempt::Lost),
                Put::Unsupported => return Ok(Attempt::Unsupported),
            }
        }
        // After `latest.json`, so that a gate that lost the race never says it won; a crash
        // between the two leaves latest naming a run without its reason, which the run's
        // missing `promotion.json` shows.
        put_json(&self.job_root.join(PROMOTION), &d).await?;
        Ok(Attempt::Decided(Box::new(d)))
    }

    fn latest(&self, d: &Decision) -> Latest {
        Latest {
            job_id: self.job_id.to_string(),
            url: self.job_root.url.clone(),
            model: d.model.clone().unwrap_or_default(),
            metric: d.metric.clone(),
            value: d.value.unwrap_or(f64::NAN),
            promoted_at_unix: now_unix(),
        }
    }

    /// The gate under [`LATEST_LOCK`], for stores without conditional updates.
    async fn locked(&self) -> Result<Decision, RunsError> {
        let lock = self.output.join(LATEST_LOCK);
        acquire(&lock, self.job_id).await?;
        let mut result = Err(RunsError::Contended {
            url: self.output.join(LATEST).url,
            attempts: GATE_ATTEMPTS,
        });
        for attempt in 0..GATE_ATTEMPTS {
            match self.attempt(true).await {
                // A gate that wrote the first `latest.json` without the lock.
                Ok(Attempt::Lost) => backoff(attempt).await,
                Ok(Attempt::Decided(d)) => {
                    result = Ok(*d);
                    break;
                }
                Ok(Attempt::Unsupported) => {
                    result = Err(RunsError::NoConditionalPut {
                        url: lock.url.clone(),
                    });
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        release(&lock).await;
        result
    }
}

enum Put {
    Written,
    /// The precondition failed: the object exists, or changed since it was read.
    Lost,
    Unsupported,
}

async fn put_conditional<T: Serialize>(
    at: &StoreUrl,
    value: &T,
    mode: PutMode,
) -> Result<Put, RunsError> {
    let bytes = to_json(at, value)?;
    match at.store.put_opts(&at.path, bytes.into(), mode.into()).await {
        Ok(_) => Ok(Put::Written),
        Err(object_store::Error::Precondition { .. })
        | Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Lost),
        Err(object_store::Error::NotImplemented { .. }) => Ok(Put::Unsupported),
        Err(e) => Err(store_error(at, e)),
    }
}

/// `<output>/latest.json.lock`.
#[derive(Serialize, Deserialize)]
struct LockRecord {
    holder: String,
    acquired_at_unix: f64,
}

/// Takes the lock object (create-if-absent), waiting for a live holder and breaking a stale
/// one. Breaking is not atomic: two gates that see the same stale lock could both go on, which
/// needs a holder that died within the last minute and two gates racing after it.
async fn acquire(lock: &StoreUrl, holder: &str) -> Result<(), RunsError> {
    let record = LockRecord {
        holder: holder.to_string(),
        acquired_at_unix: now_unix(),
    };
    let give_up = now_unix() + 2.0 * LOCK_STALE_SECS;
    let mut attempt = 0;
    while now_unix() < give_up {
        match put_conditional(lock, &record, PutMode::Create).await? {
            Put::Written => return Ok(()),
            Put::Unsupported => {
                return Err(RunsError::NoConditionalPut {
                    url: lock.url.clone(),
                })
            }
            Put::Lost => {}
        }
        match get_json::<LockRecord>(lock).await {
            Ok(Some(held)) if now_unix() - held.acquired_at_unix > LOCK_STALE_SECS => {
                tracing::warn!(
                    lock = lock.url,
                    holder = held.holder,
                    "breaking a stale lock"
                );
                release(lock).await;
            }
            // Released meanwhile, still held, or half written by a dying holder: try again.
            _ => backoff(attempt).await,
        }
        attempt = attempt.saturating_add(1);
    }
    Err(RunsError::Contended {
        url: lock.url.clone(),
        attempts: attempt,
    })
}

async fn release(lock: &StoreUrl) {
    match lock.store.delete(&lock.path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        // Left behind, it is broken as stale by the next gate.
        Err(e) => tracing::warn!(lock = lock.url, error = %e, "cannot release the lock"),
    }
}

/// What `latest.json` says, if anything has been promoted under `output`.
pub async fn latest(output: &StoreUrl) -> Result<Option<Latest>, RunsError> {
    get_json(&output.join(LATEST)).await
}

/// One run as `archetype jobs` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunListing {
    pub job_id: String,
    pub state: String,
    pub latest: bool,
    pub record: Option<RunRecord>,
}

/// The runs under `output`, oldest first, with the one
/// `latest.json` names marked. A directory without `run.json` (a run of an older version, or
/// a sampling sub-run) is listed as `unknown`; a `running` one whose heartbeat is stale as
/// `abandoned` (see [`RunRecord::state_at`]).
pub async fn list_runs(output: &StoreUrl) -> Result<Vec<RunListing>, RunsError> {
    let listed = output
        .store
        .list_with_delimiter(Some(&output.path))
        .await
        .map_err(|e| RunsError::Store {
            url: output.url.clone(),
            message: e.to_string(),
        })?;
    let latest = latest(output).await?.map(|l| l.job_id);
    let now = now_unix();
    let mut out = Vec::new();
    for prefix in listed.common_prefixes {
        let Some(job_id) = prefix.filename().map(str::to_string) else {
            continue;
        };
        let root = output.join(&job_id);
        let record: Option<RunRecord> = get_json(&root.join(RUN)).await?;
        out.push(RunListing {
            state: record
                .as_ref()
                .map_or("unknown".to_string(), |r| r.state_at(now).to_string()),
            latest: latest.as_deref() == Some(job_id.as_str()),
            job_id,
            record,
        });
    }
    out.sort_by(|a, b| {
        let t = |l: &RunListing| l.record.as_ref().map_or(0.0, |r| r.started_at_unix);
        t(a).total_cmp(&t(b)).then_with(|| a.job_id.cmp(&b.job_id))
    });
    Ok(out)
}

/// Every object under a job root, for tests and tools that check a run is whole.
pub async fn objects(root: &StoreUrl) -> Result<Vec<String>, RunsError> {
    root.store
        .list(Some(&root.path))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .map_err(|e| RunsError::Store {
            url: root.url.clone(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use archetype_eval::report::{ModelRow, ReportHeader};

    /// A report at K = 10 with NDCG@10 = `ndcg` per row (other columns 0).
    fn report(rows: &[(&str, Option<f64>)]) -> Report {
        Report {
            header: ReportHeader {
                title: "t".into(),
                protocol: "p".into(),
                exclusion: "e".into(),
                seed: 1,
                data_fingerprint: "f".into(),
                lines: Vec::new(),
            },
            ks: vec![10],
            rows: rows
                .iter()
                .map(|(name, v)| ModelRow {
                    name: name.to_string(),
                    status: match v {
                        Some(_) => ModelStatus::Evaluated {
                            users: 5,
                            skipped: 0,
                        },
                        None => ModelStatus::Unavailable {
                            reason: "not trained".into(),
                        },
                    },
                    means: v.map_or(Vec::new(), |x| vec![0.0, 0.0, x, 0.0]),
                    coverage: Vec::new(),
                })
                .collect(),
            significance: None,
            breakdown: None,
            sampling: None,
        }
    }

    fn gate(model: &str, margin: f64) -> PromotionConfig {
        PromotionConfig {
            enabled: true,
            metric: "NDCG@10".into(),
            model: model.into(),
            margin,
        }
    }

    fn current(value: f64) -> Latest {
        Latest {
            job_id: "old".into(),
            url: "file:///x/old".into(),
            model: "VAE".into(),
            metric: "NDCG@10".into(),
            value,
            promoted_at_unix: 0.0,
        }
    }

    #[test]
    fn best_skips_baselines_and_unavailable_rows() {
        let r = report(&[
            ("MP global", Some(0.9)),
            ("WMF-ALS", None),
            ("VAE", Some(0.30)),
            ("VAE country id (model 1)", Some(0.35)),
        ]);
        assert_eq!(
            candidate(&r, &gate("best", 0.0)),
            Some(("VAE country id (model 1)".to_string(), 0.35))
        );
        assert_eq!(
            candidate(&r, &gate("VAE", 0.0)),
            Some(("VAE".to_string(), 0.30))
        );
        assert_eq!(candidate(&r, &gate("WMF-ALS", 0.0)), None);
        let only_baselines = report(&[("MP global", Some(0.9))]);
        assert_eq!(candidate(&only_baselines, &gate("best", 0.0)), None);
    }

    #[test]
    fn the_gate_promotes_only_beyond_the_margin() {
        let r = report(&[("VAE", Some(0.30))]);
        let first = decide("new", &gate("best", 0.01), Some(&r), None);
        assert!(first.promoted, "{}", first.reason);
        let better = decide("new", &gate("best", 0.01), Some(&r), Some(current(0.28)));
        assert!(better.promoted, "{}", better.reason);
        let within = decide("new", &gate("best", 0.01), Some(&r), Some(current(0.295)));
        assert!(!within.promoted);
        assert!(within.reason.contains("margin 0.01"), "{}", within.reason);
        assert_eq!(
            within.previous.as_ref().map(|p| p.job_id.as_str()),
            Some("old")
        );
        let tie = decide("new", &gate("best", 0.0), Some(&r), Some(current(0.30)));
        assert!(!tie.promoted, "a tie does not beat the current model");
        let worse = decide("new", &gate("best", 0.0), Some(&r), Some(current(0.4)));
        assert!(!worse.promoted);
        let missing = decide("new", &gate("WMF-ALS", 0.0), Some(&r), Some(current(0.1)));
        assert!(!missing.promoted);
        assert!(missing.reason.contains("no evaluated model `WMF-ALS`"));
        let no_report = decide("new", &gate("best", 0.0), None, None);
        assert!(!no_report.promoted);
    }

    #[tokio::test]
    async fn promote_writes_the_decision_and_moves_latest_only_when_promoted() {
        let tmp = tempfile::tempdir().unwrap();
        let out = archetype_job::open_url(&tmp.path().display().to_string()).unwrap();
        let (a, b) = (out.join("run-a"), out.join("run-b"));
        let good = report(&[("VAE", Some(0.30))]);
        let worse = report(&[("VAE", Some(0.20))]);
        let d = promote(&out, &a, "run-a", &gate("best", 0.0), Some(&good))
            .await
            .unwrap();
        assert!(d.promoted);
        let d = promote(&out, &b, "run-b", &gate("best", 0.0), Some(&worse))
            .await
            .unwrap();
        assert!(!d.promoted);
        let l = latest(&out).await.unwrap().unwrap();
        assert_eq!((l.job_id.as_str(), l.value), ("run-a", 0.30));
        let kept: Decision = get_json(&b.join(PROMOTION)).await.unwrap().unwrap();
        assert!(!kept.promoted && kept.reason.contains("does not beat"));
        write_run(
            &a,
            &finished(started("run-a", "n"), None, Some(&good), "NDCG@10", None),
        )
        .await
        .unwrap();
        let list = list_runs(&out).await.unwrap();
        assert_eq!(list.len(), 2);
        let a_row = list.iter().find(|l| l.job_id == "run-a").unwrap();
        assert!(a_row.latest);
        assert_eq!(a_row.state, "succeeded");
        let b_row = list.iter().find(|l| l.job_id == "run-b").unwrap();
        assert_eq!(b_row.state, "unknown", "no run.json was written for b");
        assert_eq!(
            a_row.record.as_ref().unwrap().metrics,
            vec![("VAE".to_string(), 0.30)]
        );
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use archetype_eval::report::{ModelRow, ReportHeader};

    fn report(value: f64) -> Report {
        Report {
            header: ReportHeader {
                title: "t".into(),
                protocol: "p".into(),
                exclusion: "e".into(),
                seed: 1,
                data_fingerprint: "f".into(),
                lines: Vec::new(),
            },
            ks: vec![10],
            rows: vec![ModelRow {
                name: "VAE".into(),
                status: ModelStatus::Evaluated {
                    users: 5,
                    skipped: 0,
                },
                means: vec![0.0, 0.0, value, 0.0],
                coverage: Vec::new(),
            }],
            significance: None,
            breakdown: None,
            sampling: None,
        }
    }

    /// Contenders that each beat the old model, all at once: exactly one may win, and every
    /// run's `promotion.json` must agree with what `latest.json` ends up naming.
    async fn one_of_many_concurrent_promotions_wins(out: StoreUrl) {
        let cfg = PromotionConfig {
            enabled: true,
            metric: "NDCG@10".into(),
            model: "best".into(),
            margin: 0.0,
        };
        let old = out.join("old");
        promote(&out, &old, "old", &cfg, Some(&report(0.10)))
            .await
            .unwrap();
        let n = 8;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (out, cfg, barrier) = (out.clone(), cfg.clone(), barrier.clone());
                tokio::spawn(async move {
                    let id = format!("run-{i}");
                    let root = out.join(&id);
                    barrier.wait().await;
                    promote(&out, &root, &id, &cfg, Some(&report(0.30))).await
                })
            })
            .collect();
        let mut promoted = Vec::new();
        for t in tasks {
            let d = t.await.unwrap().unwrap();
            if d.promoted {
                promoted.push(d.job_id.clone());
            }
        }
        let l = latest(&out).await.unwrap().unwrap();
        assert_eq!(promoted, vec![l.job_id.clone()], "promoted: {promoted:?}");
        for i in 0..n {
            let id = format!("run-{i}");
            let d: Decision = get_json(&out.join(&id).join(PROMOTION))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(d.promoted, id == l.job_id, "{id}: {}", d.reason);
            if !d.promoted {
                assert!(d.reason.contains(&l.job_id), "{id}: {}", d.reason);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn concurrent_promotions_on_a_local_store_promote_exactly_one() {
        let tmp = tempfile::tempdir().unwrap();
        let out = archetype_job::open_url(&tmp.path().display().to_string()).unwrap();
        one_of_many_concurrent_promotions_wins(out).await;
    }

    #[tokio::test]
    async fn a_stale_lock_left_by_a_dead_gate_is_broken() {
        let tmp = tempfile::tempdir().unwrap();
        let out = archetype_job::open_url(&tmp.path().display().to_string()).unwrap();
        let cfg = PromotionConfig {
            enabled: true,
            metric: "NDCG@10".into(),
            model: "best".into(),
            margin: 0.0,
        };
        promote(&out, &out.join("a"), "a", &cfg, Some(&report(0.1)))
            .await
            .unwrap();
        let dead = LockRecord {
            holder: "dead".into(),
            acquired_at_unix: now_unix() - 2.0 * LOCK_STALE_SECS,
        };
        put_json(&out.join(LATEST_LOCK), &dead).await.unwrap();
        let d = promote(&out, &out.join("b"), "b", &cfg, Some(&report(0.2)))
            .await
            .unwrap();
        assert!(d.promoted, "{}", d.reason);
        assert_eq!(latest(&out).await.unwrap().unwrap().job_id, "b");
        let lock: Option<LockRecord> = get_json(&out.join(LATEST_LOCK)).await.unwrap();
        assert!(lock.is_none(), "the lock is released");
    }

    #[tokio::test]
    async fn a_running_run_whose_heartbeat_stopped_is_listed_as_abandoned() {
        let out = archetype_job::open_url("memory://runs-abandoned/out").unwrap();
        let mut dead = started("dead", "n");
        dead.started_at_unix -= 3600.0;
        dead.heartbeat_unix = Some(now_unix() - 2.0 * STALE_AFTER_SECS);
        write_run(&out.join("dead"), &dead).await.unwrap();
        let mut legacy = started("legacy", "n");
        legacy.started_at_unix -= 3600.0;
        legacy.heartbeat_unix = None;
        write_run(&out.join("legacy"), &legacy).await.unwrap();
        write_run(&out.join("alive"), &started("alive", "n"))
            .await
            .unwrap();
        let mut done = finished(started("done", "n"), None, None, "NDCG@10", None);
        done.heartbeat_unix = Some(0.0);
        write_run(&out.join("done"), &done).await.unwrap();
        let list = list_runs(&out).await.unwrap();
        let state = |id: &str| list.iter().find(|l| l.job_id == id).unwrap().state.clone();
        assert_eq!(state("dead"), "abandoned");
        assert_eq!(state("legacy"), "abandoned");
        assert_eq!(state("alive"), "running");
        assert_eq!(state("done"), "succeeded");
    }

    #[tokio::test]
    async fn the_heartbeat_refreshes_run_json_and_stops_before_the_final_record() {
        let root = archetype_job::open_url("memory://runs-heartbeat/out/job").unwrap();
        let mut rec = started("job", "n");
        rec.heartbeat_unix = Some(0.0);
        write_run(&root, &rec).await.unwrap();
        let beat = Heartbeat::start(
            root.clone(),
            rec.clone(),
            std::time::Duration::from_millis(10),
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let seen: RunRecord = get_json(&root.join(RUN)).await.unwrap().unwrap();
        assert!(seen.heartbeat_unix.unwrap() > 1.0, "refreshed: {seen:?}");
        assert_eq!(seen.state_at(now_unix()), "running");
        beat.stop().await;
        write_run(&root, &finished(rec, None, None, "NDCG@10", None))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let last: RunRecord = get_json(&root.join(RUN)).await.unwrap().unwrap();
        assert_eq!(last.state, "succeeded");
    }

    /// The in-memory store answers without yielding, so a lost update needs contenders on
    /// several threads to interleave: several rounds make that likely.
    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn concurrent_promotions_on_a_memory_store_promote_exactly_one() {
        for round in 0..500 {
            let out = archetype_job::open_url(&format!("memory://runs-race-{round}/out")).unwrap();
            one_of_many_concurrent_promotions_wins(out).await;
        }
    }
}
