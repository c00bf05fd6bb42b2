//! Worker processes on loopback, for the embedded default and single-machine runs.
//!
//! The launcher is also their supervisor, as a Kubernetes StatefulSet is for the pods: a worker
//! that dies (killed, crashed, or exiting after an abort) is started again, a bounded number of
//! times, so the coordinator can re-form the cluster and redo the phase it lost. A worker that
//! exits cleanly (the coordinator told it to shut down) stays down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("worker binary not found at {0} (build it with `cargo build --release -p archetype-worker`, or set cluster.worker_binary)")]
    Missing(String),
    #[error("cannot start worker {index} ({binary}): {source}")]
    Spawn {
        index: usize,
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the log file {path}: {source}")]
    Log {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How each local worker is started.
#[derive(Clone, Debug)]
struct Launch {
    binary: PathBuf,
    threads: usize,
    coordinator: String,
    log_dir: Option<PathBuf>,
}

impl Launch {
    fn start(&self, index: usize) -> Result<Child, LocalError> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--coordinator")
            .arg(&self.coordinator)
            .arg("--threads")
            .arg(self.threads.to_string())
            // The coordinator is in our own process: when it is gone it is not coming back.
            .args(["--reconnect-s", "15"])
            // An aborted task's survivors restart under this supervisor; do not keep the
            // re-formed cluster waiting on a stuck one.
            .args(["--abort-grace-s", "20"])
            .stdin(Stdio::null());
        if let Some(t) = with_huge_pages(std::env::var("GLIBC_TUNABLES").ok()) {
            cmd.env("GLIBC_TUNABLES", t);
        }
        if let Some(dir) = &self.log_dir {
            let path = dir.join(format!("worker-{index}.log"));
            let log_err = |source| LocalError::Log {
                path: path.display().to_string(),
                source,
            };
            // A restarted worker appends, so the log keeps what led to the restart.
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(log_err)?;
            let f2 = f.try_clone().map_err(log_err)?;
            cmd.stdout(f).stderr(f2);
        }
        cmd.spawn().map_err(|source| LocalError::Spawn {
            index,
            binary: self.binary.display().to_string(),
            source,
        })
    }
}

/// glibc tunables for a worker: ours plus `glibc.malloc.hugetlb=1` unless the caller chose a
/// value. With transparent huge pages in `madvise` mode (the usual default) glibc's heaps get
/// huge pages only when asked, and without them first-touch page faults were about a tenth of
/// the aggregation's CPU (the deployment images set the same variable).
fn with_huge_pages(current: Option<String>) -> Option<String> {
    const HUGE: &str = "glibc.malloc.hugetlb=1";
    match current {
        None => Some(HUGE.to_owned()),
        Some(t) if t.trim().is_empty() => Some(HUGE.to_owned()),
        Some(t) if t.contains("glibc.malloc.hugetlb") => None,
        Some(t) => Some(format!("{t}:{HUGE}")),
    }
}

struct Slot {
    child: Child,
    restarts: u32,
}

/// Local worker processes under a supervisor thread; killed when dropped if still running.
pub struct LocalWorkers {
    slots: Arc<Mutex<Vec<Slot>>>,
    stop: Arc<AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

/// `archetype-worker` next to this executable (also when this is a test binary in `deps/`).
pub fn default_worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = format!("archetype-worker{}", std::env::consts::EXE_SUFFIX);
    let here = dir.join(&name);
    if here.exists() {
        return here;
    }
    dir.parent().map(|p| p.join(&name)).unwrap_or(here)
}

impl LocalWorkers {
    /// Starts `n` workers with `threads` threads each, pointed at `coordinator`, and restarts
    /// any that dies, up to `max_restarts` times each. With `log_dir`, each writes its log to
    /// `worker-<i>.log` there; otherwise logs go to this stderr. The workers leave when the
    /// coordinator shuts down.
    pub fn spawn(
        binary: Option<&str>,
        n: usize,
        threads: usize,
        coordinator: &str,
        log_dir: Option<&Path>,
        max_restarts: u32,
    ) -> Result<LocalWorkers, LocalError> {
        let binary = binary
            .map(PathBuf::from)
            .unwrap_or_else(default_worker_binary);
        if !binary.exists() {
            return Err(LocalError::Missing(binary.display().to_string()));
        }
        if let Some(dir) = log_dir {
            for index in 0..n {
                // Fresh logs per run; restarts append.
                let path = dir.join(format!("worker-{index}.log"));
                std::fs::File::create(&path).map_err(|source| LocalError::Log {
                    path: path.display().to_string(),
                    source,
                })?;
            }
        }
        let launch = Launch {
            binary,
            threads,
            coordinator: coordinator.to_string(),
            log_dir: log_dir.map(Path::to_path_buf),
        };
        let mut slots = Vec::new();
        for index in 0..n {
            let child = launch.start(index)?;
            info!(index, pid = child.id(), "started local worker");
            slots.push(Slot { child, restarts: 0 });
        }
        let slots = Arc::new(Mutex::new(slots));
        let stop = Arc::new(AtomicBool::new(false));
        let supervisor = {
            let slots = slots.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("local-worker-supervisor".into())
                .spawn(move || supervise(&launch, &slots, &stop, max_restarts))
                .ok()
        };
        Ok(LocalWorkers {
            slots,
            stop,
            supervisor,
        })
    }

    /// Process ids of the workers now running, by index (what a fault-injection test kills).
    pub fn pids(&self) -> Vec<u32> {
        self.slots
            .lock()
            .map(|s| s.iter().map(|s| s.child.id()).collect())
            .unwrap_or_default()
    }

    /// Restarts done so far, over all workers.
    pub fn restarts(&self) -> u32 {
        self.slots
            .lock()
            .map(|s| s.iter().map(|s| s.restarts).sum())
            .unwrap_or(0)
    }

    /// Stops supervising, waits up to `grace` for the workers to exit, then kills the rest.
    pub fn finish(mut self, grace: Duration) {
        self.stop_supervisor();
        let deadline = Instant::now() + grace;
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        for s in slots.iter_mut() {
            let c = &mut s.child;
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    _ => {
                        warn!(pid = c.id(), "worker did not exit in time; killing it");
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
        slots.clear();
    }

    fn stop_supervisor(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.supervisor.take() {
            // Wake it from its wait: joining a sleeping supervisor added up to one period to
            // the end of every local job.
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

fn supervise(launch: &Launch, slots: &Mutex<Vec<Slot>>, stop: &AtomicBool, max_restarts: u32) {
    while !stop.load(Ordering::Relaxed) {
        // Parked rather than asleep so that `stop_supervisor` can wake it at once; a spurious
        // wake only checks the children early.
        std::thread::park_timeout(Duration::from_millis(200));
        let Ok(mut slots) = slots.lock() else { return };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        for (index, s) in slots.iter_mut().enumerate() {
            let status = match s.child.try_wait() {
                Ok(Some(status)) => status,
                _ => continue,
            };
            if status.success() || s.restarts >= max_restarts {
                continue;
            }
            match launch.start(index) {
                Ok(child) => {
                    s.restarts += 1;
                    warn!(
                        index,
                        %status,
                        restart = s.restarts,
                        pid = child.id(),
                        "local worker died; started it again"
                    );
                    s.child = child;
                }
                Err(e) => {
                    warn!(index, error = %e, "cannot restart a local worker");
                    s.restarts = max_restarts;
                }
            }
        }
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        self.stop_supervisor();
        if let Ok(mut slots) = self.slots.lock() {
            for s in slots.iter_mut() {
                let _ = s.child.kill();
                let _ = s.child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_huge_pages;

    #[test]
    fn huge_pages_added_unless_chosen() {
        assert_eq!(
            with_huge_pages(None).as_deref(),
            Some("glibc.malloc.hugetlb=1")
        );
        assert_eq!(
            with_huge_pages(Some(String::new())).as_deref(),
            Some("glibc.malloc.hugetlb=1")
        );
        assert_eq!(
            with_huge_pages(Some("glibc.malloc.arena_max=2".into())).as_deref(),
            Some("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1")
        );
        // An explicit choice, on or off, is left alone.
        assert_eq!(with_huge_pages(Some("glibc.malloc.hugetlb=0".into())), None);
    }
}
