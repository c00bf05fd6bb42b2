//! Fault injection for the reliability tests: a worker that kills itself at a chosen point,
//! as `kill -9` from outside would, but at a point a test can name.
//!
//! `ARCHETYPE_FAILPOINT=<point>:<n>[,<point>:<n>...]` arms it: the worker dies by SIGKILL
//! when it reaches the `n`-th unit of `point` (`aggregate`: event shards read; `als`: ALS
//! iterations, before the iteration's checkpoint is committed; `vae`: training steps).
//! `ARCHETYPE_FAILPOINT_ONCE=<dir>` makes each point fire once across processes and restarts:
//! only the process that creates `<dir>/<point>` dies. Unset, nothing is checked beyond one
//! cached lookup.
//!
//! `ARCHETYPE_DELAY=<point>:<ms>[,...]` makes the worker pause at a point instead (`dial`:
//! before a member dials its peers), holding a window open for a test, such as a formation
//! that strangers try to break into.

use std::path::PathBuf;
use std::sync::OnceLock;

struct FailPoint {
    point: String,
    at: u64,
}

struct Armed {
    points: Vec<FailPoint>,
    once: Option<PathBuf>,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("ARCHETYPE_FAILPOINT").ok()?;
            let points: Vec<FailPoint> = spec
                .split(',')
                .filter_map(|p| {
                    let (point, at) = p.split_once(':')?;
                    Some(FailPoint {
                        point: point.trim().to_string(),
                        at: at.trim().parse().ok()?,
                    })
                })
                .collect();
            if points.is_empty() {
                tracing::warn!(spec, "ARCHETYPE_FAILPOINT names no point:count; ignored");
                return None;
            }
            Some(Armed {
                points,
                once: std::env::var_os("ARCHETYPE_FAILPOINT_ONCE").map(Into::into),
            })
        })
        .as_ref()
}

/// Called where `point` makes progress, with the units done so far.
pub fn reached(point: &str, done: u64) {
    let Some(a) = armed() else { return };
    if !a.points.iter().any(|f| f.point == point && done >= f.at) {
        return;
    }
    if let Some(dir) = &a.once {
        // create_new is atomic: of the processes racing here, one wins.
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(point))
            .is_err()
        {
            return;
        }
    }
    tracing::error!(
        point,
        done,
        "failpoint reached: killing this worker (SIGKILL)"
    );
    // SAFETY: kill(2) on our own pid with a valid signal has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// Pauses where `point` is armed in `ARCHETYPE_DELAY`.
pub fn pause(point: &str) {
    static DELAYS: OnceLock<Vec<(String, u64)>> = OnceLock::new();
    let delays = DELAYS.get_or_init(|| {
        std::env::var("ARCHETYPE_DELAY")
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| {
                let (point, ms) = p.split_once(':')?;
                Some((point.trim().to_string(), ms.trim().parse().ok()?))
            })
            .collect()
    });
    if let Some((_, ms)) = delays.iter().find(|(p, _)| p == point) {
        tracing::warn!(point, ms, "ARCHETYPE_DELAY: pausing");
        std::thread::sleep(std::time::Duration::from_millis(*ms));
    }
}
