//! The job journal: what a restarted coordinator needs to resume a job where it stood.
//!
//! Two records, both single JSON objects written with one `put` (atomic on every object
//! store: a reader sees the old object or the new one, never a mix):
//! - `<job>/journal.json` ([`Journal`]): the job's config, the phases completed in order and
//!   the summary as of the last one. It is written after each phase's outputs (and their own
//!   commit markers) are in place, so a phase listed there is complete. A job run again under
//!   its id (`submit --resume`, or a restarted coordinator) skips the listed phases; the phase
//!   that was running is redone, training from its last checkpoint.
//! - `<journal url>/jobs/<job id>.json` ([`JobEntry`]), kept by `archetype serve --journal`:
//!   the jobs this coordinator accepted and their state, so that after a restart it finds the
//!   ones it had queued or was running and takes them up again.

use archetype_job::StoreUrl;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::summary::JobSummary;

pub const JOURNAL: &str = "journal.json";

/// Phases in the order a job runs them; the journal lists those done.
pub const PHASES: [&str; 6] = [
    "aggregate",
    "archetypes",
    "context",
    "als",
    "vae",
    "evaluate",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    pub job_id: String,
    /// The config the phases ran with; a job resumed with another config starts over.
    pub config_toml: String,
    /// Phases completed, in the order they completed.
    pub done: Vec<String>,
    /// The summary as of the last completed phase.
    pub summary: Option<JobSummary>,
    pub updated_unix: u64,
}

impl Journal {
    pub fn new(job_id: &str, config_toml: &str) -> Journal {
        Journal {
            job_id: job_id.to_string(),
            config_toml: config_toml.to_string(),
            done: Vec::new(),
            summary: None,
            updated_unix: 0,
        }
    }

    pub fn is_done(&self, phase: &str) -> bool {
        self.done.iter().any(|p| p == phase)
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn get_json<T: serde::de::DeserializeOwned>(at: &StoreUrl) -> Result<Option<T>, String> {
    match at.store.get(&at.path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| format!("{}: {e}", at.url))?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", at.url))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!("{}: {e}", at.url)),
    }
}

async fn put_json<T: Serialize>(at: &StoreUrl, value: &T) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| format!("{}: {e}", at.url))?;
    at.store
        .put(&at.path, PutPayload::from(body))
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", at.url))
}

/// The job's journal, if it has one.
pub async fn load(job_root: &StoreUrl) -> Result<Option<Journal>, String> {
    get_json(&job_root.join(JOURNAL)).await
}

/// Records `phase` as complete with the summary as it now stands.
pub async fn record(
    job_root: &StoreUrl,
    journal: &mut Journal,
    phase: &str,
    summary: &JobSummary,
) -> Result<(), String> {
    if !journal.is_done(phase) {
        journal.done.push(phase.to_string());
    }
    journal.summary = Some(summary.clone());
    journal.updated_unix = now_unix();
    put_json(&job_root.join(JOURNAL), journal).await
}

/// A job as `serve --journal` keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobEntry {
    pub job_id: String,
    pub config_toml: String,
    /// `queued`, `running`, `succeeded`, `failed`, or `interrupted` (the coordinator was
    /// stopped while it ran: resumed at the next start).
    pub state: String,
    pub error: String,
    pub updated_unix: u64,
}

impl JobEntry {
    /// Whether a coordinator starting up should take the job (again).
    pub fn unfinished(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running" | "interrupted")
    }
}

fn entry_url(journal: &StoreUrl, job_id: &str) -> StoreUrl {
    journal.join(&format!("jobs/{job_id}.json"))
}

pub async fn put_entry(
    journal: &StoreUrl,
    job_id: &str,
    config_toml: &str,
    state: &str,
    error: &str,
) -> Result<(), String> {
    let e = JobEntry {
        job_id: job_id.to_string(),
        config_toml: config_toml.to_string(),
        state: state.to_string(),
        error: error.to_string(),
        updated_unix: now_unix(),
    };
    put_json(&entry_url(journal, job_id), &e).await
}

/// Updates the state of an entry, keeping its config.
pub async fn set_state(
    journal: &StoreUrl,
    job_id: &str,
    state: &str,
    error: &str,
) -> Result<(), String> {
    let at = entry_url(journal, job_id);
    let Some(mut e) = get_json::<JobEntry>(&at).await? else {
        return Err(format!("{}: no such journal entry", at.url));
    };
    e.state = state.to_string();
    e.error = error.to_string();
    e.updated_unix = now_unix();
    put_json(&at, &e).await
}

/// Every job entry, in job-id order (ids sort by submission time).
pub async fn entries(journal: &StoreUrl) -> Result<Vec<JobEntry>, String> {
    let dir = journal.join("jobs");
    let metas: Vec<_> = dir
        .store
        .list(Some(&dir.path))
        .try_collect()
        .await
        .map_err(|e| format!("{}: {e}", dir.url))?;
    let mut out = Vec::new();
    for m in metas {
        if !m.location.as_ref().ends_with(".json") {
            continue;
        }
        let at = StoreUrl {
            store: dir.store.clone(),
            path: m.location.clone(),
            url: format!("{}/{}", journal.url.trim_end_matches('/'), m.location),
        };
        if let Some(e) = get_json::<JobEntry>(&at).await? {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    Ok(out)
}

/// Deletes every object below `prefix`: a phase about to be (re)done starts from an empty
/// output directory, so parts of an earlier, interrupted attempt cannot be read as its own.
pub async fn clear_prefix(prefix: &StoreUrl) -> Result<u64, String> {
    let metas: Vec<_> = prefix
        .store
        .list(Some(&prefix.path))
        .try_collect()
        .await
        .map_err(|e| format!("{}: {e}", prefix.url))?;
    let mut n = 0;
    for m in metas {
        match prefix.store.delete(&m.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => n += 1,
            Err(e) => return Err(format!("{}: deleting {}: {e}", prefix.url, m.location)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> StoreUrl {
        archetype_job::open_url(&format!("memory://journal-test-{name}/root")).unwrap()
    }

    #[tokio::test]
    async fn a_journal_lists_the_phases_recorded_and_survives_a_reload() {
        let r = root("phases");
        assert!(load(&r).await.unwrap().is_none());
        let mut j = Journal::new("job-1", "name = \"x\"\n");
        let config = archetype_job::JobConfig::from_toml(
            "[input]\nevents = [\"e.txt\"]\nusers = \"u.txt\"\n",
        )
        .unwrap();
        let layout = archetype_job::JobLayout::new(&r, "job-1");
        let summary = JobSummary::build(
            "job-1",
            &config,
            &layout,
            &[],
            Vec::new(),
            &[],
            Default::default(),
        );
        record(&r, &mut j, "aggregate", &summary).await.unwrap();
        record(&r, &mut j, "als", &summary).await.unwrap();
        record(&r, &mut j, "als", &summary).await.unwrap();
        let back = load(&r).await.unwrap().unwrap();
        assert_eq!(back.done, vec!["aggregate", "als"]);
        assert!(back.is_done("als") && !back.is_done("vae"));
        assert_eq!(back.config_toml, "name = \"x\"\n");
        assert_eq!(back.summary.unwrap().job_id, summary.job_id);
    }

    #[tokio::test]
    async fn entries_keep_their_config_across_state_changes_and_sort_by_id() {
        let r = root("entries");
        put_entry(&r, "b-2", "cfg-b", "queued", "").await.unwrap();
        put_entry(&r, "a-1", "cfg-a", "running", "").await.unwrap();
        set_state(&r, "b-2", "failed", "boom").await.unwrap();
        let all = entries(&r).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].job_id, "a-1");
        assert!(all[0].unfinished());
        assert_eq!(all[1].config_toml, "cfg-b");
        assert_eq!(all[1].state, "failed");
        assert_eq!(all[1].error, "boom");
        assert!(!all[1].unfinished());
        assert!(set_state(&r, "nope", "failed", "").await.is_err());
    }

    #[tokio::test]
    async fn clearing_a_prefix_deletes_below_it_only() {
        let r = root("clear");
        for p in [
            "aggregate/a/part-0.parquet",
            "aggregate/b.json",
            "als/state.json",
        ] {
            let u = r.join(p);
            u.store
                .put(&u.path, PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        assert_eq!(clear_prefix(&r.join("aggregate")).await.unwrap(), 2);
        let left: Vec<_> = r.store.list(Some(&r.path)).try_collect().await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].location.as_ref().ends_with("als/state.json"));
    }
}
