//! Whether a job may be run again under its id (`submit --resume ID`).
//!
//! A resumed job writes into the run it names, so it must be a run that exists, that has not
//! finished, and whose journal was written with the same config (phases kept from one config
//! and redone with another would make a run that neither config describes).
//!
//! Finished means: succeeded, named by `latest.json` (whatever its record says), or failed
//! after its last phase (the evaluation) was done, so that nothing is left to resume. A run
//! that failed before that, as when a drained member interrupts training or a job runs out of
//! retries, is what `--resume` exists for: it continues from the run's checkpoints.

use archetype_job::StoreUrl;

use crate::{journal, runs};

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(
        "job id `{id}` is not one: letters, digits, '-', '_' and '.' only, not starting with '.'"
    )]
    InvalidId { id: String },
    #[error("no job {job_id} to resume: {url} has neither run.json nor journal.json")]
    NotFound { job_id: String, url: String },
    #[error(
        "job {job_id} has finished ({state}) and a finished run is never written again; \
         submit without --resume for a new run"
    )]
    Finished { job_id: String, state: String },
    #[error(
        "job {job_id} is the promoted run (latest.json names it) and is never written again; \
         submit without --resume for a new run"
    )]
    Promoted { job_id: String },
    #[error(
        "job {job_id} ran with another config (differing keys: {}); resume it with its own \
         config, or submit without --resume for a new run",
        keys.join(", ")
    )]
    ConfigDiffers { job_id: String, keys: Vec<String> },
    #[error("cannot read job {job_id}'s records: {message}")]
    Store { job_id: String, message: String },
}

/// A job id given by a user must name one directory under the output URL.
pub fn check_job_id(id: &str) -> Result<(), ResumeError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ResumeError::InvalidId { id: id.to_string() })
    }
}

/// Checks that a job id a user gave names a run under `output` that can be resumed with
/// `config_toml` (as `JobConfig::to_toml` writes it, which is what the journal keeps).
pub async fn check(output: &StoreUrl, job_id: &str, config_toml: &str) -> Result<(), ResumeError> {
    check_job_id(job_id)?;
    check_run(output, job_id, config_toml).await
}

/// [`check`] without the id's spelling: for the ids the coordinator makes itself, such as
/// the sampling runs' `<job>/sampling/run-<i>`.
pub async fn check_run(
    output: &StoreUrl,
    job_id: &str,
    config_toml: &str,
) -> Result<(), ResumeError> {
    let root = output.join(job_id);
    let store = |message: String| ResumeError::Store {
        job_id: job_id.to_string(),
        message,
    };
    let record = runs::read_run(&root)
        .await
        .map_err(|e| store(e.to_string()))?;
    let journal = journal::load(&root).await.map_err(store)?;
    if record.is_none() && journal.is_none() {
        return Err(ResumeError::NotFound {
            job_id: job_id.to_string(),
            url: root.url,
        });
    }
    let latest = runs::latest(output)
        .await
        .map_err(|e| store(e.to_string()))?;
    if latest.is_some_and(|l| l.job_id == job_id) {
        return Err(ResumeError::Promoted {
            job_id: job_id.to_string(),
        });
    }
    let evaluated = journal.as_ref().is_some_and(|j| j.is_done("evaluate"));
    if let Some(r) = record.filter(|r| finished(&r.state, evaluated)) {
        return Err(ResumeError::Finished {
            job_id: job_id.to_string(),
            state: r.state,
        });
    }
    match journal {
        Some(j) if j.config_toml != config_toml => Err(ResumeError::ConfigDiffers {
            job_id: job_id.to_string(),
            keys: differing_keys(&j.config_toml, config_toml),
        }),
        _ => Ok(()),
    }
}

fn finished(state: &str, evaluated: bool) -> bool {
    match state {
        "running" => false,
        "failed" => evaluated,
        // `succeeded`, and states of a later version.
        _ => true,
    }
}

/// The dotted keys whose values differ between two configs, in order.
pub fn differing_keys(a: &str, b: &str) -> Vec<String> {
    match (a.parse::<toml::Table>(), b.parse::<toml::Table>()) {
        (Ok(a), Ok(b)) => {
            let mut out = Vec::new();
            diff_tables("", &a, &b, &mut out);
            out
        }
        // Journals are written from a parsed config, so this is a damaged journal.
        _ => vec!["<the journal's config does not parse>".to_string()],
    }
}

fn diff_tables(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                diff_tables(&path, x, y, out)
            }
            (x, y) if x != y => out.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archetype_job::JobConfig;
    use object_store::ObjectStoreExt;

    fn config(epochs: &str, name: &str) -> String {
        JobConfig::from_toml(&format!(
            "name = \"{name}\"\n[input]\nevents = [\"e.txt\"]\nusers = \"u.txt\"\n\
             [vae]\nepochs = {epochs}\n"
        ))
        .unwrap()
        .to_toml()
    }

    async fn run_with(out: &StoreUrl, id: &str, state: &str, cfg: Option<&str>) {
        let root = out.join(id);
        let mut rec = runs::started(id, "n");
        rec.state = state.to_string();
        runs::write_run(&root, &rec).await.unwrap();
        if let Some(cfg) = cfg {
            let mut j = journal::Journal::new(id, cfg);
            if id.ends_with("-evaluated") {
                j.done = journal::PHASES.iter().map(|p| p.to_string()).collect();
            }
            let at = root.join(journal::JOURNAL);
            let body = serde_json::to_vec(&j).unwrap();
            at.store.put(&at.path, body.into()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn only_an_unfinished_run_with_its_own_config_resumes() {
        let out = archetype_job::open_url("memory://resume-check/out").unwrap();
        let cfg = config("3", "a");
        run_with(&out, "done", "succeeded", Some(&cfg)).await;
        run_with(&out, "broke-evaluated", "failed", Some(&cfg)).await;
        run_with(&out, "drained", "failed", Some(&cfg)).await;
        run_with(&out, "cut", "running", Some(&cfg)).await;
        run_with(&out, "early", "running", None).await;
        run_with(&out, "promoted", "running", Some(&cfg)).await;
        let latest = runs::Latest {
            job_id: "promoted".into(),
            url: out.join("promoted").url,
            model: "VAE".into(),
            metric: "NDCG@10".into(),
            value: 0.3,
            promoted_at_unix: 0.0,
        };
        let at = out.join(runs::LATEST);
        let body = serde_json::to_vec(&latest).unwrap();
        at.store.put(&at.path, body.into()).await.unwrap();
        assert!(check(&out, "cut", &cfg).await.is_ok());
        assert!(check(&out, "drained", &cfg).await.is_ok(), "failed mid-way");
        assert!(
            check(&out, "early", &cfg).await.is_ok(),
            "no phase done yet"
        );
        assert!(matches!(
            check(&out, "promoted", &cfg).await,
            Err(ResumeError::Promoted { .. })
        ));
        for (id, state) in [("done", "succeeded"), ("broke-evaluated", "failed")] {
            match check(&out, id, &cfg).await {
                Err(ResumeError::Finished { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{id}: {other:?}"),
            }
        }
        assert!(matches!(
            check(&out, "never-ran", &cfg).await,
            Err(ResumeError::NotFound { .. })
        ));
        assert!(matches!(
            check(&out, "../up", &cfg).await,
            Err(ResumeError::InvalidId { .. })
        ));
        match check(&out, "cut", &config("5", "b")).await {
            Err(ResumeError::ConfigDiffers { keys, .. }) => {
                assert_eq!(keys, vec!["name".to_string(), "vae.epochs".to_string()])
            }
            other => panic!("{other:?}"),
        }
    }
}
