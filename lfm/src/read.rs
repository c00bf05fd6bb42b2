//! Streaming a text shard as chunks of whole lines.
//!
//! A [`ShardReader`] fetches only what its shard needs: for plain files the shard's byte range
//! (from one byte before it, to see whether its first line starts exactly at `start`) plus the
//! few bytes past `end` that finish its last line; for compressed files the whole object through
//! a streaming decoder. Bytes go through a [`Splitter`], a synchronous state machine that applies
//! the ownership rule (a line belongs to the shard holding its first byte), cuts the stream into
//! [`LineChunk`]s of complete lines, and sets aside lines longer than the limit. Memory stays
//! bounded by about `chunk_bytes + max_line_bytes` whatever the file size.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use memchr::{memchr, memchr_iter};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

use crate::error::InputError;
use crate::shard::{Encoding, ShardSpec};

/// Complete lines from a shard, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineChunk {
    /// Whole lines, each ending in `\n`, except the file's very last line when the file does not
    /// end in `\n` (then `eof_without_newline`).
    pub data: Bytes,
    /// Offset of `data[0]` in the (decompressed) file.
    pub offset: u64,
    /// 1-based number, within the shard, of the first line in `data`.
    pub first_line: u64,
    pub eof_without_newline: bool,
}

/// One line of a [`LineChunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its `\n` (a `\r` before it is left for the parser to strip).
    pub bytes: &'a [u8],
    /// Offset of the line's first byte in the (decompressed) file.
    pub offset: u64,
    /// 1-based line number within the shard.
    pub shard_line: u64,
    /// The file's last line, which had no `\n`: a row that fails to parse here is
    /// `TruncatedLastLine` rather than whatever defect the cut produced.
    pub last_without_newline: bool,
}

impl LineChunk {
    pub fn lines(&self) -> LineIter<'_> {
        LineIter {
            data: &self.data,
            pos: 0,
            offset: self.offset,
            line: self.first_line,
            eof_without_newline: self.eof_without_newline,
        }
    }
}

/// Iterator over the lines of a [`LineChunk`].
#[derive(Clone, Debug)]
pub struct LineIter<'a> {
    data: &'a [u8],
    pos: usize,
    offset: u64,
    line: u64,
    eof_without_newline: bool,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = Line<'a>;

    #[inline]
    fn next(&mut self) -> Option<Line<'a>> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let (bytes, consumed, last) = match memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1, false),
            None => (rest, rest.len(), self.eof_without_newline),
        };
        let line = Line {
            bytes,
            offset: self.offset,
            shard_line: self.line,
            last_without_newline: last,
        };
        self.pos += consumed;
        self.offset += consumed as u64;
        self.line += 1;
        Some(line)
    }
}

/// Reader settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// At most about how many bytes of lines each chunk carries. A plain file's chunks are
    /// mostly slices of the pieces the store hands out, so they are smaller where those are.
    pub chunk_bytes: usize,
    /// Longer lines (without `\n`) are skipped and reported by [`ShardReader::take_overlong`].
    pub max_line_bytes: usize,
    /// Local files (`file://`) are memory-mapped piece by piece instead of copied into
    /// buffers. The input must not be truncated while it is read: the process would be killed
    /// by SIGBUS (the coordinator then reports the member lost).
    pub map_local_files: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            chunk_bytes: 4 << 20,
            max_line_bytes: 1 << 20,
            map_local_files: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Skipping the partial line the shard starts in; it belongs to the previous shard.
    SkipInitial,
    /// Skipping the rest of an overlong line (already recorded).
    SkipOverlong,
    /// Collecting lines.
    Lines,
    /// The shard's last line is complete (or the input ended); later bytes are not ours.
    Done,
}

/// The ownership and chunking rules, independent of where bytes come from.
#[derive(Debug)]
struct Splitter {
    /// Lines starting at or after this offset belong to later shards.
    end: u64,
    chunk_bytes: usize,
    max_line: usize,
    mode: Mode,
    /// Stream offset of the next byte fed.
    pos: u64,
    /// Owned bytes not yet emitted; `buf[0]` starts a line at offset `buf_offset`.
    buf: BytesMut,
    buf_offset: u64,
    /// `buf[..complete]` holds `complete_lines` whole lines; the rest is a partial line.
    complete: usize,
    complete_lines: u64,
    /// Shard line number of the line at `buf[0]`.
    next_line: u64,
    /// Chunks ready to hand out, with their line counts.
    ready: VecDeque<(LineChunk, u64)>,
    overlong: Vec<(u64, u64)>,
    overlong_total: u64,
    /// Pieces whose lines were counted in bulk (the tests check that both ways run).
    bulk_pieces: u64,
}

impl Splitter {
    /// `stream_start` is the offset of the first byte that will be fed; when it lies before
    /// `shard_start` (one byte before, for plain shards past the file's start) the partial line
    /// there is skipped.
    fn new(stream_start: u64, shard_start: u64, end: u64, opts: ReadOptions) -> Splitter {
        Splitter {
            end,
            chunk_bytes: opts.chunk_bytes.max(1),
            max_line: opts.max_line_bytes,
            mode: if stream_start < shard_start {
                Mode::SkipInitial
            } else if shard_start >= end {
                Mode::Done
            } else {
                Mode::Lines
            },
            pos: stream_start,
            buf: BytesMut::new(),
            buf_offset: stream_start,
            complete: 0,
            complete_lines: 0,
            next_line: 1,
            ready: VecDeque::new(),
            overlong: Vec::new(),
            overlong_total: 0,
            bulk_pieces: 0,
        }
    }

    fn done(&self) -> bool {
        self.mode == Mode::Done
    }

    /// Moves the complete lines of `buf` into a chunk.
    fn flush_complete(&mut self) {
        if self.complete == 0 {
            return;
        }
        let data = self.buf.split_to(self.complete).freeze();
        let len = data.len() as u64;
        let chunk = LineChunk {
            data,
            offset: self.buf_offset,
            first_line: self.next_line,
            eof_without_newline: false,
        };
        self.ready.push_back((chunk, self.complete_lines));
        self.buf_offset += len;
        self.next_line += self.complete_lines;
        self.complete = 0;
        self.complete_lines = 0;
    }

    /// Records the line at `buf_offset` (after a flush, `buf` holds only it) as overlong.
    fn record_overlong(&mut self) {
        self.overlong.push((self.buf_offset, self.next_line));
        self.overlong_total += 1;
        self.next_line += 1;
        self.buf.clear();
    }

    /// After the `\n` at offset `nl`: the next line starts at `nl + 1`; if that is not ours,
    /// the shard is finished.
    fn past_newline(&mut self, nl: u64) -> bool {
        if nl.saturating_add(1) >= self.end {
            self.flush_complete();
            self.mode = Mode::Done;
            true
        } else {
            false
        }
    }

    /// Feeds bytes the splitter must copy (a decoder's reused buffer).
    fn feed(&mut self, data: &[u8]) {
        self.feed_from(data, None);
    }

    /// Feeds a piece the splitter may keep: whole lines inside it become chunks that share
    /// its memory, so only the lines that straddle piece borders are copied.
    fn feed_piece(&mut self, piece: &Bytes) {
        self.feed_from(piece, Some(piece));
    }

    /// `data` is `owner[..]` from some offset on, when there is an owner.
    fn feed_from(&mut self, mut data: &[u8], owner: Option<&Bytes>) {
        while !data.is_empty() {
            match self.mode {
                Mode::Done => return,
                Mode::SkipInitial | Mode::SkipOverlong => match memchr(b'\n', data) {
                    None => {
                        self.pos += data.len() as u64;
                        return;
                    }
                    Some(i) => {
                        let nl = self.pos + i as u64;
                        self.pos = nl + 1;
                        data = &data[i + 1..];
                        if !self.past_newline(nl) {
                            self.mode = Mode::Lines;
                            self.buf_offset = self.pos;
                        }
                    }
                },
                Mode::Lines => {
                    let owned = owner.map(|o| (o, o.len() - data.len()));
                    self.feed_lines(data, owned);
                    return;
                }
            }
        }
    }

    /// Consumes lines from `data` until it is used up or the shard's last line is complete.
    /// With `owned = Some((piece, base))`, `data` is `piece[base..]` and may be shared.
    fn feed_lines(&mut self, data: &[u8], owned: Option<(&Bytes, usize)>) {
        let mut from = 0;
        if self.buf.len() > self.complete {
            // The first line finishes one begun in an earlier piece: the line-by-line loop
            // checks its whole length.
            let Some(i) = memchr(b'\n', data) else {
                return self.feed_each_line(data, owned);
            };
            self.feed_each_line(&data[..=i], owned);
            if self.mode != Mode::Lines {
                return;
            }
            from = i + 1;
        }
        let rest = &data[from..];
        let owned = owned.map(|(piece, base)| (piece, base + from));
        if !self.feed_bulk(rest, owned) {
            self.feed_each_line(rest, owned);
        }
    }

    /// The common case in one pass, from a line start: the piece's whole lines become one
    /// chunk, counted rather than visited, which costs a fraction of a `memchr` per line.
    /// Returns `false`, having changed nothing, where lines must be looked at one by one:
    /// one might be longer than the limit, or the lines exceed a chunk.
    fn feed_bulk(&mut self, data: &[u8], owned: Option<(&Bytes, usize)>) -> bool {
        let block = self.max_line / 2;
        if block == 0 || data.is_empty() {
            return false;
        }
        // Our lines end at the line holding the shard's last byte, or else at the piece's
        // last line end; what follows that is a partial line.
        let last_byte = self.end.saturating_sub(1);
        let in_piece = last_byte
            .checked_sub(self.pos)
            .filter(|&rel| rel < data.len() as u64);
        let (cut, last) = match in_piece
            .and_then(|rel| memchr(b'\n', &data[rel as usize..]).map(|j| rel as usize + j + 1))
        {
            Some(cut) => (cut, true),
            None => match memchr::memrchr(b'\n', data) {
                Some(j) => (j + 1, false),
                None => return false,
            },
        };
        let region = &data[..cut];
        if region.len() > self.chunk_bytes {
            return false;
        }
        // A line longer than `max_line` holds a whole block of `max_line / 2` bytes without a
        // line end (the region itself ends in one, so only full blocks can lack one).
        let mut lines = 0u64;
        for b in region.chunks(block) {
            let n = bytecount::count(b, b'\n');
            if n == 0 {
                return false;
            }
            lines += n as u64;
        }
        self.bulk_pieces += 1;
        if owned.is_none() && self.buf.len() + region.len() > self.chunk_bytes {
            self.flush_complete();
        }
        self.take_lines(data, 0, cut, lines, owned);
        if last {
            let nl = self.pos + cut as u64 - 1;
            self.pos = nl + 1;
            self.past_newline(nl);
            return true;
        }
        if self.buf.len() >= self.chunk_bytes {
            self.flush_complete();
        }
        let tail = &data[cut..];
        if tail.len() > self.max_line {
            self.flush_complete();
            self.record_overlong();
            self.mode = Mode::SkipOverlong;
        } else {
            self.buf.extend_from_slice(tail);
        }
        self.pos += data.len() as u64;
        true
    }

    /// Consumes lines from `data` one by one, as [`Splitter::feed_lines`] does.
    fn feed_each_line(&mut self, data: &[u8], owned: Option<(&Bytes, usize)>) {
        // Bytes of the current line already in `buf` (only the first line here can have any).
        let mut carried = self.buf.len() - self.complete;
        // `data[..appended]` is in `buf`, emitted or dropped; `data[appended..line_start]`
        // holds `pending` whole lines not yet taken. Taking happens in bulk at flushes and at
        // the end, one copy (or one shared slice) per piece rather than per line.
        let mut appended = 0usize;
        let mut line_start = 0usize;
        let mut pending = 0u64;
        for nl in memchr_iter(b'\n', data) {
            let finishes_carried = carried > 0;
            if carried + (nl - line_start) > self.max_line {
                self.drop_partial_if(carried > 0);
                self.take_lines(data, appended, line_start, pending, owned);
                self.flush_complete();
                self.record_overlong();
                appended = nl + 1;
                pending = 0;
                self.buf_offset = self.pos + appended as u64;
            } else {
                pending += 1;
                if finishes_carried && owned.is_some() {
                    // The line begun in an earlier piece is whole: hand it out on its own so
                    // the rest of this piece can be shared rather than copied after it.
                    self.append_complete(&data[appended..nl + 1], pending);
                    self.flush_complete();
                    appended = nl + 1;
                    pending = 0;
                }
            }
            line_start = nl + 1;
            carried = 0;
            let nl_off = self.pos + nl as u64;
            if nl_off.saturating_add(1) >= self.end {
                self.take_lines(data, appended, line_start, pending, owned);
                self.pos = nl_off + 1;
                self.past_newline(nl_off);
                return;
            }
            if self.buf.len() + (line_start - appended) >= self.chunk_bytes {
                self.take_lines(data, appended, line_start, pending, owned);
                appended = line_start;
                pending = 0;
                self.flush_complete();
            }
        }
        // No more line ends: the tail is the start of a line.
        self.take_lines(data, appended, line_start, pending, owned);
        if carried + (data.len() - line_start) > self.max_line {
            self.drop_partial_if(carried > 0);
            self.flush_complete();
            self.record_overlong();
            self.mode = Mode::SkipOverlong;
        } else {
            self.buf.extend_from_slice(&data[line_start..]);
        }
        self.pos += data.len() as u64;
    }

    /// Takes the `count` whole lines `data[from..to]`: as a chunk sharing the piece's memory
    /// when nothing waits in `buf` before them, else appended to `buf`.
    fn take_lines(
        &mut self,
        data: &[u8],
        from: usize,
        to: usize,
        count: u64,
        owned: Option<(&Bytes, usize)>,
    ) {
        match owned {
            Some((piece, base)) if self.buf.is_empty() && from < to => {
                let len = (to - from) as u64;
                let chunk = LineChunk {
                    data: piece.slice(base + from..base + to),
                    offset: self.buf_offset,
                    first_line: self.next_line,
                    eof_without_newline: false,
                };
                self.ready.push_back((chunk, count));
                self.buf_offset += len;
                self.next_line += count;
            }
            _ => self.append_complete(&data[from..to], count),
        }
    }

    /// Drops the partial line at the end of `buf` when it is the overlong one. Otherwise that
    /// partial line was finished by this piece and is still to be appended, so it stays.
    fn drop_partial_if(&mut self, overlong_is_carried: bool) {
        if overlong_is_carried {
            self.buf.truncate(self.complete);
        }
    }

    /// Appends `count` lines that finish `buf`'s partial line (if any) and end on a line
    /// boundary.
    fn append_complete(&mut self, lines: &[u8], count: u64) {
        if lines.is_empty() {
            return;
        }
        self.buf.extend_from_slice(lines);
        self.complete = self.buf.len();
        self.complete_lines += count;
    }

    /// End of input: a partial line left is the file's last line without `\n`.
    fn finish(&mut self) {
        if self.mode == Mode::Lines && self.buf.len() > self.complete {
            let data = self.buf.split().freeze();
            let chunk = LineChunk {
                offset: self.buf_offset,
                first_line: self.next_line,
                eof_without_newline: true,
                data,
            };
            self.ready.push_back((chunk, self.complete_lines + 1));
            self.next_line += self.complete_lines + 1;
            self.buf_offset = self.pos;
            self.complete = 0;
            self.complete_lines = 0;
        } else {
            self.flush_complete();
        }
        self.mode = Mode::Done;
    }
}

type ByteStream = BoxStream<'static, Result<Bytes, object_store::Error>>;

enum Source {
    /// Plain text: the shard's range is streamed, then the bytes after it in growing pieces
    /// until the last line is complete.
    Plain {
        stream: Option<ByteStream>,
        /// Next offset to request once `stream` is exhausted.
        next: u64,
        file_size: u64,
        tail_piece: u64,
    },
    Compressed {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        buf: Vec<u8>,
    },
    Exhausted,
}

/// Reads one text shard as [`LineChunk`]s.
pub struct ShardReader {
    url: String,
    path: Path,
    store: Arc<dyn ObjectStore>,
    source: Source,
    splitter: Splitter,
    bytes_read: Arc<AtomicU64>,
    lines_emitted: u64,
    opts: ReadOptions,
}

impl std::fmt::Debug for ShardReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardReader")
            .field("url", &self.url)
            .field("bytes_read", &self.bytes_read())
            .field("lines_read", &self.lines_read())
            .finish_non_exhaustive()
    }
}

/// Bytes requested after `end` at first to finish the last line; doubled per further request.
const FIRST_TAIL_PIECE: u64 = 64 << 10;

/// Opens a plain or compressed shard; the first request is made here, so a missing file fails
/// now, with its URL.
pub async fn open_shard(
    store: Arc<dyn ObjectStore>,
    shard: &ShardSpec,
    opts: ReadOptions,
) -> Result<ShardReader, InputError> {
    let path = Path::from(shard.path.as_str());
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (source, splitter) = match shard.encoding {
        Encoding::Parquet => {
            return Err(InputError::Format {
                url: shard.url.clone(),
                problem: "Parquet shards are read with parquet_input, not as text".to_owned(),
            })
        }
        Encoding::Plain => {
            let end = shard.end.min(shard.file_size);
            let from = shard.start.saturating_sub(1);
            let splitter = Splitter::new(from, shard.start, shard.end, opts);
            let source = if shard.start >= end {
                Source::Exhausted
            } else {
                let stream = fetch(
                    &*store,
                    &path,
                    &shard.url,
                    GetRange::Bounded(from..end),
                    opts,
                )
                .await?;
                Source::Plain {
                    stream: Some(stream),
                    next: end,
                    file_size: shard.file_size,
                    tail_piece: FIRST_TAIL_PIECE.max(opts.max_line_bytes as u64 / 16),
                }
            };
            (source, splitter)
        }
        Encoding::Gzip | Encoding::Bzip2 | Encoding::Zstd => {
            let splitter = Splitter::new(0, 0, u64::MAX, opts);
            let got = store
                .get_opts(&path, GetOptions::default())
                .await
                .map_err(|source| InputError::Store {
                    url: shard.url.clone(),
                    source,
                })?;
            let counter = Arc::clone(&bytes_read);
            let stream = payload_stream(got, opts)
                .inspect_ok(move |b| {
                    counter.fetch_add(b.len() as u64, Ordering::Relaxed);
                })
                // Wrapped so the store error can be told apart from a decoding error later.
                .map_err(io::Error::other);
            let inner = BufReader::with_capacity(256 << 10, StreamReader::new(stream));
            let reader: Pin<Box<dyn AsyncRead + Send>> = match shard.encoding {
                Encoding::Gzip => {
                    let mut d = async_compression::tokio::bufread::GzipDecoder::new(inner);
                    d.multiple_members(true);
                    Box::pin(d)
                }
                Encoding::Bzip2 => {
                    let mut d = async_compression::tokio::bufread::BzDecoder::new(inner);
                    d.multiple_members(true);
                    Box::pin(d)
                }
                _ => {
                    let mut d = async_compression::tokio::bufread::ZstdDecoder::new(inner);
                    d.multiple_members(true);
                    Box::pin(d)
                }
            };
            let source = Source::Compressed {
                reader,
                buf: vec![0u8; opts.chunk_bytes.clamp(64 << 10, 4 << 20)],
            };
            (source, splitter)
        }
    };
    Ok(ShardReader {
        url: shard.url.clone(),
        path,
        store,
        source,
        splitter,
        bytes_read,
        lines_emitted: 0,
        opts,
    })
}

async fn fetch(
    store: &dyn ObjectStore,
    path: &Path,
    url: &str,
    range: GetRange,
    opts: ReadOptions,
) -> Result<ByteStream, InputError> {
    let get = GetOptions {
        range: Some(range),
        ..Default::default()
    };
    let got = store
        .get_opts(path, get)
        .await
        .map_err(|source| InputError::Store {
            url: url.to_owned(),
            source,
        })?;
    Ok(payload_stream(got, opts))
}

/// Bytes per read from a local file. `GetResult::into_stream` reads local files 8 KiB at a
/// time with a blocking-pool hop per read, which capped ingest near 50 MB/s per thread.
const LOCAL_READ_BYTES: u64 = 4 << 20;

/// The object's bytes as a stream; local files are mapped or read in large blocks.
fn payload_stream(got: object_store::GetResult, opts: ReadOptions) -> ByteStream {
    use std::io::{Read, Seek, SeekFrom};
    match got.payload {
        object_store::GetResultPayload::File(file, _) if opts.map_local_files => {
            // Pieces no larger than a chunk, so that the splitter can take each whole.
            let piece = (opts.chunk_bytes as u64).clamp(64 << 10, LOCAL_READ_BYTES);
            let range = got.range.clone();
            let mut pos = range.start;
            futures::stream::iter(std::iter::from_fn(move || {
                let mapped = map_piece(&file, pos, (range.end - pos).min(piece));
                match &mapped {
                    Ok(Some(b)) => pos += b.len() as u64,
                    Ok(None) | Err(_) => pos = range.end,
                }
                mapped.transpose()
            }))
            .map_err(|source| object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(source),
            })
            .boxed()
        }
        object_store::GetResultPayload::File(file, path) => {
            let range = got.range.clone();
            let state = (Some(file), path, range.start, range.end);
            futures::stream::try_unfold(state, |(file, path, pos, end)| async move {
                let Some(mut file) = file else {
                    return Ok(None);
                };
                if pos >= end {
                    return Ok(None);
                }
                let want = (end - pos).min(LOCAL_READ_BYTES);
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = Vec::with_capacity(want as usize);
                    file.seek(SeekFrom::Start(pos))?;
                    (&mut file).take(want).read_to_end(&mut buf)?;
                    Ok::<_, io::Error>((file, buf))
                })
                .await;
                let (file, buf) = match read {
                    Ok(Ok(v)) => v,
                    Ok(Err(source)) => {
                        return Err(object_store::Error::Generic {
                            store: "LocalFileSystem",
                            source: Box::new(source),
                        })
                    }
                    Err(join) => {
                        return Err(object_store::Error::Generic {
                            store: "LocalFileSystem",
                            source: Box::new(join),
                        })
                    }
                };
                if buf.is_empty() {
                    // The file shrank under us: end the stream rather than spin.
                    return Ok(None);
                }
                let next = pos + buf.len() as u64;
                Ok(Some((Bytes::from(buf), (Some(file), path, next, end))))
            })
            .boxed()
        }
        object_store::GetResultPayload::Stream(s) => s,
    }
}

/// Maps `len` bytes of `file` from `pos`, or fewer where the file has shrunk since it was
/// planned (`None` past its end, as a read would end there).
fn map_piece(file: &std::fs::File, pos: u64, len: u64) -> io::Result<Option<Bytes>> {
    let size = file.metadata()?.len();
    let len = len.min(size.saturating_sub(pos));
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(io::Error::other)?;
    // SAFETY: a read-only private mapping of a file this process only reads. It is valid while
    // the file is not truncated below it; `ReadOptions::map_local_files` documents that
    // requirement (a truncation would end the process with SIGBUS, not corrupt data).
    let map = unsafe { memmap2::MmapOptions::new().offset(pos).len(len).map(file)? };
    // The pages are read once, front to back: ask for aggressive readahead.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Some(Bytes::from_owner(map)))
}

/// A store failure travels through the decoder as an io::Error wrapping it; anything else the
/// decoder reports is a decompression failure.
fn io_error(url: &str, e: io::Error) -> InputError {
    let url = url.to_owned();
    if e.get_ref()
        .is_some_and(|inner| inner.is::<object_store::Error>())
    {
        if let Some(inner) = e.into_inner() {
            if let Ok(source) = inner.downcast::<object_store::Error>() {
                return InputError::Store {
                    url,
                    source: *source,
                };
            }
        }
        return InputError::Format {
            url,
            problem: "store error lost while decoding".to_owned(),
        };
    }
    InputError::Decompress { url, source: e }
}

impl ShardReader {
    /// The next chunk of lines, or `None` when the shard is done.
    pub async fn next_chunk(&mut self) -> Result<Option<LineChunk>, InputError> {
        loop {
            if let Some((chunk, lines)) = self.splitter.ready.pop_front() {
                self.lines_emitted += lines;
                return Ok(Some(chunk));
            }
            if self.splitter.done() {
                // Dropping the source ends any transfer still running past what we need.
                self.source = Source::Exhausted;
                return Ok(None);
            }
            if let Source::Compressed { reader, buf } = &mut self.source {
                match reader.read(buf).await {
                    Ok(0) => self.splitter.finish(),
                    Ok(n) => self.splitter.feed(&buf[..n]),
                    Err(e) => return Err(io_error(&self.url, e)),
                }
                continue;
            }
            match self.next_plain_piece().await? {
                Some(piece) => self.splitter.feed_piece(&piece),
                None => self.splitter.finish(),
            }
        }
    }

    /// Next bytes of a plain shard's stream, `None` at its end.
    async fn next_plain_piece(&mut self) -> Result<Option<Bytes>, InputError> {
        match &mut self.source {
            Source::Exhausted | Source::Compressed { .. } => Ok(None),
            Source::Plain {
                stream,
                next,
                file_size,
                tail_piece,
            } => loop {
                if let Some(s) = stream {
                    match s.next().await {
                        Some(Ok(b)) => {
                            self.bytes_read.fetch_add(b.len() as u64, Ordering::Relaxed);
                            return Ok(Some(b));
                        }
                        Some(Err(source)) => {
                            return Err(InputError::Store {
                                url: self.url.clone(),
                                source,
                            })
                        }
                        None => *stream = None,
                    }
                }
                if *next >= *file_size {
                    return Ok(None);
                }
                let upto = next.saturating_add(*tail_piece).min(*file_size);
                let range = GetRange::Bounded(*next..upto);
                *stream = Some(fetch(&*self.store, &self.path, &self.url, range, self.opts).await?);
                *next = upto;
                *tail_piece = tail_piece.saturating_mul(2).min(64 << 20);
            },
        }
    }

    /// Stored (for compressed files: compressed) bytes fetched so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Lines handed out in chunks so far plus overlong lines skipped; at the end this is the
    /// shard's line count, from which later shards' global line numbers follow.
    pub fn lines_read(&self) -> u64 {
        self.lines_emitted + self.splitter.overlong_total
    }

    /// Overlong lines found so far and not yet taken: `(offset, shard_line)`.
    pub fn overlong_lines(&self) -> &[(u64, u64)] {
        &self.splitter.overlong
    }

    /// Takes the overlong lines found so far, to be counted as `LineTooLong`.
    pub fn take_overlong(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.splitter.overlong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{plan_file, FileKind};
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A line as the ownership rule must deliver it, numbered within the whole file.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Expect {
        offset: u64,
        line: u64,
        bytes: Vec<u8>,
        last_without_newline: bool,
    }

    /// The lines of `file` (reference model): `(normal lines, overlong (offset, line))`.
    fn model(file: &[u8], max_line: usize) -> (Vec<Expect>, Vec<(u64, u64)>) {
        let mut lines = Vec::new();
        let mut overlong = Vec::new();
        let mut start = 0usize;
        let mut n = 0u64;
        while start < file.len() {
            let (end, next, has_nl) = match file[start..].iter().position(|&b| b == b'\n') {
                Some(i) => (start + i, start + i + 1, true),
                None => (file.len(), file.len(), false),
            };
            n += 1;
            if end - start > max_line {
                overlong.push((start as u64, n));
            } else {
                lines.push(Expect {
                    offset: start as u64,
                    line: n,
                    bytes: file[start..end].to_vec(),
                    last_without_newline: !has_nl,
                });
            }
            start = next;
        }
        (lines, overlong)
    }

    fn random_file(rng: &mut ChaCha8Rng, max_len: usize) -> Vec<u8> {
        let mut file = Vec::new();
        let n_lines = rng.random_range(0..12);
        for _ in 0..n_lines {
            let len = match rng.random_range(0..10) {
                0 => 0,
                1 => rng.random_range(20..60),
                _ => rng.random_range(1..8),
            };
            for _ in 0..len {
                // Printable bytes plus '\r', never '\n' inside a line.
                let b = rng.random_range(b' '..=b'~');
                file.push(if rng.random_range(0..20) == 0 {
                    b'\r'
                } else {
                    b
                });
            }
            file.push(b'\n');
        }
        if rng.random_bool(0.5) {
            // A last line without its line end.
            let len = rng.random_range(1..30);
            file.extend((0..len).map(|_| rng.random_range(b'a'..=b'z')));
        }
        file.truncate(max_len);
        file
    }

    /// Collects every line and overlong line of one shard, numbered from `base`.
    fn check_chunk(chunk: &LineChunk, base: u64, out: &mut Vec<Expect>) {
        assert!(!chunk.data.is_empty(), "empty chunk");
        // Only the file's last line may lack its line end, and then the chunk says so.
        assert_eq!(
            chunk.data.last() != Some(&b'\n'),
            chunk.eof_without_newline,
            "chunk ends mid-line"
        );
        let mut expected_offset = chunk.offset;
        for (expected_line, l) in (chunk.first_line..).zip(chunk.lines()) {
            assert_eq!(l.offset, expected_offset);
            assert_eq!(l.shard_line, expected_line);
            expected_offset += l.bytes.len() as u64 + u64::from(!l.last_without_newline);
            out.push(Expect {
                offset: l.offset,
                line: base + l.shard_line,
                bytes: l.bytes.to_vec(),
                last_without_newline: l.last_without_newline,
            });
        }
        assert_eq!(expected_offset, chunk.offset + chunk.data.len() as u64);
    }

    /// Reads all shards of a file in plan order, as the coordinator would combine them.
    async fn read_all(
        store: Arc<dyn ObjectStore>,
        shards: &[ShardSpec],
        opts: ReadOptions,
    ) -> (Vec<Expect>, Vec<(u64, u64)>, u64) {
        let mut lines = Vec::new();
        let mut overlong = Vec::new();
        let mut base = 0u64;
        let mut fetched = 0u64;
        for shard in shards {
            let mut r = open_shard(Arc::clone(&store), shard, opts)
                .await
                .unwrap_or_else(|e| panic!("open {shard:?}: {e}"));
            while let Some(chunk) = r.next_chunk().await.unwrap_or_else(|e| panic!("{e}")) {
                check_chunk(&chunk, base, &mut lines);
            }
            overlong.extend(r.take_overlong().into_iter().map(|(o, l)| (o, base + l)));
            assert!(r.overlong_lines().is_empty());
            base += r.lines_read();
            fetched += r.bytes_read();
        }
        (lines, overlong, fetched)
    }

    fn mem_store() -> Arc<dyn ObjectStore> {
        Arc::new(InMemory::new())
    }

    async fn put(store: &Arc<dyn ObjectStore>, path: &str, data: Vec<u8>) -> Path {
        let p = Path::from(path);
        store
            .put(&p, PutPayload::from(data))
            .await
            .unwrap_or_else(|e| panic!("put: {e}"));
        p
    }

    #[tokio::test]
    async fn every_shard_size_reads_every_line_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let store = mem_store();
        for case in 0..40 {
            let file = random_file(&mut rng, 200);
            let path = put(&store, "in/events.txt", file.clone()).await;
            let opts = ReadOptions {
                chunk_bytes: rng.random_range(1..40),
                max_line_bytes: if case % 2 == 0 {
                    1 << 20
                } else {
                    rng.random_range(0..25)
                },
                map_local_files: false,
            };
            let (want, want_over) = model(&file, opts.max_line_bytes);
            for size in 1..=file.len() as u64 + 1 {
                let shards = plan_file(
                    &*store,
                    &path,
                    "mem://in/events.txt",
                    FileKind::Events,
                    size,
                    0,
                )
                .await
                .unwrap_or_else(|e| panic!("plan: {e}"));
                let (got, got_over, _) = read_all(Arc::clone(&store), &shards, opts).await;
                assert_eq!(
                    got,
                    want,
                    "case {case} shard size {size} file {:?}",
                    String::from_utf8_lossy(&file)
                );
                assert_eq!(got_over, want_over, "case {case} shard size {size}");
            }
        }
    }

    #[tokio::test]
    async fn local_filesystem_shards() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store: Arc<dyn ObjectStore> = Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(dir.path())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut file = Vec::new();
        for i in 0..5000u32 {
            file.extend_from_slice(
                format!("{i}\t{}\t3\t4\t1400000000\n", rng.random::<u32>()).as_bytes(),
            );
        }
        file.extend_from_slice(b"5000\t1\t1\t1\t14000");
        std::fs::write(dir.path().join("les.txt"), &file).unwrap_or_else(|e| panic!("{e}"));
        let path = Path::from("les.txt");
        let (want, _) = model(&file, 1 << 20);
        for size in [1u64, 7, 100, 4096, 65_537, file.len() as u64] {
            let shards = plan_file(
                &*store,
                &path,
                "file:///les.txt",
                FileKind::Events,
                size.max(file.len() as u64 / 300),
                3,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(shards.first().map(|s| s.id), Some(3));
            for map_local_files in [false, true] {
                let opts = ReadOptions {
                    chunk_bytes: if map_local_files { 100_000 } else { 1000 },
                    max_line_bytes: 1 << 20,
                    map_local_files,
                };
                let (got, over, fetched) = read_all(Arc::clone(&store), &shards, opts).await;
                assert!(over.is_empty());
                assert_eq!(got.len(), 5001);
                assert_eq!(got, want, "mapped: {map_local_files}");
                // Each shard fetches its range plus at most one byte before and the tail
                // piece.
                assert!(
                    fetched <= file.len() as u64 + shards.len() as u64 * (1 + FIRST_TAIL_PIECE)
                );
            }
        }
    }

    #[tokio::test]
    async fn plain_shard_fetches_only_its_range() {
        let store = mem_store();
        let line = b"1\t2\t3\t4\t1400000000\n";
        let file: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 100_000)
            .collect();
        let path = put(&store, "big.txt", file.clone()).await;
        let shards = plan_file(
            &*store,
            &path,
            "mem://big.txt",
            FileKind::Events,
            100_000,
            0,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shards.len(), 19);
        let mut r = open_shard(Arc::clone(&store), &shards[5], ReadOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut n = 0;
        while let Some(c) = r.next_chunk().await.unwrap_or_else(|e| panic!("{e}")) {
            n += c.lines().count() as u64;
        }
        assert_eq!(n, r.lines_read());
        // 100_000 bytes of 19-byte lines.
        assert!((5263..=5264).contains(&n), "{n}");
        let range = shards[5].end - shards[5].start;
        assert!(r.bytes_read() >= range && r.bytes_read() <= range + 1 + FIRST_TAIL_PIECE);
    }

    #[tokio::test]
    async fn long_line_across_border_needs_several_tail_fetches() {
        let store = mem_store();
        let mut file = b"a\n".to_vec();
        file.extend(std::iter::repeat_n(b'x', 300_000));
        file.extend_from_slice(b"\nb\nc");
        let path = put(&store, "long.txt", file.clone()).await;
        let shards = plan_file(&*store, &path, "mem://long.txt", FileKind::Tracks, 10, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let opts = ReadOptions {
            chunk_bytes: 4096,
            max_line_bytes: 1 << 20,
            map_local_files: false,
        };
        let (got, over, _) = read_all(Arc::clone(&store), &shards, opts).await;
        assert!(over.is_empty());
        assert_eq!(got, model(&file, 1 << 20).0);
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].bytes.len(), 300_000);
        assert!(got[3].last_without_newline);

        // The same line over the limit is skipped and reported, numbering unchanged.
        let opts = ReadOptions {
            chunk_bytes: 4096,
            max_line_bytes: 1000,
            map_local_files: false,
        };
        let (got, over, _) = read_all(Arc::clone(&store), &shards, opts).await;
        assert_eq!(over, vec![(2, 2)]);
        let numbered: Vec<(u64, &[u8])> = got.iter().map(|e| (e.line, &e.bytes[..])).collect();
        assert_eq!(numbered, vec![(1, &b"a"[..]), (3, b"b"), (4, b"c")]);
    }

    #[test]
    fn splitter_independent_of_piece_sizes() {
        // However the network cuts the bytes and wherever the shard borders fall, the chunks
        // of all shards together describe the file's lines, each once.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut bulk, mut pieces) = (0u64, 0u64);
        for case in 0..3000 {
            let file = random_file(&mut rng, 300);
            let max_line = rng.random_range(0..40);
            let (want, want_over) = model(&file, max_line);
            let opts = ReadOptions {
                chunk_bytes: if rng.random_bool(0.5) {
                    rng.random_range(1..64)
                } else {
                    rng.random_range(64..1024)
                },
                max_line_bytes: max_line,
                map_local_files: false,
            };
            let whole = case % 3 == 0;
            let ranges = if whole {
                vec![(0, u64::MAX)]
            } else {
                let size = rng.random_range(1..=file.len() as u64 + 1);
                crate::shard::plan_byte_ranges(file.len() as u64, size)
            };
            let (mut got, mut got_over, mut base) = (Vec::new(), Vec::new(), 0u64);
            for (start, end) in ranges {
                let from = start.saturating_sub(1);
                let mut s = Splitter::new(from, start, end, opts);
                let mut rest = &file[from as usize..];
                while !rest.is_empty() && !s.done() {
                    let n = rng.random_range(1..=rest.len().min(50));
                    // Both ways in: copied, and shared with the chunks (from an offset
                    // inside a larger piece, as a store's stream may hand out).
                    if rng.random_bool(0.5) {
                        s.feed(&rest[..n]);
                    } else {
                        let pad = rng.random_range(0..3);
                        let mut piece = vec![b'#'; pad];
                        piece.extend_from_slice(&rest[..n]);
                        s.feed_piece(&Bytes::from(piece).slice(pad..));
                    }
                    rest = &rest[n..];
                    pieces += 1;
                }
                bulk += s.bulk_pieces;
                s.finish();
                let mut lines = 0;
                for (c, n) in s.ready.iter() {
                    check_chunk(c, base, &mut got);
                    assert_eq!(c.lines().count() as u64, *n);
                    lines += n;
                }
                got_over.extend(s.overlong.iter().map(|&(o, l)| (o, base + l)));
                base += lines + s.overlong_total;
            }
            assert_eq!(got, want, "case {case}");
            assert_eq!(got_over, want_over, "case {case}");
        }
        // Both ways of taking lines ran often.
        assert!(
            bulk > pieces / 10 && bulk < pieces * 9 / 10,
            "{bulk} of {pieces}"
        );
    }

    #[test]
    fn chunk_lines_iterator() {
        let chunk = LineChunk {
            data: Bytes::from_static(b"ab\n\nc\r\nlast"),
            offset: 100,
            first_line: 7,
            eof_without_newline: true,
        };
        let lines: Vec<_> = chunk.lines().collect();
        let view: Vec<(&[u8], u64, u64, bool)> = lines
            .iter()
            .map(|l| (l.bytes, l.offset, l.shard_line, l.last_without_newline))
            .collect();
        assert_eq!(
            view,
            vec![
                (&b"ab"[..], 100, 7, false),
                (b"", 103, 8, false),
                (b"c\r", 104, 9, false),
                (b"last", 107, 10, true),
            ]
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn bzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 1).unwrap_or_else(|e| panic!("{e}"))
    }

    fn text_lines(n: u32, last_newline: bool) -> Vec<u8> {
        let mut file = Vec::new();
        for i in 0..n {
            file.extend_from_slice(
                format!("{i}\t{}\t{}\t{}\t1300000000\n", i * 7, i % 13, i / 3).as_bytes(),
            );
        }
        if !last_newline {
            file.pop();
        }
        file
    }

    async fn read_compressed(name: &str, stored: Vec<u8>, file: &[u8]) {
        let store = mem_store();
        let path = put(&store, name, stored.clone()).await;
        let url = format!("mem://{name}");
        let shards = plan_file(&*store, &path, &url, FileKind::Events, 100, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shards.len(), 1, "{name}: compressed files are one shard");
        assert_eq!((shards[0].start, shards[0].end), (0, stored.len() as u64));
        let opts = ReadOptions {
            chunk_bytes: 10_000,
            max_line_bytes: 1 << 20,
            map_local_files: false,
        };
        let (got, over, fetched) = read_all(Arc::clone(&store), &shards, opts).await;
        assert!(over.is_empty());
        assert_eq!(got, model(file, 1 << 20).0, "{name}");
        assert_eq!(fetched, stored.len() as u64, "{name}");
    }

    #[tokio::test]
    async fn compressed_files_read_completely() {
        let a = text_lines(20_000, true);
        let b = text_lines(3_000, false);
        read_compressed("e.txt.gz", gzip(&a), &a).await;
        read_compressed("e.txt.bz2", bzip(&b), &b).await;
        read_compressed("e.txt.zst", zst(&a), &a).await;

        // Concatenated members / streams / frames: all of them are data.
        let both: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        read_compressed("m.txt.gz", [gzip(&a), gzip(&b)].concat(), &both).await;
        read_compressed("m.txt.bz2", [bzip(&a), bzip(&b)].concat(), &both).await;
        read_compressed("m.txt.zstd", [zst(&a), zst(&b)].concat(), &both).await;
    }

    #[tokio::test]
    async fn corrupt_gzip_is_a_decompress_error() {
        let store = mem_store();
        let mut stored = gzip(&text_lines(5000, true));
        let mid = stored.len() / 2;
        stored[mid..mid + 50].fill(0xAA);
        let path = put(&store, "bad.gz", stored).await;
        let shards = plan_file(&*store, &path, "mem://bad.gz", FileKind::Events, 100, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r = open_shard(Arc::clone(&store), &shards[0], ReadOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let err = loop {
            match r.next_chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("corruption not noticed"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(err, InputError::Decompress { ref url, .. } if url == "mem://bad.gz"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn missing_file_names_the_url() {
        let store = mem_store();
        let url = "s3://bucket/LFM-1b_LEs.txt";
        let err = plan_file(
            &*store,
            &Path::from("LFM-1b_LEs.txt"),
            url,
            FileKind::Events,
            10,
            0,
        )
        .await;
        match err {
            Err(e @ InputError::Store { .. }) => assert!(e.to_string().contains(url), "{e}"),
            other => panic!("expected a store error, got {other:?}"),
        }
        for encoding in [Encoding::Plain, Encoding::Gzip] {
            let shard = ShardSpec {
                id: 0,
                url: url.to_owned(),
                path: "LFM-1b_LEs.txt".to_owned(),
                kind: FileKind::Events,
                encoding,
                start: 0,
                end: 10,
                file_size: 10,
            };
            match open_shard(Arc::clone(&store), &shard, ReadOptions::default()).await {
                Err(e @ InputError::Store { .. }) => assert!(e.to_string().contains(url), "{e}"),
                other => panic!("expected a store error, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn empty_file_has_no_shards() {
        let store = mem_store();
        let path = put(&store, "empty.txt", Vec::new()).await;
        let shards = plan_file(&*store, &path, "mem://empty.txt", FileKind::Users, 10, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(shards.is_empty());
    }
}
