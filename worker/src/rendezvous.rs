//! Small values exchanged between the members of one task group through the coordinator:
//! rank 0 of a GPU phase publishes the NCCL unique id, the other ranks wait for it. The
//! coordinator is the one party every member already reaches (over TLS where configured), so
//! no extra port is opened for the exchange; the group is the task id without its member
//! number, so a retried phase never meets an earlier attempt's value.
//!
//! Blocking calls, for the phases' compute threads; they run the gRPC call on the worker's
//! tokio runtime.

use std::time::{Duration, Instant};

use archetype_ops::security::AuthChannel;
use archetype_proto::v1;
use archetype_proto::CoordinatorClient;
use tokio::runtime::Handle;

/// One member's handle on its task group's rendezvous.
#[derive(Clone)]
pub struct Rendezvous {
    client: CoordinatorClient<AuthChannel>,
    worker_id: String,
    group: String,
    rt: Handle,
}

/// The group of a task id: `"<job>/vae/3"` -> `"<job>/vae"`, `"<job>/vae/retry-1/0"` ->
/// `"<job>/vae/retry-1"`.
pub fn group_of(task_id: &str) -> &str {
    task_id.rsplit_once('/').map_or(task_id, |(g, _)| g)
}

/// How long one wait call asks the coordinator to hold it; the caller loops up to its own
/// deadline, so a restarted coordinator or a dropped connection costs one retry.
const POLL: Duration = Duration::from_secs(10);

impl Rendezvous {
    pub fn new(
        client: CoordinatorClient<AuthChannel>,
        worker_id: &str,
        task_id: &str,
        rt: Handle,
    ) -> Rendezvous {
        Rendezvous {
            client,
            worker_id: worker_id.to_string(),
            group: group_of(task_id).to_string(),
            rt,
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Publishes `value` as `name` in the group.
    ///
    /// # Errors
    /// The coordinator's refusal (another value already published, too large, unknown worker)
    /// or the transport's error, as text naming the group.
    pub fn publish(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let mut client = self.client.clone();
        let req = v1::RendezvousRequest {
            worker_id: self.worker_id.clone(),
            group: self.group.clone(),
            name: name.to_string(),
            value: Some(value.to_vec()),
            wait_ms: 0,
        };
        self.rt
            .block_on(client.rendezvous(req))
            .map(|_| ())
            .map_err(|s| format!("cannot publish {name} for {}: {}", self.group, s.message()))
    }

    /// Waits up to `timeout` for `name` to be published in the group.
    ///
    /// # Errors
    /// When nothing is published in time, or the coordinator refuses the call.
    pub fn wait(&self, name: &str, timeout: Duration) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{name} of {} was not published within {} s{}",
                    self.group,
                    timeout.as_secs(),
                    last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                ));
            }
            let mut client = self.client.clone();
            let req = v1::RendezvousRequest {
                worker_id: self.worker_id.clone(),
                group: self.group.clone(),
                name: name.to_string(),
                value: None,
                wait_ms: left.min(POLL).as_millis() as u64,
            };
            match self.rt.block_on(client.rendezvous(req)) {
                Ok(r) => {
                    if let Some(v) = r.into_inner().value {
                        return Ok(v);
                    }
                }
                // This worker was forgotten: its group is gone too, so waiting longer is
                // pointless.
                Err(s) if s.code() == tonic::Code::NotFound => {
                    return Err(format!(
                        "cannot wait for {name} of {}: {}",
                        self.group,
                        s.message()
                    ))
                }
                Err(s) => {
                    last_error = Some(s.message().to_string());
                    std::thread::sleep(Duration::from_millis(200).min(left));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_the_task_id_without_its_member() {
        assert_eq!(group_of("j1/vae/3"), "j1/vae");
        assert_eq!(group_of("j1/vae/retry-2/0"), "j1/vae/retry-2");
        assert_ne!(group_of("j1/vae/retry-2/0"), group_of("j1/vae/0"));
        assert_eq!(group_of("plain"), "plain");
    }
}
