//! Helpers shared by the worker's integration tests: a small generated data set and its
//! aggregation on one process.

use std::path::Path;
use std::sync::Arc;

use archetype_datagen::{generate, GeneratorConfig};
use archetype_job::config::{FilterConfig, SplitProtocol};
use archetype_job::{open_url, JobConfig, StoreUrl};
use archetype_worker::{run_aggregation, AggregateParams, ClusterSpec, Progress};

/// A config over the data set in `data`; later phases (archetypes, ALS, VAE) are off, tests turn
/// on what they exercise.
pub fn config(data: &Path, protocol: SplitProtocol) -> JobConfig {
    let mut c = JobConfig::from_toml(&format!(
        "[input]\nevents = [\"{d}/LFM-1b_LEs.txt\"]\nusers = \"{d}/LFM-1b_users.txt\"\n",
        d = data.display()
    ))
    .unwrap();
    c.filter = FilterConfig {
        require_country: true,
        min_track_les: 5,
        keep_all_tracks: false,
        min_country_les: 1_000,
        min_country_users: 3,
        ..FilterConfig::default()
    };
    c.ingest.shard_bytes = 256 << 10;
    c.eval.protocol = protocol;
    c.eval.validation_users = 40;
    c.eval.test_users = 60;
    c.archetypes.enabled = false;
    c.als.enabled = false;
    c.vae.enabled = false;
    c
}

pub fn aggregate(
    rt: &tokio::runtime::Runtime,
    c: &JobConfig,
    out: &Path,
    threads: usize,
) -> StoreUrl {
    let shards = rt.block_on(archetype_job::plan::plan_shards(c)).unwrap();
    let root = open_url(out.to_str().unwrap()).unwrap();
    let params = AggregateParams {
        config: c.clone(),
        shards,
        job_root: root.url.clone(),
        cluster: ClusterSpec::Local { threads },
    };
    run_aggregation(params, Arc::new(Progress::default()), rt.handle().clone()).unwrap();
    root
}

#[allow(dead_code)] // Not every test binary uses it.
pub fn data(dir: &Path) {
    let gen = GeneratorConfig {
        seed: 5,
        events: 150_000,
        users: Some(1_200),
        ..GeneratorConfig::default()
    };
    generate(&gen, dir, false).unwrap();
}
