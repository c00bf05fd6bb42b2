//! Listening events: each user's repertoire, re-listening, session timestamps, and the
//! injected malformed rows, rendered block by block.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::catalogue::Catalogue;
use crate::config::Resolved;
use crate::itoa::push_u64;
use crate::rng::{key, rng_for, Stream};
use crate::users::User;

/// First valid event time: 2005-01-01T00:00:00Z.
pub const TIMESTAMP_MIN: u64 = 1_104_537_600;
/// Last valid event time: 2014-08-31T23:59:59Z.
pub const TIMESTAMP_MAX: u64 = 1_409_529_599;
/// Most listening windows open between these (2011-07-01 and 2014-01-01), which puts the bulk
/// of the events in 2012-2014 as in LFM-1b.
const RECENT_FROM: u64 = 1_309_478_400;
const RECENT_TO: u64 = 1_388_534_400;
const RECENT_SHARE: f64 = 0.8;
/// Repertoire size is `REPERTOIRE_SCALE * sqrt(events)`: sublinear, so heavy users re-listen.
/// With Zipf(1) plays over it, this reproduces the real LFM-2b-derived sample of
/// `shared/data/real_listening_stats.md` at its activity (16/33/87/221 events per user at the
/// 10/50/90/99% quantiles): distinct tracks per user 4/7/11/17 (real 5/6/10/18), share of the
/// most played track 0.28/0.39/0.56/0.75 (0.22/0.35/0.57/0.81), of the top five 0.76/0.93
/// at the 10/50% quantiles (0.73/0.94), plays per (user, track) 1/4/14/36 with mean 6.4
/// (2/3/14/55, mean 6.8), and, split 80/20 by events, a median share of held-out events that
/// replay an input track of 1.0 (1.000), the property that broke evaluation on real files.
/// `datagen/tests/listening.rs` holds the generator to these shapes. The earlier scale of 5
/// gave three times the distinct tracks and a median replay share of 0.8.
const REPERTOIRE_SCALE: f64 = 1.2;
/// Zipf exponent of plays over a user's repertoire.
pub(crate) const RELISTEN_EXPONENT: f64 = 1.0;
/// Share of repertoire draws that pick another track by an artist the user already has:
/// listeners follow artists, which is the co-occurrence structure collaborative filtering
/// learns and popularity rankings cannot see.
pub(crate) const ARTIST_LOYALTY: f64 = 0.4;
/// Share of the global (not local) draws taken from the user's favourite genre. Local music
/// stays drawn by its archetype's popularity alone, so that countries of one archetype keep
/// alike profiles however few users they have.
pub(crate) const GENRE_SHARE: f64 = 0.6;
/// Roughly how many tracks make a listening session.
const MEAN_SESSION_TRACKS: f64 = 10.0;

/// Target events per block. Blocks are cut on user boundaries, except that a user with more
/// events is split into chunks of at most this size.
pub(crate) const BLOCK_EVENTS: u64 = 1 << 16;

/// Kinds of malformed event lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadKind {
    ColumnCount,
    NotANumber,
    IdOutOfRange,
    NonUtf8,
    TimestampOutOfRange,
}

impl BadKind {
    fn from_name(name: &str) -> Option<BadKind> {
        Some(match name {
            "column_count" => BadKind::ColumnCount,
            "not_a_number" => BadKind::NotANumber,
            "id_out_of_range" => BadKind::IdOutOfRange,
            "non_utf8" => BadKind::NonUtf8,
            "timestamp_out_of_range" => BadKind::TimestampOutOfRange,
            _ => return None,
        })
    }
}

/// An extra malformed line, written just before the valid event with global index `pos`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BadRow {
    pub pos: u64,
    pub kind: BadKind,
    pub variant: u64,
}

/// Positions and variants of every bad event row, sorted by position. Kept in memory: their
/// number is bounded by the configuration check.
pub(crate) fn plan_bad_rows(r: &Resolved) -> Vec<BadRow> {
    let mut rng = rng_for(r.seed, Stream::BadRows, 0);
    let mut rows = Vec::new();
    for (name, &n) in &r.bad_rows {
        let Some(kind) = BadKind::from_name(name) else {
            continue;
        };
        for _ in 0..n {
            rows.push(BadRow {
                pos: rng.random_range(0..r.events),
                kind,
                variant: rng.random(),
            });
        }
    }
    // Stable: rows at the same position keep their generation order.
    rows.sort_by_key(|b| b.pos);
    rows
}

/// A unit of rendering work: whole users `start..end`, or chunks `from..to` of one user whose
/// events are too many to hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Users { start: usize, end: usize },
    Chunks { user: usize, from: u64, to: u64 },
}

/// Number of chunks a user's events are rendered in. Chunking bounds memory per work unit
/// whatever the configuration (e.g. 500 users sharing 10^9 events).
pub(crate) fn chunks_of(events: u64) -> u64 {
    events.div_ceil(BLOCK_EVENTS).max(1)
}

/// Cuts users into blocks of about [`BLOCK_EVENTS`] events. Depends only on the users, never
/// on the thread count.
pub(crate) fn blocks(users: &[User]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    for (i, u) in users.iter().enumerate() {
        let chunks = chunks_of(u.events);
        if chunks > 1 {
            if start < i {
                out.push(Block::Users { start, end: i });
            }
            out.extend((0..chunks).map(|c| Block::Chunks {
                user: i,
                from: c,
                to: c + 1,
            }));
            start = i + 1;
            acc = 0;
            continue;
        }
        acc += u.events;
        if acc >= BLOCK_EVENTS {
            out.push(Block::Users { start, end: i + 1 });
            start = i + 1;
            acc = 0;
        }
    }
    if start < users.len() {
        out.push(Block::Users {
            start,
            end: users.len(),
        });
    }
    out
}

/// Columns of a block for the Parquet writer.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub user: Vec<i64>,
    pub artist: Vec<i64>,
    pub album: Vec<i64>,
    pub track: Vec<i64>,
    pub timestamp: Vec<i64>,
}

#[derive(Debug)]
pub(crate) enum Payload {
    Text(Vec<u8>),
    Columns(Columns),
}

/// One rendered block and what it holds.
#[derive(Debug)]
pub(crate) struct BlockOut {
    pub payload: Payload,
    pub events: u64,
    /// Distinct (user, track) pairs of the users rendered whole.
    pub pairs: u64,
    /// For a chunk of a chunked user: that user's index and which repertoire entries the
    /// chunk played; the writer merges them across chunks.
    pub partial: Option<(usize, Vec<bool>)>,
}

/// Hashes a rank with one multiply-xorshift; std's SipHash costs more than the draw itself.
#[derive(Default)]
struct RankHasher(u64);

impl Hasher for RankHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = crate::rng::mix64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = crate::rng::mix64(v);
    }
}

type RankSet = HashSet<u64, BuildHasherDefault<RankHasher>>;

/// Everything block rendering reads; shared by all threads.
pub(crate) struct EventGen<'a> {
    pub seed: u64,
    pub catalogue: &'a Catalogue,
    pub users: &'a [User],
    pub bad: &'a [BadRow],
    pub columnar: bool,
    /// `harmonic[i]` = sum over m in 1..=i+1 of m^-RELISTEN_EXPONENT.
    harmonic: Vec<f64>,
}

/// Distinct tracks a user with `events` plays has in its repertoire.
pub(crate) fn repertoire_size(events: u64) -> usize {
    let r = (REPERTOIRE_SCALE * (events as f64).sqrt()).round() as u64;
    r.clamp(1, events.max(1)) as usize
}

/// Per-thread buffers reused across the users of a block.
#[derive(Default)]
struct Scratch {
    seen: RankSet,
    ranks: Vec<u64>,
    /// Pre-rendered `\tartist\talbum\ttrack\t` of each repertoire entry.
    items: Vec<u8>,
    item_ends: Vec<usize>,
    infos: Vec<crate::catalogue::TrackInfo>,
    times: Vec<u64>,
    used: Vec<bool>,
}

impl<'a> EventGen<'a> {
    pub fn new(
        seed: u64,
        catalogue: &'a Catalogue,
        users: &'a [User],
        bad: &'a [BadRow],
        columnar: bool,
    ) -> EventGen<'a> {
        let max_rep = users
            .iter()
            .map(|u| repertoire_size(u.events))
            .max()
            .unwrap_or(1);
        let mut acc = 0.0;
        let harmonic = (1..=max_rep)
            .map(|m| {
                acc += (m as f64).powf(-RELISTEN_EXPONENT);
                acc
            })
            .collect();
        EventGen {
            seed,
            catalogue,
            users,
            bad,
            columnar,
            harmonic,
        }
    }

    pub fn render(&self, block: Block) -> BlockOut {
        // (user index, first chunk, end chunk) triples of this block.
        let work: Vec<(usize, u64, u64)> = match block {
            Block::Users { start, end } => (start..end)
                .map(|i| (i, 0, chunks_of(self.users[i].events)))
                .collect(),
            Block::Chunks { user, from, to } => vec![(user, from, to)],
        };
        let span = |&(i, from, to): &(usize, u64, u64)| {
            let u = &self.users[i];
            let c = chunks_of(u.events);
            (
                u.first_event + u.events * from / c,
                u.first_event + u.events * to / c,
            )
        };
        let first = work.first().map_or(0, |w| span(w).0);
        let last = work.last().map_or(0, |w| span(w).1);
        let events = last - first;
        let bad_from = self.bad.partition_point(|b| b.pos < first);
        let bad_to = self.bad.partition_point(|b| b.pos < last);
        let mut payload = if self.columnar {
            let cap = events as usize;
            Payload::Columns(Columns {
                user: Vec::with_capacity(cap),
                artist: Vec::with_capacity(cap),
                album: Vec::with_capacity(cap),
                track: Vec::with_capacity(cap),
                timestamp: Vec::with_capacity(cap),
            })
        } else {
            Payload::Text(Vec::with_capacity(
                events as usize * 44 + (bad_to - bad_from) * 64,
            ))
        };
        let mut scratch = Scratch::default();
        let mut bad = self.bad[bad_from..bad_to].iter().peekable();
        let mut pairs = 0u64;
        let mut partial = None;
        for &(i, from, to) in &work {
            let u = &self.users[i];
            if u.events == 0 {
                continue;
            }
            let chunks = chunks_of(u.events);
            // The repertoire and listening window come from the user's own stream, so every
            // chunk of a chunked user sees the same ones.
            let mut rng = rng_for(self.seed, Stream::Events, i as u64);
            self.repertoire(u, &mut rng, &mut scratch);
            let (open, close) = listening_window(u, &mut rng);
            let total = self.harmonic[scratch.ranks.len() - 1];
            let mut user_prefix = Vec::with_capacity(12);
            push_u64(&mut user_prefix, u.id);
            for c in from..to {
                let mut rng = if chunks == 1 {
                    rng.clone()
                } else {
                    rng_for(key(self.seed, Stream::Events, i as u64), Stream::Chunks, c)
                };
                let lo = u.events * c / chunks;
                let n = u.events * (c + 1) / chunks - lo;
                let sub_open = open + (close - open) * c / chunks;
                let sub_close = open + (close - open) * (c + 1) / chunks;
                session_times(n, sub_open, sub_close, &mut rng, &mut scratch.times);
                for (k, &ts) in scratch.times.iter().enumerate() {
                    let j = self.pick(&mut rng, total, scratch.ranks.len());
                    scratch.used[j] = true;
                    match &mut payload {
                        Payload::Text(out) => {
                            let pos = u.first_event + lo + k as u64;
                            while let Some(b) = bad.next_if(|b| b.pos == pos) {
                                render_bad(b, u.id, self.catalogue, out);
                            }
                            out.extend_from_slice(&user_prefix);
                            let from = if j == 0 { 0 } else { scratch.item_ends[j - 1] };
                            out.extend_from_slice(&scratch.items[from..scratch.item_ends[j]]);
                            push_u64(out, ts);
                            out.push(b'\n');
                        }
                        Payload::Columns(cols) => {
                            let info = scratch.infos[j];
                            cols.user.push(u.id as i64);
                            cols.artist.push(i64::from(info.artist));
                            cols.album.push(i64::from(info.album));
                            cols.track.push(i64::from(info.track));
                            cols.timestamp.push(ts as i64);
                        }
                    }
                }
            }
            if chunks == 1 {
                pairs += scratch.used.iter().filter(|&&x| x).count() as u64;
            } else {
                partial = Some((i, std::mem::take(&mut scratch.used)));
            }
        }
        BlockOut {
            payload,
            events,
            pairs,
            partial,
        }
    }

    #[inline]
    fn pick(&self, rng: &mut ChaCha8Rng, total: f64, len: usize) -> usize {
        let target = rng.random::<f64>() * total;
        self.harmonic[..len]
            .partition_point(|&h| h <= target)
            .min(len - 1)
    }

    /// Draws the user's distinct tracks: another track by an artist already drawn with
    /// [`ARTIST_LOYALTY`], else from its archetype's local music with the user's local share,
    /// else from global popularity, restricted to the user's favourite genre with
    /// [`GENRE_SHARE`]. Draw order is preference order.
    fn repertoire(&self, u: &User, rng: &mut ChaCha8Rng, s: &mut Scratch) {
        let want = repertoire_size(u.events);
        let genre = crate::rng::key(self.seed, crate::rng::Stream::Catalogue, (8 << 40) + u.id)
            % crate::catalogue::GENRES;
        s.seen.clear();
        s.ranks.clear();
        // Small catalogues cannot always supply `want` distinct tracks from a skewed law; the
        // attempt cap keeps that case finite at the cost of a smaller repertoire.
        let mut attempts = 0;
        while s.ranks.len() < want && attempts < 8 * want + 16 {
            attempts += 1;
            let rank = if !s.ranks.is_empty() && rng.random::<f64>() < ARTIST_LOYALTY {
                let known = s.ranks[rng.random_range(0..s.ranks.len())];
                self.catalogue.same_artist_rank(rng, known)
            } else {
                if rng.random::<f64>() < u.local_share {
                    self.catalogue.local_rank(rng, u.cluster)
                } else if rng.random::<f64>() < GENRE_SHARE {
                    self.catalogue.genre_rank(rng, genre, None)
                } else {
                    self.catalogue.global_rank(rng)
                }
            };
            if s.seen.insert(rank) {
                s.ranks.push(rank);
            }
        }
        s.items.clear();
        s.item_ends.clear();
        s.infos.clear();
        for &rank in &s.ranks {
            let info = self.catalogue.track_info(rank);
            s.infos.push(info);
            if !self.columnar {
                s.items.push(b'\t');
                push_u64(&mut s.items, u64::from(info.artist));
                s.items.push(b'\t');
                push_u64(&mut s.items, u64::from(info.album));
                s.items.push(b'\t');
                push_u64(&mut s.items, u64::from(info.track));
                s.items.push(b'\t');
                s.item_ends.push(s.items.len());
            }
        }
        s.used.clear();
        s.used.resize(s.ranks.len(), false);
    }
}

/// The span a user listened in: opening mostly in mid-2011..2013 (never before registration),
/// closing within the last three months of the data set.
fn listening_window(u: &User, rng: &mut ChaCha8Rng) -> (u64, u64) {
    let floor = (u.registered.max(0) as u64).clamp(TIMESTAMP_MIN, TIMESTAMP_MAX - 86_400);
    let open = if rng.random::<f64>() < RECENT_SHARE {
        rng.random_range(RECENT_FROM..RECENT_TO)
    } else {
        rng.random_range(TIMESTAMP_MIN..RECENT_FROM)
    };
    let open = open.max(floor);
    // Crawls ended on different days.
    let close = (TIMESTAMP_MAX - rng.random_range(0..90 * 86_400)).max(open + 86_400);
    (open, close.min(TIMESTAMP_MAX))
}

/// `n` event times in `[open, close]`, sorted: sessions of consecutive tracks a few minutes
/// apart, starting at random points.
fn session_times(n: u64, open: u64, close: u64, rng: &mut ChaCha8Rng, times: &mut Vec<u64>) {
    let n = n as usize;
    times.clear();
    while times.len() < n {
        let mut t = rng.random_range(open..=close);
        let len = (1.0 + -(1.0 - rng.random::<f64>()).ln() * MEAN_SESSION_TRACKS) as usize;
        for _ in 0..len.clamp(1, 500).min(n - times.len()) {
            times.push(t.min(close));
            t += rng.random_range(120..420);
        }
    }
    times.sort_unstable();
}

const NOT_NUMBERS: [&[u8]; 8] = [b"abc", b"12x4", b"NaN", b"1.5", b"-3", b"", b"0x1f", b"+7"];
const NON_UTF8: [&[u8]; 4] = [b"12\xff34", b"\xc3\x28", b"caf\xe9", b"\xe2\x82"];

/// Renders one malformed line. Each has exactly one defect, so that a reader classifies it
/// under the kind it was injected as.
fn render_bad(b: &BadRow, user: u64, cat: &Catalogue, out: &mut Vec<u8>) {
    let v = b.variant;
    let mut fields: [Vec<u8>; 5] = Default::default();
    push_u64(&mut fields[0], user);
    push_u64(&mut fields[1], 1 + v % cat.artists);
    push_u64(&mut fields[2], 1 + (v >> 8) % cat.albums);
    push_u64(&mut fields[3], 1 + (v >> 16) % cat.tracks);
    push_u64(
        &mut fields[4],
        TIMESTAMP_MIN + (v >> 24) % (TIMESTAMP_MAX - TIMESTAMP_MIN),
    );
    let pick = (v >> 40) as usize;
    let mut columns = 5;
    match b.kind {
        BadKind::ColumnCount => columns = if v & 1 == 0 { 4 } else { 6 },
        BadKind::NotANumber => {
            fields[1 + pick % 4] = NOT_NUMBERS[(v >> 48) as usize % NOT_NUMBERS.len()].to_vec();
        }
        BadKind::IdOutOfRange => {
            let f = &mut fields[pick % 4];
            f.clear();
            push_u64(f, (1u64 << 32) + (v >> 8) % 1_000_000_000_000);
        }
        BadKind::NonUtf8 => {
            fields[pick % 5] = NON_UTF8[(v >> 48) as usize % NON_UTF8.len()].to_vec();
        }
        BadKind::TimestampOutOfRange => {
            // Outside LFM-1b's span and outside any plausible reader window (2001-2033).
            let ts = if v & 1 == 0 {
                (v >> 8) % 1_000_000_000
            } else {
                2_000_000_001 + (v >> 8) % (u64::from(u32::MAX) - 2_000_000_000)
            };
            fields[4].clear();
            push_u64(&mut fields[4], ts);
        }
    }
    // The sixth column of a too-wide row repeats the track id: still a valid number.
    let extra = [fields[3].clone()];
    for (i, f) in fields.iter().chain(extra.iter()).take(columns).enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(f);
    }
    out.push(b'\n');
}

/// The partial line a truncated file ends with: a user id and the start of an artist id.
pub(crate) fn truncated_line(seed: u64, user: u64, out: &mut Vec<u8>) {
    push_u64(out, user);
    out.push(b'\t');
    push_u64(out, 1 + crate::rng::key(seed, Stream::BadRows, 1) % 9_999);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repertoire_grows_sublinearly() {
        assert_eq!(repertoire_size(1), 1);
        assert_eq!(repertoire_size(10), 4);
        assert_eq!(repertoire_size(400), 24);
        assert_eq!(repertoire_size(10_000), 120);
    }
}
