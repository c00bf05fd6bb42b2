//! Runs the aggregation in-process on a generated data directory, for profiling without the
//! coordinator: `cargo run --release -p archetype-worker --example aggregate_local -- DIR THREADS`.

use std::sync::Arc;
use std::time::Instant;

use archetype_job::{open_url, JobConfig};
use archetype_worker::{run_aggregation, AggregateParams, ClusterSpec, Progress};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("demo-out/data");
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(2);
    let overrides: Vec<String> = args.iter().skip(3).cloned().collect();
    let text = format!(
        "[input]\nevents = [\"{dir}/LFM-1b_LEs.txt\"]\nusers = \"{dir}/LFM-1b_users.txt\"\n[output]\nurl = \"{dir}/../profile-out\"\n"
    );
    let config = JobConfig::from_toml_with(&text, "cli", &overrides)?;
    let rt = tokio::runtime::Runtime::new()?;
    let shards = rt.block_on(archetype_job::plan::plan_shards(&config))?;
    let root = open_url(&format!("{dir}/../profile-out/run"))?;
    let t0 = Instant::now();
    let outcome = run_aggregation(
        AggregateParams {
            config,
            shards,
            job_root: root.url.clone(),
            cluster: ClusterSpec::Local { threads },
        },
        Arc::new(Progress::default()),
        rt.handle().clone(),
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let events = outcome.get("events.accepted");
    println!(
        "{events} events in {secs:.3}s = {:.0} events/s; phases {:?}; pairs {}",
        events as f64 / secs,
        outcome.phase_seconds,
        outcome.get("pairs.distinct")
    );
    Ok(())
}
