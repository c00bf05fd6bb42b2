//! The worker's side of the gRPC protocol: register, heartbeat, take tasks, report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archetype_job::wire::shard_from_wire;
use archetype_job::JobConfig;
use archetype_lfm::shard::ShardSpec;
use archetype_ops::security::{AuthChannel, ClientSecurity};
use archetype_ops::shutdown;
use archetype_proto::v1::{self, task::Kind};
use archetype_proto::CoordinatorClient;
use tracing::{error, info, warn, Instrument};

type Client = CoordinatorClient<AuthChannel>;

use crate::dataflow::{run_aggregation, AggregateParams, ClusterSpec};
use crate::evaluate::evaluate;
use crate::outcome::{AggregateOutcome, Progress};
use crate::split::Split;

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// `http://host:port` of the coordinator.
    pub coordinator: String,
    pub threads: usize,
    /// Host other members reach this worker's timely port on.
    pub advertise_host: String,
    /// Timely port; 0 picks a free one.
    pub timely_port: u16,
    /// Exit after this many tasks (the embedded default runs one job).
    pub max_tasks: Option<usize>,
    /// This worker's compute device: overrides the job's `[compute] device`, and its GPU.
    pub device: crate::device::DeviceOptions,
    /// TLS and token for the coordinator link.
    pub security: ClientSecurity,
    /// Where to serve gRPC health (plaintext; empty: not served).
    pub health_listen: String,
    /// Where to serve Prometheus metrics (empty: not served).
    pub metrics_listen: String,
    /// After SIGTERM, how long a running task may take to stop before the process exits
    /// anyway (keep it under the pod's termination grace period).
    pub shutdown_grace: Duration,
    /// After the coordinator aborts our task (or forgets us mid-task), how long the task may
    /// take to checkpoint and stop before the process exits for its supervisor to restart.
    pub abort_grace: Duration,
    /// How long to keep retrying an unreachable coordinator before exiting.
    pub reconnect: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// `message` names the URL.
    #[error("{message}")]
    Connect { url: String, message: String },
    #[error("coordinator call {call} failed: {status}")]
    Rpc {
        call: &'static str,
        status: tonic::Status,
    },
    /// The coordinator refused this worker (token or certificate); the message says which.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Serve(String),
    /// The coordinator aborted our task (or forgot us while it ran); the process exits with an
    /// error so that its supervisor starts it again, fresh.
    #[error("the task was aborted; exiting to be restarted")]
    Aborted,
    #[error("cannot pick a timely port on {host}: {source}")]
    Port {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

async fn connect(url: &str, security: &ClientSecurity) -> Result<Client, ServiceError> {
    let mut last = String::new();
    // The coordinator may still be starting (local spawn, pod start order): retry for a while.
    for _ in 0..100 {
        match security.connect(url).await {
            Ok(c) => return Ok(CoordinatorClient::new(c)),
            Err(e) => last = e.to_string(),
        }
        // A certificate the coordinator's CA did not sign will not get better by waiting.
        if last.contains("TLS handshake failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(ServiceError::Connect {
        url: url.to_string(),
        message: last,
    })
}

fn pick_port(host: &str, port: u16) -> Result<u16, ServiceError> {
    if port != 0 {
        return Ok(port);
    }
    let l = std::net::TcpListener::bind((host, 0)).map_err(|source| ServiceError::Port {
        host: host.to_string(),
        source,
    })?;
    let p = l.local_addr().map_err(|source| ServiceError::Port {
        host: host.to_string(),
        source,
    })?;
    Ok(p.port())
}

fn gpus_seen() -> Vec<String> {
    // Device files are enough to report presence without loading the CUDA driver.
    (0..16)
        .filter(|i| std::path::Path::new(&format!("/dev/nvidia{i}")).exists())
        .map(|i| format!("nvidia{i}"))
        .collect()
}

/// Registers and serves tasks until told to shut down (or `max_tasks` is reached).
pub async fn serve(opts: WorkerOptions) -> Result<(), ServiceError> {
    shutdown::install_signal_handlers();
    let _metrics = if opts.metrics_listen.is_empty() {
        None
    } else {
        Some(
            archetype_ops::prometheus::MetricsEndpoint::start(
                &opts.metrics_listen,
                crate::metrics::describe,
            )
            .await
            .map_err(|e| ServiceError::Serve(e.to_string()))?,
        )
    };
    let health = if opts.health_listen.is_empty() {
        None
    } else {
        Some(
            archetype_ops::health::Health::start(&opts.health_listen, "archetype.v1.Worker")
                .await
                .map_err(|e| ServiceError::Serve(e.to_string()))?,
        )
    };
    let mut client = connect(&opts.coordinator, &opts.security).await?;
    let port = pick_port(&opts.advertise_host, opts.timely_port)?;
    let timely_address = format!("{}:{}", opts.advertise_host, port);
    let worker_id = register(&mut client, &opts, &timely_address).await?;
    if let Some(h) = &health {
        h.serving().await;
    }
    // The id changes when the worker registers again (a restarted coordinator, a lost lease).
    let current_id: Arc<Mutex<String>> = Arc::new(Mutex::new(worker_id));
    let id_now = |id: &Arc<Mutex<String>>| id.lock().map(|g| g.clone()).unwrap_or_default();

    let current_task: Arc<Mutex<String>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let mut hb = client.clone();
        let current_id = current_id.clone();
        let current = current_task.clone();
        let stop = stop.clone();
        let every = Duration::from_millis(HEARTBEAT_MS.load(Ordering::Relaxed).max(50));
        let abort_grace = opts.abort_grace;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let task_id = current.lock().map(|t| t.clone()).unwrap_or_default();
                let worker_id = id_now(&current_id);
                match hb
                    .heartbeat(v1::HeartbeatRequest {
                        worker_id: worker_id.clone(),
                        task_id: task_id.clone(),
                        leaving: false,
                    })
                    .await
                {
                    Ok(r) => {
                        let r = r.into_inner();
                        // A coordinator that no longer knows us (it restarted, or declared
                        // our lease lost and re-formed the cluster without us) will never take
                        // this task's result: the task is orphaned, like an aborted one.
                        // The reply may be about a task and an id that are no longer ours (the
                        // task ended and we registered again while it was in flight).
                        let still = current.lock().map(|t| *t == task_id).unwrap_or(false)
                            && id_now(&current_id) == worker_id;
                        let orphaned = !r.known && !task_id.is_empty() && still;
                        if (r.abort_task || orphaned) && !shutdown::requested() {
                            // Timely threads cannot be cancelled from outside. Ask the
                            // training loops to checkpoint and stop (they do when the cluster
                            // still works), and leave after a grace period in any case: the
                            // supervisor starts us again and we register anew.
                            let reason = if r.abort_task {
                                r.abort_reason
                            } else {
                                "the coordinator no longer knows this worker".to_string()
                            };
                            error!(reason, "task aborted; checkpointing, then exiting");
                            shutdown::request(ABORTED);
                            tokio::spawn(async move {
                                tokio::time::sleep(abort_grace).await;
                                error!("the aborted task did not stop in time; exiting");
                                std::process::exit(3);
                            });
                        }
                    }
                    Err(e) => warn!(error = %e, "heartbeat failed"),
                }
                tokio::time::sleep(every).await;
            }
        });
    }

    let mut done = 0usize;
    let mut unreachable_since: Option<std::time::Instant> = None;
    loop {
        if shutdown::requested() {
            info!(reason = shutdown::reason(), "shutting down");
            break;
        }
        let worker_id = id_now(&current_id);
        let poll = client.next_task(v1::NextTaskRequest {
            worker_id: worker_id.clone(),
            wait_ms: 5_000,
        });
        let reply = tokio::select! {
            r = poll => r,
            _ = shutdown::wait() => continue,
        };
        let reply = match reply {
            Ok(r) => {
                unreachable_since = None;
                r.into_inner()
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                // A coordinator being restarted (a new pod, a journal replay) is gone for a
                // while; wait for it, up to --reconnect-s.
                let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= opts.reconnect {
                    info!(
                        waited_s = since.elapsed().as_secs(),
                        "coordinator gone; exiting"
                    );
                    break;
                }
                warn!(error = %status.message(), "coordinator unreachable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown::wait() => {}
                }
                continue;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                // Our registration is gone: the coordinator restarted or gave up on our
                // lease. We are idle, so register again and take work as a new member.
                warn!(
                    worker_id,
                    "the coordinator no longer knows this worker; registering again"
                );
                let id = register(&mut client, &opts, &timely_address).await?;
                if let Ok(mut g) = current_id.lock() {
                    *g = id;
                }
                continue;
            }
            Err(status) => {
                stop.store(true, Ordering::Relaxed);
                return Err(ServiceError::Rpc {
                    call: "NextTask",
                    status,
                });
            }
        };
        if reply.shutdown {
            info!("coordinator asked us to shut down");
            break;
        }
        let Some(task) = reply.task else { continue };
        if let Ok(mut t) = current_task.lock() {
            *t = task.task_id.clone();
        }
        let index = task_process_index(&task);
        let labels = crate::metrics::Labels::new(&task.job_id, index);
        let span = tracing::info_span!("task", job = %task.job_id, task = %task.task_id);
        let grace = opts.shutdown_grace;
        let result = tokio::select! {
            r = run_task(&mut client, &worker_id, &task, &opts, &labels).instrument(span) => r,
            // Training stops at its next step or iteration with a checkpoint; the other phases
            // run to their end. Leave before the supervisor's SIGKILL either way.
            _ = async { shutdown::wait().await; tokio::time::sleep(grace).await } => {
                error!(
                    task = task.task_id,
                    grace_s = grace.as_secs_f64(),
                    "the task did not stop within the shutdown grace; exiting without its result \
                     (training resumes from its last checkpoint)"
                );
                std::process::exit(143);
            }
        };
        crate::metrics::publish_allreduce(&labels);
        if let Err(e) = client.report_result(result).await {
            error!(error = %e, "cannot report the task result");
        }
        if let Ok(mut t) = current_task.lock() {
            t.clear();
        }
        done += 1;
        if opts.max_tasks.is_some_and(|m| done >= m) {
            break;
        }
    }
    if let Some(h) = &health {
        h.not_serving().await;
    }
    stop.store(true, Ordering::Relaxed);
    // Best effort, and bounded: a coordinator that is gone has nothing to forget.
    let leave = client.heartbeat(v1::HeartbeatRequest {
        worker_id: id_now(&current_id),
        task_id: String::new(),
        leaving: true,
    });
    let _ = tokio::time::timeout(Duration::from_secs(2), leave).await;
    if shutdown::reason() == ABORTED {
        return Err(ServiceError::Aborted);
    }
    Ok(())
}

/// The shutdown reason of a worker whose task was aborted: it exits with an error, so that a
/// supervisor that restarts only failed processes starts it again.
const ABORTED: &str = "task aborted";

/// Registers (again) and returns the id the coordinator gave.
async fn register(
    client: &mut Client,
    opts: &WorkerOptions,
    timely_address: &str,
) -> Result<String, ServiceError> {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let registered = client
        .register(v1::RegisterRequest {
            hostname: sysinfo::System::host_name().unwrap_or_default(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            memory_bytes: crate::host_memory::available_bytes(sys.total_memory()),
            gpus: gpus_seen(),
            timely_address: timely_address.to_string(),
            threads: opts.threads as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .await;
    let reg = match registered {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let why = opts
                .security
                .explain_at(&opts.coordinator, "registration", &status)
                .await;
            return Err(ServiceError::Refused(why));
        }
    };
    info!(
        worker_id = reg.worker_id,
        timely_address, "registered with the coordinator"
    );
    HEARTBEAT_MS.store(reg.heartbeat_interval_ms, Ordering::Relaxed);
    Ok(reg.worker_id)
}

/// The heartbeat interval the coordinator asked for at the last registration.
static HEARTBEAT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(500);

fn task_process_index(task: &v1::Task) -> u32 {
    match &task.kind {
        Some(Kind::Aggregate(t)) => t.process_index,
        Some(Kind::Evaluate(t)) => t.process_index,
        Some(Kind::Context(t)) => t.process_index,
        Some(Kind::Als(t)) => t.process_index,
        Some(Kind::Vae(t)) => t.process_index,
        Some(Kind::Archetypes(_)) | None => 0,
    }
}

/// Fails a task the worker refuses before starting it: the same task would be refused again,
/// so the coordinator must not retry it.
fn refuse(result: &mut v1::TaskResult, error: String) {
    result.error = error;
    result.deterministic = true;
}

async fn run_task(
    client: &mut Client,
    worker_id: &str,
    task: &v1::Task,
    opts: &WorkerOptions,
    labels: &crate::metrics::Labels,
) -> v1::TaskResult {
    let mut result = v1::TaskResult {
        worker_id: worker_id.to_string(),
        task_id: task.task_id.clone(),
        ..Default::default()
    };
    let agg = match &task.kind {
        Some(Kind::Aggregate(agg)) => agg,
        Some(Kind::Evaluate(ev)) => {
            crate::metrics::set_phase(labels, "evaluate");
            run_evaluate(&mut result, task, ev).await;
            return result;
        }
        Some(Kind::Archetypes(at)) => {
            crate::metrics::set_phase(labels, "archetypes");
            run_archetypes(&mut result, task, at).await;
            return result;
        }
        Some(Kind::Context(ct)) => {
            crate::metrics::set_phase(labels, "context");
            run_context(&mut result, task, ct).await;
            return result;
        }
        Some(Kind::Als(at)) => {
            crate::metrics::set_phase(labels, "als");
            run_als(client, &mut result, task, at, opts.device, labels).await;
            return result;
        }
        Some(Kind::Vae(vt)) => {
            crate::metrics::set_phase(labels, "vae");
            run_vae(client, &mut result, task, vt, opts.device, labels).await;
            return result;
        }
        None => {
            refuse(&mut result, "unknown task kind".to_string());
            return result;
        }
    };
    let config = match JobConfig::from_toml(&agg.config_toml) {
        Ok(c) => c,
        Err(e) => {
            refuse(&mut result, format!("task config: {e}"));
            return result;
        }
    };
    let shards: Option<Vec<ShardSpec>> = agg.shards.iter().map(shard_from_wire).collect();
    let Some(shards) = shards else {
        refuse(
            &mut result,
            "task names a shard of unknown kind or encoding".to_string(),
        );
        return result;
    };
    let threads = if agg.threads > 0 {
        agg.threads as usize
    } else {
        opts.threads
    };
    let params = AggregateParams {
        config,
        shards,
        job_root: agg.output_url.clone(),
        cluster: ClusterSpec::Cluster {
            process_index: agg.process_index as usize,
            peers: agg.peers.clone(),
            threads,
            secret: agg.formation_secret.clone(),
        },
    };
    info!(
        task = task.task_id,
        process = agg.process_index,
        members = agg.peers.len(),
        shards = agg.shards.len(),
        "aggregate task started"
    );
    let progress = Arc::new(Progress::default());
    let rt = tokio::runtime::Handle::current();
    let p2 = progress.clone();
    let mut handle = tokio::task::spawn_blocking(move || run_aggregation(params, p2, rt));
    let outcome = loop {
        tokio::select! {
            r = &mut handle => break r,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let counters = progress.snapshot();
                let get = |n: &str| counters.get(n).copied().unwrap_or(0);
                crate::metrics::set_phase(labels, progress.stage_name());
                crate::metrics::set_read(labels, get("events_read"), get("bytes_read"));
                let report = v1::ProgressReport {
                    worker_id: worker_id.to_string(),
                    task_id: task.task_id.clone(),
                    phase: progress.stage_name().to_string(),
                    counters: counters.into_iter().map(|(name, value)| v1::Counter { name, value }).collect(),
                    gauges: Vec::new(),
                };
                if let Err(e) = client.report_progress(report).await {
                    warn!(error = %e, "cannot report progress");
                }
            }
        }
    };
    match outcome {
        Ok(Ok(o)) => {
            fill_result(&mut result, o);
            result.ok = true;
            info!(task = task.task_id, "aggregate task finished");
        }
        Ok(Err(e)) => {
            result.error = e.to_string();
            error!(task = task.task_id, error = %e, "aggregate task failed");
        }
        Err(join) => {
            result.error = format!("aggregation thread panicked: {join}");
            error!(task = task.task_id, error = %result.error, "aggregate task failed");
        }
    }
    result
}

/// Scores this member's held-out users and puts the per-user rows into the result.
async fn run_evaluate(result: &mut v1::TaskResult, task: &v1::Task, ev: &v1::EvaluateTask) {
    let config = match JobConfig::from_toml(&ev.config_toml) {
        Ok(c) => c,
        Err(e) => {
            refuse(result, format!("task config: {e}"));
            return;
        }
    };
    let Some(split) = Split::parse(&ev.split) else {
        refuse(result, format!("unknown split `{}`", ev.split));
        return;
    };
    let root = match archetype_job::open_url(&ev.output_url) {
        Ok(r) => r,
        Err(e) => {
            result.error = e.to_string();
            return;
        }
    };
    let threads = ev.threads.max(1) as usize;
    let first = ev.process_index as usize * threads;
    let t0 = std::time::Instant::now();
    info!(
        task = task.task_id,
        split = ev.split,
        "evaluate task started"
    );
    match evaluate(&root, &config, split, |part| {
        (first..first + threads).contains(&part)
    })
    .await
    {
        Ok(o) => {
            result.evaluation = Some(to_wire(o));
            result.ok = true;
            result
                .phase_seconds
                .insert("evaluate".into(), t0.elapsed().as_secs_f64());
            info!(task = task.task_id, "evaluate task finished");
        }
        Err(e) => {
            error!(task = task.task_id, error = %e, "evaluate task failed");
            result.error = e;
        }
    }
}

/// Parses a task's config and output root, or says why not.
fn task_setup(
    config_toml: &str,
    output_url: &str,
) -> Result<(JobConfig, archetype_job::StoreUrl), String> {
    let config = JobConfig::from_toml(config_toml).map_err(|e| format!("task config: {e}"))?;
    let root = archetype_job::open_url(output_url).map_err(|e| e.to_string())?;
    Ok((config, root))
}

/// The archetype phase (one member): clusters, tables, figures.
async fn run_archetypes(result: &mut v1::TaskResult, task: &v1::Task, at: &v1::ArchetypeTask) {
    let (config, root) = match task_setup(&at.config_toml, &at.output_url) {
        Ok(x) => x,
        Err(e) => {
            refuse(result, e);
            return;
        }
    };
    info!(task = task.task_id, "archetype task started");
    match crate::archetypes::run_phase(&root, &config).await {
        Ok(summary) => {
            result
                .phase_seconds
                .insert("archetypes".into(), summary.seconds);
            result.outputs = summary.outputs.clone();
            result.archetypes_json = serde_json::to_string(&summary).unwrap_or_default();
            result.ok = true;
            info!(
                task = task.task_id,
                clusters = summary.clusters,
                "archetype task finished"
            );
        }
        Err(e) => {
            error!(task = task.task_id, error = %e, "archetype task failed");
            result.error = e;
        }
    }
}

/// This member's part of WMF-ALS training; reports the last iteration's figures as gauges.
async fn run_als(
    client: &mut Client,
    result: &mut v1::TaskResult,
    task: &v1::Task,
    at: &v1::AlsTask,
    device: crate::device::DeviceOptions,
    labels: &crate::metrics::Labels,
) {
    let (config, _root) = match task_setup(&at.config_toml, &at.output_url) {
        Ok(x) => x,
        Err(e) => {
            refuse(result, e);
            return;
        }
    };
    let phase = crate::als::AlsPhase {
        process_index: at.process_index as usize,
        peers: at.peers.clone(),
        formation_secret: at.formation_secret.clone(),
        threads: at.threads.max(1) as usize,
        config,
        root: at.output_url.clone(),
        device,
        rendezvous: Some(crate::rendezvous::Rendezvous::new(
            client.clone(),
            &result.worker_id,
            &task.task_id,
            tokio::runtime::Handle::current(),
        )),
    };
    info!(
        task = task.task_id,
        process = at.process_index,
        "ALS task started"
    );
    let t0 = std::time::Instant::now();
    let progress = Arc::new(crate::als::AlsProgress::default());
    let p2 = progress.clone();
    let rt = tokio::runtime::Handle::current();
    let mut handle = tokio::task::spawn_blocking(move || crate::als::run_phase(phase, p2, rt));
    let outcome = loop {
        tokio::select! {
            r = &mut handle => break r,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let last = progress.last.lock().ok().and_then(|g| g.clone());
                let mut gauges = Vec::new();
                if let Some(r) = last {
                    crate::metrics::set_training(labels, "WMF-ALS", r.iteration as f64, r.loss, r.ndcg);
                    gauges.push(v1::Gauge { name: "als.iteration".into(), value: r.iteration as f64 });
                    gauges.push(v1::Gauge { name: "als.loss".into(), value: r.loss });
                    if let Some(n) = r.ndcg {
                        gauges.push(v1::Gauge { name: "als.validation_ndcg".into(), value: n });
                    }
                }
                let report = v1::ProgressReport {
                    worker_id: result.worker_id.clone(),
                    task_id: task.task_id.clone(),
                    phase: "als".into(),
                    counters: Vec::new(),
                    gauges,
                };
                if let Err(e) = client.report_progress(report).await {
                    warn!(error = %e, "cannot report progress");
                }
            }
        }
    };
    match outcome {
        Ok(Ok(o)) => {
            result.als_json = o.state_json;
            result.counters.push(v1::Counter {
                name: "als.resumed_from".into(),
                value: o.resumed_from as u64,
            });
            result
                .phase_seconds
                .insert("als".into(), t0.elapsed().as_secs_f64());
            result.ok = true;
            info!(task = task.task_id, "ALS task finished");
        }
        Ok(Err(e)) => {
            error!(task = task.task_id, error = %e, "ALS task failed");
            result.error = e;
        }
        Err(join) => {
            result.error = format!("ALS thread panicked: {join}");
            error!(task = task.task_id, error = %result.error, "ALS task failed");
        }
    }
}

/// This member's replicas of VAE training; reports the current model, step and epoch as
/// gauges (the model by its position in the phase's list).
async fn run_vae(
    client: &mut Client,
    result: &mut v1::TaskResult,
    task: &v1::Task,
    vt: &v1::VaeTask,
    device: crate::device::DeviceOptions,
    labels: &crate::metrics::Labels,
) {
    let (config, _root) = match task_setup(&vt.config_toml, &vt.output_url) {
        Ok(x) => x,
        Err(e) => {
            refuse(result, e);
            return;
        }
    };
    let phase = crate::vae::VaePhase {
        process_index: vt.process_index as usize,
        peers: vt.peers.clone(),
        formation_secret: vt.formation_secret.clone(),
        threads: vt.threads.max(1) as usize,
        config,
        root: vt.output_url.clone(),
        device,
        rendezvous: Some(crate::rendezvous::Rendezvous::new(
            client.clone(),
            &result.worker_id,
            &task.task_id,
            tokio::runtime::Handle::current(),
        )),
    };
    info!(
        task = task.task_id,
        process = vt.process_index,
        "VAE task started"
    );
    let t0 = std::time::Instant::now();
    let progress = Arc::new(crate::vae::VaeProgress::default());
    let p2 = progress.clone();
    let rt = tokio::runtime::Handle::current();
    let mut handle = tokio::task::spawn_blocking(move || crate::vae::run_phase(phase, p2, rt));
    let outcome = loop {
        tokio::select! {
            r = &mut handle => break r,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let live = progress.live.lock().ok().map(|g| g.clone()).unwrap_or_default();
                let mut gauges = vec![
                    v1::Gauge { name: "vae.model_index".into(), value: live.model_index as f64 },
                    v1::Gauge { name: "vae.models".into(), value: live.models as f64 },
                ];
                if let Some(s) = &live.step {
                    crate::metrics::set_training(labels, &live.model, s.step as f64, s.loss,
                        live.epoch.as_ref().and_then(|e| e.validation_ndcg));
                    crate::metrics::publish_allreduce(labels);
                    gauges.push(v1::Gauge { name: "vae.step".into(), value: s.step as f64 });
                    gauges.push(v1::Gauge { name: "vae.loss".into(), value: s.loss });
                    gauges.push(v1::Gauge { name: "vae.kl".into(), value: s.kl });
                    gauges.push(v1::Gauge { name: "vae.beta".into(), value: f64::from(s.beta) });
                }
                if let Some(e) = &live.epoch {
                    gauges.push(v1::Gauge { name: "vae.epoch".into(), value: e.epoch as f64 });
                    gauges.push(v1::Gauge { name: "vae.epoch_loss".into(), value: e.loss });
                    if let Some(n) = e.validation_ndcg {
                        gauges.push(v1::Gauge { name: "vae.validation_ndcg".into(), value: n });
                    }
                }
                let report = v1::ProgressReport {
                    worker_id: result.worker_id.clone(),
                    task_id: task.task_id.clone(),
                    phase: format!("vae:{}", live.model),
                    counters: Vec::new(),
                    gauges,
                };
                if let Err(e) = client.report_progress(report).await {
                    warn!(error = %e, "cannot report progress");
                }
            }
        }
    };
    match outcome {
        Ok(Ok(json)) => {
            result.vae_json = json;
            result
                .phase_seconds
                .insert("vae".into(), t0.elapsed().as_secs_f64());
            result.ok = true;
            info!(task = task.task_id, "VAE task finished");
        }
        Ok(Err(e)) => {
            error!(task = task.task_id, error = %e, "VAE task failed");
            result.error = e;
        }
        Err(join) => {
            result.error = format!("VAE thread panicked: {join}");
            error!(task = task.task_id, error = %result.error, "VAE task failed");
        }
    }
}

/// Context features of this member's users.
async fn run_context(result: &mut v1::TaskResult, task: &v1::Task, ct: &v1::ContextTask) {
    let (config, root) = match task_setup(&ct.config_toml, &ct.output_url) {
        Ok(x) => x,
        Err(e) => {
            refuse(result, e);
            return;
        }
    };
    let threads = ct.threads.max(1) as usize;
    let first = ct.process_index as usize * threads;
    let t0 = std::time::Instant::now();
    info!(task = task.task_id, "context task started");
    match crate::context::compute(&root, &config, first..first + threads).await {
        Ok(o) => {
            result.counters.push(v1::Counter {
                name: "context.users".into(),
                value: o.users,
            });
            result.counters.push(v1::Counter {
                name: "context.held_out_users".into(),
                value: o.held_out_users,
            });
            result.outputs = o.outputs;
            result
                .phase_seconds
                .insert("context".into(), t0.elapsed().as_secs_f64());
            result.ok = true;
            info!(
                task = task.task_id,
                users = o.users,
                "context task finished"
            );
        }
        Err(e) => {
            error!(task = task.task_id, error = %e, "context task failed");
            result.error = e;
        }
    }
}

fn to_wire(o: crate::evaluate::EvalOutcome) -> v1::Evaluation {
    v1::Evaluation {
        catalogue: o.catalogue as u64,
        users: o.users,
        head_tracks: o.head_tracks,
        models: o
            .models
            .into_iter()
            .map(|m| v1::ModelEvaluation {
                coverage_json: serde_json::to_string(&m.coverage).unwrap_or_default(),
                model: m.model,
                unavailable: m.unavailable.unwrap_or_default(),
                skipped: m.skipped,
                fallback: m.fallback,
                foreign: m.foreign,
                known_origin: m.known_origin,
                rows: m
                    .rows
                    .into_iter()
                    .map(|r| v1::UserMetricRow {
                        user_idx: r.user_idx,
                        user_id: r.user_id,
                        country: r.country.unwrap_or_default(),
                        values: r.metrics.values,
                        head: r.head.map(|x| x.values).unwrap_or_default(),
                        tail: r.tail.map(|x| x.values).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn fill_result(r: &mut v1::TaskResult, o: AggregateOutcome) {
    r.counters = o
        .counters
        .into_iter()
        .map(|(name, value)| v1::Counter { name, value })
        .collect();
    r.shard_lines = o
        .shard_lines
        .into_iter()
        .map(|(shard, lines)| v1::ShardLines { shard, lines })
        .collect();
    r.bad_rows = o
        .bad_rows
        .into_iter()
        .map(|b| v1::BadRow {
            file: b.file,
            offset: b.offset,
            shard_line: b.shard_line,
            shard: b.shard,
            kind: b.kind.name().to_string(),
            field: b.field,
            detail: b.detail,
        })
        .collect();
    r.phase_seconds = o.phase_seconds.into_iter().collect();
    r.outputs = o.outputs;
}
