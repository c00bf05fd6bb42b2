//! The music catalogue: tracks grouped into albums and artists, a global popularity order,
//! and one block of "local" tracks per archetype.
//!
//! Everything is addressed through three index spaces, so nothing per-track is stored:
//! * popularity rank: what the Zipf samplers draw. Ranks are cut into segments: a global head
//!   (the hits everybody plays), one slice per archetype (that cluster's local music, with its
//!   own Zipf law), and the global tail. Slices sit below the head so that globally they are
//!   only moderately popular, as regional music is.
//! * canonical position: ranks shuffled within their segment, then grouped into artists of
//!   power-law sizes that never straddle a segment, so local music has local artists and an
//!   artist's popularity is spread over its tracks rather than sorted.
//! * file id: canonical positions mapped through keyed permutations to ids 1..=n, so ids carry
//!   no popularity order (as in LFM-1b).

use rand::Rng;
use rand_distr::{Distribution, Zipf};

use crate::config::Resolved;
use crate::error::GenError;
use crate::itoa::push_u64;
use crate::perm::Permutation;
use crate::rng::{key, rng_for, Stream};

/// Share of the catalogue (by rank) in the global head, above every local slice.
const HEAD_SHARE: f64 = 0.05;
/// Share of the catalogue given to the archetypes' local slices, all together.
const LOCAL_SHARE: f64 = 0.30;
/// Zipf exponent of track popularity, globally and within a local slice.
pub(crate) const POPULARITY_EXPONENT: f64 = 1.0;
/// Lomax (shifted Pareto) weights of tracks per artist: many artists with a single track,
/// most with a handful, a few with hundreds.
const ARTIST_SIZE_ALPHA: f64 = 1.5;
const ARTIST_SIZE_WEIGHT_CAP: f64 = 150.0;
/// Genres artists belong to; every user favours one. Popularity and locality cut across them,
/// so a user's genre is something only its own listening reveals.
pub(crate) const GENRES: u64 = 12;
/// Draws after which a genre-constrained draw settles for the last track drawn: only a
/// catalogue too small to give every genre a track gets there (a genre holds about 1/12 of the
/// popularity mass, so 1024 misses in a row have odds near 1e-39).
const GENRE_TRIES: u32 = 1024;
/// Canonical positions per artist-lookup bucket.
const BUCKET_SHIFT: u32 = 6;

/// The three ids that travel with a track in every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrackInfo {
    pub track: u32,
    pub artist: u32,
    pub album: u32,
}

#[derive(Debug)]
struct Segment {
    start: u64,
    perm: Permutation,
}

#[derive(Debug)]
pub(crate) struct Catalogue {
    seed: u64,
    pub tracks: u64,
    pub artists: u64,
    pub albums: u64,
    head: u64,
    pub local_len: u64,
    archetypes: u32,
    segments: Vec<Segment>,
    /// Canonical position of each artist's first track; `artists + 1` entries.
    artist_start: Vec<u64>,
    /// Artist owning canonical position `b << BUCKET_SHIFT`: narrows the artist lookup to a
    /// few entries instead of a binary search over millions.
    artist_bucket: Vec<u32>,
    /// Canonical index of each artist's first album; `artists + 1` entries.
    album_start: Vec<u64>,
    /// Tracks per album for each artist (the last album may be shorter).
    album_size: Vec<u8>,
    track_ids: Permutation,
    artist_ids: Permutation,
    album_ids: Permutation,
    global: Zipf<f64>,
    local: Zipf<f64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
    Japanese,
}

impl Catalogue {
    pub fn new(r: &Resolved) -> Result<Catalogue, GenError> {
        let t = r.tracks;
        let k = u64::from(r.archetypes);
        let head = ((t as f64 * HEAD_SHARE) as u64).max(1);
        let local_len = ((t as f64 * LOCAL_SHARE / k as f64) as u64).max(1);
        let tail_start = head + k * local_len;
        if tail_start >= t {
            return Err(GenError::InvalidConfig(format!(
                "{t} tracks are too few for {k} archetypes"
            )));
        }
        let mut bounds = vec![0u64];
        bounds.push(head);
        for i in 1..=k {
            bounds.push(head + i * local_len);
        }
        bounds.push(t);

        let seg_key = |i: usize| key(r.seed, Stream::Catalogue, i as u64);
        let segments: Vec<Segment> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| Segment {
                start: w[0],
                perm: Permutation::new(w[1] - w[0], seg_key(i)),
            })
            .collect();

        // Artists per segment in proportion to its tracks; cumulative flooring keeps the sum
        // exact and gives every segment at least floor(A * len / T) artists.
        let a_total = r.artists;
        let mut artist_start = Vec::with_capacity(a_total as usize + 1);
        let mut prev_floor = 0u64;
        for (i, w) in bounds.windows(2).enumerate() {
            let floor = (u128::from(a_total) * u128::from(w[1]) / u128::from(t)) as u64;
            let artists_here = floor - prev_floor;
            prev_floor = floor;
            let len = w[1] - w[0];
            if artists_here == 0 {
                return Err(GenError::InvalidConfig(format!(
                    "{a_total} artists are too few: catalogue segment {i} ({len} tracks) gets none"
                )));
            }
            push_artist_sizes(
                &mut artist_start,
                w[0],
                len,
                artists_here,
                r.seed,
                (i as u64) << 32,
            );
        }
        artist_start.push(t);
        debug_assert_eq!(artist_start.len() as u64, a_total + 1);
        let mut artist_bucket = Vec::with_capacity((t >> BUCKET_SHIFT) as usize + 1);
        let mut a = 0usize;
        for b in 0..=((t - 1) >> BUCKET_SHIFT) {
            let c = b << BUCKET_SHIFT;
            while artist_start[a + 1] <= c {
                a += 1;
            }
            // Artists <= tracks <= u32::MAX, checked in the configuration.
            artist_bucket.push(a as u32);
        }

        let mut album_start = Vec::with_capacity(artist_start.len());
        let mut album_size = Vec::with_capacity(a_total as usize);
        let mut albums = 0u64;
        for (a, w) in artist_start.windows(2).enumerate() {
            // One to three tracks per album on average gives LFM-1b's ~2 tracks per album.
            let size = 1 + (key(r.seed, Stream::Catalogue, u64::MAX - a as u64) % 3) as u8;
            album_start.push(albums);
            album_size.push(size);
            albums += (w[1] - w[0]).div_ceil(u64::from(size));
        }
        album_start.push(albums);

        let global = Zipf::new(t as f64, POPULARITY_EXPONENT)
            .map_err(|e| GenError::InvalidConfig(format!("global popularity: {e}")))?;
        let local = Zipf::new(local_len as f64, POPULARITY_EXPONENT)
            .map_err(|e| GenError::InvalidConfig(format!("local popularity: {e}")))?;
        Ok(Catalogue {
            seed: r.seed,
            tracks: t,
            artists: a_total,
            albums,
            head,
            local_len,
            archetypes: r.archetypes,
            segments,
            artist_start,
            artist_bucket,
            album_start,
            album_size,
            track_ids: Permutation::new(t, key(r.seed, Stream::Catalogue, 1 << 40)),
            artist_ids: Permutation::new(a_total, key(r.seed, Stream::Catalogue, 2 << 40)),
            album_ids: Permutation::new(albums, key(r.seed, Stream::Catalogue, 3 << 40)),
            global,
            local,
        })
    }

    /// A popularity rank drawn from the global Zipf law.
    #[inline]
    pub fn global_rank<R: Rng>(&self, rng: &mut R) -> u64 {
        (self.global.sample(rng) as u64).clamp(1, self.tracks) - 1
    }

    /// A popularity rank drawn from archetype `cluster`'s local Zipf law.
    #[inline]
    pub fn local_rank<R: Rng>(&self, rng: &mut R, cluster: u32) -> u64 {
        let j = (self.local.sample(rng) as u64).clamp(1, self.local_len) - 1;
        self.local_rank_at(cluster, j)
    }

    /// The rank of archetype `cluster`'s `j`-th most popular local track.
    pub fn local_rank_at(&self, cluster: u32, j: u64) -> u64 {
        debug_assert!(cluster < self.archetypes && j < self.local_len);
        self.head + u64::from(cluster) * self.local_len + j
    }

    fn canonical(&self, rank: u64) -> u64 {
        let k = u64::from(self.archetypes);
        let seg = if rank < self.head {
            0
        } else if rank < self.head + k * self.local_len {
            1 + ((rank - self.head) / self.local_len) as usize
        } else {
            self.segments.len() - 1
        };
        let s = &self.segments[seg];
        s.start + s.perm.apply(rank - s.start)
    }

    /// The genre of artist `a` (canonical index).
    fn artist_genre(&self, a: usize) -> u64 {
        key(self.seed, Stream::Catalogue, (9 << 40) + a as u64) % GENRES
    }

    /// The genre of the track at popularity rank `rank`.
    pub fn genre_of(&self, rank: u64) -> u64 {
        self.artist_genre(self.artist_of(self.canonical(rank)))
    }

    /// A rank drawn from the global law (`cluster` `None`) or an archetype's local law,
    /// conditioned on the track's genre being `genre` (by rejection: popular tracks of the
    /// genre stay popular within it).
    pub fn genre_rank<R: Rng>(&self, rng: &mut R, genre: u64, cluster: Option<u32>) -> u64 {
        let mut rank = 0;
        for _ in 0..GENRE_TRIES {
            rank = match cluster {
                Some(c) => self.local_rank(rng, c),
                None => self.global_rank(rng),
            };
            if self.genre_of(rank) == genre {
                break;
            }
        }
        rank
    }

    fn rank_of(&self, canonical: u64) -> u64 {
        let seg = self.segments.partition_point(|s| s.start <= canonical) - 1;
        let s = &self.segments[seg];
        s.start + s.perm.invert(canonical - s.start)
    }

    /// The rank of a track by the same artist as the track at `rank`, uniform over that
    /// artist's tracks (possibly `rank` itself). Artists never straddle a segment, so a local
    /// artist's other tracks are local too.
    pub fn same_artist_rank<R: Rng>(&self, rng: &mut R, rank: u64) -> u64 {
        let a = self.artist_of(self.canonical(rank));
        let (from, to) = (self.artist_start[a], self.artist_start[a + 1]);
        if to - from <= 1 {
            return rank;
        }
        self.rank_of(rng.random_range(from..to))
    }

    fn artist_of(&self, canonical: u64) -> usize {
        let mut a = self.artist_bucket[(canonical >> BUCKET_SHIFT) as usize] as usize;
        while self.artist_start[a + 1] <= canonical {
            a += 1;
        }
        a
    }

    /// Ids of the track at popularity rank `rank`.
    pub fn track_info(&self, rank: u64) -> TrackInfo {
        let c = self.canonical(rank);
        let a = self.artist_of(c);
        let album =
            self.album_start[a] + (c - self.artist_start[a]) / u64::from(self.album_size[a]);
        // Ids fit in u32: counts were validated against u32::MAX and albums <= tracks.
        TrackInfo {
            track: (self.track_ids.apply(c) + 1) as u32,
            artist: (self.artist_ids.apply(a as u64) + 1) as u32,
            album: (self.album_ids.apply(album) + 1) as u32,
        }
    }

    fn script(&self, artist: usize) -> Script {
        match key(self.seed, Stream::Catalogue, (5 << 40) + artist as u64) % 100 {
            0..=6 => Script::Cyrillic,
            7..=9 => Script::Japanese,
            _ => Script::Latin,
        }
    }

    /// Appends the `tracks` file rows for ids `from..to` (1-based, ascending).
    pub fn render_tracks(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        for id in from..to {
            let c = self.track_ids.invert(id - 1);
            let a = self.artist_of(c);
            push_u64(out, id);
            out.push(b'\t');
            self.push_track_name(c, self.script(a), out);
            out.push(b'\t');
            push_u64(out, self.artist_ids.apply(a as u64) + 1);
            out.push(b'\n');
        }
    }

    /// Appends the `artists` file rows for ids `from..to` (1-based, ascending).
    pub fn render_artists(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        for id in from..to {
            let a = self.artist_ids.invert(id - 1) as usize;
            push_u64(out, id);
            out.push(b'\t');
            self.push_artist_name(a, out);
            out.push(b'\n');
        }
    }

    fn push_artist_name(&self, a: usize, out: &mut Vec<u8>) {
        let mut h = key(self.seed, Stream::Catalogue, (6 << 40) + a as u64);
        let mut take = |n: u64| {
            let v = h % n;
            h = crate::rng::mix64(h ^ v);
            v as usize
        };
        let script = self.script(a);
        if script == Script::Latin && take(5) == 0 {
            out.extend_from_slice(b"The ");
        }
        let words = 1 + take(2);
        for w in 0..words {
            if w > 0 && script != Script::Japanese {
                out.push(b' ');
            }
            let syllables = 2 + take(2);
            for s in 0..syllables {
                let syl = match script {
                    Script::Latin => LATIN_SYLLABLES[take(LATIN_SYLLABLES.len() as u64)],
                    Script::Cyrillic => CYRILLIC_SYLLABLES[take(CYRILLIC_SYLLABLES.len() as u64)],
                    Script::Japanese => KANA[take(KANA.len() as u64)],
                };
                if s == 0 {
                    push_capitalised(syl, out);
                } else {
                    out.extend_from_slice(syl.as_bytes());
                }
            }
        }
    }

    fn push_track_name(&self, c: u64, script: Script, out: &mut Vec<u8>) {
        let mut h = key(self.seed, Stream::Catalogue, (7 << 40) + c);
        let mut take = |n: u64| {
            let v = h % n;
            h = crate::rng::mix64(h ^ v);
            v as usize
        };
        let words: &[&str] = match script {
            Script::Latin => &LATIN_WORDS,
            Script::Cyrillic => &CYRILLIC_WORDS,
            Script::Japanese => &JAPANESE_WORDS,
        };
        let n = 1 + take(3);
        for w in 0..n {
            if w > 0 && script != Script::Japanese {
                out.push(b' ');
            }
            out.extend_from_slice(words[take(words.len() as u64)].as_bytes());
        }
        match take(20) {
            0 => out.extend_from_slice(b" (Live)"),
            1 => out.extend_from_slice(b" - Remastered"),
            2 => out.extend_from_slice(b" (feat. MC Echo)"),
            _ => {}
        }
    }
}

/// Splits `len` canonical tracks starting at `start` among `artists` artists with
/// Pareto-distributed sizes (each at least one track), pushing each artist's first position.
fn push_artist_sizes(out: &mut Vec<u64>, start: u64, len: u64, artists: u64, seed: u64, idx: u64) {
    let mut rng = rng_for(seed, Stream::Catalogue, idx);
    let weights: Vec<f64> = (0..artists)
        .map(|_| {
            let u = 1.0 - rng.random::<f64>();
            (u.powf(-1.0 / ARTIST_SIZE_ALPHA) - 1.0).clamp(1e-6, ARTIST_SIZE_WEIGHT_CAP)
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let extra = len - artists;
    let mut acc = 0.0;
    let mut given_before = 0u64;
    for (i, w) in weights.iter().enumerate() {
        out.push(start + i as u64 + given_before);
        acc += w;
        let given = if i as u64 + 1 == artists {
            extra
        } else {
            ((extra as f64 * acc / total) as u64).clamp(given_before, extra)
        };
        given_before = given;
    }
}

fn push_capitalised(s: &str, out: &mut Vec<u8>) {
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        let mut buf = [0u8; 4];
        for up in first.to_uppercase() {
            out.extend_from_slice(up.encode_utf8(&mut buf).as_bytes());
        }
        out.extend_from_slice(chars.as_str().as_bytes());
    }
}

const LATIN_SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ra", "ne", "to", "sa", "vi", "den", "mor", "ul", "tha", "bri", "zel", "ash",
    "o", "en", "dra", "fen", "gar", "lux", "rin", "sol", "wey",
];
const CYRILLIC_SYLLABLES: [&str; 16] = [
    "ка", "ло", "ми", "ра", "не", "то", "са", "ви", "дер", "мор", "ул", "жа", "ши", "бо", "гра",
    "ль",
];
const KANA: [&str; 16] = [
    "さ", "く", "ら", "の", "ひ", "か", "り", "ゆ", "め", "そ", "ほ", "し", "ア", "イ", "ミ", "ナ",
];
const LATIN_WORDS: [&str; 32] = [
    "Love", "Night", "Blue", "Fire", "Dream", "Heart", "Road", "Light", "Rain", "Ghost", "Summer",
    "Black", "Golden", "River", "Song", "Time", "Home", "Wild", "Echo", "Stars", "Silence",
    "Dance", "Shadow", "City", "Ocean", "Broken", "Paradise", "Morning", "Storm", "Angel", "Über",
    "Corazón",
];
const CYRILLIC_WORDS: [&str; 12] = [
    "Любовь",
    "Ночь",
    "Звезда",
    "Город",
    "Небо",
    "Песня",
    "Море",
    "Весна",
    "Огонь",
    "Дорога",
    "Тишина",
    "Лето",
];
const JAPANESE_WORDS: [&str; 12] = [
    "夜", "空", "桜", "夢", "光", "海", "雨", "星", "心", "風", "花火", "東京",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GeneratorConfig, Resolved};

    fn catalogue(tracks: u64, artists: u64) -> Catalogue {
        let cfg = GeneratorConfig {
            tracks: Some(tracks),
            artists: Some(artists),
            ..GeneratorConfig::default()
        };
        Catalogue::new(&Resolved::new(&cfg).expect("valid config")).expect("catalogue")
    }

    #[test]
    fn every_artist_has_tracks_and_ids_are_a_bijection() {
        let c = catalogue(5_000, 500);
        assert_eq!(c.artist_start.len(), 501);
        assert!(c.artist_start.windows(2).all(|w| w[0] < w[1]));
        let mut seen = vec![false; 5_001];
        for rank in 0..5_000 {
            let info = c.track_info(rank);
            assert!(info.track >= 1 && u64::from(info.track) <= 5_000);
            assert!(!seen[info.track as usize]);
            seen[info.track as usize] = true;
            assert!(info.artist >= 1 && u64::from(info.artist) <= 500);
            assert!(info.album >= 1 && u64::from(info.album) <= c.albums);
        }
        // LFM-1b has about two tracks per album.
        assert!(c.albums > 1_500 && c.albums < 4_000, "{} albums", c.albums);
    }

    #[test]
    fn same_artist_rank_stays_with_the_artist_and_covers_its_tracks() {
        let c = catalogue(5_000, 500);
        let mut rng = crate::rng::rng_for(9, crate::rng::Stream::Catalogue, 0);
        for rank in 0..c.tracks {
            assert_eq!(c.rank_of(c.canonical(rank)), rank);
        }
        let mut multi = 0;
        for rank in (0..c.tracks).step_by(37) {
            let artist = c.track_info(rank).artist;
            let a = c.artist_of(c.canonical(rank));
            let size = (c.artist_start[a + 1] - c.artist_start[a]) as usize;
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..40 * size {
                let other = c.same_artist_rank(&mut rng, rank);
                assert_eq!(c.track_info(other).artist, artist, "rank {rank}");
                seen.insert(other);
            }
            assert_eq!(
                seen.len(),
                size,
                "rank {rank}: every track of the artist is reachable"
            );
            multi += usize::from(size > 1);
        }
        assert!(multi > 10, "{multi} multi-track artists sampled");
    }

    #[test]
    fn genre_draws_keep_the_genre_and_its_popularity_order() {
        let c = catalogue(20_000, 2_000);
        let mut rng = crate::rng::rng_for(4, crate::rng::Stream::Catalogue, 0);
        let mut counts = vec![0u32; c.tracks as usize];
        for _ in 0..20_000 {
            let r = c.genre_rank(&mut rng, 3, None);
            assert_eq!(c.genre_of(r), 3);
            counts[r as usize] += 1;
        }
        // The genre's most popular tracks (lowest ranks) take most draws.
        let genre: Vec<u64> = (0..c.tracks).filter(|&r| c.genre_of(r) == 3).collect();
        assert!(genre.len() > 500, "{}", genre.len());
        let head: u32 = genre[..50].iter().map(|&r| counts[r as usize]).sum();
        let tail: u32 = genre[genre.len() - 50..]
            .iter()
            .map(|&r| counts[r as usize])
            .sum();
        assert!(head > 10 * tail.max(1), "head {head}, tail {tail}");
        for _ in 0..2_000 {
            let r = c.genre_rank(&mut rng, 5, Some(1));
            assert_eq!(c.genre_of(r), 5);
            assert!((c.local_rank_at(1, 0)..c.local_rank_at(1, c.local_len - 1) + 1).contains(&r));
        }
    }

    #[test]
    fn tracks_file_agrees_with_track_info() {
        let c = catalogue(3_000, 300);
        let mut out = Vec::new();
        c.render_tracks(1, 3_001, &mut out);
        let text = String::from_utf8(out).expect("names are UTF-8");
        let mut artist_of = vec![0u32; 3_001];
        for (i, line) in text.lines().enumerate() {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "{line}");
            assert_eq!(cols[0].parse::<usize>().ok(), Some(i + 1));
            assert!(!cols[1].is_empty());
            artist_of[i + 1] = cols[2].parse().expect("artist id");
        }
        for rank in 0..3_000 {
            let info = c.track_info(rank);
            assert_eq!(artist_of[info.track as usize], info.artist);
        }
    }

    #[test]
    fn ids_are_not_popularity_sorted() {
        let c = catalogue(10_000, 1_000);
        let top: Vec<u32> = (0..10).map(|r| c.track_info(r).track).collect();
        assert!(top.iter().filter(|&&t| t <= 10).count() < 3, "{top:?}");
    }
}
