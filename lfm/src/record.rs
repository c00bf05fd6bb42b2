//! The rows of the LFM-1b files, as parsed.

use serde::{Deserialize, Serialize};

/// One listening event (LE): a line of `LFM-1b_LEs.txt`
/// (`user \t artist \t album \t track \t unix time`, no header).
///
/// Identifiers are the data set's own; LFM-1b's largest are below 2^26, so 32 bits keep the
/// hot aggregation maps small. Larger identifiers are rejected as `IdOutOfRange`, never wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListeningEvent {
    pub user: u32,
    pub artist: u32,
    pub album: u32,
    pub track: u32,
    /// Unix time in seconds. LFM-1b spans 2005-2014; times outside the configured window are
    /// rejected as `TimestampOutOfRange`.
    pub timestamp: u32,
}

/// Gender as LFM-1b writes it: `m`, `f`, `n` (stated as neither), or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gender {
    Male,
    Female,
    Neither,
    Unknown,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "m",
            Gender::Female => "f",
            Gender::Neither => "n",
            Gender::Unknown => "",
        }
    }
}

/// A two-letter country code as stored in LFM-1b (ISO 3166-1 alpha-2, except that Great
/// Britain is `UK`, which is kept as written so outputs join with the original files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Country(pub [u8; 2]);

impl Country {
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (checked by the parser).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl std::fmt::Display for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line of `LFM-1b_users.txt` (header: `user_id country age gender playcount
/// registered_unixtime`, tab-separated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub user: u32,
    /// `None` where the user stated no country (54% of LFM-1b users).
    pub country: Option<Country>,
    /// `None` for LFM-1b's `-1` (no age stated).
    pub age: Option<u16>,
    pub gender: Gender,
    /// Last.fm's own play count for the user; `-1` in a few rows, kept as `None`.
    pub playcount: Option<u64>,
    pub registered: Option<i64>,
}

/// A line of `LFM-1b_tracks.txt`: `track_id \t track_name \t artist_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRow {
    pub track: u32,
    pub name: String,
    pub artist: u32,
}

/// A line of `LFM-1b_artists.txt`: `artist_id \t artist_name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistRow {
    pub artist: u32,
    pub name: String,
}
