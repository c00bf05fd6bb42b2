//! What a member reports: counters, per-shard line counts, rejected-row samples, timings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use archetype_lfm::{BadRowKind, BadRowSample};

/// Live counters of one worker process, read by the progress reporter while the dataflow runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_read: AtomicU64,
    pub events_read: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub shards_done: AtomicU64,
    /// 0 = reading, 1 = aggregating, 2 = writing, 3 = done.
    pub stage: AtomicU64,
}

impl Progress {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn stage_name(&self) -> &'static str {
        match self.stage.load(Ordering::Relaxed) {
            0 => "reading",
            1 => "aggregating",
            2 => "writing",
            _ => "done",
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([
            (
                "bytes_read".to_string(),
                self.bytes_read.load(Ordering::Relaxed),
            ),
            (
                "events_read".to_string(),
                self.events_read.load(Ordering::Relaxed),
            ),
            (
                "rows_rejected".to_string(),
                self.rows_rejected.load(Ordering::Relaxed),
            ),
            (
                "shards_done".to_string(),
                self.shards_done.load(Ordering::Relaxed),
            ),
        ])
    }
}

/// Counted rejected rows with a bounded sample per kind.
#[derive(Clone, Debug, Default)]
pub struct BadRows {
    pub counts: BTreeMap<BadRowKind, u64>,
    pub samples: Vec<BadRowSample>,
    sampled: BTreeMap<BadRowKind, usize>,
    pub per_kind_limit: usize,
}

impl BadRows {
    pub fn new(per_kind_limit: usize) -> BadRows {
        BadRows {
            per_kind_limit,
            ..BadRows::default()
        }
    }

    pub fn record(&mut self, sample: BadRowSample) {
        *self.counts.entry(sample.kind).or_default() += 1;
        let n = self.sampled.entry(sample.kind).or_default();
        if *n < self.per_kind_limit {
            *n += 1;
            self.samples.push(sample);
        }
    }

    /// Adds another log's counts and samples (each already capped for its own shard).
    pub fn absorb(&mut self, other: BadRows) {
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        self.samples.extend(other.samples);
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The result of one member (or, merged, of the whole cluster).
#[derive(Clone, Debug, Default)]
pub struct AggregateOutcome {
    /// Named counts; each is a sum over members (counts known globally are reported by the
    /// member with index 0 only, so sums stay right).
    pub counters: BTreeMap<String, u64>,
    /// (shard id, lines read) for every shard this member read.
    pub shard_lines: Vec<(u32, u64)>,
    pub bad_rows: Vec<BadRowSample>,
    /// Seconds per phase; merged by maximum (phases run concurrently on all members).
    pub phase_seconds: BTreeMap<String, f64>,
    /// Paths written, relative to the job root.
    pub outputs: Vec<String>,
}

impl AggregateOutcome {
    pub fn add(&mut self, name: &str, n: u64) {
        *self.counters.entry(name.to_string()).or_default() += n;
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn absorb_bad_rows(&mut self, bad: BadRows) {
        for (kind, n) in bad.counts {
            self.add(&format!("bad_rows.{}", kind.name()), n);
        }
        self.bad_rows.extend(bad.samples);
    }

    pub fn phase(&mut self, name: &str, seconds: f64) {
        let e = self.phase_seconds.entry(name.to_string()).or_insert(0.0);
        *e = e.max(seconds);
    }

    /// Merges another member's outcome; samples are kept in input order (file, offset) and
    /// capped per kind so the merged sample does not depend on which member read what.
    pub fn merge(&mut self, other: AggregateOutcome, per_kind_limit: usize) {
        for (k, v) in other.counters {
            *self.counters.entry(k).or_default() += v;
        }
        self.shard_lines.extend(other.shard_lines);
        self.shard_lines.sort_unstable();
        self.bad_rows.extend(other.bad_rows);
        self.bad_rows
            .sort_by(|a, b| (&a.file, a.offset, a.kind).cmp(&(&b.file, b.offset, b.kind)));
        let mut seen: BTreeMap<BadRowKind, usize> = BTreeMap::new();
        self.bad_rows.retain(|s| {
            let n = seen.entry(s.kind).or_default();
            *n += 1;
            *n <= per_kind_limit
        });
        for (k, v) in other.phase_seconds {
            self.phase(&k, v);
        }
        self.outputs.extend(other.outputs);
        self.outputs.sort();
    }
}
