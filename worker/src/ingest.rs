//! Streaming shards into parsed rows, counting every rejected row.
//!
//! Each timely worker thread pulls shards from its process's queue and reads them here. Text
//! shards are streamed chunk by chunk; Parquet shards batch by batch. Samples of rejected rows
//! are capped per kind *per shard*, so the first rows of each kind in file order are always in
//! the merged sample, whichever thread read which shard.

use std::collections::HashMap;
use std::sync::Arc;

use archetype_lfm::parse::TimeWindow;
use archetype_lfm::read::{open_shard, Line, LineChunk, ReadOptions, ShardReader};
use archetype_lfm::scan;
use archetype_lfm::shard::{Encoding, ShardSpec};
use archetype_lfm::{BadRowKind, BadRowSample, InputError, ListeningEvent, RowError};
use object_store::ObjectStore;
use tokio::runtime::Handle;

use crate::outcome::{BadRows, Progress};

/// Object stores by URL scheme and authority, opened once per thread.
#[derive(Default)]
pub struct Stores {
    open: HashMap<String, Arc<dyn ObjectStore>>,
}

impl Stores {
    pub fn for_shard(&mut self, shard: &ShardSpec) -> Result<Arc<dyn ObjectStore>, InputError> {
        let key = store_key(&shard.url);
        if let Some(s) = self.open.get(&key) {
            return Ok(s.clone());
        }
        let opened = archetype_job::open_url(&shard.url).map_err(|e| InputError::Format {
            url: shard.url.clone(),
            problem: e.to_string(),
        })?;
        self.open.insert(key, opened.store.clone());
        Ok(opened.store)
    }
}

fn store_key(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or("");
            format!("{scheme}://{authority}")
        }
        None => String::new(),
    }
}

pub fn sample(shard: &ShardSpec, offset: u64, shard_line: u64, err: RowError) -> BadRowSample {
    BadRowSample {
        file: shard.url.clone(),
        offset,
        shard_line,
        shard: shard.id,
        kind: err.kind,
        field: err.field.to_string(),
        detail: err.detail,
    }
}

/// A text shard to read, and where to read it from.
pub struct TextShard<'a> {
    pub rt: &'a Handle,
    pub store: Arc<dyn ObjectStore>,
    pub shard: &'a ShardSpec,
    pub opts: &'a ReadOptions,
    pub progress: &'a Progress,
}

/// Reads every line of a text shard, handing each to `on_line`; a line it rejects is counted
/// and sampled. A rejected last line without a line end is counted as `truncated_last_line`.
/// Returns the number of lines in the shard.
pub fn for_each_line<F>(
    src: TextShard<'_>,
    bad: &mut BadRows,
    mut on_line: F,
) -> Result<u64, InputError>
where
    F: FnMut(&Line<'_>) -> Result<(), RowError>,
{
    let shard = src.shard;
    for_each_chunk(src, bad, |chunk, bad| {
        let mut rejected = 0;
        for line in chunk.lines() {
            if let Err(err) = on_line(&line) {
                rejected += 1;
                record(bad, shard, &line, err);
            }
        }
        rejected
    })
}

/// Reads a shard of the events file, handing each accepted event to `on_event`; rejected lines
/// are counted and sampled as in [`for_each_line`]. Returns the number of lines in the shard.
pub fn for_each_event<F>(
    src: TextShard<'_>,
    window: TimeWindow,
    bad: &mut BadRows,
    mut on_event: F,
) -> Result<u64, InputError>
where
    F: FnMut(&ListeningEvent),
{
    let shard = src.shard;
    for_each_chunk(src, bad, |chunk, bad| {
        let mut rejected = 0;
        scan::events(chunk, window, &mut on_event, |line, err| {
            rejected += 1;
            record(bad, shard, line, err);
        });
        rejected
    })
}

fn record(bad: &mut BadRows, shard: &ShardSpec, line: &Line<'_>, mut err: RowError) {
    if line.last_without_newline {
        err.kind = BadRowKind::TruncatedLastLine;
    }
    bad.record(sample(shard, line.offset, line.shard_line, err));
}

/// Streams a text shard chunk by chunk; `on_chunk` returns how many of the chunk's lines it
/// rejected (and recorded). Lines the reader set aside as too long are recorded here.
fn for_each_chunk<F>(
    src: TextShard<'_>,
    bad: &mut BadRows,
    mut on_chunk: F,
) -> Result<u64, InputError>
where
    F: FnMut(&LineChunk, &mut BadRows) -> u64,
{
    let TextShard {
        rt,
        store,
        shard,
        opts,
        progress,
    } = src;
    let mut reader = rt.block_on(open_shard(store, shard, *opts))?;
    let mut last_bytes = 0;
    while let Some(chunk) = rt.block_on(reader.next_chunk())? {
        let mut rejected = on_chunk(&chunk, bad);
        rejected += record_overlong(&mut reader, shard, bad);
        Progress::add(&progress.rows_rejected, rejected);
        let now = reader.bytes_read();
        Progress::add(&progress.bytes_read, now - last_bytes);
        last_bytes = now;
    }
    let overlong = record_overlong(&mut reader, shard, bad);
    Progress::add(&progress.rows_rejected, overlong);
    Progress::add(&progress.bytes_read, reader.bytes_read() - last_bytes);
    Ok(reader.lines_read())
}

/// Counts the lines the reader set aside as too long; returns how many.
fn record_overlong(reader: &mut ShardReader, shard: &ShardSpec, bad: &mut BadRows) -> u64 {
    let overlong = reader.take_overlong();
    for (offset, shard_line) in &overlong {
        bad.record(sample(
            shard,
            *offset,
            *shard_line,
            RowError::new(
                BadRowKind::LineTooLong,
                "row",
                b"(line longer than ingest.max_line_bytes)",
            ),
        ));
    }
    overlong.len() as u64
}

pub fn is_parquet(shard: &ShardSpec) -> bool {
    shard.encoding == Encoding::Parquet
}
