//! The dataflow against the single-threaded reference, for 1, 2 and 4 workers and for
//! shard sizes that cut rows everywhere.

use std::path::Path;
use std::sync::Arc;

use archetype_datagen::{generate, BadRowInjection, GeneratorConfig};
use archetype_job::config::FilterConfig;
use archetype_job::{open_url, JobConfig};
use archetype_lfm::parse::TimeWindow;
use archetype_lfm::shard::ShardSpec;
use archetype_worker::reference::{aggregate_files, load_tables, Aggregate};
use archetype_worker::{run_aggregation, AggregateParams, ClusterSpec, Progress};

fn config(data: &Path, filter: &FilterConfig, shard_bytes: u64) -> JobConfig {
    let mut c = JobConfig::from_toml(&format!(
        "[input]\nevents = [\"{d}/LFM-1b_LEs.txt\"]\nusers = \"{d}/LFM-1b_users.txt\"\n",
        d = data.display()
    ))
    .unwrap();
    c.filter = filter.clone();
    c.ingest.shard_bytes = shard_bytes;
    c.ingest.preagg_pairs = 5_000; // flush often: partial aggregates must merge correctly
    c.ingest.max_bad_fraction = 1.0;
    c
}

async fn plan(c: &JobConfig) -> Vec<ShardSpec> {
    archetype_job::plan::plan_shards(c).await.unwrap()
}

fn run(
    data: &Path,
    out: &Path,
    filter: &FilterConfig,
    threads: usize,
    shard_bytes: u64,
) -> (Aggregate, archetype_worker::AggregateOutcome) {
    run_with(data, out, filter, threads, shard_bytes, |_| {})
}

/// [`run`] with the config adjusted first (e.g. the names files added).
fn run_with(
    data: &Path,
    out: &Path,
    filter: &FilterConfig,
    threads: usize,
    shard_bytes: u64,
    adjust: impl FnOnce(&mut JobConfig),
) -> (Aggregate, archetype_worker::AggregateOutcome) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = config(data, filter, shard_bytes);
    adjust(&mut c);
    let shards = rt.block_on(plan(&c));
    let job_root = open_url(out.to_str().unwrap()).unwrap();
    let params = AggregateParams {
        config: c,
        shards,
        job_root: job_root.url.clone(),
        cluster: ClusterSpec::Local { threads },
    };
    let outcome =
        run_aggregation(params, Arc::new(Progress::default()), rt.handle().clone()).unwrap();
    let got = rt.block_on(load_tables(&job_root)).unwrap();
    (got, outcome)
}

fn reference(data: &Path, filter: &FilterConfig) -> Aggregate {
    aggregate_files(
        &[&data.join("LFM-1b_LEs.txt")],
        &data.join("LFM-1b_users.txt"),
        filter,
        TimeWindow::default(),
    )
    .unwrap()
}

fn paper_like() -> FilterConfig {
    FilterConfig {
        require_country: true,
        min_track_les: 10,
        keep_all_tracks: false,
        min_country_les: 2_000,
        min_country_users: 5,
        ..FilterConfig::default()
    }
}

#[test]
fn equals_the_reference_for_1_2_and_4_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 21,
        events: 200_000,
        bad_rows: BadRowInjection::default()
            .with("column_count", 2)
            .with("not_a_number", 2)
            .with("duplicate_user", 3),
        ..GeneratorConfig::default()
    };
    generate(&gen, &data, false).unwrap();
    let want = reference(&data, &paper_like());
    assert!(
        want.countries.values().any(|c| c.2),
        "no country passes: test data too small"
    );
    assert!(
        want.countries.values().any(|c| !c.2),
        "every country passes: filter untested"
    );
    for threads in [1, 2, 4] {
        let out = tmp.path().join(format!("out-{threads}"));
        let (got, outcome) = run(&data, &out, &paper_like(), threads, 64 << 10);
        assert_eq!(got.interactions, want.interactions, "{threads} workers");
        assert_eq!(got.users, want.users, "{threads} workers");
        assert_eq!(got.tracks, want.tracks, "{threads} workers");
        assert_eq!(
            got.country_profiles, want.country_profiles,
            "{threads} workers"
        );
        assert_eq!(got.countries, want.countries, "{threads} workers");
        for (kind, n) in &want.bad_rows {
            assert_eq!(
                outcome.get(&format!("bad_rows.{kind}")),
                *n,
                "{kind}, {threads} workers"
            );
        }
        assert_eq!(
            outcome.get("interactions.rows"),
            want.interactions.len() as u64
        );
    }
}

#[test]
fn keep_all_tracks_and_no_country_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &GeneratorConfig {
            seed: 4,
            events: 60_000,
            ..GeneratorConfig::default()
        },
        &data,
        false,
    )
    .unwrap();
    let filter = FilterConfig {
        require_country: false,
        min_track_les: 1_000_000,
        keep_all_tracks: true,
        min_country_les: 0,
        min_country_users: 0,
        ..FilterConfig::default()
    };
    let want = reference(&data, &filter);
    let (got, _) = run(&data, &tmp.path().join("out"), &filter, 3, 7_777);
    assert_eq!(
        got,
        Aggregate {
            bad_rows: got.bad_rows.clone(),
            ..want.clone()
        }
    );
    // Every valid event of a known user is kept in this mode.
    let kept: u64 = got.interactions.values().map(|v| u64::from(v.0)).sum();
    assert!(kept > 50_000, "{kept}");
}

#[test]
fn compressed_and_parquet_inputs_aggregate_like_plain_text() {
    use archetype_datagen::OutputEncoding;
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    let base = GeneratorConfig {
        seed: 8,
        events: 80_000,
        ..GeneratorConfig::default()
    };
    generate(&base, &plain, false).unwrap();
    let want = reference(&plain, &paper_like());
    assert!(!want.interactions.is_empty());
    for enc in [
        OutputEncoding::Gzip,
        OutputEncoding::Bzip2,
        OutputEncoding::Zstd,
        OutputEncoding::Parquet,
    ] {
        let dir = tmp.path().join(enc.name());
        generate(
            &GeneratorConfig {
                encoding: enc,
                ..base.clone()
            },
            &dir,
            false,
        )
        .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut c = config(&dir, &paper_like(), 32 << 10);
        c.input.events = vec![dir.join(enc.events_file_name()).display().to_string()];
        let shards = rt.block_on(plan(&c));
        let out = open_url(dir.join("out").to_str().unwrap()).unwrap();
        let params = AggregateParams {
            config: c,
            shards,
            job_root: out.url.clone(),
            cluster: ClusterSpec::Local { threads: 2 },
        };
        run_aggregation(params, Arc::new(Progress::default()), rt.handle().clone()).unwrap();
        let got = rt.block_on(load_tables(&out)).unwrap();
        assert_eq!(got.interactions, want.interactions, "{}", enc.name());
        assert_eq!(got.tracks, want.tracks, "{}", enc.name());
        assert_eq!(got.countries, want.countries, "{}", enc.name());
    }
}

#[test]
fn sampled_tracks_match_the_reference_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &GeneratorConfig {
            seed: 9,
            events: 120_000,
            ..GeneratorConfig::default()
        },
        &data,
        false,
    )
    .unwrap();
    let full = reference(&data, &paper_like());
    let n = full.tracks.len() as u64 / 3;
    assert!(n >= 50, "too few tracks to sample: {}", full.tracks.len());
    let sampled = |seed: u64| FilterConfig {
        sample_tracks: Some(n),
        sample_seed: seed,
        ..paper_like()
    };
    let want = reference(&data, &sampled(1));
    assert_eq!(want.tracks.len() as u64, n);
    assert!(want.tracks.keys().all(|t| full.tracks.contains_key(t)));
    // Not simply the most (or least) popular third.
    let mut by_plays: Vec<(u64, u32)> = full.tracks.iter().map(|(t, v)| (v.2, *t)).collect();
    by_plays.sort_unstable();
    let top: Vec<u32> = by_plays
        .iter()
        .rev()
        .take(n as usize)
        .map(|x| x.1)
        .collect();
    let bottom: Vec<u32> = by_plays.iter().take(n as usize).map(|x| x.1).collect();
    let top_hits = top.iter().filter(|t| want.tracks.contains_key(t)).count() as u64;
    let bottom_hits = bottom
        .iter()
        .filter(|t| want.tracks.contains_key(t))
        .count() as u64;
    assert!(
        top_hits < n && bottom_hits < n,
        "{top_hits} {bottom_hits} of {n}"
    );
    let other = reference(&data, &sampled(2));
    assert_ne!(
        other.tracks.keys().collect::<Vec<_>>(),
        want.tracks.keys().collect::<Vec<_>>()
    );
    for threads in [1, 3] {
        let out = tmp.path().join(format!("out-{threads}"));
        let (got, outcome) = run(&data, &out, &sampled(1), threads, 16 << 10);
        assert_eq!(got.tracks, want.tracks, "{threads} workers");
        assert_eq!(got.interactions, want.interactions, "{threads} workers");
        assert_eq!(
            got.country_profiles, want.country_profiles,
            "{threads} workers"
        );
        assert_eq!(outcome.get("tracks.kept"), n, "{threads} workers");
        assert_eq!(
            outcome.get("tracks.passed"),
            full.tracks.len() as u64,
            "{threads} workers"
        );
    }
}

/// Names come from the tracks and artists files for exactly the kept tracks, whatever the
/// worker count, although the reader keeps only kept tracks' names and stage M only the
/// artists they name; every row of both files is still parsed, so bad rows are counted.
#[test]
fn kept_tracks_get_their_names_and_the_rest_of_the_catalogue_is_not_held() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 5,
        events: 100_000,
        // A catalogue far larger than what passes the filters, as in LFM-1b.
        tracks: Some(200_000),
        ..GeneratorConfig::default()
    };
    generate(&gen, &data, false).unwrap();
    // Two malformed rows in each names file: they must be counted, not skipped unseen.
    let mut tracks_txt = std::fs::read_to_string(data.join("LFM-1b_tracks.txt")).unwrap();
    tracks_txt.push_str("not-an-id\tname\t1\n12\tonly two columns\n");
    std::fs::write(data.join("LFM-1b_tracks.txt"), &tracks_txt).unwrap();
    let mut artists_txt = std::fs::read_to_string(data.join("LFM-1b_artists.txt")).unwrap();
    artists_txt.push_str("x\tname\n7\ta\tb\n");
    std::fs::write(data.join("LFM-1b_artists.txt"), &artists_txt).unwrap();
    let catalogue_rows = tracks_txt.lines().count() as u64;
    let artist_rows = artists_txt.lines().count() as u64;

    // The expected names, read here straight from the files.
    let artist_names: std::collections::HashMap<u32, &str> = artists_txt
        .lines()
        .filter_map(|l| {
            let (a, n) = l.split_once('\t')?;
            Some((a.parse().ok()?, n))
        })
        .collect();
    let track_names: std::collections::HashMap<u32, (&str, u32)> = tracks_txt
        .lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let (t, n, a) = (it.next()?, it.next()?, it.next()?);
            Some((t.parse().ok()?, (n, a.parse().ok()?)))
        })
        .collect();

    for threads in [1, 3] {
        let out = tmp.path().join(format!("out-{threads}"));
        let (_, outcome) = run_with(&data, &out, &paper_like(), threads, 256 << 10, |c| {
            c.input.tracks = Some(format!("{}/LFM-1b_tracks.txt", data.display()));
            c.input.artists = Some(format!("{}/LFM-1b_artists.txt", data.display()));
        });
        let rt = tokio::runtime::Runtime::new().unwrap();
        let job_root = open_url(out.to_str().unwrap()).unwrap();
        let cat = rt
            .block_on(archetype_worker::query::catalogue(&job_root))
            .unwrap();
        assert!(cat.len() > 20, "{threads} workers: too few kept tracks");
        assert!(
            (cat.len() as u64) * 10 < catalogue_rows,
            "filters kept the catalogue"
        );
        for t in &cat {
            let (name, artist) = track_names[&t.track_id];
            assert_eq!(t.name.as_deref(), Some(name), "{threads} workers");
            assert_eq!(
                t.artist_name.as_deref(),
                artist_names.get(&artist).copied(),
                "{threads} workers, track {}",
                t.track_id
            );
        }
        assert_eq!(outcome.get("tracks.with_names"), cat.len() as u64);
        assert_eq!(outcome.get("tracks_file.kept"), cat.len() as u64);
        assert_eq!(outcome.get("tracks_file.accepted"), catalogue_rows - 2);
        assert_eq!(outcome.get("artists_file.accepted"), artist_rows - 2);
        assert_eq!(outcome.get("bad_rows.not_a_number"), 2, "{threads} workers");
        assert_eq!(outcome.get("bad_rows.column_count"), 2, "{threads} workers");
    }
}
