//! The chunk scanner on any bytes: every path (vector and line by line) gives, line for line,
//! the same events and the same rejections as `parse_event` on the lines `LineIter` cuts.
#![no_main]

use archetype_lfm::parse::{parse_event, TimeWindow};
use archetype_lfm::read::LineChunk;
use archetype_lfm::scan::{events_with, Path};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let chunk = LineChunk {
        data: Bytes::copy_from_slice(data),
        offset: 0,
        first_line: 1,
        eof_without_newline: !data.ends_with(b"\n"),
    };
    let window = TimeWindow::default();
    let want: Vec<(u64, Result<_, _>)> = chunk
        .lines()
        .map(|l| (l.shard_line, parse_event(l.bytes, window).map_err(|e| (e.kind, e.field))))
        .collect();
    for path in Path::available() {
        // Both callbacks append to one list, in line order.
        let got = std::cell::RefCell::new(Vec::new());
        let n = events_with(
            path,
            &chunk,
            window,
            |e| {
                let mut g = got.borrow_mut();
                let line = g.last().map_or(1, |(l, _)| l + 1);
                g.push((line, Ok(*e)));
            },
            |l, e| got.borrow_mut().push((l.shard_line, Err((e.kind, e.field)))),
        );
        assert_eq!(n.lines as usize, want.len());
        assert_eq!(got.into_inner(), want, "{path:?}");
    }
});
