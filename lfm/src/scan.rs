//! Parsing a whole chunk of listening-event lines.
//!
//! [`crate::parse::parse_event`] takes one line, so its caller first finds the line end with a
//! `memchr`, and inside the line every field end depends on the one before: a chain of
//! unaligned reads, digit tests and bit scans five links long. Here, at each line start, one
//! 64-byte window is classified with vector compares into three bitmasks (tabs, line ends,
//! non-digits). The line end is the lowest set bit of one mask, the line's shape (four tabs,
//! nothing but digits between them, no empty field) is a handful of bit operations, and the
//! five fields convert independently of each other. A line the fast path declines (a `\r`,
//! leading zeros, an out-of-window timestamp, anything unusual) goes to `parse_event`, so both
//! paths accept exactly the same rows and reject them with the same errors.
//!
//! The vector path exists for x86-64 (AVX2 where the CPU has it, else SSE2, which every x86-64
//! CPU has); elsewhere every line takes the line-by-line path.

use memchr::memchr;

use crate::error::RowError;
use crate::parse::{parse_event, swar_prefix, TimeWindow};
use crate::read::{Line, LineChunk};
use crate::record::ListeningEvent;

/// Bytes classified at each line start.
const WINDOW: usize = 64;
/// Bytes that must remain from a line start for the fast path: the window, plus the two digits
/// a 10-digit field starting near its end reads past an 8-byte load.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const READ: usize = WINDOW + 16;

/// Which instructions classify a window. Public so that tests and benchmarks can compare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Line by line: `memchr` for the end, then `parse_event`.
    Lines,
    /// 16-byte compares (baseline x86-64).
    Sse2,
    /// 32-byte compares.
    Avx2,
}

impl Path {
    /// The fastest path this CPU supports.
    pub fn best() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if x86::has_avx2() {
                return Path::Avx2;
            }
            Path::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        Path::Lines
    }

    /// Every path this CPU can run, slowest first.
    pub fn available() -> Vec<Path> {
        let mut v = vec![Path::Lines];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Path::Sse2);
            if x86::has_avx2() {
                v.push(Path::Avx2);
            }
        }
        v
    }
}

/// Lines of a chunk, and how many of them the careful parser saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    pub lines: u64,
    /// Lines parsed one at a time: those the vector path declined (rejected rows among them)
    /// and the last few of the chunk, too close to its end for a whole window.
    pub careful: u64,
}

/// Parses every line of `chunk` with the fastest path: `on_event` gets each accepted event in
/// order, `on_reject` each rejected line with its error.
pub fn events<E, R>(chunk: &LineChunk, window: TimeWindow, on_event: E, on_reject: R) -> Scanned
where
    E: FnMut(&ListeningEvent),
    R: FnMut(&Line<'_>, RowError),
{
    events_with(Path::best(), chunk, window, on_event, on_reject)
}

/// [`events`] on a chosen path. A path the CPU lacks falls back to the best one it has.
pub fn events_with<E, R>(
    path: Path,
    chunk: &LineChunk,
    window: TimeWindow,
    mut on_event: E,
    mut on_reject: R,
) -> Scanned
where
    E: FnMut(&ListeningEvent),
    R: FnMut(&Line<'_>, RowError),
{
    let mut at = Cursor {
        pos: 0,
        done: Scanned::default(),
    };
    match path {
        Path::Lines => {}
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 if x86::has_avx2() => {
            // SAFETY: the CPU supports AVX2 and BMI1 (checked just above).
            unsafe { x86::scan_avx2(chunk, window, &mut at, &mut on_event, &mut on_reject) }
        }
        #[cfg(target_arch = "x86_64")]
        _ => x86::scan_sse2(chunk, window, &mut at, &mut on_event, &mut on_reject),
        #[cfg(not(target_arch = "x86_64"))]
        _ => {}
    }
    scan_lines(chunk, window, &mut at, &mut on_event, &mut on_reject);
    at.done
}

/// Where a scan stands in its chunk.
struct Cursor {
    /// Start of the next line in `chunk.data`.
    pos: usize,
    done: Scanned,
}

impl Cursor {
    /// Hands the line `data[pos..pos + len]` to the careful parser and steps past it and its
    /// line end (`last`: it has none, it ends the file).
    #[inline(never)]
    fn careful<E, R>(
        &mut self,
        chunk: &LineChunk,
        len: usize,
        last: bool,
        window: TimeWindow,
        on_event: &mut E,
        on_reject: &mut R,
    ) where
        E: FnMut(&ListeningEvent),
        R: FnMut(&Line<'_>, RowError),
    {
        let bytes = &chunk.data[self.pos..self.pos + len];
        match parse_event(bytes, window) {
            Ok(e) => on_event(&e),
            Err(err) => on_reject(
                &Line {
                    bytes,
                    offset: chunk.offset + self.pos as u64,
                    shard_line: chunk.first_line + self.done.lines,
                    last_without_newline: last,
                },
                err,
            ),
        }
        self.pos += len + usize::from(!last);
        self.done.lines += 1;
        self.done.careful += 1;
    }
}

/// The lines from `at` on, one by one.
fn scan_lines<E, R>(
    chunk: &LineChunk,
    window: TimeWindow,
    at: &mut Cursor,
    on_event: &mut E,
    on_reject: &mut R,
) where
    E: FnMut(&ListeningEvent),
    R: FnMut(&Line<'_>, RowError),
{
    let data = &chunk.data[..];
    while at.pos < data.len() {
        match memchr(b'\n', &data[at.pos..]) {
            Some(len) => at.careful(chunk, len, false, window, on_event, on_reject),
            None => {
                let len = data.len() - at.pos;
                at.careful(
                    chunk,
                    len,
                    chunk.eof_without_newline,
                    window,
                    on_event,
                    on_reject,
                )
            }
        }
    }
}

/// Positions of tabs, line ends and non-digits in a window: bit i for byte i.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Masks {
    tab: u64,
    newline: u64,
    non_digit: u64,
}

/// What the fast path made of the line at a window's start.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Fast {
    /// A valid event; the line is this long.
    Event(ListeningEvent, usize),
    /// A line of this length the careful parser must judge.
    Careful(usize),
    /// No line end in the window.
    Long,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn fast_line(w: &[u8; READ], m: Masks, window: TimeWindow) -> Fast {
    if m.newline == 0 {
        return Fast::Long;
    }
    let end = m.newline.trailing_zeros() as usize;
    let before_end = (1u64 << end) - 1;
    let tabs = m.tab & before_end;
    let seps = tabs | (1u64 << end);
    let mut t = tabs;
    let e0 = t.trailing_zeros() as usize;
    t &= t.wrapping_sub(1);
    let e1 = t.trailing_zeros() as usize;
    t &= t.wrapping_sub(1);
    let e2 = t.trailing_zeros() as usize;
    t &= t.wrapping_sub(1);
    let e3 = t.trailing_zeros() as usize;
    // Only tabs between digits; exactly four of them (one left after taking three); no
    // separator first or right after another (an empty field).
    let shape_ok = m.non_digit & before_end == tabs
        && t != 0
        && t & (t - 1) == 0
        && seps & ((seps << 1) | 1) == 0;
    if !shape_ok {
        return Fast::Careful(end);
    }
    let (l0, l1, l2, l3, l4) = (e0, e1 - e0 - 1, e2 - e1 - 1, e3 - e2 - 1, end - e3 - 1);
    if l0.max(l1).max(l2).max(l3).max(l4) > 10 {
        return Fast::Careful(end);
    }
    let user = field(w, 0, l0);
    let artist = field(w, e0 + 1, l1);
    let album = field(w, e1 + 1, l2);
    let track = field(w, e2 + 1, l3);
    let ts = field(w, e3 + 1, l4);
    if user.max(artist).max(album).max(track).max(ts) > u64::from(u32::MAX)
        || !window.contains(ts as u32)
    {
        return Fast::Careful(end);
    }
    Fast::Event(
        ListeningEvent {
            user: user as u32,
            artist: artist as u32,
            album: album as u32,
            track: track as u32,
            timestamp: ts as u32,
        },
        end,
    )
}

/// The value of the `len` (1..=10) digits at `w[start..]`, all known to be digits.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn field(w: &[u8; READ], start: usize, len: usize) -> u64 {
    // start < 64 always; the mask lets the compiler drop the bounds checks.
    let s = start & (WINDOW - 1);
    let mut word = [0u8; 8];
    word.copy_from_slice(&w[s..s + 8]);
    let head = swar_prefix(u64::from_le_bytes(word), len.min(8));
    let d8 = u64::from(w[s + 8].wrapping_sub(b'0'));
    let d9 = u64::from(w[s + 9].wrapping_sub(b'0'));
    match len {
        9 => head * 10 + d8,
        10 => head * 100 + d8 * 10 + d9,
        _ => head,
    }
}

/// The fast loop, shared by the instruction sets: it runs while a whole read fits in the
/// chunk and leaves the rest to [`scan_lines`].
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn scan_fast<M, E, R>(
    chunk: &LineChunk,
    window: TimeWindow,
    at: &mut Cursor,
    on_event: &mut E,
    on_reject: &mut R,
    masks: M,
) where
    M: Fn(&[u8; READ]) -> Masks,
    E: FnMut(&ListeningEvent),
    R: FnMut(&Line<'_>, RowError),
{
    let data = &chunk.data[..];
    while let Some(w) = data.get(at.pos..).and_then(|r| r.first_chunk::<READ>()) {
        match fast_line(w, masks(w), window) {
            Fast::Event(e, len) => {
                on_event(&e);
                at.pos += len + 1;
                at.done.lines += 1;
            }
            Fast::Careful(len) => at.careful(chunk, len, false, window, on_event, on_reject),
            Fast::Long => match memchr(b'\n', &data[at.pos + WINDOW..]) {
                Some(i) => at.careful(chunk, WINDOW + i, false, window, on_event, on_reject),
                // The rest of the chunk is one line: the line-by-line loop finishes it.
                None => return,
            },
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;

    /// AVX2 for the compares, BMI1 for single-instruction trailing-zero counts.
    pub(super) fn has_avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("bmi1")
    }

    pub(super) fn scan_sse2<E, R>(
        chunk: &LineChunk,
        window: TimeWindow,
        at: &mut Cursor,
        on_event: &mut E,
        on_reject: &mut R,
    ) where
        E: FnMut(&ListeningEvent),
        R: FnMut(&Line<'_>, RowError),
    {
        scan_fast(chunk, window, at, on_event, on_reject, |w| {
            // SAFETY: SSE2 is part of x86-64; the reads stay inside `w`.
            unsafe { masks_sse2(w) }
        })
    }

    /// # Safety
    /// The CPU must support AVX2 and BMI1.
    #[target_feature(enable = "avx2,bmi1")]
    pub(super) unsafe fn scan_avx2<E, R>(
        chunk: &LineChunk,
        window: TimeWindow,
        at: &mut Cursor,
        on_event: &mut E,
        on_reject: &mut R,
    ) where
        E: FnMut(&ListeningEvent),
        R: FnMut(&Line<'_>, RowError),
    {
        scan_fast(chunk, window, at, on_event, on_reject, |w| {
            // SAFETY: this function only runs where AVX2 was detected; reads stay inside `w`.
            unsafe { masks_avx2(w) }
        })
    }

    #[inline(always)]
    unsafe fn masks_sse2(w: &[u8; READ]) -> Masks {
        let tab = _mm_set1_epi8(b'\t' as i8);
        let nl = _mm_set1_epi8(b'\n' as i8);
        let zero = _mm_set1_epi8(b'0' as i8);
        let nine = _mm_set1_epi8(9);
        let mut m = Masks {
            tab: 0,
            newline: 0,
            non_digit: 0,
        };
        let mut digits = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(w.as_ptr().add(16 * k) as *const __m128i);
            let shift = 16 * k;
            m.tab |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, tab)) as u32 as u64) << shift;
            m.newline |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) as u32 as u64) << shift;
            // A byte is a digit iff byte - '0' (wrapping) is at most 9.
            let z = _mm_sub_epi8(v, zero);
            let d = _mm_cmpeq_epi8(_mm_min_epu8(z, nine), z);
            digits |= (_mm_movemask_epi8(d) as u32 as u64) << shift;
        }
        m.non_digit = !digits;
        m
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn masks_avx2(w: &[u8; READ]) -> Masks {
        let tab = _mm256_set1_epi8(b'\t' as i8);
        let nl = _mm256_set1_epi8(b'\n' as i8);
        let zero = _mm256_set1_epi8(b'0' as i8);
        let nine = _mm256_set1_epi8(9);
        let lo = _mm256_loadu_si256(w.as_ptr() as *const __m256i);
        let hi = _mm256_loadu_si256(w.as_ptr().add(32) as *const __m256i);
        let both = |a: i32, b: i32| (a as u32 as u64) | ((b as u32 as u64) << 32);
        let zl = _mm256_sub_epi8(lo, zero);
        let zh = _mm256_sub_epi8(hi, zero);
        Masks {
            tab: both(
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, tab)),
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, tab)),
            ),
            newline: both(
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, nl)),
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, nl)),
            ),
            non_digit: !both(
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(zl, nine), zl)),
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(zh, nine), zh)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rand::{Rng, SeedableRng};

    /// What every path must produce: each line through `parse_event`, as `LineIter` cuts them.
    fn reference(chunk: &LineChunk, window: TimeWindow) -> Vec<Result<ListeningEvent, String>> {
        chunk
            .lines()
            .map(|l| {
                parse_event(l.bytes, window).map_err(|e| {
                    format!(
                        "{:?} {} {} line {} off {} last {}",
                        e.kind, e.field, e.detail, l.shard_line, l.offset, l.last_without_newline
                    )
                })
            })
            .collect()
    }

    fn scanned(
        path: Path,
        chunk: &LineChunk,
        window: TimeWindow,
    ) -> (Vec<Result<ListeningEvent, String>>, Scanned) {
        let out = std::cell::RefCell::new(Vec::new());
        let n = events_with(
            path,
            chunk,
            window,
            |e| out.borrow_mut().push(Ok(*e)),
            |l, e| {
                out.borrow_mut().push(Err(format!(
                    "{:?} {} {} line {} off {} last {}",
                    e.kind, e.field, e.detail, l.shard_line, l.offset, l.last_without_newline
                )))
            },
        );
        (out.into_inner(), n)
    }

    fn number(rng: &mut impl Rng) -> String {
        match rng.random_range(0..10) {
            0 => rng.random_range(0..10u64).to_string(),
            1 => rng.random_range(0..=u64::from(u32::MAX)).to_string(),
            2 => format!("{:010}", rng.random_range(0..100_000u64)),
            3 => format!("{:011}", rng.random_range(0..100_000u64)),
            4 => rng
                .random_range(4_294_967_290..4_294_967_300u64)
                .to_string(),
            5 => rng
                .random_range(1_000_000_000..1_400_000_000u64)
                .to_string(),
            _ => rng.random_range(0..50_000_000u64).to_string(),
        }
    }

    /// A line that is mostly valid; some get one of the defects a real file has.
    fn line(rng: &mut impl Rng) -> Vec<u8> {
        let mut fields: Vec<String> = (0..4).map(|_| number(rng)).collect();
        fields.push(if rng.random_bool(0.8) {
            rng.random_range(1_100_000_000..1_400_000_000u64)
                .to_string()
        } else {
            number(rng)
        });
        let mut l = fields.join("\t").into_bytes();
        match rng.random_range(0..40) {
            0 => l.push(b'\r'),
            1 => {
                let i = rng.random_range(0..l.len());
                l.remove(i);
            }
            2 => {
                let i = rng.random_range(0..=l.len());
                l.insert(i, rng.random());
            }
            3 => {
                let i = rng.random_range(0..=l.len());
                l.insert(i, b'\t');
            }
            4 => l.clear(),
            5 => l.extend(std::iter::repeat_n(b'7', rng.random_range(20..200))),
            6 => l.extend_from_slice("\tnaïve".as_bytes()),
            7 => l.insert(0, b' '),
            _ => {}
        }
        l
    }

    fn chunk_of(lines: &[Vec<u8>], eof_without_newline: bool) -> LineChunk {
        let mut data = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            data.extend_from_slice(l);
            if !(eof_without_newline && i + 1 == lines.len()) {
                data.push(b'\n');
            }
        }
        LineChunk {
            data: Bytes::from(data),
            offset: 1000,
            first_line: 7,
            eof_without_newline,
        }
    }

    /// Every path gives, line for line, what `parse_event` gives on `LineIter`'s lines.
    #[test]
    fn every_path_equals_the_line_parser() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let window = TimeWindow::default();
        for round in 0..400 {
            let n = rng.random_range(0..200);
            let lines: Vec<Vec<u8>> = (0..n).map(|_| line(&mut rng)).collect();
            let chunk = chunk_of(&lines, n > 0 && round % 3 == 0);
            let want = reference(&chunk, window);
            for path in Path::available() {
                let (got, count) = scanned(path, &chunk, window);
                assert_eq!(count.lines as usize, want.len(), "{path:?} round {round}");
                assert_eq!(got, want, "{path:?} round {round}");
            }
        }
    }

    /// On valid rows the vector paths parse all but the chunk's last few lines themselves.
    #[test]
    fn vector_paths_take_valid_rows() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let lines: Vec<Vec<u8>> = (0..5000)
            .map(|_| {
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    rng.random_range(0..60_000_000u32),
                    rng.random_range(0..4_000_000u32),
                    rng.random_range(0..9_000_000u32),
                    rng.random_range(0..u32::MAX),
                    rng.random_range(1_100_000_000..1_400_000_000u32)
                )
                .into_bytes()
            })
            .collect();
        let chunk = chunk_of(&lines, false);
        let window = TimeWindow::default();
        let want = reference(&chunk, window);
        assert!(want.iter().all(|r| r.is_ok()));
        for path in Path::available() {
            let (got, n) = scanned(path, &chunk, window);
            assert_eq!(got, want, "{path:?}");
            match path {
                Path::Lines => assert_eq!(n.careful, 5000),
                // Lines of at least 18 bytes: at most 80 / 18 start in the last 80 bytes.
                Path::Sse2 | Path::Avx2 => assert!(n.careful <= 5, "{path:?}: {n:?}"),
            }
        }
    }

    #[test]
    fn accepts_plain_rows_and_names_rejected_lines() {
        let window = TimeWindow::default();
        let text = "1\t2\t3\t4\t1200000000\n\
                    31435741\t2\t3\t4294967295\t1200000000\n\
                    5\t6\tx\t8\t1200000000\n\
                    9\t10\t11\t12\t5\n";
        let mut data = text.as_bytes().to_vec();
        // Enough trailing rows that the first lines take the vector path.
        for _ in 0..4 {
            data.extend_from_slice(b"1\t1\t1\t1\t1300000000\n");
        }
        let chunk = LineChunk {
            data: Bytes::from(data),
            offset: 0,
            first_line: 1,
            eof_without_newline: false,
        };
        for path in Path::available() {
            let (got, n) = scanned(path, &chunk, window);
            assert_eq!(n.lines, 8, "{path:?}");
            assert_eq!(
                got[0],
                Ok(ListeningEvent {
                    user: 1,
                    artist: 2,
                    album: 3,
                    track: 4,
                    timestamp: 1_200_000_000
                })
            );
            assert_eq!(
                got[1].as_ref().map(|e| (e.user, e.track)),
                Ok((31_435_741, u32::MAX))
            );
            let bad = got[2].as_ref().expect_err("album is not a number");
            assert!(bad.contains("album_id") && bad.contains("line 3"), "{bad}");
            let early = got[3].as_ref().expect_err("timestamp out of window");
            assert!(
                early.contains("timestamp") && early.contains("line 4"),
                "{early}"
            );
            assert!(got[4..].iter().all(|r| r.is_ok()));
        }
    }
}
