//! Worker processes on loopback, for the embedded default and single-machine runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// Local worker processes; killed when dropped if still running.
pub struct LocalWorkers {
    children: Vec<Child>,
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
    /// Starts `n` workers with `threads` threads each, pointed at `coordinator`, each leaving
    /// after `max_tasks` tasks (one job's phases). With `log_dir`, each writes its log to
    /// `worker-<i>.log` there; otherwise logs go to this stderr.
    pub fn spawn(
        binary: Option<&str>,
        n: usize,
        threads: usize,
        coordinator: &str,
        log_dir: Option<&Path>,
        max_tasks: usize,
    ) -> Result<LocalWorkers, LocalError> {
        let binary = binary
            .map(PathBuf::from)
            .unwrap_or_else(default_worker_binary);
        if !binary.exists() {
            return Err(LocalError::Missing(binary.display().to_string()));
        }
        let mut children = Vec::new();
        for index in 0..n {
            let mut cmd = Command::new(&binary);
            cmd.arg("--coordinator")
                .arg(coordinator)
                .arg("--threads")
                .arg(threads.to_string())
                .arg("--max-tasks")
                .arg(max_tasks.to_string())
                .stdin(Stdio::null());
            if let Some(dir) = log_dir {
                let path = dir.join(format!("worker-{index}.log"));
                let f = std::fs::File::create(&path).map_err(|source| LocalError::Log {
                    path: path.display().to_string(),
                    source,
                })?;
                let f2 = f.try_clone().map_err(|source| LocalError::Log {
                    path: path.display().to_string(),
                    source,
                })?;
                cmd.stdout(f).stderr(f2);
            }
            let child = cmd.spawn().map_err(|source| LocalError::Spawn {
                index,
                binary: binary.display().to_string(),
                source,
            })?;
            info!(index, pid = child.id(), "started local worker");
            children.push(child);
        }
        Ok(LocalWorkers { children })
    }

    /// Waits up to `grace` for the workers to exit, then kills the rest.
    pub fn finish(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        for c in &mut self.children {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
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
        self.children.clear();
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
