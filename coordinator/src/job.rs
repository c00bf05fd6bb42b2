//! Running one job: plan, form the cluster, watch it, summarise.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use archetype_job::wire::shard_to_wire;
use archetype_job::{open_url, JobConfig, JobLayout};
use archetype_proto::v1;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{error, info, warn};

use archetype_eval::sampling::{Sampling, SamplingRun};
use archetype_eval::targets::TargetRule;
use archetype_job::config::{SplitProtocol, VaeGate};

use crate::evaluation;
use crate::journal;
use crate::memory_plan;
use crate::plan::{assign, plan_shards};
use crate::runs;
use crate::server::{CoordinatorState, WorkerEntry};
use crate::summary::{JobSummary, MemberSummary, Recovery};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("planning failed: {0}")]
    Plan(String),
    #[error("{0}")]
    Cluster(String),
    #[error("worker {worker} failed: {error}")]
    Worker {
        worker: String,
        error: String,
        /// The worker says the same task would fail the same way again.
        deterministic: bool,
    },
    #[error("{0}")]
    Output(String),
    /// The job's id names a run it may not write into.
    #[error(transparent)]
    Resume(#[from] crate::resume::ResumeError),
    /// The same on every attempt: never retried.
    #[error(transparent)]
    MemoryPlan(#[from] crate::memory_plan::MemoryPlanError),
}

impl JobError {
    /// Whether a retry would meet the same failure: a plan that cannot fit, a task a worker
    /// refuses. Only the loss of a member is worth re-forming the cluster for.
    pub fn is_deterministic(&self) -> bool {
        match self {
            JobError::Plan(_) | JobError::MemoryPlan(_) | JobError::Resume(_) => true,
            JobError::Worker { deterministic, .. } => *deterministic,
            JobError::Cluster(_) | JobError::Output(_) => false,
        }
    }
}

/// What a phase does after an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Fail the phase with the attempt's error: it would fail the same way again.
    Fail,
    /// Members were lost, but the job has used up `cluster.max_retries`.
    GiveUp,
    /// Re-form the cluster without the lost members and redo the phase.
    Retry,
}

/// The retry decision: only a loss (a member that died or went silent) is retried, and only
/// while re-formations are left; a failure that would repeat fails at once, even when members
/// were lost with it (a worker that refuses its task may take its peers down).
pub fn after_failure(
    failure: &JobError,
    lost: usize,
    reformed: usize,
    max_retries: u32,
) -> AfterFailure {
    if lost == 0 || failure.is_deterministic() {
        AfterFailure::Fail
    } else if reformed as u64 >= u64::from(max_retries) {
        AfterFailure::GiveUp
    } else {
        AfterFailure::Retry
    }
}

/// A job id that sorts by submission time and names the job.
pub fn new_job_id(name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-{}-{:03}", clean, now.as_secs(), now.subsec_millis())
}

pub struct JobRun {
    pub job_id: String,
    pub config: JobConfig,
    /// Show progress bars on the terminal.
    pub progress_bars: bool,
}

fn set_status(state: &CoordinatorState, job_id: &str, status: &str, error: &str) {
    telemetry::set_phase(job_id, status);
    let mut reg = state.lock();
    let e = reg.job_status.entry(job_id.to_string()).or_default();
    e.job_id = job_id.to_string();
    e.state = status.to_string();
    e.error = error.to_string();
}

/// Runs a job to its end and returns its summary (also written to the object store). The run
/// is recorded in `<job>/run.json` from its start; a run that succeeds goes through the
/// promotion gate when `[promotion]` is enabled (see [`crate::runs`]).
pub async fn run_job(state: &CoordinatorState, run: JobRun) -> Result<JobSummary, JobError> {
    let job_id = run.job_id.clone();
    state.forget_job(&job_id);
    let promotion = run.config.promotion.clone();
    let name = run.config.name.clone();
    let out_root = open_url(&run.config.output.url).map_err(|e| JobError::Output(e.to_string()))?;
    let layout = JobLayout::new(&out_root, &job_id);
    // Also checked at submission; here it covers the jobs a restarted coordinator takes up
    // and a run that finished while its resubmission waited in the queue.
    match crate::resume::check_run(&out_root, &job_id, &run.config.to_toml()).await {
        Ok(()) | Err(crate::resume::ResumeError::NotFound { .. }) => {}
        Err(e) => {
            set_status(state, &job_id, "failed", &e.to_string());
            return Err(e.into());
        }
    }
    let record = runs::started(&job_id, &name);
    if let Err(e) = runs::write_run(&layout.root, &record).await {
        // The run record is bookkeeping; the job's own outputs decide whether it can go on.
        tracing::warn!(job = job_id, error = %e, "cannot write run.json");
    }
    let beat = runs::Heartbeat::start(
        layout.root.clone(),
        record.clone(),
        Duration::from_secs_f64(runs::HEARTBEAT_SECS),
    );
    let span = tracing::info_span!("job", job = %job_id);
    let result = tracing::Instrument::instrument(run_job_inner(state, run), span).await;
    let metric = if promotion.enabled {
        promotion.metric.clone()
    } else {
        "NDCG@100".to_string()
    };
    match result {
        Ok(mut summary) => {
            if summary.error.is_none() && promotion.enabled {
                match runs::promote(
                    &out_root,
                    &layout.root,
                    &job_id,
                    &promotion,
                    summary.report.as_ref(),
                )
                .await
                {
                    Ok(d) => {
                        info!(
                            job = job_id,
                            promoted = d.promoted,
                            reason = d.reason,
                            "promotion gate"
                        );
                        telemetry::set_promotion(&job_id, d.promoted, d.value);
                        summary.promotion = Some(d);
                    }
                    Err(e) => {
                        error!(job = job_id, error = %e, "promotion gate failed");
                        summary.error = Some(format!("promotion gate failed: {e}"));
                    }
                }
                let mut reg = state.lock();
                if let Some(st) = reg.job_status.get_mut(&job_id) {
                    st.summary_json = serde_json::to_string(&summary).unwrap_or_default();
                    if let Some(e) = &summary.error {
                        st.state = "failed".to_string();
                        st.error = e.clone();
                    }
                }
            }
            beat.stop().await;
            let rec = runs::finished(
                record,
                summary.error.clone(),
                summary.report.as_ref(),
                &metric,
                summary.promotion.clone(),
            );
            if let Err(e) = runs::write_run(&layout.root, &rec).await {
                tracing::warn!(job = job_id, error = %e, "cannot write run.json");
            }
            Ok(summary)
        }
        Err(e) => {
            beat.stop().await;
            let rec = runs::finished(record, Some(e.to_string()), None, &metric, None);
            if let Err(w) = runs::write_run(&layout.root, &rec).await {
                tracing::warn!(job = job_id, error = %w, "cannot write run.json");
            }
            Err(e)
        }
    }
}

async fn run_job_inner(state: &CoordinatorState, run: JobRun) -> Result<JobSummary, JobError> {
    let JobRun {
        job_id,
        config,
        progress_bars,
    } = run;
    let t0 = Instant::now();
    let mut phases: BTreeMap<String, f64> = BTreeMap::new();
    let out_root = open_url(&config.output.url).map_err(|e| JobError::Output(e.to_string()))?;
    let layout = JobLayout::new(&out_root, &job_id);
    let config_toml = config.to_toml();

    // A job run again under its id takes up where its journal stands. `run_job` checked the
    // config; a journal rewritten since by another coordinator is refused the same way.
    let mut journal = match journal::load(&layout.root).await {
        Ok(Some(j)) if j.config_toml != config_toml => {
            let e = crate::resume::ResumeError::ConfigDiffers {
                keys: crate::resume::differing_keys(&j.config_toml, &config_toml),
                job_id: job_id.clone(),
            };
            set_status(state, &job_id, "failed", &e.to_string());
            return Err(e.into());
        }
        Ok(Some(j)) if j.summary.is_some() => {
            info!(job = job_id, done = ?j.done, "resuming from the job's journal");
            j
        }
        Ok(Some(_)) => journal::Journal::new(&job_id, &config_toml),
        Ok(None) => journal::Journal::new(&job_id, &config_toml),
        Err(e) => {
            warn!(job = job_id, error = %e, "cannot read the job's journal; redoing every phase");
            journal::Journal::new(&job_id, &config_toml)
        }
    };

    telemetry::set_job(&job_id);
    set_status(state, &job_id, "planning", "");
    let shards = match plan_shards(&config).await {
        Ok(s) => s,
        Err(e) => {
            set_status(state, &job_id, "failed", &e.to_string());
            return Err(JobError::Plan(e.to_string()));
        }
    };
    let input_bytes: u64 = shards.iter().map(|s| s.end - s.start).sum();
    info!(job = job_id, shards = shards.len(), "planned");
    phases.insert("plan".into(), t0.elapsed().as_secs_f64());

    set_status(state, &job_id, "waiting_for_workers", "");
    let t_wait = Instant::now();
    let mut cluster = Cluster::form(state, &job_id, &config)
        .await
        .inspect_err(|e| set_status(state, &job_id, "failed", &e.to_string()))?;
    phases.insert("wait_for_workers".into(), t_wait.elapsed().as_secs_f64());

    let mut summary = match journal
        .summary
        .clone()
        .filter(|_| journal.is_done("aggregate"))
    {
        Some(mut s) => {
            s.phase_seconds.extend(phases.clone());
            s
        }
        None => {
            let s = aggregate_phase(
                &mut cluster,
                &config,
                &layout,
                &shards,
                input_bytes,
                progress_bars,
                phases,
                t0,
            )
            .await
            .inspect_err(|e| {
                error!(job = job_id, error = %e, "job failed");
                set_status(state, &job_id, "failed", &e.to_string());
            })?;
            if s.error.is_none() {
                commit(&layout, &mut journal, "aggregate", &s).await;
            }
            s
        }
    };
    summary.recoveries = cluster.recoveries_with(&summary.recoveries);
    if summary.error.is_none() && config.archetypes.enabled {
        if !journal.is_done("archetypes") {
            set_status(state, &job_id, "archetypes", "");
            let t = Instant::now();
            match archetype_phase(&mut cluster, &config, &layout).await {
                Ok(a) => {
                    info!(
                        job = job_id,
                        clusters = a.clusters,
                        countries = a.countries,
                        perplexity = a.perplexity,
                        min_cluster_size = a.min_cluster_size,
                        "archetypes found"
                    );
                    summary.archetypes = Some(a);
                }
                Err(e) => {
                    error!(job = job_id, error = %e, "archetype phase failed");
                    summary.error = Some(format!("archetype phase failed: {e}"));
                }
            }
            summary
                .phase_seconds
                .insert("archetypes".into(), t.elapsed().as_secs_f64());
            after_phase(&layout, &mut journal, "archetypes", &mut summary, &cluster).await;
        }
        if summary.error.is_none() && !journal.is_done("context") {
            set_status(state, &job_id, "context", "");
            let t = Instant::now();
            if let Err(e) = context_phase(&mut cluster, &config, &layout).await {
                error!(job = job_id, error = %e, "context phase failed");
                summary.error = Some(format!("context features failed: {e}"));
            }
            summary
                .phase_seconds
                .insert("context".into(), t.elapsed().as_secs_f64());
            after_phase(&layout, &mut journal, "context", &mut summary, &cluster).await;
        }
    }
    if summary.error.is_none() && config.als.enabled && !journal.is_done("als") {
        set_status(state, &job_id, "als", "");
        let t = Instant::now();
        match training_phase(&mut cluster, &config, &layout, "als", &summary.kept).await {
            Ok(v) => summary.als = Some(v),
            Err(e) => {
                error!(job = job_id, error = %e, "ALS phase failed");
                summary.error = Some(format!("ALS phase failed: {e}"));
            }
        }
        summary
            .phase_seconds
            .insert("als".into(), t.elapsed().as_secs_f64());
        after_phase(&layout, &mut journal, "als", &mut summary, &cluster).await;
    }
    if summary.error.is_none() && config.vae.enabled && !journal.is_done("vae") {
        set_status(state, &job_id, "vae", "");
        let t = Instant::now();
        match training_phase(&mut cluster, &config, &layout, "vae", &summary.kept).await {
            Ok(v) => summary.vae = Some(v),
            Err(e) => {
                error!(job = job_id, error = %e, "VAE phase failed");
                summary.error = Some(format!("VAE phase failed: {e}"));
            }
        }
        summary
            .phase_seconds
            .insert("vae".into(), t.elapsed().as_secs_f64());
        after_phase(&layout, &mut journal, "vae", &mut summary, &cluster).await;
    }
    if summary.error.is_none() && !journal.is_done("evaluate") {
        let mut sampling = None;
        if config.sampling.runs > 0 && config.vae.enabled {
            set_status(state, &job_id, "sampling", "");
            let t = Instant::now();
            // Each sampling run is a job with its own journal: a resumed job skips the runs
            // that completed.
            match sampling_phase(state, &job_id, &config, summary.kept.tracks).await {
                Ok(s) => sampling = Some(s),
                Err(e) => {
                    error!(job = job_id, error = %e, "VAE sampling failed");
                    summary.error = Some(format!("VAE sampling failed: {e}"));
                }
            }
            telemetry::set_job(&job_id);
            summary
                .phase_seconds
                .insert("sampling".into(), t.elapsed().as_secs_f64());
        }
        if summary.error.is_none() && config.eval.enabled {
            set_status(state, &job_id, "evaluating", "");
            let t_eval = Instant::now();
            match evaluate_phase(&mut cluster, &config, &layout, &summary, &shards, sampling).await
            {
                Ok(report) => summary.report = Some(report),
                Err(e) => {
                    error!(job = job_id, error = %e, "evaluation failed");
                    summary.error = Some(format!("evaluation failed: {e}"));
                }
            }
            summary
                .phase_seconds
                .insert("evaluate".into(), t_eval.elapsed().as_secs_f64());
            summary
                .phase_seconds
                .insert("total".into(), t0.elapsed().as_secs_f64());
            after_phase(&layout, &mut journal, "evaluate", &mut summary, &cluster).await;
        }
    }
    summary.recoveries = cluster.recoveries_with(&summary.recoveries);
    summary.finish(t0.elapsed().as_secs_f64());
    for (phase, secs) in &summary.phase_seconds {
        telemetry::set_job_seconds(&job_id, phase, *secs);
    }
    let status_json = serde_json::to_string(&summary).unwrap_or_default();
    {
        let mut reg = state.lock();
        let e = reg.job_status.entry(job_id.clone()).or_default();
        e.state = if summary.error.is_some() {
            "failed"
        } else {
            "succeeded"
        }
        .to_string();
        e.error = summary.error.clone().unwrap_or_default();
        e.summary_json = status_json;
    }
    telemetry::set_phase(
        &job_id,
        if summary.error.is_some() {
            "failed"
        } else {
            "succeeded"
        },
    );
    Ok(summary)
}

/// Records a completed phase in the journal. A journal that cannot be written costs the
/// ability to skip the phase on a resume, not the job.
async fn commit(
    layout: &JobLayout,
    journal: &mut journal::Journal,
    phase: &str,
    summary: &JobSummary,
) {
    if let Err(e) = journal::record(&layout.root, journal, phase, summary).await {
        warn!(phase, error = %e, "cannot write the job's journal");
    }
}

/// After a phase: the losses survived so far go into the summary, and a phase that succeeded
/// into the journal.
async fn after_phase(
    layout: &JobLayout,
    journal: &mut journal::Journal,
    phase: &str,
    summary: &mut JobSummary,
    cluster: &Cluster<'_>,
) {
    summary.recoveries = cluster.recoveries_with(&summary.recoveries);
    if summary.error.is_none() {
        commit(layout, journal, phase, summary).await;
    }
}

/// The aggregation: every member reads its shards and the timely cluster aggregates them.
// The arguments are the pieces of the job this phase needs; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn aggregate_phase(
    cluster: &mut Cluster<'_>,
    config: &JobConfig,
    layout: &JobLayout,
    shards: &[archetype_lfm::shard::ShardSpec],
    input_bytes: u64,
    progress_bars: bool,
    mut phases: BTreeMap<String, f64>,
    t0: Instant,
) -> Result<JobSummary, JobError> {
    let job_id = cluster.job_id.clone();
    let config_toml = config.to_toml();
    let n = cluster.members.len();
    let assignment = assign(shards, n);
    set_status(cluster.state, &job_id, "aggregating", "");
    info!(
        job = job_id,
        members = n,
        peers = ?cluster.peers(),
        "cluster formed; aggregating"
    );
    let t_agg = Instant::now();
    let results = cluster
        .run(
            Phase {
                name: "aggregate",
                watch: Watch {
                    phase: "aggregation",
                    input_bytes,
                    shards_total: shards.len() as u64,
                    progress_bars,
                    lease_ms: config.cluster.lease_ms,
                },
                only_first: false,
                // Parts of an interrupted attempt must not be read as this one's.
                clear: Some(layout.root.join("aggregate")),
            },
            |i, f| {
                v1::task::Kind::Aggregate(v1::AggregateTask {
                    process_index: i as u32,
                    peers: f.peers.clone(),
                    formation_secret: f.secret.clone(),
                    threads: config.cluster.threads as u32,
                    config_toml: config_toml.clone(),
                    output_url: layout.root.url.clone(),
                    shards: assignment[i].iter().map(shard_to_wire).collect(),
                })
            },
        )
        .await?;
    phases.insert("aggregate".into(), t_agg.elapsed().as_secs_f64());
    phases.insert("total".into(), t0.elapsed().as_secs_f64());
    let member_summaries = cluster
        .members
        .iter()
        .zip(&assignment)
        .enumerate()
        .map(|(i, (m, mine))| MemberSummary {
            index: i,
            worker_id: m.id.clone(),
            hostname: m.info.hostname.clone(),
            timely_address: m.info.timely_address.clone(),
            cores: m.info.cores,
            memory_bytes: m.info.memory_bytes,
            gpus: m.info.gpus.clone(),
            shards: mine.len(),
            bytes: mine.iter().map(|s| s.end - s.start).sum(),
        })
        .collect();
    let summary = JobSummary::build(
        &job_id,
        config,
        layout,
        shards,
        member_summaries,
        &results,
        phases,
    );
    // Written last: its presence marks the aggregated tables as complete.
    summary.write(layout).await.map_err(|e| {
        set_status(cluster.state, &job_id, "failed", &e.to_string());
        JobError::Output(e.to_string())
    })?;
    Ok(summary)
}

/// Runs the archetype task on the first member (the phase needs every country at once and is
/// small: a few hundred countries) and returns its summary.
async fn archetype_phase(
    cluster: &mut Cluster<'_>,
    config: &JobConfig,
    layout: &JobLayout,
) -> Result<archetype_job::ArchetypeSummary, JobError> {
    let results = cluster
        .run(Phase::quiet("archetypes", config, true, None), |_, _| {
            v1::task::Kind::Archetypes(v1::ArchetypeTask {
                config_toml: config.to_toml(),
                output_url: layout.root.url.clone(),
            })
        })
        .await?;
    let r = results
        .first()
        .ok_or_else(|| JobError::Output("the archetype task returned nothing".into()))?;
    serde_json::from_str(&r.archetypes_json)
        .map_err(|e| JobError::Output(format!("the archetype task's summary: {e}")))
}

/// Every member computes the context features of its own users.
async fn context_phase(
    cluster: &mut Cluster<'_>,
    config: &JobConfig,
    layout: &JobLayout,
) -> Result<(), JobError> {
    let config_toml = config.to_toml();
    cluster
        .run(
            // Not cleared: the archetype phase wrote the vocabulary beside the parts, and the
            // parts are as many as the aggregation's, each overwritten by its redo.
            Phase::quiet("context", config, false, None),
            |i, _| {
                v1::task::Kind::Context(v1::ContextTask {
                    process_index: i as u32,
                    threads: config.cluster.threads as u32,
                    config_toml: config_toml.clone(),
                    output_url: layout.root.url.clone(),
                })
            },
        )
        .await?;
    Ok(())
}

/// Trains WMF by ALS (`phase = "als"`) or the VAE models (`"vae"`) on all members, which
/// form a timely cluster again. Returns `als/state.json` or `vae/models.json` as member 0
/// wrote it. A retry after a lost member resumes from the last checkpoint.
async fn training_phase(
    cluster: &mut Cluster<'_>,
    config: &JobConfig,
    layout: &JobLayout,
    phase: &'static str,
    kept: &crate::summary::Kept,
) -> Result<serde_json::Value, JobError> {
    check_memory(cluster, config, kept, phase)?;
    let config_toml = config.to_toml();
    let threads = config.cluster.threads as u32;
    let results = cluster
        .run(Phase::quiet(phase, config, false, None), |i, f| {
            if phase == "als" {
                v1::task::Kind::Als(v1::AlsTask {
                    process_index: i as u32,
                    peers: f.peers.clone(),
                    formation_secret: f.secret.clone(),
                    threads,
                    config_toml: config_toml.clone(),
                    output_url: layout.root.url.clone(),
                })
            } else {
                v1::task::Kind::Vae(v1::VaeTask {
                    process_index: i as u32,
                    peers: f.peers.clone(),
                    formation_secret: f.secret.clone(),
                    threads,
                    config_toml: config_toml.clone(),
                    output_url: layout.root.url.clone(),
                })
            }
        })
        .await?;
    let json = results
        .first()
        .map(|r| {
            if phase == "als" {
                r.als_json.clone()
            } else {
                r.vae_json.clone()
            }
        })
        .unwrap_or_default();
    serde_json::from_str(&json).map_err(|e| {
        JobError::Output(format!(
            "the {phase} phase returned nothing member 0 wrote: {e}"
        ))
    })
}

/// Refuses a training phase whose memory plan does not fit a member, before any task starts.
fn check_memory(
    cluster: &Cluster<'_>,
    config: &JobConfig,
    kept: &crate::summary::Kept,
    phase: &str,
) -> Result<(), JobError> {
    let n = cluster.members.len();
    let need = if phase == "als" {
        memory_plan::als_need(config, kept, n)
    } else {
        memory_plan::vae_need(config, kept, n)
    };
    let members: Vec<memory_plan::MemberMemory> = cluster
        .members
        .iter()
        .map(|m| memory_plan::MemberMemory {
            host: m.info.hostname.clone(),
            available: m.info.memory_bytes,
        })
        .collect();
    info!(
        job = cluster.job_id,
        phase,
        need_bytes = need.bytes,
        detail = need.detail,
        "memory plan"
    );
    memory_plan::check(&need, &members)?;
    Ok(())
}

/// The paper's "VAE sampling" experiment: `sampling.runs` whole jobs on data sets of
/// `main_tracks` (or `sampling.tracks`) tracks drawn from those with at least
/// `sampling.min_track_les` events, one after the other on the same members, each under
/// `<job>/sampling/run-<i>` with its own report. ALS is left out: the paper samples for the
/// VAEs only.
///
/// Returns its future boxed and marked `Send` by hand: each run is a `run_job`, which awaits
/// this phase, and the compiler cannot prove a recursive future `Send` on its own.
fn sampling_phase<'a>(
    state: &'a CoordinatorState,
    job_id: &'a str,
    config: &'a JobConfig,
    main_tracks: u64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Sampling, JobError>> + Send + 'a>> {
    Box::pin(sampling_runs(state, job_id, config, main_tracks))
}

async fn sampling_runs(
    state: &CoordinatorState,
    job_id: &str,
    config: &JobConfig,
    main_tracks: u64,
) -> Result<Sampling, JobError> {
    let s = &config.sampling;
    let n = s.tracks.unwrap_or(main_tracks).max(1);
    let mut runs = Vec::new();
    for i in 0..s.runs {
        let run_id = format!("{job_id}/sampling/run-{i}");
        let seed = s.seed.wrapping_add(u64::from(i));
        let mut sub = config.clone();
        sub.name = format!("{} sampling run {i}", config.name);
        sub.filter.min_track_les = s.min_track_les;
        sub.filter.keep_all_tracks = false;
        sub.filter.sample_tracks = Some(n);
        sub.filter.sample_seed = seed;
        sub.als.enabled = false;
        sub.sampling.runs = 0;
        sub.promotion.enabled = false;
        info!(
            job = job_id,
            run = i,
            tracks = n,
            min_les = s.min_track_les,
            "VAE sampling run"
        );
        let summary = run_job(
            state,
            JobRun {
                job_id: run_id.clone(),
                config: sub,
                progress_bars: false,
            },
        )
        .await?;
        if let Some(e) = summary.error {
            return Err(JobError::Output(format!("run {i} ({run_id}): {e}")));
        }
        let report = summary
            .report
            .ok_or_else(|| JobError::Output(format!("run {i} ({run_id}) wrote no report")))?;
        let evaluated = report
            .rows
            .iter()
            .filter_map(|r| match r.status {
                archetype_eval::report::ModelStatus::Evaluated { users, .. } => Some(users),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        runs.push(SamplingRun {
            job_id: run_id,
            seed,
            pool_tracks: summary.counters.get("tracks.passed").copied().unwrap_or(0),
            tracks: summary.kept.tracks,
            held_out_users: evaluated,
            rows: report.rows,
        });
    }
    Ok(Sampling::new(s.min_track_les, n, runs))
}

/// Hands every member its held-out users, waits for the per-user rows, reduces them and
/// writes the report.
async fn evaluate_phase(
    cluster: &mut Cluster<'_>,
    config: &JobConfig,
    layout: &JobLayout,
    summary: &JobSummary,
    shards: &[archetype_lfm::shard::ShardSpec],
    sampling: Option<Sampling>,
) -> Result<archetype_eval::report::Report, JobError> {
    let job_id = cluster.job_id.clone();
    let job_id = job_id.as_str();
    let split = "test";
    let config_toml = config.to_toml();
    let results = cluster
        .run(Phase::quiet("evaluate", config, false, None), |i, _| {
            v1::task::Kind::Evaluate(v1::EvaluateTask {
                process_index: i as u32,
                threads: config.cluster.threads as u32,
                config_toml: config_toml.clone(),
                output_url: layout.root.url.clone(),
                split: split.to_string(),
            })
        })
        .await?;
    let evals: Vec<v1::Evaluation> = results
        .iter()
        .filter_map(|r| r.evaluation.clone())
        .collect();
    if evals.len() != results.len() {
        return Err(JobError::Output(
            "a member reported no evaluation".to_string(),
        ));
    }
    let ks = &config.eval.ks;
    let catalogue = evals.iter().map(|e| e.catalogue).max().unwrap_or(0) as usize;
    let held_out: u64 = evals.iter().map(|e| e.users).sum();
    let models = evaluation::merge(&evals, ks).map_err(|e| JobError::Output(e.to_string()))?;
    let mut parts: Vec<(String, u64)> = shards
        .iter()
        .map(|s| (format!("{}#{}", s.url, s.start), s.end - s.start))
        .collect();
    parts.extend(summary.counters.iter().map(|(k, v)| (k.clone(), *v)));
    let fp = evaluation::fingerprint(&parts);
    let protocol = match config.eval.protocol {
        SplitProtocol::Events => format!(
            "held-out users, listening events split {:.0}/{:.0} at random (a track may be on both sides)",
            100.0 * (1.0 - config.eval.target_fraction),
            100.0 * config.eval.target_fraction
        ),
        SplitProtocol::Tracks => format!(
            "held-out users, distinct tracks split {:.0}/{:.0} at random",
            100.0 * (1.0 - config.eval.target_fraction),
            100.0 * config.eval.target_fraction
        ),
    };
    let targets = TargetRule::new(
        config.eval.protocol == SplitProtocol::Events,
        config.eval.exclude_input,
    );
    // The target does not depend on the model: every available model skips the same users.
    let without_target = models
        .iter()
        .filter(|m| m.unavailable.is_none())
        .map(|m| m.skipped)
        .max()
        .unwrap_or(0);
    let mut header = archetype_eval::report::ReportHeader {
        title: format!("{} ({job_id}): {split} users", config.name),
        protocol: format!("{} [{}]", protocol, config.eval.protocol.name()),
        exclusion: if config.eval.exclude_input {
            "the user's input tracks are left out of every ranking".to_string()
        } else {
            "none: input tracks may be recommended".to_string()
        },
        seed: config.eval.seed,
        data_fingerprint: fp.clone(),
        lines: vec![
            ("split".into(), split.into()),
            ("held-out users in the split".into(), held_out.to_string()),
            ("targets".into(), targets.describe().to_string()),
            (
                "users skipped".into(),
                format!(
                    "{without_target} of {held_out} had no target and are left out of every mean"
                ),
            ),
            ("catalogue (tracks)".into(), catalogue.to_string()),
            (
                "popularity".into(),
                "training users' plays only".to_string(),
            ),
        ],
    };
    if config.vae.enabled && config.vae.gates.contains(&VaeGate::Literal) {
        header.lines.push((
            "VAE gate".into(),
            "the paper's gate (eq. 6: z = mu + sigma * eps * gate) acts only through training: \
             at test time z = mu, so a context model differs from the plain VAE only by the \
             weights it learned with the context; the scaled gate (z = gate * (mu + sigma * \
             eps), gate * mu at test time) also reads the context when it recommends"
                .to_string(),
        ));
    }
    let head = evals
        .iter()
        .map(|e| e.head_tracks)
        .max()
        .map(|tracks| evaluation::HeadInfo {
            share: config.eval.head_share,
            tracks,
        });
    let mut report = evaluation::build_report(
        header,
        &models,
        ks,
        catalogue,
        head,
        &evaluation::vae_groups(&config.vae),
    )
    .map_err(|e| JobError::Output(e.to_string()))?;
    report.sampling = sampling;
    let sampled_rows = report.sampling.iter().flat_map(|s| &s.rows);
    for row in report.rows.iter().chain(sampled_rows) {
        for (name, v) in archetype_eval::metrics::columns(ks).iter().zip(&row.means) {
            telemetry::set_metric_value(job_id, &row.name, name, *v);
        }
    }
    let fallback = models
        .iter()
        .map(|m| (m.model.clone(), m.fallback))
        .collect();
    let json = evaluation::ReportJson {
        job_id,
        split,
        protocol: config.eval.protocol.name(),
        exclude_input: config.eval.exclude_input,
        targets,
        users_without_target: without_target,
        seed: config.eval.seed,
        data_fingerprint: &fp,
        catalogue_tracks: catalogue,
        held_out_users: held_out,
        fallback_users: fallback,
        phase_seconds: &summary.phase_seconds,
        config,
        report: &report,
    };
    let batch = evaluation::per_user_batch(&models, ks, split)
        .map_err(|e| JobError::Output(e.to_string()))?;
    let written = evaluation::write_report(layout, &report, &json, &batch)
        .await
        .map_err(JobError::Output)?;
    info!(job = job_id, files = ?written, "report written");
    Ok(report)
}

/// The members a job runs on, re-formed from the live workers when one is lost.
struct Cluster<'a> {
    state: &'a CoordinatorState,
    job_id: String,
    config: &'a JobConfig,
    members: Vec<WorkerEntry>,
    /// The losses survived in this run of the job.
    recoveries: Vec<Recovery>,
}

/// One phase as the cluster runs it.
struct Phase<'a> {
    /// The name in task ids, the journal and messages.
    name: &'a str,
    watch: Watch<'a>,
    /// Run on member 0 only.
    only_first: bool,
    /// Emptied before every attempt, so an interrupted attempt's outputs cannot be mistaken
    /// for this one's.
    clear: Option<archetype_job::StoreUrl>,
}

impl<'a> Phase<'a> {
    fn quiet(
        name: &'a str,
        config: &JobConfig,
        only_first: bool,
        clear: Option<archetype_job::StoreUrl>,
    ) -> Phase<'a> {
        Phase {
            name,
            watch: Watch {
                phase: name,
                input_bytes: 0,
                shards_total: 0,
                progress_bars: false,
                lease_ms: config.cluster.lease_ms,
            },
            only_first,
            clear,
        }
    }
}

/// Who forms one attempt's timely cluster, and the secret its members prove to each other
/// before timely gets a link (sent to each over its authenticated task channel only).
struct Formation {
    peers: Vec<String>,
    secret: Vec<u8>,
}

/// 32 bytes from the operating system's generator.
fn formation_secret() -> Result<Vec<u8>, JobError> {
    use ring::rand::SecureRandom;
    let mut s = vec![0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut s)
        .map_err(|_| JobError::Cluster("no system randomness for the formation secret".into()))?;
    Ok(s)
}

impl<'a> Cluster<'a> {
    async fn form(
        state: &'a CoordinatorState,
        job_id: &str,
        config: &'a JobConfig,
    ) -> Result<Cluster<'a>, JobError> {
        let members = wait_for_workers(
            state,
            config.cluster.workers,
            config.cluster.register_timeout_s,
        )
        .await?;
        Ok(Cluster {
            state,
            job_id: job_id.to_string(),
            config,
            members,
            recoveries: Vec::new(),
        })
    }

    fn peers(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.info.timely_address.clone())
            .collect()
    }

    /// Recoveries of earlier runs of the job (from its journal) followed by this run's.
    fn recoveries_with(&self, earlier: &[Recovery]) -> Vec<Recovery> {
        let mut all: Vec<Recovery> = earlier.to_vec();
        for r in &self.recoveries {
            if !all.contains(r) {
                all.push(r.clone());
            }
        }
        all
    }

    /// Hands every member (or member 0) its task for `phase`, built by `make(index, formation)`,
    /// and waits for the results, in member order. When a member is lost, the attempt is
    /// aborted, the cluster re-formed from live workers (waiting up to
    /// `cluster.register_timeout_s` for replacements) and the phase run again, at most
    /// `cluster.max_retries` times in the whole job. A member that fails without any member
    /// being lost fails the phase at once: doing it again would fail the same way.
    async fn run(
        &mut self,
        phase: Phase<'_>,
        make: impl Fn(usize, &Formation) -> v1::task::Kind,
    ) -> Result<Vec<v1::TaskResult>, JobError> {
        let mut attempt = 0u32;
        loop {
            let attempt_started = Instant::now();
            if let Some(dir) = &phase.clear {
                journal::clear_prefix(dir).await.map_err(JobError::Output)?;
            }
            // A fresh secret per attempt: a member dropped from an earlier one cannot rejoin.
            let formation = Formation {
                peers: self.peers(),
                secret: formation_secret()?,
            };
            let count = if phase.only_first {
                1
            } else {
                self.members.len()
            };
            let mut tasks = Vec::with_capacity(count);
            for (i, m) in self.members.iter().take(count).enumerate() {
                let task_id = if attempt == 0 {
                    format!("{}/{}/{i}", self.job_id, phase.name)
                } else {
                    format!("{}/{}/retry-{attempt}/{i}", self.job_id, phase.name)
                };
                self.state.queue_task(
                    &m.id,
                    v1::Task {
                        job_id: self.job_id.clone(),
                        task_id: task_id.clone(),
                        kind: Some(make(i, &formation)),
                    },
                );
                tasks.push((task_id, m.id.clone()));
            }
            let ids: Vec<String> = tasks.iter().map(|t| t.0.clone()).collect();
            let failure = match watch(self.state, &tasks, &self.job_id, phase.watch).await {
                Ok(mut results) => {
                    results.sort_by_key(|r| ids.iter().position(|t| t == &r.task_id));
                    return Ok(results);
                }
                Err(e) => e,
            };
            let failed_at = Instant::now();
            // A member that failed because a peer died reports before the dead one's lease
            // runs out: wait for that before telling anyone to abort (an aborted worker
            // leaves, and must not be taken for a lost one).
            let lost = lost_members(self.state, &tasks, self.config.cluster.lease_ms).await;
            self.state.abort_tasks(&ids, &failure.to_string());
            let decision = after_failure(
                &failure,
                lost.len(),
                self.recoveries.len(),
                self.config.cluster.max_retries,
            );
            if decision == AfterFailure::Fail {
                return Err(failure);
            }
            let mut record = Recovery {
                phase: phase.name.to_string(),
                attempt,
                lost: lost
                    .iter()
                    .map(|(id, why)| format!("{id} ({why})"))
                    .collect(),
                error: failure.to_string(),
                attempt_seconds: failed_at.duration_since(attempt_started).as_secs_f64(),
                reform_seconds: 0.0,
            };
            if decision == AfterFailure::GiveUp {
                let earlier: Vec<String> = self
                    .recoveries
                    .iter()
                    .map(|r| {
                        format!(
                            "{} attempt {}: lost {}",
                            r.phase,
                            r.attempt,
                            r.lost.join(", ")
                        )
                    })
                    .collect();
                self.recoveries.push(record);
                return Err(JobError::Cluster(format!(
                    "job {}: {failure} The cluster was already re-formed {} times \
                     (cluster.max_retries = {}); giving up.{}",
                    self.job_id,
                    earlier.len(),
                    self.config.cluster.max_retries,
                    if earlier.is_empty() {
                        String::new()
                    } else {
                        format!(" Earlier losses: {}.", earlier.join("; "))
                    }
                )));
            }
            warn!(
                job = self.job_id,
                phase = phase.name,
                attempt,
                lost = ?record.lost,
                error = %failure,
                "cluster member lost; re-forming the cluster to redo the phase"
            );
            telemetry::count_recovery(&self.job_id, phase.name);
            let gone: Vec<String> = lost.into_iter().map(|(id, _)| id).collect();
            self.state.forget_workers(&gone);
            set_status(self.state, &self.job_id, "recovering", &failure.to_string());
            self.members = wait_for_workers(
                self.state,
                self.config.cluster.workers,
                self.config.cluster.register_timeout_s,
            )
            .await
            .map_err(|e| {
                JobError::Cluster(format!(
                    "job {}: {failure} Re-forming the cluster failed: {e}",
                    self.job_id
                ))
            })?;
            record.reform_seconds = failed_at.elapsed().as_secs_f64();
            info!(
                job = self.job_id,
                phase = phase.name,
                members = ?self.members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
                seconds = record.reform_seconds,
                "cluster re-formed"
            );
            self.recoveries.push(record);
            set_status(self.state, &self.job_id, phase.name, "");
            attempt += 1;
        }
    }
}

/// The members of `tasks` that are lost (gone from the registry, or silent past their
/// lease), with why. Waits up to one lease for a loss to show, and returns at once when every
/// task has reported (then no one died).
async fn lost_members(
    state: &CoordinatorState,
    tasks: &[(String, String)],
    lease_ms: u64,
) -> Vec<(String, String)> {
    let lease = Duration::from_millis(lease_ms);
    let deadline = Instant::now() + lease + Duration::from_millis(state.heartbeat_ms * 2 + 500);
    loop {
        let (lost, all_reported) = {
            let reg = state.lock();
            let lost: Vec<(String, String)> = tasks
                .iter()
                .filter_map(|(_, w)| match reg.workers.get(w) {
                    None => Some((w.clone(), "deregistered".to_string())),
                    Some(e) if e.last_seen.elapsed() > lease => Some((
                        w.clone(),
                        format!(
                            "no heartbeat for {} ms; host {}, timely {}",
                            e.last_seen.elapsed().as_millis(),
                            e.info.hostname,
                            e.info.timely_address
                        ),
                    )),
                    _ => None,
                })
                .collect();
            let all = tasks.iter().all(|(t, _)| reg.results.contains_key(t));
            (lost, all)
        };
        if !lost.is_empty() || all_reported || Instant::now() >= deadline {
            return lost;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_workers(
    state: &CoordinatorState,
    n: usize,
    timeout_s: u64,
) -> Result<Vec<WorkerEntry>, JobError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        let notified = state.events.notified();
        let live: Vec<_> = state
            .live_workers()
            .into_iter()
            .filter(|w| w.pending.is_none() && w.running.is_none())
            .collect();
        if live.len() >= n {
            return Ok(live.into_iter().take(n).collect());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(JobError::Cluster(format!(
                "only {} of {} workers registered within {} s",
                live.len(),
                n,
                timeout_s
            )));
        }
        let _ =
            tokio::time::timeout((deadline - now).min(Duration::from_millis(500)), notified).await;
    }
}

fn bar(progress_bars: bool, total: u64) -> ProgressBar {
    if !progress_bars {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} aggregate [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// What a watched phase is, for progress and messages.
#[derive(Clone, Copy)]
struct Watch<'a> {
    phase: &'a str,
    input_bytes: u64,
    shards_total: u64,
    progress_bars: bool,
    lease_ms: u64,
}

/// Waits for every task's result, failing fast when a member reports an error or loses its
/// lease. Aborting the other tasks is the caller's decision.
async fn watch(
    state: &CoordinatorState,
    tasks: &[(String, String)],
    job_id: &str,
    w: Watch<'_>,
) -> Result<Vec<v1::TaskResult>, JobError> {
    let Watch {
        phase,
        input_bytes,
        shards_total,
        progress_bars,
        lease_ms,
    } = w;
    let pb = bar(progress_bars && phase == "aggregation", input_bytes);
    let started = Instant::now();
    let lease = Duration::from_millis(lease_ms);
    let mut last_iteration = 0.0;
    let mut last_vae_epoch = (String::new(), 0.0);
    loop {
        let notified = state.events.notified();
        let mut failure: Option<JobError> = None;
        let mut done = Vec::new();
        {
            let reg = state.lock();
            let mut bytes = 0u64;
            let mut events = 0u64;
            let mut rejected = 0u64;
            let mut shards_done = 0u64;
            let mut lost_count = 0u64;
            for (task_id, worker_id) in tasks {
                if let Some(r) = reg
                    .results
                    .get(task_id)
                    .filter(|r| &r.worker_id == worker_id)
                {
                    if !r.ok && failure.is_none() {
                        failure = Some(JobError::Worker {
                            worker: worker_id.clone(),
                            error: r.error.clone(),
                            deterministic: r.deterministic,
                        });
                    }
                    done.push(r.clone());
                    continue;
                }
                if let Some(p) = reg.progress.get(task_id) {
                    let gauge =
                        |name: &str| p.gauges.iter().find(|g| g.name == name).map(|g| g.value);
                    if let (Some(it), Some(loss)) = (gauge("als.iteration"), gauge("als.loss")) {
                        if it > last_iteration {
                            last_iteration = it;
                            let ndcg = gauge("als.validation_ndcg");
                            info!(job = job_id, iteration = it, loss, ndcg, "ALS iteration");
                            telemetry::set_training(job_id, "WMF-ALS", it, loss, ndcg);
                        }
                    }
                    if let Some(model) = p.phase.strip_prefix("vae:").filter(|m| !m.is_empty()) {
                        if let (Some(step), Some(loss), Some(kl), Some(beta)) = (
                            gauge("vae.step"),
                            gauge("vae.loss"),
                            gauge("vae.kl"),
                            gauge("vae.beta"),
                        ) {
                            telemetry::set_step(job_id, model, step, loss, kl, beta);
                        }
                        if let (Some(epoch), Some(loss)) =
                            (gauge("vae.epoch"), gauge("vae.epoch_loss"))
                        {
                            let ndcg = gauge("vae.validation_ndcg");
                            telemetry::set_training(job_id, model, epoch, loss, ndcg);
                            if (model.to_string(), epoch) != last_vae_epoch
                                && task_id.ends_with("/0")
                            {
                                last_vae_epoch = (model.to_string(), epoch);
                                info!(job = job_id, model, epoch, loss, ndcg, "VAE epoch");
                            }
                        }
                    }
                    for c in &p.counters {
                        match c.name.as_str() {
                            "bytes_read" => bytes += c.value,
                            "events_read" => events += c.value,
                            "rows_rejected" => rejected += c.value,
                            "shards_done" => shards_done += c.value,
                            _ => {}
                        }
                    }
                }
                let lost = match reg.workers.get(worker_id) {
                    None => Some("it is no longer registered".to_string()),
                    Some(w) if w.last_seen.elapsed() > lease => Some(format!(
                        "no heartbeat for {} ms (lease {} ms); host {}, timely {}",
                        w.last_seen.elapsed().as_millis(),
                        lease_ms,
                        w.info.hostname,
                        w.info.timely_address
                    )),
                    _ => None,
                };
                lost_count += u64::from(lost.is_some());
                if let (Some(why), None) = (lost, &failure) {
                    failure = Some(JobError::Cluster(format!(
                        "job {job_id}: cluster member {worker_id} was lost during {phase}: {why}."
                    )));
                }
            }
            pb.set_position(bytes.min(input_bytes));
            pb.set_message(format!("{events} events"));
            let secs = started.elapsed().as_secs_f64();
            telemetry::set_progress(
                job_id,
                &telemetry::ProgressSample {
                    events_read: events,
                    bytes_read: bytes,
                    rows_rejected: rejected,
                    shards_done,
                    shards_total,
                    events_per_second: if secs > 0.0 {
                        events as f64 / secs
                    } else {
                        0.0
                    },
                    workers_alive: tasks.len() as u64 - lost_count,
                },
            );
        }
        if let Some(f) = failure {
            pb.abandon();
            return Err(f);
        }
        if done.len() == tasks.len() {
            pb.finish_and_clear();
            done.sort_by(|a, b| a.task_id.cmp(&b.task_id));
            return Ok(done);
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume::ResumeError;

    /// The guard a restarted coordinator's jobs go through too: a finished run is left as it
    /// was, `run.json` included.
    #[tokio::test]
    async fn run_job_never_writes_into_a_finished_run() {
        let out = "memory://job-finished/out";
        let config = JobConfig::from_toml(&format!(
            "[input]\nevents = [\"e.txt\"]\nusers = \"u.txt\"\n[output]\nurl = \"{out}\"\n"
        ))
        .unwrap();
        let root = open_url(out).unwrap().join("done");
        let mut rec = runs::started("done", "n");
        rec.state = "succeeded".to_string();
        runs::write_run(&root, &rec).await.unwrap();
        let state = CoordinatorState::new(1_000, 5_000);
        let run = JobRun {
            job_id: "done".to_string(),
            config,
            progress_bars: false,
        };
        match run_job(&state, run).await {
            Err(JobError::Resume(ResumeError::Finished { state, .. })) => {
                assert_eq!(state, "succeeded")
            }
            other => panic!("{:?}", other.map(|s| s.job_id)),
        }
        assert_eq!(runs::read_run(&root).await.unwrap(), Some(rec));
    }

    fn worker(deterministic: bool) -> JobError {
        JobError::Worker {
            worker: "w1".into(),
            error: "task config: invalid".into(),
            deterministic,
        }
    }

    fn lost() -> JobError {
        JobError::Cluster("cluster member w2 was lost during als".into())
    }

    #[test]
    fn a_failure_that_would_repeat_is_not_retried_even_with_a_loss() {
        assert_eq!(after_failure(&worker(true), 1, 0, 3), AfterFailure::Fail);
        assert_eq!(after_failure(&worker(false), 1, 0, 3), AfterFailure::Retry);
        let plan = JobError::MemoryPlan(crate::memory_plan::MemoryPlanError::TooLarge {
            need: Box::new(crate::memory_plan::Need {
                model: "WMF-ALS",
                bytes: 80_000_000_000,
                key: "als.factors",
                value: "100000".into(),
                detail: String::new(),
            }),
            member: 0,
            host: "h".into(),
            have: crate::memory_plan::Bytes(23_000_000_000),
            shared: String::new(),
        });
        assert_eq!(after_failure(&plan, 2, 0, 3), AfterFailure::Fail);
        assert_eq!(
            after_failure(&JobError::Plan("x".into()), 1, 0, 3),
            AfterFailure::Fail
        );
    }

    #[test]
    fn only_losses_are_retried_while_retries_last() {
        assert_eq!(after_failure(&lost(), 0, 0, 3), AfterFailure::Fail);
        assert_eq!(after_failure(&lost(), 1, 0, 3), AfterFailure::Retry);
        assert_eq!(after_failure(&lost(), 1, 2, 3), AfterFailure::Retry);
        assert_eq!(after_failure(&lost(), 1, 3, 3), AfterFailure::GiveUp);
        assert_eq!(after_failure(&lost(), 1, 0, 0), AfterFailure::GiveUp);
    }
}
