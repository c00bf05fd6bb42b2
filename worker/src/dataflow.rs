//! The aggregation dataflow, run by every timely worker thread of every member.
//!
//! All data lives at timestamp 0: this is a batch job, so each operator accumulates its input
//! and acts once its input frontier is empty, i.e. once every upstream worker everywhere has
//! finished. The stages, with where each record goes:
//!
//! ```text
//! read shards -> fold (user, track) locally ---exchange by user--\
//! read users  ---------------------------------exchange by user---> A: join pairs with users,
//!                                                                      user filter, partials
//!   A -> (track, plays, listeners)   --exchange by track-->  B: track totals, track filter
//!   A -> (country, les, users)       --broadcast-->          C: country totals, country filter
//!   B -> kept track ids              --broadcast-->          C: keep pairs, kept user ids
//!   C -> kept user ids               --broadcast-->          D: dense indices (sorted ids),
//!                                                               train/validation/test users,
//!                                                               interactions, users, held-out
//!                                                               parts
//!   D -> (track, plays, listener)    --exchange by track-->  E: tracks part (+ names from M)
//!   D -> (country, track, plays)     --exchange by pair-->   F: country profile parts
//!   tracks file --by artist--> M <--by artist-- artists file; M --by track--> E
//! ```
//!
//! Differential dataflow's arrangements keep multi-version indexed state for incremental
//! updates; a one-shot batch aggregation needs none of that, so the stages are timely operators
//! over per-user lists and hash maps, which is several times faster and keeps memory
//! proportional to distinct pairs. Dense indices follow sorted original ids, so they do not
//! depend on the worker count.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use archetype_job::{open_url, JobConfig, JobLayout, StoreUrl};
use archetype_lfm::parquet_input::read_event_row_groups;
use archetype_lfm::parse::{
    is_users_header, parse_artist_ref, parse_track_ref, parse_user, TimeWindow,
};
use archetype_lfm::read::ReadOptions;
use archetype_lfm::shard::{FileKind, ShardSpec};
use archetype_lfm::{
    BadRowKind, Country, Gender, InputError, ListeningEvent, RowError, UserRow as LfmUser,
};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map, Partition};
use timely::dataflow::operators::Capability;
use timely::dataflow::InputHandleVec;
use timely::CommunicationConfig;
use tokio::runtime::Handle;

use crate::ingest::{for_each_event, for_each_line, is_parquet, sample, Stores, TextShard};
use crate::outcome::{AggregateOutcome, BadRows, Progress};
use crate::pairs::{PairAgg, RunFolder, UserPairs};
use crate::split::{self, Split};
use crate::tables::{
    self, CountryProfileRow, CountryRow, HeldoutRow, InteractionRow, TrackRow, UserRow,
};

/// How the timely cluster is formed.
#[derive(Clone, Debug)]
pub enum ClusterSpec {
    /// All workers are threads of this process.
    Local { threads: usize },
    /// This process is member `process_index` of `peers` (timely addresses, index order);
    /// the members prove `secret` to each other before timely gets a link.
    Cluster {
        process_index: usize,
        peers: Vec<String>,
        threads: usize,
        secret: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
pub struct AggregateParams {
    pub config: JobConfig,
    /// Shards this process reads; its threads take them from one queue.
    pub shards: Vec<ShardSpec>,
    /// URL of the job's output root (`<output.url>/<job id>`).
    pub job_root: String,
    pub cluster: ClusterSpec,
}

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("{0}")]
    Input(String),
    #[error("cannot form the timely cluster: {0}")]
    Cluster(String),
    #[error("a timely worker failed: {0}")]
    Worker(String),
    #[error("{0}")]
    Output(String),
}

/// A users-file row with where it stood, so duplicates keep the first row in file order.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UserMsg {
    row: LfmUser,
    offset: u64,
    shard: u32,
    shard_line: u64,
}

type PairMsg = (u32, u32, PairAgg);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum StageA {
    Track(u32, u64, u64),
    Country(Option<Country>, u64, u64),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum StageD {
    /// (track id, artist id, plays, listeners, training users' plays) over kept interactions.
    Track(u32, u32, u64, u64, u64),
    /// (country, track idx, plays, training users' plays).
    Profile(Country, u32, u64, u64),
}

/// (track id, name, artist id, artist name) from the metadata files.
type TrackMeta = (u32, String, u32, Option<String>);

/// Spreads ids over workers; the multiplier mixes sequential ids into the high bits.
fn route(id: u32) -> u64 {
    (u64::from(id)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

/// Per-thread state shared by the operators of one worker (they run on the same thread).
#[derive(Default)]
struct WorkerState {
    /// Partials as they arrive at the user's owner.
    incoming: UserPairs,
    /// After the read: each user's pairs, users ascending, tracks ascending. From stage C on
    /// the track field holds the dense track_idx (monotone in the id, so order is kept).
    pairs: Vec<(u32, Vec<(u32, PairAgg)>)>,
    users: FxHashMap<u32, UserMsg>,
    /// Tracks this worker owns that passed the track filter, ascending by id, with their
    /// (filter plays, listeners). Sorted once: a tree built from a hash map's order cost
    /// more than the filter itself.
    owned_tracks: Vec<(u32, (u64, u64))>,
    /// Every kept track, from stage C on (then the names reader can drop the rest of the
    /// catalogue as it reads). One copy per process, shared by its threads.
    kept: Option<Arc<KeptTracks>>,
    kept_countries: FxHashSet<Option<Country>>,
    /// Stage M has every kept track's name: it knows which artists' names it needs.
    named_tracks_done: bool,
    outcome: AggregateOutcome,
    bad_users: Option<BadRows>,
    errors: Vec<String>,
    /// Parts being encoded and written off the timely thread, by output name.
    pending: Vec<(
        String,
        tokio::task::JoinHandle<Result<(), tables::TableError>>,
    )>,
    /// When this thread started; stages record their end as seconds since it.
    t0: Option<Instant>,
}

impl WorkerState {
    fn mark(&mut self, stage: &str) {
        let t = self.t0.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.outcome.phase(&format!("until.{stage}"), t);
    }
}

/// The tracks that passed the filters (and the sample), which every worker needs whole.
#[derive(Default)]
struct KeptTracks {
    /// Sorted ids: position = track_idx.
    ids: Vec<u32>,
    /// id -> track_idx; a hash lookup instead of a binary search per pair, which cost a cache
    /// miss per level at a million tracks.
    index: FxHashMap<u32, u32>,
}

struct Shared {
    params: AggregateParams,
    layout: JobLayout,
    rt: Handle,
    progress: Arc<Progress>,
    /// Next shard to read, per kind, over this process's queue.
    cursors: [AtomicUsize; 4],
    queues: [Vec<ShardSpec>; 4],
    first_error: Mutex<Option<String>>,
    /// Every thread derives the same kept set; the first to get there builds the one copy the
    /// process keeps, so a catalogue of kept tracks costs its index once per process and not
    /// once per thread.
    kept: std::sync::OnceLock<Arc<KeptTracks>>,
}

fn kind_slot(k: FileKind) -> usize {
    match k {
        FileKind::Users => 0,
        FileKind::Tracks => 1,
        FileKind::Artists => 2,
        FileKind::Events => 3,
    }
}

/// Runs the aggregation on this process's threads (and, in a cluster, with its peers) and
/// returns this process's merged outcome.
pub fn run_aggregation(
    params: AggregateParams,
    progress: Arc<Progress>,
    rt: Handle,
) -> Result<AggregateOutcome, AggregateError> {
    let root = open_url(&params.job_root).map_err(|e| AggregateError::Output(e.to_string()))?;
    let layout = JobLayout { root };
    let mut queues: [Vec<ShardSpec>; 4] = Default::default();
    for s in &params.shards {
        queues[kind_slot(s.kind)].push(s.clone());
    }
    // Big shards first so the tail of the read phase is short.
    for q in &mut queues {
        q.sort_by(|a, b| {
            (b.end - b.start)
                .cmp(&(a.end - a.start))
                .then(a.id.cmp(&b.id))
        });
    }
    let secret = match &params.cluster {
        ClusterSpec::Cluster { secret, .. } => secret.clone(),
        ClusterSpec::Local { .. } => Vec::new(),
    };
    let communication = match &params.cluster {
        ClusterSpec::Local { threads: 1 } => CommunicationConfig::Thread,
        ClusterSpec::Local { threads } => CommunicationConfig::Process(*threads),
        ClusterSpec::Cluster {
            process_index,
            peers,
            threads,
            ..
        } => CommunicationConfig::Cluster {
            threads: *threads,
            process: *process_index,
            addresses: peers.clone(),
            report: false,
            zerocopy: false,
        },
    };
    let per_kind = params.config.ingest.bad_row_samples;
    let shared = Arc::new(Shared {
        params,
        layout,
        rt,
        progress,
        cursors: Default::default(),
        queues,
        first_error: Mutex::new(None),
        kept: std::sync::OnceLock::new(),
    });
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    let s2 = shared.clone();
    let guards = crate::cluster::execute(config, &secret, move |worker| run_worker(worker, &s2))
        .map_err(AggregateError::Cluster)?;
    let mut merged = AggregateOutcome::default();
    let mut failures = Vec::new();
    for r in guards.join() {
        match r {
            Ok(Ok(o)) => merged.merge(o, per_kind),
            Ok(Err(e)) => failures.push(e),
            Err(panic) => failures.push(panic),
        }
    }
    if let Ok(Some(e)) = shared.first_error.lock().map(|g| g.clone()) {
        return Err(AggregateError::Input(e));
    }
    if !failures.is_empty() {
        return Err(AggregateError::Worker(failures.join("; ")));
    }
    Ok(merged)
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    shared: &Arc<Shared>,
) -> Result<AggregateOutcome, String> {
    let index = worker.index();
    let state = Rc::new(RefCell::new(WorkerState {
        t0: Some(Instant::now()),
        ..WorkerState::default()
    }));
    let mut users_in: InputHandleVec<u64, UserMsg> = InputHandleVec::new();
    let mut pairs_in: InputHandleVec<u64, PairMsg> = InputHandleVec::new();
    let mut meta_in: InputHandleVec<u64, (u32, String, u32)> = InputHandleVec::new();
    let mut artists_in: InputHandleVec<u64, (u32, String)> = InputHandleVec::new();

    worker.dataflow::<u64, _, _>(|scope| {
        let cfg = shared.params.config.clone();
        let users = users_in.to_stream(scope);
        let pairs = pairs_in.to_stream(scope);
        let meta = meta_in.to_stream(scope);
        let artists = artists_in.to_stream(scope);

        // A: pairs meet their user.
        let st = state.clone();
        let filter = cfg.filter.clone();
        let samples = cfg.ingest.bad_row_samples;
        let stage_a = pairs.binary_frontier(
            users,
            ExchangePact::new(|m: &PairMsg| route(m.0)),
            ExchangePact::new(|m: &UserMsg| route(m.row.user)),
            "JoinUsers",
            move |cap, _info| {
                let mut cap: Option<Capability<u64>> = Some(cap);
                let mut dups = BadRows::new(samples);
                move |(pin, pf), (uin, uf), output| {
                    let mut s = st.borrow_mut();
                    let s = &mut *s;
                    pin.for_each(|_t, data| {
                        for (u, t, agg) in data.drain(..) {
                            s.incoming.add(u, t, agg);
                        }
                    });
                    uin.for_each(|_t, data| {
                        for m in data.drain(..) {
                            insert_user(&mut s.users, m, &mut dups);
                        }
                    });
                    if pf.is_empty() && uf.is_empty() {
                        if let Some(cap) = cap.take() {
                            s.bad_users = Some(std::mem::replace(&mut dups, BadRows::new(0)));
                            s.mark("read_all");
                            s.pairs = std::mem::take(&mut s.incoming).finish();
                            s.mark("pairs_merged");
                            let out = stage_a_partials(s, &filter);
                            s.mark("join_users");
                            output.session(&cap).give_iterator(out.into_iter());
                        }
                    }
                }
            },
        );

        // B: track totals at the track's owner; the track filter.
        let st = state.clone();
        let filter = cfg.filter.clone();
        let kept_ids = stage_a
            .clone()
            .flat_map(|m| match m {
                StageA::Track(t, p, l) => Some((t, p, l)),
                StageA::Country(..) => None,
            })
            .unary_frontier(
                ExchangePact::new(|m: &(u32, u64, u64)| route(m.0)),
                "TrackFilter",
                move |cap, _info| {
                    let mut cap = Some(cap);
                    let mut totals: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
                    move |(input, frontier), output| {
                        input.for_each(|_t, data| {
                            for (t, p, l) in data.drain(..) {
                                let e = totals.entry(t).or_default();
                                e.0 += p;
                                e.1 += l;
                            }
                        });
                        if frontier.is_empty() {
                            if let Some(cap) = cap.take() {
                                let mut s = st.borrow_mut();
                                s.outcome.add("tracks.seen", totals.len() as u64);
                                s.owned_tracks.extend(totals.drain().filter(|(_, (p, _))| {
                                    filter.keep_all_tracks || *p >= filter.min_track_les
                                }));
                                s.owned_tracks.sort_unstable_by_key(|(t, _)| *t);
                                let passed = s.owned_tracks.len() as u64;
                                s.outcome.add("tracks.passed", passed);
                                s.mark("track_filter");
                                output
                                    .session(&cap)
                                    .give_iterator(s.owned_tracks.iter().map(|(t, _)| *t));
                            }
                        }
                    }
                },
            )
            .broadcast();

        let countries = stage_a
            .flat_map(|m| match m {
                StageA::Country(c, les, users) => Some((c, les, users)),
                StageA::Track(..) => None,
            })
            .broadcast();

        // C: every worker learns the kept tracks and countries, keeps its pairs, names its users.
        let st = state.clone();
        let filter = cfg.filter.clone();
        let sh = shared.clone();
        let kept_users = kept_ids
            .binary_frontier(
                countries,
                Pipeline,
                Pipeline,
                "CountryFilter",
                move |cap, _info| {
                    let mut cap = Some(cap);
                    let mut kept: Vec<u32> = Vec::new();
                    let mut totals: BTreeMap<Option<Country>, (u64, u64)> = BTreeMap::new();
                    move |(kin, kf), (cin, cf), output| {
                        kin.for_each(|_t, data| kept.append(data));
                        cin.for_each(|_t, data| {
                            for (c, les, users) in data.drain(..) {
                                let e = totals.entry(c).or_default();
                                e.0 += les;
                                e.1 += users;
                            }
                        });
                        if kf.is_empty() && cf.is_empty() {
                            if let Some(cap) = cap.take() {
                                let mut s = st.borrow_mut();
                                s.mark("country_input");
                                let users = stage_c_select(
                                    &mut s,
                                    std::mem::take(&mut kept),
                                    &totals,
                                    &filter,
                                    index,
                                    &sh,
                                );
                                output.session(&cap).give_iterator(users.into_iter());
                            }
                        }
                    }
                },
            )
            .broadcast();

        // D: dense indices, interactions and users parts.
        let st = state.clone();
        let sh = shared.clone();
        let stage_d =
            kept_users.unary_frontier(Pipeline, "WriteInteractions", move |cap, _info| {
                let mut cap = Some(cap);
                let mut users: Vec<u32> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|_t, data| users.append(data));
                    if frontier.is_empty() {
                        if let Some(cap) = cap.take() {
                            users.sort_unstable();
                            users.dedup();
                            let mut s = st.borrow_mut();
                            s.mark("user_ids");
                            let out = stage_d_write(&mut s, &users, index, &sh);
                            s.mark("write_interactions");
                            output.session(&cap).give_iterator(out.into_iter());
                        }
                    }
                }
            });

        // M: track names joined with artist names at the artist's owner. Only kept tracks'
        // names arrive (the reader filters); once they all have, only the artists they name
        // are kept, so this holds names in proportion to the kept tracks, not the catalogue.
        let st = state.clone();
        let track_meta = meta.binary_frontier(
            artists,
            ExchangePact::new(|m: &(u32, String, u32)| route(m.2)),
            ExchangePact::new(|m: &(u32, String)| route(m.0)),
            "JoinNames",
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut tracks: Vec<(u32, String, u32)> = Vec::new();
                let mut names: FxHashMap<u32, String> = FxHashMap::default();
                let mut wanted: Option<FxHashSet<u32>> = None;
                move |(tin, tf), (ain, af), output| {
                    tin.for_each(|_t, data| tracks.append(data));
                    if wanted.is_none() && tf.is_empty() {
                        let w: FxHashSet<u32> = tracks.iter().map(|m| m.2).collect();
                        names.retain(|a, _| w.contains(a));
                        wanted = Some(w);
                        st.borrow_mut().named_tracks_done = true;
                    }
                    ain.for_each(|_t, data| {
                        for (a, n) in data.drain(..) {
                            if wanted.as_ref().is_none_or(|w| w.contains(&a)) {
                                names.entry(a).or_insert(n);
                            }
                        }
                    });
                    if tf.is_empty() && af.is_empty() {
                        if let Some(cap) = cap.take() {
                            let mut session = output.session(&cap);
                            for (t, name, a) in tracks.drain(..) {
                                let an = names.get(&a).cloned();
                                session.give((t, name, a, an) as TrackMeta);
                            }
                            names.clear();
                        }
                    }
                }
            },
        );

        // Split rather than clone: a clone would copy every profile row for the tracks path.
        let mut parts = stage_d.partition(2, |m| match m {
            StageD::Track(..) => (0, m),
            StageD::Profile(..) => (1, m),
        });
        let (profiles_part, tracks_part) = match (parts.pop(), parts.pop()) {
            (Some(p), Some(t)) => (p, t),
            _ => unreachable!("partition(2) gives two streams"),
        };

        // E: the tracks table at each track's owner.
        let st = state.clone();
        let sh = shared.clone();
        tracks_part
            .flat_map(|m| match m {
                StageD::Track(t, a, p, l, tp) => Some((t, a, p, l, tp)),
                StageD::Profile(..) => None,
            })
            .binary_frontier(
                track_meta,
                ExchangePact::new(|m: &(u32, u32, u64, u64, u64)| route(m.0)),
                ExchangePact::new(|m: &TrackMeta| route(m.0)),
                "WriteTracks",
                move |cap, _info| {
                    let mut cap = Some(cap);
                    let mut finals: FxHashMap<u32, (u32, u64, u64, u64)> = FxHashMap::default();
                    let mut names: FxHashMap<u32, (String, u32, Option<String>)> =
                        FxHashMap::default();
                    move |(fin, ff), (min, mf), output| {
                        fin.for_each(|_t, data| {
                            for (t, a, p, l, tp) in data.drain(..) {
                                let e = finals.entry(t).or_insert((a, 0, 0, 0));
                                e.0 = e.0.min(a);
                                e.1 += p;
                                e.2 += l;
                                e.3 += tp;
                            }
                        });
                        min.for_each(|_t, data| {
                            for (t, n, a, an) in data.drain(..) {
                                names.entry(t).or_insert((n, a, an));
                            }
                        });
                        if ff.is_empty() && mf.is_empty() {
                            if let Some(cap) = cap.take() {
                                let mut s = st.borrow_mut();
                                stage_e_write(&mut s, &finals, &names, index, &sh);
                                s.mark("write_tracks");
                                // Nothing flows on; the empty output only closes the stage.
                                let _ = output.session(&cap);
                            }
                        }
                    }
                },
            )
            .container::<Vec<()>>();

        // F: country profiles at the (country, track) owner.
        let st = state.clone();
        let sh = shared.clone();
        profiles_part
            .flat_map(|m| match m {
                StageD::Profile(c, t, p, tp) => Some((c, t, p, tp)),
                StageD::Track(..) => None,
            })
            .unary_frontier(
                ExchangePact::new(|m: &(Country, u32, u64, u64)| {
                    route(m.1 ^ (u32::from(m.0 .0[0]) << 24 | u32::from(m.0 .0[1]) << 16))
                }),
                "WriteProfiles",
                move |cap, _info| {
                    let mut cap = Some(cap);
                    let mut profile: Vec<(Country, u32, u64, u64)> = Vec::new();
                    move |(input, frontier), output| {
                        input.for_each(|_t, data| profile.append(data));
                        if frontier.is_empty() {
                            if let Some(cap) = cap.take() {
                                let mut s = st.borrow_mut();
                                // Sorted runs from each sender: the stable sort merges them.
                                profile.sort_by_key(|&(c, t, _, _)| (c, t));
                                let mut rows: Vec<CountryProfileRow> = Vec::new();
                                for (c, t, p, tp) in profile.drain(..) {
                                    match rows.last_mut() {
                                        Some(r) if r.country == c && r.track_idx == t => {
                                            r.plays += p;
                                            r.train_plays += tp;
                                        }
                                        _ => rows.push(CountryProfileRow {
                                            country: c,
                                            track_idx: t,
                                            plays: p,
                                            train_plays: tp,
                                        }),
                                    }
                                }
                                s.outcome.add("country_profiles.rows", rows.len() as u64);
                                write_later(
                                    &mut s,
                                    &sh,
                                    tables_layout::COUNTRY_PROFILES,
                                    index,
                                    rows,
                                    tables::country_profiles_batch,
                                );
                                s.mark("write_profiles");
                                let _ = output.session(&cap);
                            }
                        }
                    }
                },
            )
            .container::<Vec<()>>();
    });

    let started = Instant::now();
    read_inputs(worker, shared, &state, &mut users_in, &mut pairs_in);
    drop(users_in);
    drop(pairs_in);
    let read_secs = started.elapsed().as_secs_f64();
    shared.progress.stage.store(1, Ordering::Relaxed);
    // Names are read once the kept tracks are known (stage C needs neither names input), so
    // a 32M-track catalogue costs a read, not its names in memory. Artists follow once
    // stage M holds every kept track and knows which artists it needs.
    let park = Some(std::time::Duration::from_millis(5));
    let kept_known = || state.borrow().kept.is_some();
    while !kept_known() && worker.step_or_park(park) {}
    read_names(
        worker,
        shared,
        &state,
        FileKind::Tracks,
        &mut meta_in,
        &mut artists_in,
    );
    drop(meta_in);
    let named = || state.borrow().named_tracks_done;
    while !named() && worker.step_or_park(park) {}
    let mut no_tracks = InputHandleVec::new();
    read_names(
        worker,
        shared,
        &state,
        FileKind::Artists,
        &mut no_tracks,
        &mut artists_in,
    );
    drop(no_tracks);
    drop(artists_in);
    while worker.step_or_park(park) {}
    shared.progress.stage.store(3, Ordering::Relaxed);

    let mut s = state.borrow_mut();
    let waited = Instant::now();
    finish_writes(&mut s, &shared.rt);
    s.outcome
        .phase("write_wait", waited.elapsed().as_secs_f64());
    let total = started.elapsed().as_secs_f64();
    s.outcome.phase("read", read_secs);
    s.outcome.phase("aggregate_and_write", total - read_secs);
    if let Some(b) = s.bad_users.take() {
        s.outcome.absorb_bad_rows(b);
    }
    if !s.errors.is_empty() {
        return Err(s.errors.join("; "));
    }
    Ok(std::mem::take(&mut s.outcome))
}

mod tables_layout {
    pub use archetype_job::layout::{
        COUNTRIES, COUNTRY_PROFILES, HELDOUT, INTERACTIONS, TRACKS, USERS,
    };
}

fn insert_user(users: &mut FxHashMap<u32, UserMsg>, m: UserMsg, dups: &mut BadRows) {
    use std::collections::hash_map::Entry;
    match users.entry(m.row.user) {
        Entry::Vacant(v) => {
            v.insert(m);
        }
        Entry::Occupied(mut o) => {
            // Keep the row that comes first in the file, whatever order the shards arrive in.
            let (keep, drop) = if m.offset < o.get().offset {
                let old = o.insert(m);
                (o.get().clone(), old)
            } else {
                (o.get().clone(), m)
            };
            let conflict = if keep.row.country != drop.row.country {
                format!(
                    "user {} repeated with country `{}` (first row has `{}`)",
                    drop.row.user,
                    drop.row.country.map(|c| c.to_string()).unwrap_or_default(),
                    keep.row.country.map(|c| c.to_string()).unwrap_or_default()
                )
            } else {
                format!("user {} repeated", drop.row.user)
            };
            dups.record(archetype_lfm::BadRowSample {
                file: String::new(),
                offset: drop.offset,
                shard_line: drop.shard_line,
                shard: drop.shard,
                kind: BadRowKind::DuplicateUser,
                field: "user_id".to_string(),
                detail: conflict,
            });
        }
    }
}

/// Stage A at the user's owner: applies the user filter, counts what it drops, and emits this
/// worker's partial track and country totals.
fn stage_a_partials(
    s: &mut WorkerState,
    filter: &archetype_job::config::FilterConfig,
) -> Vec<StageA> {
    let mut unknown_user_les = 0u64;
    let mut no_country_les = 0u64;
    let mut tracks: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
    let mut user_les: Vec<(u32, u64)> = Vec::new();
    s.outcome.add(
        "pairs.distinct",
        s.pairs.iter().map(|(_, l)| l.len() as u64).sum(),
    );
    let users = &s.users;
    s.pairs.retain(|(u, list)| {
        let plays: u64 = list.iter().map(|(_, a)| u64::from(a.plays)).sum();
        let country = users.get(u).and_then(|m| m.row.country);
        if filter.require_country && country.is_none() {
            if users.contains_key(u) {
                no_country_les += plays;
            } else {
                unknown_user_les += plays;
            }
            return false;
        }
        user_les.push((*u, plays));
        for (t, a) in list {
            let e = tracks.entry(*t).or_default();
            e.0 += u64::from(a.plays);
            e.1 += 1;
        }
        true
    });
    s.outcome.add("events.unknown_user", unknown_user_les);
    s.outcome.add("events.no_country", no_country_les);
    s.outcome.add("users.with_events", user_les.len() as u64);
    s.outcome.add("users.distinct", s.users.len() as u64);
    let mut countries: BTreeMap<Option<Country>, (u64, u64)> = BTreeMap::new();
    for (u, les) in user_les {
        let c = users.get(&u).and_then(|m| m.row.country);
        let e = countries.entry(c).or_default();
        e.0 += les;
        e.1 += 1;
    }
    let mut out: Vec<StageA> = tracks
        .into_iter()
        .map(|(t, (p, l))| StageA::Track(t, p, l))
        .collect();
    out.extend(
        countries
            .into_iter()
            .map(|(c, (les, n))| StageA::Country(c, les, n)),
    );
    out
}

/// Stage C on every worker: the country filter (global totals arrive by broadcast), the kept
/// pairs, and the ids of this worker's users that still have interactions.
fn stage_c_select(
    s: &mut WorkerState,
    mut passed: Vec<u32>,
    totals: &BTreeMap<Option<Country>, (u64, u64)>,
    filter: &archetype_job::config::FilterConfig,
    index: usize,
    sh: &Shared,
) -> Vec<u32> {
    passed.sort_unstable();
    passed.dedup();
    // Every worker holds every passed id here, so each draws the same sample and drops the
    // unsampled tracks it owns.
    let kept = filter.sample(passed);
    let kt = match sh.kept.get() {
        Some(k) => {
            if k.ids != kept {
                s.errors
                    .push("internal: threads of one process disagree on the kept tracks".into());
            }
            k.clone()
        }
        None => sh
            .kept
            .get_or_init(|| {
                let index = kept
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (*t, i as u32))
                    .collect();
                Arc::new(KeptTracks { ids: kept, index })
            })
            .clone(),
    };
    s.owned_tracks.retain(|(t, _)| kt.index.contains_key(t));
    s.outcome.add("tracks.kept", s.owned_tracks.len() as u64);
    s.kept = Some(kt.clone());
    s.kept_countries = totals
        .iter()
        .filter(|(c, (les, users))| match c {
            Some(_) => *les >= filter.min_country_les && *users >= filter.min_country_users,
            None => !filter.require_country,
        })
        .map(|(c, _)| *c)
        .collect();
    if index == 0 {
        s.outcome.add(
            "countries.seen",
            totals.keys().filter(|c| c.is_some()).count() as u64,
        );
        s.outcome.add(
            "countries.kept",
            s.kept_countries.iter().filter(|c| c.is_some()).count() as u64,
        );
        let rows: Vec<CountryRow> = totals
            .iter()
            .map(|(c, (les, users))| CountryRow {
                country: c.map(|c| c.to_string()),
                les: *les,
                users: *users,
                kept: s.kept_countries.contains(c),
            })
            .collect();
        write_later(
            s,
            sh,
            tables_layout::COUNTRIES,
            0,
            rows,
            tables::countries_batch,
        );
    }
    let users = &s.users;
    let track_index = &kt.index;
    let kept_countries = &s.kept_countries;
    let mut kept_events = 0u64;
    let mut kept_pairs = 0u64;
    s.pairs.retain_mut(|(u, list)| {
        let c = users.get(u).and_then(|m| m.row.country);
        if !kept_countries.contains(&c) {
            return false;
        }
        // Track ids become dense indices here; both ascend together, so lists stay sorted.
        list.retain_mut(|(t, agg)| match track_index.get(t) {
            Some(&ti) => {
                *t = ti;
                kept_events += u64::from(agg.plays);
                true
            }
            None => false,
        });
        kept_pairs += list.len() as u64;
        !list.is_empty()
    });
    s.outcome.add("pairs.kept", kept_pairs);
    s.outcome.add("events.kept", kept_events);
    s.pairs.iter().map(|(u, _)| *u).collect()
}

/// Stage D at the user's owner: dense indices, the interactions and users parts, and the
/// partials for the tracks table and the country profiles.
fn stage_d_write(
    s: &mut WorkerState,
    kept_users: &[u32],
    index: usize,
    sh: &Shared,
) -> Vec<StageD> {
    sh.progress.stage.store(2, Ordering::Relaxed);
    let eval = &sh.params.config.eval;
    let splits = split::assign(kept_users, eval);
    let n_pairs: usize = s.pairs.iter().map(|(_, l)| l.len()).sum();
    let mut rows: Vec<InteractionRow> = Vec::with_capacity(n_pairs);
    let mut heldout: Vec<HeldoutRow> = Vec::new();
    let mut per_user: Vec<(u32, u32, u64, u32, Split)> = Vec::with_capacity(s.pairs.len());
    let mut train: Vec<bool> = Vec::with_capacity(s.pairs.len());
    // Dense by track_idx: every kept track has an index on every worker.
    // (artist, plays, listeners, training users' plays)
    let kept = s.kept.clone().unwrap_or_default();
    let mut track_final: Vec<(u32, u64, u64, u64)> = vec![(u32::MAX, 0, 0, 0); kept.ids.len()];
    let pairs = std::mem::take(&mut s.pairs);
    let (mut target_events, mut input_events) = (0u64, 0u64);
    // Users come in id order and so do the global indices: one forward walk finds them all.
    let mut pos = 0usize;
    for (u, list) in &pairs {
        while pos < kept_users.len() && kept_users[pos] < *u {
            pos += 1;
        }
        if kept_users.get(pos) != Some(u) {
            s.errors.push(format!("internal: user {u} lost its index"));
            train.push(false);
            continue;
        }
        let ui = pos as u32;
        let user_split = splits.get(pos).copied().unwrap_or(Split::Train);
        let is_train = user_split == Split::Train;
        train.push(is_train);
        let mut plays_u = 0u64;
        for &(ti, agg) in list {
            let plays = u64::from(agg.plays);
            plays_u += plays;
            rows.push(InteractionRow {
                user_idx: ui,
                track_idx: ti,
                plays: agg.plays,
                first_timestamp: agg.first,
                last_timestamp: agg.last,
            });
            let Some(tf) = track_final.get_mut(ti as usize) else {
                s.errors
                    .push(format!("internal: track_idx {ti} out of range"));
                continue;
            };
            tf.0 = tf.0.min(agg.artist);
            tf.1 += plays;
            tf.2 += 1;
            if is_train {
                tf.3 += plays;
            }
        }
        if !is_train {
            let plays: Vec<(u32, u32)> = list.iter().map(|(t, a)| (*t, a.plays)).collect();
            for h in split::split_user(*u, &plays, eval.protocol, eval.target_fraction, eval.seed) {
                input_events += u64::from(h.input);
                target_events += u64::from(h.target);
                heldout.push(HeldoutRow {
                    user_idx: ui,
                    track_idx: h.track,
                    input_plays: h.input,
                    target_plays: h.target,
                });
            }
        }
        per_user.push((*u, ui, plays_u, list.len() as u32, user_split));
    }
    let profiles = country_profiles(&pairs, &train, &s.users, kept.ids.len());
    drop(pairs);
    s.outcome.add("interactions.rows", rows.len() as u64);
    write_later(
        s,
        sh,
        tables_layout::INTERACTIONS,
        index,
        rows,
        tables::interactions_batch,
    );
    s.outcome.add("heldout.rows", heldout.len() as u64);
    s.outcome.add("heldout.input_events", input_events);
    s.outcome.add("heldout.target_events", target_events);
    write_later(
        s,
        sh,
        tables_layout::HELDOUT,
        index,
        heldout,
        tables::heldout_batch,
    );

    let users: Vec<UserRow> = per_user
        .into_iter()
        .filter_map(|(u, idx, plays, tracks, user_split)| {
            let m = s.users.get(&u)?;
            Some(UserRow {
                user_idx: idx,
                user_id: u,
                country: m.row.country.map(|c| c.to_string()),
                age: m.row.age,
                gender: gender_str(m.row.gender).to_string(),
                plays,
                tracks,
                split: user_split.name(),
            })
        })
        .collect();
    s.outcome.add("users.kept", users.len() as u64);
    for split_kind in [Split::Train, Split::Validation, Split::Test] {
        let n = users
            .iter()
            .filter(|r| r.split == split_kind.name())
            .count();
        s.outcome
            .add(&format!("users.{}", split_kind.name()), n as u64);
    }
    write_later(
        s,
        sh,
        tables_layout::USERS,
        index,
        users,
        tables::users_batch,
    );
    s.users.clear();

    let kept_tracks = &kept.ids;
    let mut out: Vec<StageD> = track_final
        .into_iter()
        .zip(kept_tracks)
        .filter(|((_, _, listeners, _), _)| *listeners > 0)
        .map(|((a, p, l, tp), t)| StageD::Track(*t, a, p, l, tp))
        .collect();
    out.extend(
        profiles
            .into_iter()
            .map(|(c, t, p, tp)| StageD::Profile(c, t, p, tp)),
    );
    out
}

/// This worker's share of the country profiles: (country, track_idx, plays), sorted. Each
/// country's users are summed into one dense array over the tracks, which stays in cache where
/// a hash map keyed by (country, track) missed it once per pair.
fn country_profiles(
    pairs: &[(u32, Vec<(u32, PairAgg)>)],
    train: &[bool],
    users: &FxHashMap<u32, UserMsg>,
    n_tracks: usize,
) -> Vec<(Country, u32, u64, u64)> {
    let mut by_country: Vec<(Country, usize)> = pairs
        .iter()
        .enumerate()
        .filter_map(|(i, (u, _))| Some((users.get(u)?.row.country?, i)))
        .collect();
    by_country.sort_unstable();
    // (all users' plays, training users' plays)
    let mut acc = vec![(0u64, 0u64); n_tracks];
    let mut touched: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for group in by_country.chunk_by(|a, b| a.0 == b.0) {
        let country = group[0].0;
        for &(_, i) in group {
            let is_train = train.get(i).copied().unwrap_or(false);
            for &(ti, agg) in &pairs[i].1 {
                if let Some(slot) = acc.get_mut(ti as usize) {
                    if slot.0 == 0 {
                        touched.push(ti);
                    }
                    slot.0 += u64::from(agg.plays);
                    if is_train {
                        slot.1 += u64::from(agg.plays);
                    }
                }
            }
        }
        touched.sort_unstable();
        for ti in touched.drain(..) {
            let (p, tp) = std::mem::take(&mut acc[ti as usize]);
            out.push((country, ti, p, tp));
        }
    }
    out
}

fn gender_str(g: Gender) -> &'static str {
    g.as_str()
}

/// Stage E at the track's owner: one row per kept track, with names when the files were given.
fn stage_e_write(
    s: &mut WorkerState,
    finals: &FxHashMap<u32, (u32, u64, u64, u64)>,
    names: &FxHashMap<u32, (String, u32, Option<String>)>,
    index: usize,
    sh: &Shared,
) {
    let mut rows: Vec<TrackRow> = Vec::with_capacity(s.owned_tracks.len());
    for &(t, (fp, fl)) in &s.owned_tracks {
        let Some(&idx) = s.kept.as_ref().and_then(|k| k.index.get(&t)) else {
            s.errors.push(format!("internal: track {t} lost its index"));
            continue;
        };
        let (artist, plays, listeners, train_plays) =
            finals.get(&t).copied().unwrap_or((0, 0, 0, 0));
        let meta = names.get(&t);
        rows.push(TrackRow {
            track_idx: idx,
            track_id: t,
            artist_id: if plays > 0 {
                artist
            } else {
                meta.map(|m| m.1).unwrap_or(artist)
            },
            plays,
            listeners,
            filter_plays: fp,
            filter_listeners: fl,
            train_plays,
            name: meta.map(|m| m.0.clone()),
            artist_name: meta.and_then(|m| m.2.clone()),
        });
    }
    rows.sort();
    s.outcome.add("tracks.rows", rows.len() as u64);
    s.outcome.add(
        "tracks.with_names",
        rows.iter().filter(|r| r.name.is_some()).count() as u64,
    );
    write_later(
        s,
        sh,
        tables_layout::TRACKS,
        index,
        rows,
        tables::tracks_batch,
    );
}

/// Encodes and writes a part on a blocking thread of the runtime while the timely thread goes
/// on with the next stage: encoding was a third of the time after the read. [`run_worker`]
/// waits for every part before it reports.
fn write_later<R: Send + 'static>(
    s: &mut WorkerState,
    sh: &Shared,
    table: &'static str,
    index: usize,
    rows: Vec<R>,
    to_batch: fn(&[R]) -> Result<arrow_array::RecordBatch, tables::TableError>,
) {
    let dest: StoreUrl = sh.layout.part(table, index);
    let group_rows = sh.params.config.output.row_group_rows;
    let rt = sh.rt.clone();
    let handle = sh.rt.spawn_blocking(move || {
        let batch = to_batch(&rows)?;
        drop(rows);
        rt.block_on(tables::write_parquet(&dest, &batch, group_rows))
    });
    s.pending
        .push((format!("{table}/part-{index:05}.parquet"), handle));
}

/// Waits for the parts [`write_later`] started; each is an output or an error.
fn finish_writes(s: &mut WorkerState, rt: &Handle) {
    for (name, handle) in std::mem::take(&mut s.pending) {
        match rt.block_on(handle) {
            Ok(Ok(())) => s.outcome.outputs.push(name),
            Ok(Err(e)) => s.errors.push(e.to_string()),
            Err(e) => s.errors.push(format!("writing {name}: {e}")),
        }
    }
}

/// A text shard read through this thread's store for its URL.
fn text_shard<'a>(
    shared: &'a Shared,
    stores: &mut Stores,
    shard: &'a ShardSpec,
    opts: &'a ReadOptions,
) -> Result<TextShard<'a>, InputError> {
    Ok(TextShard {
        rt: &shared.rt,
        store: stores.for_shard(shard)?,
        shard,
        opts,
        progress: &shared.progress,
    })
}

fn next_shard(shared: &Shared, kind: FileKind) -> Option<&ShardSpec> {
    let slot = kind_slot(kind);
    let i = shared.cursors[slot].fetch_add(1, Ordering::Relaxed);
    shared.queues[slot].get(i)
}

fn fail(shared: &Shared, state: &Rc<RefCell<WorkerState>>, e: InputError) {
    let msg = e.to_string();
    if let Ok(mut g) = shared.first_error.lock() {
        g.get_or_insert(msg.clone());
    }
    state.borrow_mut().errors.push(msg);
}

/// The read phase of one thread: users, then names, then events, each shard streamed and
/// pushed into the dataflow while the worker keeps stepping so exchanges drain.
#[allow(clippy::too_many_arguments)]
fn read_inputs(
    worker: &mut timely::worker::Worker,
    shared: &Shared,
    state: &Rc<RefCell<WorkerState>>,
    users_in: &mut InputHandleVec<u64, UserMsg>,
    pairs_in: &mut InputHandleVec<u64, PairMsg>,
) {
    let cfg = &shared.params.config;
    let opts = ReadOptions {
        chunk_bytes: cfg.ingest.chunk_bytes,
        max_line_bytes: cfg.ingest.max_line_bytes,
        map_local_files: cfg.ingest.map_local_files,
    };
    let window = TimeWindow {
        min: cfg.ingest.min_timestamp,
        max: cfg.ingest.max_timestamp,
    };
    let mut stores = Stores::default();
    let mut bad = BadRows::new(cfg.ingest.bad_row_samples);
    let mut shard_lines: Vec<(u32, u64)> = Vec::new();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let progress = &shared.progress;

    // Users.
    while let Some(shard) = next_shard(shared, FileKind::Users) {
        if failed(shared) {
            break;
        }
        let mut shard_bad = BadRows::new(cfg.ingest.bad_row_samples);
        let mut batch: Vec<UserMsg> = Vec::new();
        let r = text_shard(shared, &mut stores, shard, &opts).and_then(|src| {
            for_each_line(src, &mut shard_bad, |line| {
                *counts.entry("users.rows").or_default() += 1;
                if line.offset == 0 && is_users_header(line.bytes) {
                    *counts.entry("users.header").or_default() += 1;
                    return Ok(());
                }
                let row = parse_user(line.bytes)?;
                batch.push(UserMsg {
                    row,
                    offset: line.offset,
                    shard: shard.id,
                    shard_line: line.shard_line,
                });
                Ok(())
            })
        });
        match r {
            Ok(lines) => shard_lines.push((shard.id, lines)),
            Err(e) => fail(shared, state, e),
        }
        bad.absorb(shard_bad);
        *counts.entry("users.accepted").or_default() += batch.len() as u64;
        users_in.send_batch(&mut batch);
        worker.step();
        Progress::add(&progress.shards_done, 1);
    }
    users_in.flush();

    // Events, folded locally into (user, track) partials before the exchange.
    let cap = cfg.ingest.preagg_pairs.max(1);
    let mut fold = RunFolder::default();
    let mut event_shards_done = 0u64;
    let flush = |fold: &mut RunFolder, pairs_in: &mut InputHandleVec<u64, PairMsg>| {
        fold.drain_spill();
        pairs_in.send_batch(&mut fold.out);
        fold.out.clear();
    };
    while let Some(shard) = next_shard(shared, FileKind::Events) {
        if failed(shared) {
            break;
        }
        let mut shard_bad = BadRows::new(cfg.ingest.bad_row_samples);
        let mut accepted = 0u64;
        let r = if is_parquet(shard) {
            read_parquet_shard(shared, &mut stores, shard, window, &mut shard_bad, |e| {
                accepted += 1;
                fold.add(e);
                if fold.held() >= cap {
                    flush(&mut fold, pairs_in);
                    worker.step();
                }
            })
        } else {
            text_shard(shared, &mut stores, shard, &opts).and_then(|src| {
                for_each_event(src, window, &mut shard_bad, |e| {
                    accepted += 1;
                    fold.add(e);
                    if fold.held() >= cap {
                        flush(&mut fold, pairs_in);
                        // Let the exchange drain so buffers stay bounded.
                        worker.step();
                    }
                })
            })
        };
        match r {
            Ok(lines) => shard_lines.push((shard.id, lines)),
            Err(e) => fail(shared, state, e),
        }
        Progress::add(&progress.events_read, accepted);
        *counts.entry("events.accepted").or_default() += accepted;
        bad.absorb(shard_bad);
        worker.step();
        Progress::add(&progress.shards_done, 1);
        event_shards_done += 1;
        crate::faults::reached("aggregate", event_shards_done);
    }
    fold.drain_all();
    flush(&mut fold, pairs_in);
    let mut s = state.borrow_mut();
    for (k, v) in counts {
        s.outcome.add(k, v);
    }
    s.outcome.shard_lines.extend(shard_lines);
    s.outcome.absorb_bad_rows(bad);
}

fn failed(shared: &Shared) -> bool {
    shared
        .first_error
        .lock()
        .map(|g| g.is_some())
        .unwrap_or(true)
}

/// Reads this process's share of the tracks or artists file. Every row is parsed, so each
/// malformed one is counted, but only the names stage M can use are sent: tracks that passed
/// the filters (`kept`, known from stage C on) and any artist (M drops the artists
/// no kept track names).
fn read_names(
    worker: &mut timely::worker::Worker,
    shared: &Shared,
    state: &Rc<RefCell<WorkerState>>,
    kind: FileKind,
    meta_in: &mut InputHandleVec<u64, (u32, String, u32)>,
    artists_in: &mut InputHandleVec<u64, (u32, String)>,
) {
    let cfg = &shared.params.config;
    let opts = ReadOptions {
        chunk_bytes: cfg.ingest.chunk_bytes,
        max_line_bytes: cfg.ingest.max_line_bytes,
        map_local_files: cfg.ingest.map_local_files,
    };
    let mut stores = Stores::default();
    let mut bad = BadRows::new(cfg.ingest.bad_row_samples);
    let mut shard_lines: Vec<(u32, u64)> = Vec::new();
    let (mut accepted, mut sent) = (0u64, 0u64);
    let progress = &shared.progress;
    // Cloned out of the state so the reader does not hold a borrow across `worker.step()`.
    let kept = state.borrow().kept.clone().unwrap_or_default();
    while let Some(shard) = next_shard(shared, kind) {
        if failed(shared) {
            break;
        }
        let mut shard_bad = BadRows::new(cfg.ingest.bad_row_samples);
        let mut tracks: Vec<(u32, String, u32)> = Vec::new();
        let mut artists: Vec<(u32, String)> = Vec::new();
        let r = text_shard(shared, &mut stores, shard, &opts).and_then(|src| {
            for_each_line(src, &mut shard_bad, |line| {
                if kind == FileKind::Tracks {
                    let (t, name, a) = parse_track_ref(line.bytes)?;
                    if kept.index.contains_key(&t) {
                        tracks.push((t, name.to_owned(), a));
                    }
                } else {
                    let (a, name) = parse_artist_ref(line.bytes)?;
                    artists.push((a, name.to_owned()));
                }
                accepted += 1;
                Ok(())
            })
        });
        match r {
            Ok(lines) => shard_lines.push((shard.id, lines)),
            Err(e) => fail(shared, state, e),
        }
        bad.absorb(shard_bad);
        sent += (tracks.len() + artists.len()) as u64;
        meta_in.send_batch(&mut tracks);
        artists_in.send_batch(&mut artists);
        worker.step();
        Progress::add(&progress.shards_done, 1);
    }
    meta_in.flush();
    artists_in.flush();
    let mut s = state.borrow_mut();
    let (acc, kept_name) = match kind {
        FileKind::Tracks => ("tracks_file.accepted", "tracks_file.kept"),
        _ => ("artists_file.accepted", "artists_file.sent"),
    };
    s.outcome.add(acc, accepted);
    s.outcome.add(kept_name, sent);
    s.outcome.shard_lines.extend(shard_lines);
    s.outcome.absorb_bad_rows(bad);
}

fn read_parquet_shard<F: FnMut(&ListeningEvent)>(
    shared: &Shared,
    stores: &mut Stores,
    shard: &ShardSpec,
    window: TimeWindow,
    bad: &mut BadRows,
    mut each: F,
) -> Result<u64, InputError> {
    let store = stores.for_shard(shard)?;
    let mut batches = shared
        .rt
        .block_on(read_event_row_groups(store, shard, window, 64 * 1024))?;
    let mut rows = 0u64;
    let mut events = Vec::new();
    let mut errors: Vec<(RowError, u64)> = Vec::new();
    loop {
        events.clear();
        errors.clear();
        let more = shared
            .rt
            .block_on(batches.next_batch(&mut events, &mut errors))?;
        rows += (events.len() + errors.len()) as u64;
        for e in &events {
            each(e);
        }
        Progress::add(&shared.progress.rows_rejected, errors.len() as u64);
        for (err, row) in errors.drain(..) {
            bad.record(sample(shard, row, row + 1, err));
        }
        if !more {
            break;
        }
    }
    Ok(rows)
}
