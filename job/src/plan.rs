//! From a job config to shards: every input resolved, checked and cut.

use archetype_lfm::shard::{plan_file, FileKind, ShardSpec};

use crate::{open_url, JobConfig};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("input {url}: {message}")]
    Input { url: String, message: String },
}

/// Every input of the job, cut into shards with ids 0.. in input order.
pub async fn plan_shards(config: &JobConfig) -> Result<Vec<ShardSpec>, PlanError> {
    let mut inputs: Vec<(String, FileKind)> = vec![(config.input.users.clone(), FileKind::Users)];
    if let Some(t) = &config.input.tracks {
        inputs.push((t.clone(), FileKind::Tracks));
    }
    if let Some(a) = &config.input.artists {
        inputs.push((a.clone(), FileKind::Artists));
    }
    inputs.extend(
        config
            .input
            .events
            .iter()
            .map(|e| (e.clone(), FileKind::Events)),
    );
    let mut shards = Vec::new();
    for (raw, kind) in inputs {
        let loc = open_url(&raw).map_err(|e| PlanError::Input {
            url: raw.clone(),
            message: e.to_string(),
        })?;
        let planned = plan_file(
            loc.store.as_ref(),
            &loc.path,
            &loc.url,
            kind,
            config.ingest.shard_bytes,
            shards.len() as u32,
        )
        .await
        .map_err(|e| PlanError::Input {
            url: loc.url.clone(),
            message: e.to_string(),
        })?;
        shards.extend(planned);
    }
    // One empty file among many is fine; no events at all is a mistake (a wrong path in a
    // bucket that has the object, an export that failed), not a job with nothing to learn.
    let events = shards
        .iter()
        .filter(|s| s.kind == FileKind::Events)
        .map(|s| s.file_size)
        .max()
        .unwrap_or(0);
    if events == 0 {
        return Err(PlanError::Input {
            url: config.input.events.join(", "),
            message: "the events input is empty (0 bytes): no listening events to aggregate"
                .to_string(),
        });
    }
    Ok(shards)
}
