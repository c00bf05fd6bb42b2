//! The coordinator's gRPC service and the registry of workers it keeps.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use archetype_ops::security::ServerSecurity;

pub use crate::admission::Limits;
use archetype_proto::v1;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

/// What the coordinator knows of one worker.
#[derive(Clone, Debug)]
pub struct WorkerEntry {
    pub id: String,
    /// Registration order; members are chosen in this order.
    pub seq: u64,
    pub info: v1::RegisterRequest,
    pub last_seen: Instant,
    /// A task waiting to be taken by the worker's next poll.
    pub pending: Option<v1::Task>,
    /// The task the worker is running, once taken.
    pub running: Option<String>,
}

#[derive(Default)]
pub struct Registry {
    pub workers: BTreeMap<String, WorkerEntry>,
    pub next_seq: u64,
    /// Task id -> result, as reported.
    pub results: HashMap<String, v1::TaskResult>,
    /// Task id -> latest progress report.
    pub progress: HashMap<String, v1::ProgressReport>,
    /// Task id -> reason, for tasks whose job failed: the worker is told at its next heartbeat.
    pub aborted: HashMap<String, String>,
    /// Jobs submitted over gRPC, waiting for the runner.
    pub submitted: Vec<(String, String)>,
    pub job_status: BTreeMap<String, v1::JobStatus>,
    pub shutting_down: bool,
    /// Progress reports received since start, by worker id: what a load test checks against
    /// what its workers sent.
    pub reports_received: HashMap<String, u64>,
    /// Values published through `Rendezvous`, by "group\u{0}name".
    pub rendezvous: HashMap<String, Vec<u8>>,
}

/// Largest value `Rendezvous` keeps: it is for ids and addresses, not data.
pub const RENDEZVOUS_MAX_BYTES: usize = 4096;

/// Shared between the gRPC service and the job runner.
#[derive(Clone)]
pub struct CoordinatorState {
    inner: Arc<Mutex<Registry>>,
    /// Wakes long-polling workers when a task is queued or on shutdown.
    pub tasks_changed: Arc<Notify>,
    /// Wakes the job runner when a worker registers or a result arrives.
    pub events: Arc<Notify>,
    /// Wakes members waiting in `Rendezvous` when a value is published.
    pub rendezvous_changed: Arc<Notify>,
    pub heartbeat_ms: u64,
    pub lease_ms: u64,
    /// Where `serve --journal` records the jobs it accepts (see [`crate::journal`]).
    pub journal: Option<archetype_job::StoreUrl>,
    /// Part of every worker id this coordinator hands out, different for each coordinator
    /// process, so that a worker registered with a coordinator that has since restarted can
    /// never be taken for a worker registered with this one.
    pub incarnation: String,
}

impl CoordinatorState {
    pub fn new(heartbeat_ms: u64, lease_ms: u64) -> CoordinatorState {
        CoordinatorState {
            inner: Arc::default(),
            tasks_changed: Arc::new(Notify::new()),
            events: Arc::new(Notify::new()),
            rendezvous_changed: Arc::new(Notify::new()),
            heartbeat_ms,
            lease_ms,
            journal: None,
            incarnation: incarnation(),
        }
    }

    pub fn with_journal(mut self, journal: archetype_job::StoreUrl) -> CoordinatorState {
        self.journal = Some(journal);
        self
    }

    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Workers whose lease is current, in registration order.
    pub fn live_workers(&self) -> Vec<WorkerEntry> {
        let lease = Duration::from_millis(self.lease_ms);
        let reg = self.lock();
        let mut v: Vec<WorkerEntry> = reg
            .workers
            .values()
            .filter(|w| w.last_seen.elapsed() <= lease)
            .cloned()
            .collect();
        v.sort_by_key(|w| w.seq);
        v
    }

    pub fn queue_task(&self, worker_id: &str, task: v1::Task) {
        if let Some(w) = self.lock().workers.get_mut(worker_id) {
            w.pending = Some(task);
        }
        self.tasks_changed.notify_waiters();
    }

    pub fn abort_tasks(&self, task_ids: &[String], reason: &str) {
        let mut reg = self.lock();
        for t in task_ids {
            reg.aborted.insert(t.clone(), reason.to_string());
        }
        for w in reg.workers.values_mut() {
            if w.pending
                .as_ref()
                .is_some_and(|p| task_ids.contains(&p.task_id))
            {
                w.pending = None;
            }
        }
    }

    /// Forgets workers declared lost: their later heartbeats are answered "unknown", which
    /// makes a worker that was only cut off abandon its task and register anew.
    pub fn forget_workers(&self, ids: &[String]) {
        let mut reg = self.lock();
        for id in ids {
            reg.workers.remove(id);
        }
    }

    /// Drops what is known of an earlier run of `job_id`'s tasks (results, progress, aborts),
    /// so that a job resubmitted under its id starts clean.
    pub fn forget_job(&self, job_id: &str) {
        let prefix = format!("{job_id}/");
        let mut reg = self.lock();
        reg.results.retain(|t, _| !t.starts_with(&prefix));
        reg.progress.retain(|t, _| !t.starts_with(&prefix));
        reg.aborted.retain(|t, _| !t.starts_with(&prefix));
        reg.rendezvous.retain(|k, _| !k.starts_with(&prefix));
    }

    pub fn shutdown(&self) {
        self.lock().shutting_down = true;
        self.tasks_changed.notify_waiters();
    }
}

fn incarnation() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // The low bits change from one start to the next; four base-36 digits are enough to tell
    // two coordinator processes apart.
    let mut n = ((nanos / 1000) ^ u128::from(std::process::id())) % (36u128.pow(4));
    let mut s = Vec::new();
    for _ in 0..4 {
        s.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
    }
    s.into_iter().rev().collect()
}

/// The gRPC status a client acts on: `not_found` (no such run), `failed_precondition` (a
/// finished run, or another config), `invalid_argument` (not an id).
pub fn resume_status(e: &crate::resume::ResumeError) -> Status {
    use crate::resume::ResumeError as E;
    match e {
        E::InvalidId { .. } => Status::invalid_argument(e.to_string()),
        E::NotFound { .. } => Status::not_found(e.to_string()),
        E::Finished { .. } | E::Promoted { .. } | E::ConfigDiffers { .. } => {
            Status::failed_precondition(e.to_string())
        }
        E::Store { .. } => Status::unavailable(e.to_string()),
    }
}

pub struct CoordinatorService {
    pub state: CoordinatorState,
}

#[tonic::async_trait]
impl v1::coordinator_server::Coordinator for CoordinatorService {
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterReply>, Status> {
        let info = request.into_inner();
        if info.timely_address.is_empty() {
            return Err(Status::invalid_argument("timely_address is required"));
        }
        let id = {
            let mut reg = self.state.lock();
            let seq = reg.next_seq;
            reg.next_seq += 1;
            let id = format!("w{seq}-{}-{}", info.hostname, self.state.incarnation);
            info!(
                worker = id,
                cores = info.cores,
                memory_gib = info.memory_bytes as f64 / (1u64 << 30) as f64,
                gpus = info.gpus.len(),
                timely = info.timely_address,
                "worker registered"
            );
            reg.workers.insert(
                id.clone(),
                WorkerEntry {
                    id: id.clone(),
                    seq,
                    info,
                    last_seen: Instant::now(),
                    pending: None,
                    running: None,
                },
            );
            id
        };
        self.state.events.notify_waiters();
        Ok(Response::new(v1::RegisterReply {
            worker_id: id,
            heartbeat_interval_ms: self.state.heartbeat_ms,
            lease_ms: self.state.lease_ms,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatReply>, Status> {
        let hb = request.into_inner();
        if hb.leaving {
            let gone = self.state.lock().workers.remove(&hb.worker_id);
            if let Some(w) = gone {
                info!(
                    worker = hb.worker_id,
                    running = w.running.as_deref().unwrap_or(""),
                    "worker left"
                );
            }
            self.state.events.notify_waiters();
            return Ok(Response::new(v1::HeartbeatReply {
                known: false,
                ..Default::default()
            }));
        }
        let mut reg = self.state.lock();
        let abort = if hb.task_id.is_empty() {
            None
        } else {
            reg.aborted.get(&hb.task_id).cloned()
        };
        let known = match reg.workers.get_mut(&hb.worker_id) {
            Some(w) => {
                w.last_seen = Instant::now();
                true
            }
            None => false,
        };
        Ok(Response::new(v1::HeartbeatReply {
            known,
            abort_task: abort.is_some(),
            abort_reason: abort.unwrap_or_default(),
        }))
    }

    async fn next_task(
        &self,
        request: Request<v1::NextTaskRequest>,
    ) -> Result<Response<v1::NextTaskReply>, Status> {
        let req = request.into_inner();
        let deadline = Instant::now() + Duration::from_millis(req.wait_ms.min(30_000));
        loop {
            // Register interest before checking, so a task queued in between still wakes us.
            let notified = self.state.tasks_changed.notified();
            {
                let mut reg = self.state.lock();
                if reg.shutting_down {
                    return Ok(Response::new(v1::NextTaskReply {
                        task: None,
                        shutdown: true,
                    }));
                }
                let Some(w) = reg.workers.get_mut(&req.worker_id) else {
                    return Err(Status::not_found(format!(
                        "worker {} is not registered (lease expired?)",
                        req.worker_id
                    )));
                };
                w.last_seen = Instant::now();
                if let Some(task) = w.pending.take() {
                    w.running = Some(task.task_id.clone());
                    return Ok(Response::new(v1::NextTaskReply {
                        task: Some(task),
                        shutdown: false,
                    }));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Response::new(v1::NextTaskReply {
                    task: None,
                    shutdown: false,
                }));
            }
            let _ = tokio::time::timeout(deadline - now, notified).await;
        }
    }

    async fn report_progress(
        &self,
        request: Request<v1::ProgressReport>,
    ) -> Result<Response<v1::Ack>, Status> {
        let p = request.into_inner();
        let mut reg = self.state.lock();
        if let Some(w) = reg.workers.get_mut(&p.worker_id) {
            w.last_seen = Instant::now();
        }
        *reg.reports_received.entry(p.worker_id.clone()).or_default() += 1;
        reg.progress.insert(p.task_id.clone(), p);
        Ok(Response::new(v1::Ack {}))
    }

    async fn report_result(
        &self,
        request: Request<v1::TaskResult>,
    ) -> Result<Response<v1::Ack>, Status> {
        let r = request.into_inner();
        {
            let mut reg = self.state.lock();
            if let Some(w) = reg.workers.get_mut(&r.worker_id) {
                w.last_seen = Instant::now();
                w.running = None;
            } else {
                // A worker of an earlier coordinator, or one declared lost: its task was given
                // to another member (perhaps under the same task id), so its result is not
                // the one the job waits for.
                warn!(
                    worker = r.worker_id,
                    task = r.task_id,
                    "result from an unknown worker; ignored"
                );
                return Ok(Response::new(v1::Ack {}));
            }
            reg.results.insert(r.task_id.clone(), r);
        }
        self.state.events.notify_waiters();
        Ok(Response::new(v1::Ack {}))
    }

    async fn submit_job(
        &self,
        request: Request<v1::SubmitJobRequest>,
    ) -> Result<Response<v1::SubmitJobReply>, Status> {
        let req = request.into_inner();
        let text = req.config_toml;
        let config = archetype_job::JobConfig::from_toml(&text)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let job_id = if req.resume_job_id.is_empty() {
            crate::job::new_job_id(&config.name)
        } else {
            let out = archetype_job::open_url(&config.output.url)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            crate::resume::check(&out, &req.resume_job_id, &config.to_toml())
                .await
                .map_err(|e| resume_status(&e))?;
            req.resume_job_id
        };
        let busy = |reg: &Registry| {
            reg.submitted.iter().any(|(id, _)| id == &job_id)
                || reg
                    .job_status
                    .get(&job_id)
                    .is_some_and(|s| !matches!(s.state.as_str(), "succeeded" | "failed"))
        };
        let refuse = || Status::already_exists(format!("job {job_id} is queued or running"));
        if busy(&self.state.lock()) {
            return Err(refuse());
        }
        if let Some(j) = &self.state.journal {
            // Before the job is queued (the runner may take it at once and mark it running)
            // and before the reply: a job the submitter was told about survives a restart.
            if let Err(e) = crate::journal::put_entry(j, &job_id, &text, "queued", "").await {
                warn!(job = job_id, error = %e, "cannot journal the submitted job");
            }
        }
        {
            let mut reg = self.state.lock();
            if busy(&reg) {
                return Err(refuse());
            }
            reg.submitted.push((job_id.clone(), text));
            reg.job_status.insert(
                job_id.clone(),
                v1::JobStatus {
                    job_id: job_id.clone(),
                    state: "queued".to_string(),
                    ..Default::default()
                },
            );
        }
        self.state.events.notify_waiters();
        Ok(Response::new(v1::SubmitJobReply { job_id }))
    }

    async fn get_job(
        &self,
        request: Request<v1::GetJobRequest>,
    ) -> Result<Response<v1::JobStatus>, Status> {
        let id = request.into_inner().job_id;
        self.state
            .lock()
            .job_status
            .get(&id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no job {id}")))
    }

    async fn rendezvous(
        &self,
        request: Request<v1::RendezvousRequest>,
    ) -> Result<Response<v1::RendezvousReply>, Status> {
        let req = request.into_inner();
        if req.group.is_empty() || req.name.is_empty() || req.name.contains('\0') {
            return Err(Status::invalid_argument(
                "a rendezvous needs a group and a name",
            ));
        }
        let key = format!("{}\0{}", req.group, req.name);
        if let Some(value) = req.value {
            if value.len() > RENDEZVOUS_MAX_BYTES {
                return Err(Status::invalid_argument(format!(
                    "a rendezvous value of {} bytes (at most {RENDEZVOUS_MAX_BYTES})",
                    value.len()
                )));
            }
            let mut reg = self.state.lock();
            touch(&mut reg, &req.worker_id)?;
            match reg.rendezvous.get(&key) {
                Some(old) if *old != value => {
                    return Err(Status::failed_precondition(format!(
                        "{} of {} was already published with other bytes",
                        req.name, req.group
                    )));
                }
                Some(_) => {}
                None => {
                    reg.rendezvous.insert(key, value.clone());
                }
            }
            drop(reg);
            self.state.rendezvous_changed.notify_waiters();
            return Ok(Response::new(v1::RendezvousReply { value: Some(value) }));
        }
        let deadline = Instant::now() + Duration::from_millis(req.wait_ms.min(30_000));
        loop {
            let notified = self.state.rendezvous_changed.notified();
            {
                let mut reg = self.state.lock();
                touch(&mut reg, &req.worker_id)?;
                if let Some(v) = reg.rendezvous.get(&key) {
                    return Ok(Response::new(v1::RendezvousReply {
                        value: Some(v.clone()),
                    }));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Response::new(v1::RendezvousReply { value: None }));
            }
            let _ = tokio::time::timeout(deadline - now, notified).await;
        }
    }
}

/// A rendezvous call renews the caller's lease (a member blocked waiting is alive); an
/// unknown caller is told so, as in `NextTask`.
fn touch(reg: &mut Registry, worker_id: &str) -> Result<(), Status> {
    match reg.workers.get_mut(worker_id) {
        Some(w) => {
            w.last_seen = Instant::now();
            Ok(())
        }
        None => Err(Status::not_found(format!(
            "worker {worker_id} is not registered (lease expired?)"
        ))),
    }
}

/// A gRPC server running in the background.
pub struct RunningServer {
    pub addr: std::net::SocketAddr,
    /// `true` while the port cannot admit connections (see [`crate::admission`]).
    pub saturated: tokio::sync::watch::Receiver<bool>,
    scheme: &'static str,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// `http://addr` (or `https://` under TLS), for workers on this host.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.handle).await;
    }
}

/// Binds `listen` (port 0 picks one) and serves the coordinator protocol in plaintext without
/// a token (loopback clusters).
pub async fn start(state: CoordinatorState, listen: &str) -> std::io::Result<RunningServer> {
    start_secure(state, listen, &ServerSecurity::none(), Limits::default()).await
}

/// Binds `listen` and serves the coordinator protocol with the TLS and token checks of
/// `security`, admitting connections within `limits`.
pub async fn start_secure(
    state: CoordinatorState,
    listen: &str,
    security: &ServerSecurity,
    limits: Limits,
) -> std::io::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = archetype_proto::CoordinatorServer::with_interceptor(
        CoordinatorService { state },
        security.token_check(),
    );
    let mut builder = security
        .server_builder()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?
        // Live peers answer the pings, which keeps them inside the admission's idle limit.
        .http2_keepalive_interval(Some(crate::admission::KEEPALIVE))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    let (incoming, saturated) = crate::admission::admit(listener, limits);
    let handle = tokio::spawn(builder.add_service(svc).serve_with_incoming_shutdown(
        incoming,
        async {
            let _ = rx.await;
        },
    ));
    info!(%addr, security = security.describe(), "coordinator listening");
    Ok(RunningServer {
        addr,
        saturated,
        scheme: if security.tls() { "https" } else { "http" },
        shutdown: Some(tx),
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs;
    use v1::coordinator_server::Coordinator;

    fn config_toml(out: &str, epochs: u32) -> String {
        archetype_job::JobConfig::from_toml(&format!(
            "[input]\nevents = [\"e.txt\"]\nusers = \"u.txt\"\n[output]\nurl = \"{out}\"\n\
             [vae]\nepochs = {epochs}\n"
        ))
        .unwrap()
        .to_toml()
    }

    async fn run_in(out: &str, id: &str, state: &str, journal_config: Option<&str>) {
        let root = archetype_job::open_url(out).unwrap().join(id);
        let mut rec = runs::started(id, "n");
        rec.state = state.to_string();
        runs::write_run(&root, &rec).await.unwrap();
        if let Some(cfg) = journal_config {
            let summary = crate::summary::JobSummary::build(
                id,
                &archetype_job::JobConfig::from_toml(cfg).unwrap(),
                &archetype_job::JobLayout::new(&root, id),
                &[],
                Vec::new(),
                &[],
                Default::default(),
            );
            let mut j = crate::journal::Journal::new(id, cfg);
            crate::journal::record(&root, &mut j, "aggregate", &summary)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn resume_is_refused_for_unknown_finished_or_reconfigured_runs() {
        let out = "memory://server-resume/out";
        let cfg = config_toml(out, 3);
        run_in(out, "promoted", "succeeded", Some(&cfg)).await;
        run_in(out, "cut", "running", Some(&cfg)).await;
        let svc = CoordinatorService {
            state: CoordinatorState::new(1_000, 5_000),
        };
        let submit = |id: &str, config_toml: &str| {
            svc.submit_job(Request::new(v1::SubmitJobRequest {
                config_toml: config_toml.to_string(),
                resume_job_id: id.to_string(),
            }))
        };
        let code = |r: Result<Response<v1::SubmitJobReply>, Status>| r.unwrap_err().code();
        assert_eq!(
            code(submit("promoted", &cfg).await),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(code(submit("nope", &cfg).await), tonic::Code::NotFound);
        let other = submit("cut", &config_toml(out, 5)).await.unwrap_err();
        assert_eq!(other.code(), tonic::Code::FailedPrecondition);
        assert!(
            other.message().contains("vae.epochs"),
            "{}",
            other.message()
        );
        assert!(svc.state.lock().submitted.is_empty(), "nothing was queued");
        let resumed = submit("cut", &cfg).await.unwrap().into_inner();
        assert_eq!(resumed.job_id, "cut");
    }
}
