//! Parse speed of each event-scanning path on one events file, side by side in one run.
//!
//!     cargo run --release -p archetype-lfm --example scan_events -- bench/data/events-20000000/LFM-1b_LEs.txt
//!
//! The file is read into memory once and cut into 4 MiB chunks of whole lines, as the shard
//! reader hands them out; each path then parses every chunk three times. Reading and folding
//! are not timed.

use std::time::Instant;

use anyhow::Context;
use archetype_lfm::parse::TimeWindow;
use archetype_lfm::read::LineChunk;
use archetype_lfm::scan::{events_with, Path};
use bytes::Bytes;

fn main() -> anyhow::Result<()> {
    let file = std::env::args()
        .nth(1)
        .context("usage: scan_events EVENTS_FILE")?;
    let data = Bytes::from(std::fs::read(&file).with_context(|| format!("reading {file}"))?);
    let mut chunks = Vec::new();
    let mut start = 0usize;
    while start < data.len() {
        let want = (start + (4 << 20)).min(data.len());
        let end = match memchr::memrchr(b'\n', &data[start..want]) {
            Some(i) if want < data.len() => start + i + 1,
            _ => want,
        };
        chunks.push(LineChunk {
            data: data.slice(start..end),
            offset: start as u64,
            first_line: 1,
            eof_without_newline: end == data.len() && !data.ends_with(b"\n"),
        });
        start = end;
    }
    let window = TimeWindow::default();
    println!("{file}: {} bytes, {} chunks", data.len(), chunks.len());
    for path in Path::available() {
        let mut best = f64::INFINITY;
        let (mut lines, mut careful, mut rejected, mut check) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..3 {
            let t = Instant::now();
            (lines, careful, rejected, check) = (0, 0, 0, 0);
            for c in &chunks {
                let n = events_with(
                    path,
                    c,
                    window,
                    |e| check = check.wrapping_add(u64::from(e.user ^ e.track ^ e.timestamp)),
                    |_, _| rejected += 1,
                );
                lines += n.lines;
                careful += n.careful;
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{path:?}: {lines} lines ({careful} careful, {rejected} rejected, check {check:x}) in {best:.3} s: {:.1} ns/line, {:.2} GB/s",
            best * 1e9 / lines as f64,
            data.len() as f64 / best / 1e9
        );
    }
    Ok(())
}
