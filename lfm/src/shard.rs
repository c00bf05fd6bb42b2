//! Planning: cutting input files into shards that workers read independently.
//!
//! Plain text is cut into byte ranges. A range does not have to fall on a line boundary: a line
//! belongs to the shard in which its first byte lies, so the reader of a shard skips the partial
//! line it starts in and reads past its end to finish its last line (see [`crate::read`]). That
//! makes every split valid, and the planner never has to look inside the file.
//!
//! Compressed files cannot be entered mid-stream, so each is one shard. Parquet files are cut
//! along row groups, using the footer's sizes; the footer is also where the schema is checked,
//! so a wrong file fails the job at plan time rather than on some worker later.

use std::ops::Range;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// Which LFM-1b file a shard comes from; decides the row parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileKind {
    Events,
    Users,
    Tracks,
    Artists,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Events => "events",
            FileKind::Users => "users",
            FileKind::Tracks => "tracks",
            FileKind::Artists => "artists",
        }
    }
}

/// How the bytes of a file are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    Plain,
    Gzip,
    Bzip2,
    Zstd,
    Parquet,
}

impl Encoding {
    /// By file extension (case-insensitive); anything unrecognised is read as plain text.
    pub fn from_path(path: &str) -> Encoding {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = match name.rsplit_once('.') {
            Some((_, ext)) => ext.to_ascii_lowercase(),
            None => return Encoding::Plain,
        };
        match ext.as_str() {
            "gz" | "gzip" => Encoding::Gzip,
            "bz2" => Encoding::Bzip2,
            "zst" | "zstd" => Encoding::Zstd,
            "parquet" | "pq" => Encoding::Parquet,
            _ => Encoding::Plain,
        }
    }

    /// Whether a file can be cut into several shards. A compressed stream has no entry points
    /// in the middle, so such files are read whole by one worker.
    pub fn splittable(self) -> bool {
        matches!(self, Encoding::Plain | Encoding::Parquet)
    }
}

/// One unit of work: a part of one input file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Index in the job's plan (unique across all files of a job).
    pub id: u32,
    /// The file's URL as the user gave it; used in messages and reports.
    pub url: String,
    /// The object-store path (as string) within the store the URL resolves to.
    pub path: String,
    pub kind: FileKind,
    pub encoding: Encoding,
    /// Plain: byte range `[start, end)` (lines *starting* in it). Compressed: `0..file_size`
    /// (the whole file, compressed bytes). Parquet: range of row-group indices.
    pub start: u64,
    pub end: u64,
    /// Size of the stored object in bytes, as seen at plan time.
    pub file_size: u64,
}

/// Contiguous ranges covering `[0, file_size)` exactly, each about `target_shard_bytes` long
/// (sizes differ by at most one byte). An empty file has no ranges.
pub fn plan_byte_ranges(file_size: u64, target_shard_bytes: u64) -> Vec<(u64, u64)> {
    if file_size == 0 {
        return Vec::new();
    }
    let target = target_shard_bytes.max(1);
    let n = file_size.div_ceil(target);
    // u128 because `i * file_size` overflows u64 for large files cut into many shards.
    let cut = |i: u64| (u128::from(i) * u128::from(file_size) / u128::from(n)) as u64;
    (0..n).map(|i| (cut(i), cut(i + 1))).collect()
}

/// Groups consecutive row groups (given their compressed sizes) into ranges of indices of about
/// `target` bytes each, at least one row group per range.
fn group_row_groups(sizes: &[u64], target: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut first = 0usize;
    let mut acc = 0u64;
    for (i, &size) in sizes.iter().enumerate() {
        acc = acc.saturating_add(size);
        if acc >= target {
            out.push((first as u64, i as u64 + 1));
            first = i + 1;
            acc = 0;
        }
    }
    if first < sizes.len() {
        out.push((first as u64, sizes.len() as u64));
    }
    out
}

/// Plans the shards of one file; ids are `first_id, first_id + 1, ...`.
pub async fn plan_file(
    store: &dyn ObjectStore,
    path: &Path,
    url: &str,
    kind: FileKind,
    target_shard_bytes: u64,
    first_id: u32,
) -> Result<Vec<ShardSpec>, InputError> {
    let store_err = |source| InputError::Store {
        url: url.to_owned(),
        source,
    };
    let head = GetOptions {
        head: true,
        ..Default::default()
    };
    let file_size = store
        .get_opts(path, head)
        .await
        .map_err(store_err)?
        .meta
        .size;
    let encoding = Encoding::from_path(path.as_ref());

    let ranges = match encoding {
        Encoding::Plain => plan_byte_ranges(file_size, target_shard_bytes),
        Encoding::Gzip | Encoding::Bzip2 | Encoding::Zstd => {
            if file_size == 0 {
                Vec::new()
            } else {
                vec![(0, file_size)]
            }
        }
        Encoding::Parquet => {
            if kind != FileKind::Events {
                return Err(InputError::Format {
                    url: url.to_owned(),
                    problem: format!(
                        "Parquet input is supported for events only, not for {}",
                        kind.name()
                    ),
                });
            }
            let meta = load_parquet_metadata(store, path, url, file_size).await?;
            check_events_schema(&meta, url)?;
            let sizes: Vec<u64> = meta
                .row_groups()
                .iter()
                .map(|rg| u64::try_from(rg.compressed_size()).unwrap_or(0))
                .collect();
            group_row_groups(&sizes, target_shard_bytes.max(1))
        }
    };

    let mut shards = Vec::with_capacity(ranges.len());
    for (i, (start, end)) in ranges.into_iter().enumerate() {
        let id = u32::try_from(i)
            .ok()
            .and_then(|i| first_id.checked_add(i))
            .ok_or_else(|| InputError::Format {
                url: url.to_owned(),
                problem: "too many shards: shard ids exceed 32 bits".to_owned(),
            })?;
        shards.push(ShardSpec {
            id,
            url: url.to_owned(),
            path: path.to_string(),
            kind,
            encoding,
            start,
            end,
            file_size,
        });
    }
    Ok(shards)
}

/// Fetches footer bytes through a borrowed store; the planner has no `Arc` to hand to
/// `ParquetObjectReader`, and only needs the metadata anyway.
struct BorrowedFetch<'a> {
    store: &'a dyn ObjectStore,
    path: &'a Path,
}

impl MetadataFetch for BorrowedFetch<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..Default::default()
            };
            let got = self.store.get_opts(self.path, opts).await?;
            Ok(got.bytes().await?)
        }
        .boxed()
    }
}

pub(crate) async fn load_parquet_metadata(
    store: &dyn ObjectStore,
    path: &Path,
    url: &str,
    file_size: u64,
) -> Result<ParquetMetaData, InputError> {
    ParquetMetaDataReader::new()
        .load_and_finish(BorrowedFetch { store, path }, file_size)
        .await
        .map_err(|source| InputError::Parquet {
            url: url.to_owned(),
            source,
        })
}

/// The event columns in file order of our output struct.
pub(crate) const EVENT_COLUMNS: [&str; 5] =
    ["user_id", "artist_id", "album_id", "track_id", "timestamp"];

/// Integer types a column may have; values are range-checked into u32 when read.
pub(crate) fn integer_type_ok(t: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType;
    matches!(
        t,
        DataType::Int32 | DataType::Int64 | DataType::UInt32 | DataType::UInt64
    )
}

/// Checks an Arrow schema for the five event columns; shared by planner and reader.
pub(crate) fn check_event_fields(
    schema: &arrow_schema::Schema,
    url: &str,
) -> Result<[usize; 5], InputError> {
    let mut idx = [0usize; 5];
    for (slot, name) in idx.iter_mut().zip(EVENT_COLUMNS) {
        let (i, field) = schema
            .column_with_name(name)
            .ok_or_else(|| InputError::Schema {
                url: url.to_owned(),
                column: name.to_owned(),
                problem: "column is missing".to_owned(),
            })?;
        if !integer_type_ok(field.data_type()) {
            return Err(InputError::Schema {
                url: url.to_owned(),
                column: name.to_owned(),
                problem: format!(
                    "has type {}, expected an integer type (Int32, Int64, UInt32 or UInt64)",
                    field.data_type()
                ),
            });
        }
        *slot = i;
    }
    Ok(idx)
}

fn check_events_schema(meta: &ParquetMetaData, url: &str) -> Result<(), InputError> {
    let fm = meta.file_metadata();
    let schema =
        parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
            .map_err(|source| InputError::Parquet {
                url: url.to_owned(),
                source,
            })?;
    check_event_fields(&schema, url).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_by_extension() {
        assert_eq!(Encoding::from_path("a/b/LFM-1b_LEs.txt"), Encoding::Plain);
        assert_eq!(Encoding::from_path("LFM-1b_LEs.txt.gz"), Encoding::Gzip);
        assert_eq!(Encoding::from_path("x.TXT.BZ2"), Encoding::Bzip2);
        assert_eq!(Encoding::from_path("x.zst"), Encoding::Zstd);
        assert_eq!(Encoding::from_path("x.zstd"), Encoding::Zstd);
        assert_eq!(Encoding::from_path("x.parquet"), Encoding::Parquet);
        assert_eq!(Encoding::from_path("x.pq"), Encoding::Parquet);
        assert_eq!(Encoding::from_path("dir.gz/events"), Encoding::Plain);
        assert_eq!(Encoding::from_path("events"), Encoding::Plain);
        assert!(Encoding::Plain.splittable() && Encoding::Parquet.splittable());
        assert!(!Encoding::Gzip.splittable() && !Encoding::Bzip2.splittable());
        assert!(!Encoding::Zstd.splittable());
        assert_eq!(FileKind::Events.name(), "events");
        assert_eq!(FileKind::Artists.name(), "artists");
    }

    #[test]
    fn byte_ranges_cover_exactly() {
        assert!(plan_byte_ranges(0, 10).is_empty());
        assert_eq!(
            plan_byte_ranges(5, 0),
            (0..5).map(|i| (i, i + 1)).collect::<Vec<_>>()
        );
        assert_eq!(plan_byte_ranges(10, 100), vec![(0, 10)]);
        assert_eq!(plan_byte_ranges(10, 5), vec![(0, 5), (5, 10)]);
        for size in [1u64, 7, 100, 1001, u64::MAX / 3] {
            for target in [1u64, 3, 64, 1000, u64::MAX] {
                if size / target > 10_000 {
                    continue;
                }
                let r = plan_byte_ranges(size, target);
                assert_eq!(r.first().map(|r| r.0), Some(0));
                assert_eq!(r.last().map(|r| r.1), Some(size));
                for w in r.windows(2) {
                    assert_eq!(w[0].1, w[1].0);
                }
                for &(a, b) in &r {
                    assert!(b > a && b - a <= target, "{size} {target} {a}..{b}");
                }
            }
        }
    }

    #[test]
    fn row_groups_grouped_by_size() {
        assert_eq!(group_row_groups(&[], 10), vec![]);
        assert_eq!(group_row_groups(&[100, 1, 1], 10), vec![(0, 1), (1, 3)]);
        assert_eq!(
            group_row_groups(&[4, 4, 4, 4, 4], 8),
            vec![(0, 2), (2, 4), (4, 5)]
        );
        assert_eq!(group_row_groups(&[4, 4], u64::MAX), vec![(0, 2)]);
    }
}
