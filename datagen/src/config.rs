//! What to generate: the public configuration and its validated, resolved form.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::GenError;

/// Knobs of one generation run. Same seed and same configuration give byte-identical files,
/// whatever `threads` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Total valid listening events written (injected bad rows come on top).
    pub events: u64,
    /// Users; default `max(500, events / 400)`, which keeps the per-user activity shape
    /// realistic at demo scale without producing a mostly idle population.
    pub users: Option<u64>,
    /// Catalogue size; default `max(2_000, events / 25)`.
    pub tracks: Option<u64>,
    /// Artists; default `tracks / 10`.
    pub artists: Option<u64>,
    /// Planted country clusters.
    pub archetypes: u32,
    pub encoding: OutputEncoding,
    pub bad_rows: BadRowInjection,
    /// Generation parallelism; 0 means all available cores. Never changes the output.
    pub threads: usize,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            events: 1_000_000,
            users: None,
            tracks: None,
            artists: None,
            archetypes: 6,
            encoding: OutputEncoding::Plain,
            bad_rows: BadRowInjection::default(),
            threads: 0,
        }
    }
}

/// How the events file is written. Users, tracks and artists always stay plain TSV, as in
/// the real data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputEncoding {
    #[default]
    Plain,
    Gzip,
    Bzip2,
    Zstd,
    /// Columns `user_id, artist_id, album_id, track_id, timestamp`, all Int64, row groups of
    /// 2^20 rows.
    Parquet,
}

impl OutputEncoding {
    pub const ALL: [OutputEncoding; 5] = [
        OutputEncoding::Plain,
        OutputEncoding::Gzip,
        OutputEncoding::Bzip2,
        OutputEncoding::Zstd,
        OutputEncoding::Parquet,
    ];

    /// File name of the events file in this encoding.
    pub fn events_file_name(self) -> &'static str {
        match self {
            OutputEncoding::Plain => "LFM-1b_LEs.txt",
            OutputEncoding::Gzip => "LFM-1b_LEs.txt.gz",
            OutputEncoding::Bzip2 => "LFM-1b_LEs.txt.bz2",
            OutputEncoding::Zstd => "LFM-1b_LEs.txt.zst",
            OutputEncoding::Parquet => "LFM-1b_LEs.parquet",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutputEncoding::Plain => "plain",
            OutputEncoding::Gzip => "gzip",
            OutputEncoding::Bzip2 => "bzip2",
            OutputEncoding::Zstd => "zstd",
            OutputEncoding::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for OutputEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputEncoding {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "txt" | "text" | "tsv" => "plain",
            "gz" => "gzip",
            "bz2" => "bzip2",
            "zst" => "zstd",
            other => other,
        };
        OutputEncoding::ALL
            .into_iter()
            .find(|e| e.name() == alias)
            .ok_or_else(|| GenError::InvalidConfig(format!("unknown output encoding `{s}`")))
    }
}

/// Malformed rows to inject, by kind. Each injected line has exactly one defect, checked in
/// the order a reader would (UTF-8, column count, ids, timestamp), so it is classified under
/// the kind it was injected as.
///
/// Events file (extra lines at seeded positions, within the surrounding user's block; not
/// counted in `events`; text encodings only):
/// * `column_count`: 4 or 6 integer columns;
/// * `not_a_number`: an artist/album/track/timestamp field such as `abc`, `1.5`, `-3` or empty;
/// * `id_out_of_range`: a user/artist/album/track id >= 2^32;
/// * `non_utf8`: a field holding invalid UTF-8 bytes;
/// * `timestamp_out_of_range`: below 1_000_000_000 or above 2_000_000_000 (outside any
///   plausible window, not just outside [`crate::TIMESTAMP_MIN`]..=[`crate::TIMESTAMP_MAX`]);
/// * `truncated_last_line` (0 or 1): the file ends in a partial line (`user\tartist`) without
///   `\n`.
///
/// Users file: `duplicate_user`, a second row for an existing user id with a different
/// country, somewhere after the original.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BadRowInjection {
    pub per_kind: BTreeMap<String, u64>,
}

impl BadRowInjection {
    /// Every kind the generator knows, in the order they are documented.
    pub const KINDS: [&'static str; 7] = [
        "column_count",
        "not_a_number",
        "id_out_of_range",
        "non_utf8",
        "timestamp_out_of_range",
        "truncated_last_line",
        "duplicate_user",
    ];

    /// Builder-style: add `count` rows of `kind`.
    pub fn with(mut self, kind: &str, count: u64) -> Self {
        *self.per_kind.entry(kind.to_string()).or_insert(0) += count;
        self
    }

    /// One of every kind (`count` of each, the truncated last line once).
    pub fn every_kind(count: u64) -> Self {
        let mut b = BadRowInjection::default();
        for kind in BadRowInjection::KINDS {
            let n = if kind == "truncated_last_line" {
                1
            } else {
                count
            };
            b = b.with(kind, n);
        }
        b
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.per_kind.get(kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.per_kind.values().sum()
    }

    /// The non-zero entries only: what ends up injected and reported.
    pub(crate) fn nonzero(&self) -> BTreeMap<String, u64> {
        self.per_kind
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, &n)| (k.clone(), n))
            .collect()
    }
}

/// Largest user id the generator hands out; keeps ids well inside u32 (the readers' type)
/// and inside i32 for consumers that use signed columns.
pub(crate) const MAX_USER_ID: u64 = 2_000_000_000;

/// Bad rows are positions held in memory; this bounds that memory.
const MAX_BAD_EVENT_ROWS: u64 = 50_000_000;

/// The configuration with defaults filled in and checked. Serialised into the ground truth
/// (without `threads`, which must not influence any output byte).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Resolved {
    pub seed: u64,
    pub events: u64,
    pub users: u64,
    pub tracks: u64,
    pub artists: u64,
    pub archetypes: u32,
    pub encoding: OutputEncoding,
    pub bad_rows: BTreeMap<String, u64>,
    #[serde(skip)]
    pub threads: usize,
}

impl Resolved {
    pub fn new(cfg: &GeneratorConfig) -> Result<Resolved, GenError> {
        let invalid = |m: String| Err(GenError::InvalidConfig(m));
        if cfg.events == 0 {
            return invalid("events must be at least 1".into());
        }
        let users = cfg.users.unwrap_or(500.max(cfg.events / 400));
        let tracks = cfg.tracks.unwrap_or(2_000.max(cfg.events / 25));
        let artists = cfg.artists.unwrap_or(tracks / 10);
        if users == 0 {
            return invalid("users must be at least 1".into());
        }
        if users > MAX_USER_ID / 2 {
            return invalid(format!(
                "{users} users cannot get distinct sparse ids below 2e9"
            ));
        }
        let archetypes = cfg.archetypes;
        let countries = crate::figures::COUNTRY_USERS.len() as u32;
        if archetypes == 0 || archetypes > countries {
            return invalid(format!(
                "archetypes must be in 1..={countries}, got {archetypes}"
            ));
        }
        let min_tracks = 50 * u64::from(archetypes);
        if tracks < min_tracks || tracks > u64::from(u32::MAX) {
            return invalid(format!(
                "tracks must be in {min_tracks}..={} for {archetypes} archetypes, got {tracks}",
                u32::MAX
            ));
        }
        if artists == 0 || artists > tracks {
            return invalid(format!("artists must be in 1..={tracks}, got {artists}"));
        }
        for (kind, &n) in &cfg.bad_rows.per_kind {
            if !BadRowInjection::KINDS.contains(&kind.as_str()) {
                return invalid(format!(
                    "unknown bad-row kind `{kind}` (known: {})",
                    BadRowInjection::KINDS.join(", ")
                ));
            }
            if kind == "truncated_last_line" && n > 1 {
                return invalid(
                    "a file has one last line: truncated_last_line must be 0 or 1".into(),
                );
            }
            if kind == "duplicate_user" && n > users {
                return invalid(format!("duplicate_user {n} exceeds the {users} users"));
            }
        }
        let bad_rows = cfg.bad_rows.nonzero();
        let event_bad: u64 = bad_rows
            .iter()
            .filter(|(k, _)| k.as_str() != "duplicate_user")
            .map(|(_, n)| n)
            .sum();
        if event_bad > MAX_BAD_EVENT_ROWS {
            return invalid(format!("at most {MAX_BAD_EVENT_ROWS} bad event rows"));
        }
        if cfg.encoding == OutputEncoding::Parquet && event_bad > 0 {
            return invalid("bad event rows can only be injected into text encodings".into());
        }
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            cfg.threads
        };
        Ok(Resolved {
            seed: cfg.seed,
            events: cfg.events,
            users,
            tracks,
            artists,
            archetypes,
            encoding: cfg.encoding,
            bad_rows,
            threads,
        })
    }
}
