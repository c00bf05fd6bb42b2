//! Any file, cut into byte-range shards of any size and read shard by shard, yields every
//! line exactly once, in order, with its true offset: the cut never splits, drops or repeats
//! a line, whatever the bytes (binary, no line end, `\r`, very long lines).
#![no_main]

use std::sync::Arc;

use archetype_lfm::read::{open_shard, ReadOptions};
use archetype_lfm::shard::{plan_file, FileKind};
use libfuzzer_sys::fuzz_target;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

fuzz_target!(|input: (u16, u16, u16, Vec<u8>)| {
    let (shard_bytes, chunk_bytes, max_line, data) = input;
    let shard_bytes = u64::from(shard_bytes % 512) + 1;
    let opts = ReadOptions {
        chunk_bytes: usize::from(chunk_bytes % 256) + 1,
        max_line_bytes: usize::from(max_line % 1024) + 1,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from("LFM-1b_LEs.txt");
        store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .expect("put");
        let shards = plan_file(
            store.as_ref(),
            &path,
            "memory:///LFM-1b_LEs.txt",
            FileKind::Events,
            shard_bytes,
            0,
        )
        .await
        .expect("plan");
        // What the reader must produce: every line with its offset, over-long ones held back.
        let mut expected = Vec::new();
        let mut overlong = Vec::new();
        let mut at = 0usize;
        while at < data.len() {
            let end = data[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |i| at + i);
            if end - at > opts.max_line_bytes {
                overlong.push(at as u64);
            } else {
                expected.push((at as u64, data[at..end].to_vec()));
            }
            at = end + 1;
        }
        let mut got = Vec::new();
        let mut got_overlong = Vec::new();
        for shard in &shards {
            let mut reader = open_shard(store.clone(), shard, opts).await.expect("open");
            while let Some(chunk) = reader.next_chunk().await.expect("read") {
                for line in chunk.lines() {
                    got.push((line.offset, line.bytes.to_vec()));
                }
            }
            got_overlong.extend(reader.take_overlong().into_iter().map(|(offset, _)| offset));
        }
        assert_eq!(got, expected);
        got_overlong.sort_unstable();
        assert_eq!(got_overlong, overlong);
    });
});
