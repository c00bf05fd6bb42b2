//! Graceful shutdown: SIGTERM (what Kubernetes sends before it kills a pod) and Ctrl-C become
//! one process-wide flag.
//!
//! Nothing is cancelled from outside: timely threads cannot be, and a training step cut in
//! half would leave nothing worth saving. Long loops poll [`requested`] at their safe points
//! instead (the VAE trainer after every step, sharing the flag with its peers in the step's
//! all-reduce), write a checkpoint and return; the binary then exits before the grace period
//! ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

struct State {
    flag: Arc<AtomicBool>,
    notify: Notify,
    reason: std::sync::Mutex<&'static str>,
}

fn state() -> &'static State {
    static S: OnceLock<State> = OnceLock::new();
    S.get_or_init(|| State {
        flag: Arc::new(AtomicBool::new(false)),
        notify: Notify::new(),
        reason: std::sync::Mutex::new(""),
    })
}

/// The process-wide flag, for code that must not depend on this crate's functions (a
/// trainer takes an `Arc<AtomicBool>`).
pub fn flag() -> Arc<AtomicBool> {
    state().flag.clone()
}

/// Whether a shutdown was asked for.
pub fn requested() -> bool {
    state().flag.load(Ordering::SeqCst)
}

/// Which signal asked for it ("SIGTERM", "SIGINT", or what [`request`] was given).
pub fn reason() -> &'static str {
    state().reason.lock().map(|r| *r).unwrap_or("")
}

/// Asks for a shutdown as a signal would (tests, and a coordinator that tells its own loops).
pub fn request(why: &'static str) {
    let s = state();
    if let Ok(mut r) = s.reason.lock() {
        if r.is_empty() {
            *r = why;
        }
    }
    s.flag.store(true, Ordering::SeqCst);
    s.notify.notify_waiters();
}

/// Resolves once a shutdown has been asked for.
pub async fn wait() {
    loop {
        let n = state().notify.notified();
        if requested() {
            return;
        }
        n.await;
    }
}

/// Turns SIGTERM and SIGINT into [`request`]; call once from inside a tokio runtime.
/// A second signal after the first exits at once with status 130, for a person at a terminal
/// who does not want to wait for the checkpoint.
pub fn install_signal_handlers() {
    tokio::spawn(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot install the SIGTERM/SIGINT handlers");
                return;
            };
            loop {
                let which = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                if requested() {
                    tracing::warn!(signal = which, "second signal: exiting now");
                    std::process::exit(130);
                }
                tracing::info!(
                    signal = which,
                    "shutdown requested: finishing the current step, checkpointing, then exiting"
                );
                request(which);
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                request("SIGINT");
            }
        }
    });
}
