//! Conversions between the plan's shards and their wire form.

use archetype_lfm::shard::{Encoding, FileKind, ShardSpec};
use archetype_proto::v1;

pub fn shard_from_wire(s: &v1::Shard) -> Option<ShardSpec> {
    let kind = match v1::FileKind::try_from(s.kind).ok()? {
        v1::FileKind::Events => FileKind::Events,
        v1::FileKind::Users => FileKind::Users,
        v1::FileKind::Tracks => FileKind::Tracks,
        v1::FileKind::Artists => FileKind::Artists,
        v1::FileKind::Unspecified => return None,
    };
    let encoding = match v1::Encoding::try_from(s.encoding).ok()? {
        v1::Encoding::Plain => Encoding::Plain,
        v1::Encoding::Gzip => Encoding::Gzip,
        v1::Encoding::Bzip2 => Encoding::Bzip2,
        v1::Encoding::Zstd => Encoding::Zstd,
        v1::Encoding::Parquet => Encoding::Parquet,
        v1::Encoding::Unspecified => return None,
    };
    Some(ShardSpec {
        id: s.id,
        url: s.url.clone(),
        path: s.path.clone(),
        kind,
        encoding,
        start: s.start,
        end: s.end,
        file_size: s.file_size,
    })
}

pub fn shard_to_wire(s: &ShardSpec) -> v1::Shard {
    v1::Shard {
        id: s.id,
        url: s.url.clone(),
        path: s.path.clone(),
        kind: match s.kind {
            FileKind::Events => v1::FileKind::Events,
            FileKind::Users => v1::FileKind::Users,
            FileKind::Tracks => v1::FileKind::Tracks,
            FileKind::Artists => v1::FileKind::Artists,
        } as i32,
        encoding: match s.encoding {
            Encoding::Plain => v1::Encoding::Plain,
            Encoding::Gzip => v1::Encoding::Gzip,
            Encoding::Bzip2 => v1::Encoding::Bzip2,
            Encoding::Zstd => v1::Encoding::Zstd,
            Encoding::Parquet => v1::Encoding::Parquet,
        } as i32,
        start: s.start,
        end: s.end,
        file_size: s.file_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_survive_the_wire() {
        for (kind, encoding) in [
            (FileKind::Events, Encoding::Plain),
            (FileKind::Users, Encoding::Gzip),
            (FileKind::Tracks, Encoding::Bzip2),
            (FileKind::Artists, Encoding::Zstd),
            (FileKind::Events, Encoding::Parquet),
        ] {
            let s = ShardSpec {
                id: 7,
                url: "s3://bucket/x".into(),
                path: "x".into(),
                kind,
                encoding,
                start: 1 << 40,
                end: (1 << 40) + 5,
                file_size: 1 << 41,
            };
            assert_eq!(shard_from_wire(&shard_to_wire(&s)), Some(s));
        }
        let mut w = shard_to_wire(&ShardSpec {
            id: 0,
            url: String::new(),
            path: String::new(),
            kind: FileKind::Events,
            encoding: Encoding::Plain,
            start: 0,
            end: 0,
            file_size: 0,
        });
        w.kind = 0;
        assert_eq!(shard_from_wire(&w), None);
    }
}
