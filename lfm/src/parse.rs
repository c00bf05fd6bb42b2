//! Row parsers for the four LFM-1b text files.
//!
//! Every parser takes one line without its `\n` (a trailing `\r` is tolerated) and returns the
//! typed row or a [`RowError`] naming the kind of defect and the field. The events parser is the
//! hot path (about a billion rows in LFM-1b): it reads each field eight bytes at a time (SWAR),
//! hands rows it declines to a digit-by-digit parser, and only then falls back to a slower,
//! more careful pass to *explain* a row both rejected, so valid rows never pay for error
//! reporting.

use crate::error::{sample_text, BadRowKind, RowError};
use crate::record::{ArtistRow, Country, Gender, ListeningEvent, TrackRow, UserRow};

/// The accepted range of event timestamps (Unix seconds, both ends inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TimeWindow {
    pub min: u32,
    pub max: u32,
}

impl Default for TimeWindow {
    /// 1_000_000_000 (September 2001) to 2_000_000_000 (May 2033): wide around LFM-1b's
    /// 2005-2014 so that only clearly broken clocks (0, 1970, far future) are rejected.
    fn default() -> Self {
        TimeWindow {
            min: 1_000_000_000,
            max: 2_000_000_000,
        }
    }
}

impl TimeWindow {
    pub fn contains(&self, ts: u32) -> bool {
        self.min <= ts && ts <= self.max
    }
}

const EVENT_FIELDS: [&str; 5] = ["user_id", "artist_id", "album_id", "track_id", "timestamp"];
const USER_FIELDS: [&str; 6] = [
    "user_id",
    "country",
    "age",
    "gender",
    "playcount",
    "registered_unixtime",
];
const TRACK_FIELDS: [&str; 3] = ["track_id", "track_name", "artist_id"];
const ARTIST_FIELDS: [&str; 2] = ["artist_id", "artist_name"];

/// Any value above this cannot be a u32; accumulation saturates here so that arbitrarily long
/// digit runs never overflow, yet stay distinguishable from valid values.
const U32_SATURATED: u64 = u32::MAX as u64 + 1;

#[inline]
fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// Outcome of reading one unsigned decimal field.
#[derive(Debug, PartialEq, Eq)]
enum Num {
    Ok(u64),
    /// Only digits, but more than the target type holds.
    TooBig,
    /// Empty, or something other than ASCII digits.
    NotANumber,
}

/// Strictly decimal: no sign, no spaces, no `_`; `str::parse` would accept a leading `+`.
fn parse_u64(field: &[u8]) -> Num {
    if field.is_empty() {
        return Num::NotANumber;
    }
    let mut acc: u64 = 0;
    let mut too_big = false;
    for &b in field {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Num::NotANumber;
        }
        match acc
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => acc = v,
            None => too_big = true,
        }
    }
    if too_big {
        Num::TooBig
    } else {
        Num::Ok(acc)
    }
}

fn parse_u32(field: &[u8]) -> Num {
    match parse_u64(field) {
        Num::Ok(v) if v > u64::from(u32::MAX) => Num::TooBig,
        other => other,
    }
}

/// Signed decimal with an optional leading `-`.
fn parse_i64(field: &[u8]) -> Num {
    let (neg, digits) = match field.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, field),
    };
    match parse_u64(digits) {
        Num::Ok(v) if neg => {
            if v <= i64::MAX as u64 + 1 {
                // Two's complement: -(2^63) is representable although +(2^63) is not.
                Num::Ok((v as i64).wrapping_neg() as u64)
            } else {
                Num::TooBig
            }
        }
        Num::Ok(v) if v > i64::MAX as u64 => Num::TooBig,
        other => other,
    }
}

/// The UTF-8 check is only worth running when a high byte is present: pure ASCII is valid.
fn invalid_utf8(line: &[u8]) -> bool {
    line.iter().any(|&b| b >= 0x80) && std::str::from_utf8(line).is_err()
}

fn non_utf8(line: &[u8]) -> RowError {
    RowError::new(BadRowKind::NonUtf8, "row", line)
}

fn column_count(line: &[u8], found: usize, expected: usize) -> RowError {
    // Keep the prefix plus sample near the 80 characters the detail is meant to stay within.
    let cut = &line[..line.len().min(56)];
    let mut detail = format!("{found} columns, expected {expected}: {}", sample_text(cut));
    if line.len() > cut.len() && !detail.ends_with('…') {
        detail.push('…');
    }
    RowError {
        kind: BadRowKind::ColumnCount,
        field: "row",
        detail,
    }
}

/// Splits into exactly `N` tab-separated columns or reports the column count found.
fn split_columns<const N: usize>(line: &[u8]) -> Result<[&[u8]; N], RowError> {
    let mut cols: [&[u8]; N] = [&[]; N];
    let mut n = 0usize;
    let mut start = 0usize;
    // memchr finds the tabs a word at a time; a byte-by-byte split cost most of the time of
    // reading a 32M-row tracks file.
    for tab in memchr::memchr_iter(b'\t', line).chain(std::iter::once(line.len())) {
        if n < N {
            cols[n] = &line[start..tab];
        }
        n += 1;
        start = tab + 1;
    }
    if n == N {
        Ok(cols)
    } else {
        Err(column_count(line, n, N))
    }
}

fn id_field(field: &[u8], name: &'static str) -> Result<u32, RowError> {
    match parse_u32(field) {
        // parse_u32 only yields values that fit.
        Num::Ok(v) => Ok(v as u32),
        Num::TooBig => Err(RowError::new(BadRowKind::IdOutOfRange, name, field)),
        Num::NotANumber => Err(RowError::new(BadRowKind::NotANumber, name, field)),
    }
}

/// Parses one line of the listening-events file (`user \t artist \t album \t track \t time`).
#[inline]
pub fn parse_event(line: &[u8], window: TimeWindow) -> Result<ListeningEvent, RowError> {
    let line = strip_cr(line);
    match parse_event_fast(line) {
        Some(v) if v[4] <= u64::from(u32::MAX) && window.contains(v[4] as u32) => {
            Ok(ListeningEvent {
                user: v[0] as u32,
                artist: v[1] as u32,
                album: v[2] as u32,
                track: v[3] as u32,
                timestamp: v[4] as u32,
            })
        }
        _ => Err(explain_event(line, window)),
    }
}

/// The fast path: `None` for anything unusual (the slow path says what). Each field is read
/// eight bytes at a time: the digit-by-digit loop it replaces spent most of its time on
/// mispredicted branches at field ends, whose positions vary from line to line.
#[inline(always)]
fn parse_event_fast(line: &[u8]) -> Option<[u64; 5]> {
    // Rows the block parser declines (short lines, odd fields such as 11 digits with leading
    // zeros) get the digit-by-digit verdict, so both agree on every line.
    parse_event_block(line).or_else(|| parse_event_scalar(line))
}

#[inline(always)]
fn parse_event_block(line: &[u8]) -> Option<[u64; 5]> {
    let words = Words::new(line)?;
    let mut out = [0u64; 5];
    let mut p = 0usize;
    for (k, slot) in out.iter_mut().enumerate() {
        let (value, len) = swar_field(&words, p)?;
        *slot = value;
        p += len;
        if k < 4 {
            if line.get(p) != Some(&b'\t') {
                return None;
            }
            p += 1;
        }
    }
    (p == line.len()).then_some(out)
}

/// Unaligned 8-byte reads of a line, zero past its end. Reads come straight from the line:
/// copying it into a padded block first made every read wait on a store-forwarding stall.
struct Words<'a> {
    line: &'a [u8],
    last: u64,
}

impl<'a> Words<'a> {
    #[inline(always)]
    fn new(line: &'a [u8]) -> Option<Self> {
        let tail = line.get(line.len().checked_sub(8)?..)?;
        Some(Words {
            line,
            last: u64::from_le_bytes(tail.try_into().ok()?),
        })
    }

    /// Bytes `p..p + 8`, little-endian, with zero bytes past the end of the line.
    #[inline(always)]
    fn at(&self, p: usize) -> u64 {
        match self.line.get(p..p + 8) {
            Some(b) => b.try_into().map(u64::from_le_bytes).unwrap_or(0),
            None => {
                let over = (p + 8).saturating_sub(self.line.len());
                if over >= 8 {
                    0
                } else {
                    self.last >> (8 * over)
                }
            }
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the result is set where that byte of `v` is not an ASCII digit.
#[inline(always)]
fn non_digits(v: u64) -> u64 {
    // A byte is a digit iff its high nibble is 3 and so is that of byte + 6 (0x30..=0x39).
    // A carry out of a byte >= 0xFA only affects bytes after it, and that byte is flagged.
    let a = (v & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030;
    let b =
        ((v.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030;
    let nz = a | b;
    (((nz & !HIGHS).wrapping_add(!HIGHS & (0x7F * ONES))) | nz) & HIGHS
}

/// Value of the 8 digits in `v` (first digit in the lowest byte), each byte already minus '0'.
#[inline(always)]
fn swar8(v: u64) -> u64 {
    let v = (v.wrapping_mul(10)).wrapping_add(v >> 8);
    let v = ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32)))
        .wrapping_add(((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)));
    v >> 32
}

/// Value of the first `len` (1..=8) digit bytes of `v`.
#[inline(always)]
pub(crate) fn swar_prefix(v: u64, len: usize) -> u64 {
    let digits = v.wrapping_sub(0x3030_3030_3030_3030);
    // Move the digits to the top; the zero bytes below them read as leading zeros.
    swar8(digits << (8 * (8 - len)))
}

/// The unsigned field starting at `p`: its value and length, or `None` when it is empty,
/// longer than 10 digits, or at least 2^32.
#[inline(always)]
fn swar_field(words: &Words<'_>, p: usize) -> Option<(u64, usize)> {
    let lo = words.at(p);
    let m = non_digits(lo);
    if m != 0 {
        let len = (m.trailing_zeros() / 8) as usize;
        if len == 0 {
            return None;
        }
        return Some((swar_prefix(lo, len), len));
    }
    let hi = words.at(p + 8);
    let extra = (non_digits(hi).trailing_zeros() / 8) as usize;
    let head = swar8(lo.wrapping_sub(0x3030_3030_3030_3030));
    let d0 = (hi & 0xFF).wrapping_sub(u64::from(b'0'));
    let d1 = ((hi >> 8) & 0xFF).wrapping_sub(u64::from(b'0'));
    let value = match extra {
        0 => head,
        1 => head * 10 + d0,
        2 => head * 100 + d0 * 10 + d1,
        _ => return None,
    };
    (value < U32_SATURATED).then_some((value, 8 + extra))
}

/// Digit by digit: lines the block parser declines, and the tests' reference.
fn parse_event_scalar(line: &[u8]) -> Option<[u64; 5]> {
    let mut out = [0u64; 5];
    let mut i = 0usize;
    let n = line.len();
    for (k, slot) in out.iter_mut().enumerate() {
        let start = i;
        let mut acc: u64 = 0;
        while i < n {
            let d = line[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            acc = (acc * 10 + u64::from(d)).min(U32_SATURATED);
            i += 1;
        }
        if i == start || acc >= U32_SATURATED {
            return None;
        }
        *slot = acc;
        if k < 4 {
            if i >= n || line[i] != b'\t' {
                return None;
            }
            i += 1;
        }
    }
    if i == n {
        Some(out)
    } else {
        None
    }
}

#[cold]
fn explain_event(line: &[u8], window: TimeWindow) -> RowError {
    if invalid_utf8(line) {
        return non_utf8(line);
    }
    let cols = match split_columns::<5>(line) {
        Ok(c) => c,
        Err(e) => return e,
    };
    for (k, field) in cols.iter().enumerate().take(4) {
        if let Err(e) = id_field(field, EVENT_FIELDS[k]) {
            return e;
        }
    }
    let ts = cols[4];
    match parse_u32(ts) {
        Num::Ok(v) if window.contains(v as u32) => {
            // The fast path rejected the row yet every field is fine: cannot happen, but the
            // caller still gets an honest description instead of a panic.
            RowError::new(BadRowKind::ColumnCount, "row", line)
        }
        Num::Ok(_) | Num::TooBig => RowError::new(BadRowKind::TimestampOutOfRange, "timestamp", ts),
        Num::NotANumber => RowError::new(BadRowKind::NotANumber, "timestamp", ts),
    }
}

/// True for the header line of `LFM-1b_users.txt`, which is skipped rather than counted bad.
pub fn is_users_header(line: &[u8]) -> bool {
    line.starts_with(b"user_id")
}

/// Parses one line of the users file (`user_id country age gender playcount
/// registered_unixtime`).
pub fn parse_user(line: &[u8]) -> Result<UserRow, RowError> {
    let line = strip_cr(line);
    if invalid_utf8(line) {
        return Err(non_utf8(line));
    }
    let [user, country, age, gender, playcount, registered] = split_columns::<6>(line)?;
    let user = id_field(user, USER_FIELDS[0])?;

    let country = match country {
        [] => None,
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
        }
        _ => return Err(RowError::new(BadRowKind::InvalidValue, "country", country)),
    };

    let age = if age == b"-1" {
        None
    } else {
        match parse_i64(age) {
            Num::Ok(v) => match u16::try_from(v as i64) {
                // Ages such as 0 or 109 are in LFM-1b as users typed them; keeping them lets
                // downstream filters decide, instead of silently losing rows here.
                Ok(a) => Some(a),
                Err(_) => return Err(RowError::new(BadRowKind::InvalidValue, "age", age)),
            },
            Num::TooBig => return Err(RowError::new(BadRowKind::InvalidValue, "age", age)),
            Num::NotANumber => return Err(RowError::new(BadRowKind::NotANumber, "age", age)),
        }
    };

    let gender = match gender {
        b"m" => Gender::Male,
        b"f" => Gender::Female,
        b"n" => Gender::Neither,
        b"" => Gender::Unknown,
        _ => return Err(RowError::new(BadRowKind::InvalidValue, "gender", gender)),
    };

    let playcount = if playcount == b"-1" {
        None
    } else {
        // u64 like Last.fm's counter; a negative other than the `-1` marker is a value problem.
        let (negative, digits) = match playcount.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, playcount),
        };
        match parse_u64(digits) {
            Num::Ok(v) if !negative => Some(v),
            Num::Ok(_) | Num::TooBig => {
                return Err(RowError::new(
                    BadRowKind::InvalidValue,
                    "playcount",
                    playcount,
                ))
            }
            Num::NotANumber => {
                return Err(RowError::new(
                    BadRowKind::NotANumber,
                    "playcount",
                    playcount,
                ))
            }
        }
    };

    let registered = if registered.is_empty() {
        None
    } else {
        match parse_i64(registered) {
            Num::Ok(v) => Some(v as i64),
            Num::TooBig => {
                return Err(RowError::new(
                    BadRowKind::InvalidValue,
                    "registered_unixtime",
                    registered,
                ))
            }
            Num::NotANumber => {
                return Err(RowError::new(
                    BadRowKind::NotANumber,
                    "registered_unixtime",
                    registered,
                ))
            }
        }
    };

    Ok(UserRow {
        user,
        country,
        age,
        gender,
        playcount,
        registered,
    })
}

/// Validates UTF-8 once for the whole line so the name can be taken without a second check.
fn utf8_line(line: &[u8]) -> Result<&str, RowError> {
    std::str::from_utf8(line).map_err(|_| non_utf8(line))
}

/// `col`, a column of `text`'s bytes, as a `&str` of `text`: columns end at tabs, which are
/// char boundaries, so slicing the already validated line needs no second validation.
fn column_str<'a>(text: &'a str, col: &[u8]) -> &'a str {
    let start = col.as_ptr() as usize - text.as_ptr() as usize;
    text.get(start..start + col.len()).unwrap_or_default()
}

/// Parses one line of the tracks file (`track_id \t track_name \t artist_id`).
pub fn parse_track(line: &[u8]) -> Result<TrackRow, RowError> {
    parse_track_ref(line).map(|(track, name, artist)| TrackRow {
        track,
        name: name.to_owned(),
        artist,
    })
}

/// [`parse_track`] without copying the name: `(track, name, artist)`. The whole row is
/// validated either way, so a reader that keeps only some tracks' names still counts every
/// malformed row.
pub fn parse_track_ref(line: &[u8]) -> Result<(u32, &str, u32), RowError> {
    let line = strip_cr(line);
    let text = utf8_line(line)?;
    let [track, name, artist] = split_columns::<3>(line)?;
    let track = id_field(track, TRACK_FIELDS[0])?;
    let artist = id_field(artist, TRACK_FIELDS[2])?;
    Ok((track, column_str(text, name), artist))
}

/// Parses one line of the artists file (`artist_id \t artist_name`).
pub fn parse_artist(line: &[u8]) -> Result<ArtistRow, RowError> {
    parse_artist_ref(line).map(|(artist, name)| ArtistRow {
        artist,
        name: name.to_owned(),
    })
}

/// [`parse_artist`] without copying the name: `(artist, name)`.
pub fn parse_artist_ref(line: &[u8]) -> Result<(u32, &str), RowError> {
    let line = strip_cr(line);
    let text = utf8_line(line)?;
    let [artist, name] = split_columns::<2>(line)?;
    let artist = id_field(artist, ARTIST_FIELDS[0])?;
    Ok((artist, column_str(text, name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const W: TimeWindow = TimeWindow {
        min: 1_000_000_000,
        max: 2_000_000_000,
    };

    fn ev(line: &str) -> Result<ListeningEvent, RowError> {
        parse_event(line.as_bytes(), W)
    }

    /// Fields made of digits, tabs and the odd other byte, with lengths around the block
    /// parser's edges (8 and 10 digits, leading zeros, 2^32).
    fn event_like_line() -> impl Strategy<Value = Vec<u8>> {
        let field = prop_oneof![
            "[0-9]{1,12}",
            Just("4294967295".to_string()),
            Just("4294967296".to_string()),
            Just("0000000012".to_string()),
            Just("00000000001".to_string()),
            "[0-9]{0,9}[ x:\\-]?[0-9]{0,3}",
        ];
        (
            proptest::collection::vec(field, 1..7),
            proptest::sample::select(vec!["\t", "\t", "\t", " ", "\t\t"]),
            proptest::collection::vec(any::<u8>(), 0..2),
        )
            .prop_map(|(fields, sep, tail)| {
                let mut line = fields.join(sep).into_bytes();
                if tail.first().is_some_and(|b| b % 5 == 0) {
                    line.extend_from_slice(&tail);
                }
                line
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The block parser agrees with the digit-by-digit one on every line.
        #[test]
        fn block_parser_equals_scalar(line in event_like_line()) {
            prop_assert_eq!(parse_event_fast(&line), parse_event_scalar(&line));
        }

        #[test]
        fn block_parser_equals_scalar_on_any_bytes(line in proptest::collection::vec(any::<u8>(), 0..70)) {
            prop_assert_eq!(parse_event_fast(&line), parse_event_scalar(&line));
        }
    }

    #[test]
    fn block_parser_edges() {
        for (line, want) in [
            ("1\t2\t3\t4\t1234567890", Some([1, 2, 3, 4, 1_234_567_890])),
            (
                "12345678\t123456789\t1\t0\t4294967295",
                Some([12_345_678, 123_456_789, 1, 0, 4_294_967_295]),
            ),
            ("1\t2\t3\t4\t4294967296", None),
            ("1\t2\t3\t4\t12345678901", None),
            ("1\t2\t3\t4\t", None),
            ("1\t2\t3\t4", None),
            ("1\t2\t3\t4\t5\t", None),
            ("\t2\t3\t4\t5", None),
        ] {
            assert_eq!(parse_event_fast(line.as_bytes()), want, "{line:?}");
            assert_eq!(parse_event_scalar(line.as_bytes()), want, "{line:?}");
        }
    }

    fn err_of<T: std::fmt::Debug>(r: Result<T, RowError>) -> (BadRowKind, &'static str, String) {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => (e.kind, e.field, e.detail),
        }
    }

    #[test]
    fn event_valid_plain_and_crlf() {
        let want = ListeningEvent {
            user: 31435741,
            artist: 21,
            album: 31,
            track: 53,
            timestamp: 1385212958,
        };
        assert_eq!(ev("31435741\t21\t31\t53\t1385212958"), Ok(want));
        assert_eq!(ev("31435741\t21\t31\t53\t1385212958\r"), Ok(want));
        assert_eq!(ev("0\t0\t0\t0\t1000000000").map(|e| e.user), Ok(0));
        assert_eq!(
            ev("00042\t1\t2\t3\t2000000000").map(|e| (e.user, e.timestamp)),
            Ok((42, 2_000_000_000))
        );
    }

    #[test]
    fn event_u32_boundary() {
        let max = u32::MAX;
        let ok = ev(&format!("{max}\t{max}\t{max}\t{max}\t1500000000")).map(|e| e.track);
        assert_eq!(ok, Ok(max));
        for (k, name) in EVENT_FIELDS.iter().enumerate().take(4) {
            let mut cols = ["1"; 5].map(String::from);
            cols[4] = "1500000000".into();
            cols[k] = "4294967296".into();
            let (kind, field, detail) = err_of(ev(&cols.join("\t")));
            assert_eq!((kind, field), (BadRowKind::IdOutOfRange, *name));
            assert_eq!(detail, "4294967296");
        }
        // Long digit runs must not overflow the accumulator.
        let (kind, field, _) = err_of(ev("99999999999999999999999999\t1\t1\t1\t1500000000"));
        assert_eq!((kind, field), (BadRowKind::IdOutOfRange, "user_id"));
        let wide = TimeWindow {
            min: 0,
            max: u32::MAX,
        };
        assert_eq!(
            parse_event(b"1\t1\t1\t1\t4294967295", wide).map(|e| e.timestamp),
            Ok(u32::MAX)
        );
        let (kind, field, _) = err_of(parse_event(b"1\t1\t1\t1\t4294967296", wide));
        assert_eq!(
            (kind, field),
            (BadRowKind::TimestampOutOfRange, "timestamp")
        );
    }

    #[test]
    fn event_column_count() {
        for line in ["1\t2\t3\t4", "1\t2\t3\t4\t1500000000\t6", "", "1500000000"] {
            let (kind, field, detail) = err_of(ev(line));
            assert_eq!((kind, field), (BadRowKind::ColumnCount, "row"), "{line:?}");
            let found = line.split('\t').count();
            assert!(
                detail.starts_with(&format!("{found} columns, expected 5")),
                "{detail}"
            );
        }
        // A trailing tab is an extra (empty) column.
        let (kind, _, _) = err_of(ev("1\t2\t3\t4\t1500000000\t"));
        assert_eq!(kind, BadRowKind::ColumnCount);
    }

    #[test]
    fn event_not_a_number_names_the_field() {
        for (k, name) in EVENT_FIELDS.iter().enumerate() {
            for bad in ["", "x", "-1", "+1", " 1", "1.5", "1e3"] {
                let mut cols = ["7", "7", "7", "7", "1500000000"].map(String::from);
                cols[k] = bad.into();
                let (kind, field, detail) = err_of(ev(&cols.join("\t")));
                assert_eq!((kind, field), (BadRowKind::NotANumber, *name), "{bad:?}");
                assert_eq!(detail, bad);
            }
        }
    }

    #[test]
    fn event_timestamp_window() {
        let (kind, field, detail) = err_of(ev("1\t2\t3\t4\t999999999"));
        assert_eq!(
            (kind, field),
            (BadRowKind::TimestampOutOfRange, "timestamp")
        );
        assert_eq!(detail, "999999999");
        let (kind, _, _) = err_of(ev("1\t2\t3\t4\t2000000001"));
        assert_eq!(kind, BadRowKind::TimestampOutOfRange);
        let (kind, _, _) = err_of(ev("1\t2\t3\t4\t0"));
        assert_eq!(kind, BadRowKind::TimestampOutOfRange);
        let narrow = TimeWindow { min: 5, max: 10 };
        assert!(narrow.contains(5) && narrow.contains(10) && !narrow.contains(11));
        assert_eq!(
            parse_event(b"1\t2\t3\t4\t7", narrow).map(|e| e.timestamp),
            Ok(7)
        );
    }

    #[test]
    fn event_non_utf8_preferred() {
        let (kind, field, _) = err_of(parse_event(b"1\t2\xff\t3\t4\t1500000000", W));
        assert_eq!((kind, field), (BadRowKind::NonUtf8, "row"));
        // Even with a wrong column count the encoding problem is what gets reported.
        let (kind, _, _) = err_of(parse_event(b"\xc3\x28", W));
        assert_eq!(kind, BadRowKind::NonUtf8);
        // Valid UTF-8 that is not a number is a number problem, not an encoding one.
        let (kind, field, _) = err_of(ev("1\t\u{e9}\t3\t4\t1500000000"));
        assert_eq!((kind, field), (BadRowKind::NotANumber, "artist_id"));
    }

    fn user(line: &str) -> Result<UserRow, RowError> {
        parse_user(line.as_bytes())
    }

    #[test]
    fn user_valid_rows() {
        assert_eq!(
            user("384\tUK\t35\tm\t42139\t1035849600"),
            Ok(UserRow {
                user: 384,
                country: Some(Country(*b"UK")),
                age: Some(35),
                gender: Gender::Male,
                playcount: Some(42139),
                registered: Some(1035849600),
            })
        );
        assert_eq!(
            user("2\t\t-1\t\t-1\t\r"),
            Ok(UserRow {
                user: 2,
                country: None,
                age: None,
                gender: Gender::Unknown,
                playcount: None,
                registered: None,
            })
        );
        let r = user("3\tat\t0\tf\t0\t-5").map(|u| (u.country, u.age, u.gender, u.registered));
        assert_eq!(
            r,
            Ok((Some(Country(*b"AT")), Some(0), Gender::Female, Some(-5)))
        );
        let r = user("4\tUS\t109\tn\t1\t1").map(|u| (u.age, u.gender));
        assert_eq!(r, Ok((Some(109), Gender::Neither)));
        assert_eq!(
            user("5\tUS\t65535\tn\t1\t1").map(|u| u.age),
            Ok(Some(65535))
        );
        assert_eq!(
            user("6\tUS\t1\tm\t18446744073709551615\t1").map(|u| u.playcount),
            Ok(Some(u64::MAX))
        );
    }

    #[test]
    fn user_bad_rows() {
        let cases: &[(&str, BadRowKind, &str)] = &[
            ("1\tUS\t20\tm\t5", BadRowKind::ColumnCount, "row"),
            ("x\tUS\t20\tm\t5\t1", BadRowKind::NotANumber, "user_id"),
            (
                "4294967296\tUS\t20\tm\t5\t1",
                BadRowKind::IdOutOfRange,
                "user_id",
            ),
            ("1\tUSA\t20\tm\t5\t1", BadRowKind::InvalidValue, "country"),
            ("1\tU1\t20\tm\t5\t1", BadRowKind::InvalidValue, "country"),
            ("1\tUS\tabc\tm\t5\t1", BadRowKind::NotANumber, "age"),
            ("1\tUS\t\tm\t5\t1", BadRowKind::NotANumber, "age"),
            ("1\tUS\t65536\tm\t5\t1", BadRowKind::InvalidValue, "age"),
            ("1\tUS\t-2\tm\t5\t1", BadRowKind::InvalidValue, "age"),
            ("1\tUS\t20\tx\t5\t1", BadRowKind::InvalidValue, "gender"),
            ("1\tUS\t20\tM\t5\t1", BadRowKind::InvalidValue, "gender"),
            ("1\tUS\t20\tm\tlots\t1", BadRowKind::NotANumber, "playcount"),
            ("1\tUS\t20\tm\t-7\t1", BadRowKind::InvalidValue, "playcount"),
            (
                "1\tUS\t20\tm\t5\tsoon",
                BadRowKind::NotANumber,
                "registered_unixtime",
            ),
            (
                "1\tUS\t20\tm\t5\t99999999999999999999",
                BadRowKind::InvalidValue,
                "registered_unixtime",
            ),
        ];
        for (line, kind, field) in cases {
            let (k, f, _) = err_of(user(line));
            assert_eq!((k, f), (*kind, *field), "{line:?}");
        }
        let (k, f, _) = err_of(parse_user(b"1\tUS\t20\tm\t5\t1\xfe"));
        assert_eq!((k, f), (BadRowKind::NonUtf8, "row"));
    }

    #[test]
    fn users_header_detected() {
        assert!(is_users_header(
            b"user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"
        ));
        assert!(!is_users_header(b"384\tUK\t35\tm\t42139\t1035849600"));
    }

    #[test]
    fn tracks_and_artists() {
        assert_eq!(
            parse_track("7\tCaf\u{e9} \u{97f3}\u{697d} \"quoted\"\t21\r".as_bytes()),
            Ok(TrackRow {
                track: 7,
                name: "Caf\u{e9} \u{97f3}\u{697d} \"quoted\"".into(),
                artist: 21
            })
        );
        assert_eq!(parse_track(b"7\t\t21").map(|t| t.name), Ok(String::new()));
        let cases: &[(&[u8], BadRowKind, &str)] = &[
            (b"7\ta\tb\t21", BadRowKind::ColumnCount, "row"),
            (b"7\tname", BadRowKind::ColumnCount, "row"),
            (b"x\tname\t21", BadRowKind::NotANumber, "track_id"),
            (b"7\tname\t", BadRowKind::NotANumber, "artist_id"),
            (
                b"7\tname\t5000000000",
                BadRowKind::IdOutOfRange,
                "artist_id",
            ),
            (b"7\tna\xffme\t21", BadRowKind::NonUtf8, "row"),
        ];
        for (line, kind, field) in cases {
            let (k, f, _) = err_of(parse_track(line));
            assert_eq!((k, f), (*kind, *field), "{line:?}");
        }

        assert_eq!(
            parse_artist("21\tSigur R\u{f3}s".as_bytes()),
            Ok(ArtistRow {
                artist: 21,
                name: "Sigur R\u{f3}s".into()
            })
        );
        let cases: &[(&[u8], BadRowKind, &str)] = &[
            (b"21", BadRowKind::ColumnCount, "row"),
            (b"21\ta\tb", BadRowKind::ColumnCount, "row"),
            (b"-3\tname", BadRowKind::NotANumber, "artist_id"),
            (b"4294967296\tname", BadRowKind::IdOutOfRange, "artist_id"),
            (b"21\t\x80", BadRowKind::NonUtf8, "row"),
        ];
        for (line, kind, field) in cases {
            let (k, f, _) = err_of(parse_artist(line));
            assert_eq!((k, f), (*kind, *field), "{line:?}");
        }
    }

    #[test]
    fn column_count_detail_is_bounded() {
        let long = "9\t".repeat(200);
        let e = parse_event(long.as_bytes(), W).err();
        let detail = e.map(|e| e.detail).unwrap_or_default();
        assert!(detail.starts_with("201 columns, expected 5"), "{detail}");
        assert!(detail.chars().count() <= 140, "{}", detail.chars().count());
        assert!(detail.ends_with('…'));
    }

    proptest! {
        #[test]
        fn event_roundtrip(
            user: u32, artist: u32, album: u32, track: u32,
            ts in 1_000_000_000u32..=2_000_000_000u32,
            crlf: bool,
        ) {
            let line = format!(
                "{user}\t{artist}\t{album}\t{track}\t{ts}{}",
                if crlf { "\r" } else { "" }
            );
            let got = parse_event(line.as_bytes(), W);
            prop_assert_eq!(got, Ok(ListeningEvent { user, artist, album, track, timestamp: ts }));
        }

        #[test]
        fn event_never_panics_and_agrees_with_std(line in proptest::collection::vec(
            prop_oneof![Just(b'\t'), Just(b'1'), Just(b'9'), Just(b'0'), any::<u8>()], 0..60)
        ) {
            // Whatever the bytes, parsing returns; and when it accepts, std agrees field by field.
            if let Ok(e) = parse_event(&line, W) {
                let text = std::str::from_utf8(strip_cr(&line)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let parsed: Vec<u32> = text.split('\t').map(|f| f.parse::<u32>().unwrap_or(0)).collect();
                prop_assert_eq!(parsed, vec![e.user, e.artist, e.album, e.track, e.timestamp]);
            }
        }
    }
}
