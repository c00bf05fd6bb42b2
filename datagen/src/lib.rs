//! Deterministic generator of LFM-1b-shaped data sets with planted country archetypes.
//!
//! The archetype pipeline ingests the LFM-1b music listening data set, aggregates it,
//! clusters countries into "archetypes" and trains recommenders. The real data is 1.1 billion
//! events and not redistributable, so this crate writes look-alike files (same names, columns
//! and quirks) of any size from 10^5 to 10^9 events, with a known answer planted in them:
//! countries belong to archetypes, and each archetype has its own local music.
//!
//! Generation flows in this order:
//! 1. [`GeneratorConfig`] is resolved (defaults, validation) into a plan.
//! 2. The catalogue is laid out: global popularity ranks,
//!    one local slice per archetype, artists and albums; ids come from keyed permutations, so
//!    no per-track table is held.
//! 3. The users are drawn from the real LFM-1b figures ([`figures`]): country, age, gender,
//!    registration time, sparse ids, and activity from the real playcount quantiles rescaled
//!    so that the events add up exactly to `events`. Countries are dealt to archetypes.
//! 4. Artists, tracks and users files are written.
//! 5. Events are rendered per block of users, in parallel: every user's random stream is keyed
//!    by (seed, user index), so blocks can be rendered on any thread; they are written strictly
//!    in order, streaming, while the next batch renders. A user with more events than a block
//!    holds is rendered in chunks (own stream per chunk, consecutive time sub-windows), so
//!    memory stays bounded whatever the configuration. Each user draws a repertoire of distinct
//!    tracks (more by artists it already has, its favourite genre, local music of its
//!    archetype, global hits) and re-listens to it with Zipf weights. Bad rows are spliced in
//!    at pre-planned global event positions.
//! 6. `ground_truth.json` records what was planted.
//!
//! Same seed and same configuration give byte-identical files whatever the thread count.

#[rustfmt::skip]
pub mod figures;

mod catalogue;
mod config;
mod error;
mod events;
mod itoa;
mod perm;
mod rng;
mod sink;
mod truth;
mod users;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

pub use config::{BadRowInjection, GeneratorConfig, OutputEncoding};
pub use error::GenError;
pub use events::{TIMESTAMP_MAX, TIMESTAMP_MIN};

use catalogue::Catalogue;
use config::Resolved;
use events::{BlockOut, EventGen};
use sink::EventSink;
use users::Population;

/// File names as in the real data set.
pub const USERS_FILE: &str = "LFM-1b_users.txt";
pub const TRACKS_FILE: &str = "LFM-1b_tracks.txt";
pub const ARTISTS_FILE: &str = "LFM-1b_artists.txt";
pub const GROUND_TRUTH_FILE: &str = "ground_truth.json";

/// What a run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedSummary {
    /// Every file written: events, users, tracks, artists, ground truth.
    pub files: Vec<PathBuf>,
    /// Valid events (injected bad rows not included).
    pub events_written: u64,
    pub users: u64,
    pub tracks: u64,
    /// Per kind, only kinds with at least one row.
    pub bad_rows_injected: BTreeMap<String, u64>,
    pub ground_truth: PathBuf,
}

/// Rows per block for the catalogue files.
const CATALOGUE_BLOCK: u64 = 1 << 16;

/// Generates a data set into `out_dir` (created if missing; files of the same names are
/// replaced). Shows a progress bar on stderr when `progress` is true.
pub fn generate(
    cfg: &GeneratorConfig,
    out_dir: &Path,
    progress: bool,
) -> Result<GeneratedSummary, GenError> {
    let plan = Resolved::new(cfg)?;
    std::fs::create_dir_all(out_dir).map_err(GenError::io(out_dir))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| GenError::ThreadPool {
            threads: plan.threads,
            message: e.to_string(),
        })?;
    tracing::info!(
        events = plan.events,
        users = plan.users,
        tracks = plan.tracks,
        artists = plan.artists,
        encoding = %plan.encoding,
        threads = plan.threads,
        "generating LFM-1b-shaped data"
    );

    let catalogue = Catalogue::new(&plan)?;
    let population = Population::new(&plan, &pool);

    let artists_path = out_dir.join(ARTISTS_FILE);
    write_catalogue_file(&pool, &artists_path, catalogue.artists, |from, to, out| {
        catalogue.render_artists(from, to, out)
    })?;
    let tracks_path = out_dir.join(TRACKS_FILE);
    write_catalogue_file(&pool, &tracks_path, catalogue.tracks, |from, to, out| {
        catalogue.render_tracks(from, to, out)
    })?;
    let users_path = out_dir.join(USERS_FILE);
    {
        let mut w = sink::create(&users_path)?;
        population
            .write(&mut w)
            .map_err(GenError::io(&users_path))?;
        sink::finish_plain(w, &users_path)?;
    }

    let bad = events::plan_bad_rows(&plan);
    let generator = EventGen::new(
        plan.seed,
        &catalogue,
        &population.users,
        &bad,
        plan.encoding == OutputEncoding::Parquet,
    );
    let blocks = events::blocks(&population.users);
    let events_path = out_dir.join(plan.encoding.events_file_name());
    let bar = if progress {
        let bar = ProgressBar::new(plan.events);
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    struct Written {
        sink: EventSink,
        events: u64,
        pairs: u64,
        /// Repertoire entries played so far by each chunked user.
        chunked: BTreeMap<usize, Vec<bool>>,
    }
    let start = Written {
        sink: EventSink::create(events_path, plan.encoding)?,
        events: 0,
        pairs: 0,
        chunked: BTreeMap::new(),
    };
    let mut written = sink::ordered(
        &pool,
        blocks.len(),
        |i| generator.render(blocks[i]),
        start,
        |w, out: BlockOut| {
            w.sink.write(out.payload)?;
            w.events += out.events;
            w.pairs += out.pairs;
            if let Some((user, used)) = out.partial {
                let seen = w
                    .chunked
                    .entry(user)
                    .or_insert_with(|| vec![false; used.len()]);
                seen.iter_mut().zip(used).for_each(|(s, u)| *s |= u);
            }
            bar.inc(out.events);
            Ok(())
        },
    )?;
    if plan.bad_rows.contains_key("truncated_last_line") {
        let last = population
            .users
            .iter()
            .rev()
            .find(|u| u.events > 0)
            .or(population.users.last())
            .map_or(0, |u| u.id);
        let mut line = Vec::new();
        events::truncated_line(plan.seed, last, &mut line);
        written.sink.write_raw(&line)?;
    }
    let events_path = written.sink.finish()?;
    written.pairs += written
        .chunked
        .values()
        .map(|used| used.iter().filter(|&&x| x).count() as u64)
        .sum::<u64>();
    bar.finish_and_clear();
    debug_assert_eq!(written.events, plan.events);

    let truth_path = out_dir.join(GROUND_TRUTH_FILE);
    let truth = ground_truth(
        &plan,
        &catalogue,
        &population,
        written.events,
        written.pairs,
        &bad,
    );
    {
        let mut w = sink::create(&truth_path)?;
        serde_json::to_writer_pretty(&mut w, &truth).map_err(|source| GenError::Json {
            path: truth_path.clone(),
            source,
        })?;
        std::io::Write::write_all(&mut w, b"\n").map_err(GenError::io(&truth_path))?;
        sink::finish_plain(w, &truth_path)?;
    }
    tracing::info!(
        events = written.events,
        distinct_pairs = written.pairs,
        dir = %out_dir.display(),
        "generation finished"
    );

    Ok(GeneratedSummary {
        files: vec![
            events_path,
            users_path,
            tracks_path,
            artists_path,
            truth_path.clone(),
        ],
        events_written: written.events,
        users: plan.users,
        tracks: plan.tracks,
        bad_rows_injected: plan.bad_rows.clone(),
        ground_truth: truth_path,
    })
}

/// Writes ids `1..=n` of a catalogue file, rendered in parallel blocks.
fn write_catalogue_file(
    pool: &rayon::ThreadPool,
    path: &Path,
    n: u64,
    render: impl Fn(u64, u64, &mut Vec<u8>) + Sync,
) -> Result<(), GenError> {
    let blocks = n.div_ceil(CATALOGUE_BLOCK) as usize;
    let w = sink::ordered(
        pool,
        blocks,
        |b| {
            let from = 1 + b as u64 * CATALOGUE_BLOCK;
            let to = (from + CATALOGUE_BLOCK).min(n + 1);
            let mut out = Vec::with_capacity(CATALOGUE_BLOCK as usize * 40);
            render(from, to, &mut out);
            out
        },
        sink::create(path)?,
        |w, bytes: Vec<u8>| std::io::Write::write_all(w, &bytes).map_err(GenError::io(path)),
    )?;
    sink::finish_plain(w, path)
}

/// Top local tracks listed per archetype in the ground truth.
const TOP_LOCAL_TRACKS: u64 = 20;

fn ground_truth(
    plan: &Resolved,
    catalogue: &Catalogue,
    population: &Population,
    events: u64,
    pairs: u64,
    bad: &[events::BadRow],
) -> truth::GroundTruth {
    let country_users = population.country_counts();
    let country_archetype: BTreeMap<String, u32> = figures::COUNTRY_USERS
        .iter()
        .zip(&population.country_cluster)
        .map(|((code, _), &k)| (code.to_string(), k))
        .collect();
    let mut hidden = vec![0u64; plan.archetypes as usize];
    for u in &population.users {
        if u.country == users::NO_COUNTRY {
            hidden[u.cluster as usize] += 1;
        }
    }
    let archetypes = (0..plan.archetypes)
        .map(|k| truth::Archetype {
            id: k,
            countries: figures::COUNTRY_USERS
                .iter()
                .zip(&population.country_cluster)
                .filter(|((code, _), &c)| c == k && country_users.contains_key(*code))
                .map(|((code, _), _)| code.to_string())
                .collect(),
            users_without_country: hidden[k as usize],
            local_tracks: catalogue.local_len,
            top_local_tracks: (0..TOP_LOCAL_TRACKS.min(catalogue.local_len))
                .map(|j| catalogue.track_info(catalogue.local_rank_at(k, j)).track)
                .collect(),
        })
        .collect();
    let without = country_users.get("").copied().unwrap_or(0);
    truth::GroundTruth {
        generator: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        seed: plan.seed,
        config: plan.clone(),
        files: truth::Files {
            events: plan.encoding.events_file_name().to_string(),
            users: USERS_FILE.to_string(),
            tracks: TRACKS_FILE.to_string(),
            artists: ARTISTS_FILE.to_string(),
        },
        timestamp_range: [TIMESTAMP_MIN, TIMESTAMP_MAX],
        country_archetype,
        archetypes,
        totals: truth::Totals {
            events,
            users: plan.users,
            users_with_country: plan.users - without,
            users_without_country: without,
            users_with_events: population.users.iter().filter(|u| u.events > 0).count() as u64,
            tracks: catalogue.tracks,
            artists: catalogue.artists,
            albums: catalogue.albums,
            distinct_user_track_pairs: pairs,
            bad_event_rows: bad.len() as u64
                + plan
                    .bad_rows
                    .get("truncated_last_line")
                    .copied()
                    .unwrap_or(0),
            duplicate_user_rows: population.duplicates.len() as u64,
        },
        country_users,
        bad_rows_injected: plan.bad_rows.clone(),
        model: truth::Model {
            popularity_zipf_exponent: catalogue::POPULARITY_EXPONENT,
            local_share_range: [users::LOCAL_SHARE_RANGE.0, users::LOCAL_SHARE_RANGE.1],
            repertoire: "round(1.2 * sqrt(user events)) distinct tracks, at most the user's events",
            artist_loyalty: events::ARTIST_LOYALTY,
            genres: catalogue::GENRES,
            genre_share: events::GENRE_SHARE,
            relisten_zipf_exponent: events::RELISTEN_EXPONENT,
        },
    }
}
