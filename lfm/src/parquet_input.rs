//! Listening events from Parquet, one shard (a range of row groups) at a time.
//!
//! Only the five event columns of the shard's row groups are fetched. Values of any accepted
//! integer type are range-checked into u32 the same way the text parser checks its digits, so a
//! Parquet input yields the same events and the same bad-row kinds as its text equivalent.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::{BadRowKind, InputError, RowError};
use crate::parse::TimeWindow;
use crate::record::ListeningEvent;
use crate::shard::{check_event_fields, Encoding, ShardSpec, EVENT_COLUMNS};

/// A stream of events from one Parquet shard.
pub struct EventBatches {
    url: String,
    stream: ParquetRecordBatchStream<StoreFileReader>,
    window: TimeWindow,
    /// Index in the file of the next row to come.
    next_row: u64,
}

impl std::fmt::Debug for EventBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBatches")
            .field("url", &self.url)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

/// Opens the row groups `shard.start..shard.end` of a Parquet events file.
pub async fn read_event_row_groups(
    store: Arc<dyn ObjectStore>,
    shard: &ShardSpec,
    window: TimeWindow,
    batch_rows: usize,
) -> Result<EventBatches, InputError> {
    let url = shard.url.clone();
    let parquet_err = |source| InputError::Parquet {
        url: url.clone(),
        source,
    };
    if shard.encoding != Encoding::Parquet {
        return Err(InputError::Format {
            url: url.clone(),
            problem: format!("not a Parquet shard ({:?})", shard.encoding),
        });
    }
    let reader = StoreFileReader {
        store,
        path: Path::from(shard.path.as_str()),
        file_size: shard.file_size,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(parquet_err)?;
    let columns = check_event_fields(builder.schema(), &url)?;

    let groups = builder.metadata().row_groups();
    let (start, end) = (shard.start, shard.end);
    if start > end || end > groups.len() as u64 {
        return Err(InputError::Format {
            url: url.clone(),
            problem: format!(
                "row groups {start}..{end} requested, file has {}",
                groups.len()
            ),
        });
    }
    // Row numbers in bad-row reports count from the file's first row, as a user would.
    let first_row: u64 = groups[..start as usize]
        .iter()
        .map(|g| u64::try_from(g.num_rows()).unwrap_or(0))
        .sum();
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
    let stream = builder
        .with_projection(mask)
        .with_row_groups((start as usize..end as usize).collect())
        .with_batch_size(batch_rows.max(1))
        .build()
        .map_err(parquet_err)?;
    Ok(EventBatches {
        url,
        stream,
        window,
        next_row: first_row,
    })
}

/// Parquet's own `ParquetObjectReader` is deprecated in favour of implementing
/// `AsyncFileReader`; the file size from the plan saves the footer lookup a `head` request.
struct StoreFileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    file_size: u64,
}

impl AsyncFileReader for StoreFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..Default::default()
            };
            let got = self.store.get_opts(&self.path, opts).await?;
            Ok(got.bytes().await?)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        // The store coalesces nearby column chunks into fewer requests.
        async move { Ok(self.store.get_ranges(&self.path, &ranges).await?) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.file_size;
            let meta = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}

/// A column viewed as one of the accepted integer types.
enum IntColumn<'a> {
    I32(&'a arrow_array::Int32Array),
    I64(&'a arrow_array::Int64Array),
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
}

impl<'a> IntColumn<'a> {
    fn new(array: &'a ArrayRef) -> Option<IntColumn<'a>> {
        if let Some(a) = array.as_primitive_opt::<Int32Type>() {
            Some(IntColumn::I32(a))
        } else if let Some(a) = array.as_primitive_opt::<Int64Type>() {
            Some(IntColumn::I64(a))
        } else if let Some(a) = array.as_primitive_opt::<UInt32Type>() {
            Some(IntColumn::U32(a))
        } else {
            array.as_primitive_opt::<UInt64Type>().map(IntColumn::U64)
        }
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            IntColumn::I32(a) => a.is_null(i),
            IntColumn::I64(a) => a.is_null(i),
            IntColumn::U32(a) => a.is_null(i),
            IntColumn::U64(a) => a.is_null(i),
        }
    }

    /// The value as u32, or the raw value when it does not fit.
    fn get(&self, i: usize) -> Result<u32, i128> {
        match self {
            IntColumn::I32(a) => u32::try_from(a.value(i)).map_err(|_| i128::from(a.value(i))),
            IntColumn::I64(a) => u32::try_from(a.value(i)).map_err(|_| i128::from(a.value(i))),
            IntColumn::U32(a) => Ok(a.value(i)),
            IntColumn::U64(a) => u32::try_from(a.value(i)).map_err(|_| i128::from(a.value(i))),
        }
    }
}

impl EventBatches {
    /// Appends the next batch's valid events to `out` and its bad rows, with their row index in
    /// the file, to `bad`. Returns `false` once the shard is exhausted.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<ListeningEvent>,
        bad: &mut Vec<(RowError, u64)>,
    ) -> Result<bool, InputError> {
        let batch = match self.stream.next().await {
            None => return Ok(false),
            Some(Err(source)) => {
                return Err(InputError::Parquet {
                    url: self.url.clone(),
                    source,
                })
            }
            Some(Ok(batch)) => batch,
        };
        self.convert(&batch, out, bad)?;
        self.next_row += batch.num_rows() as u64;
        Ok(true)
    }

    fn convert(
        &self,
        batch: &RecordBatch,
        out: &mut Vec<ListeningEvent>,
        bad: &mut Vec<(RowError, u64)>,
    ) -> Result<(), InputError> {
        let mut arrays: Vec<&ArrayRef> = Vec::with_capacity(5);
        for name in EVENT_COLUMNS {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| InputError::Schema {
                    url: self.url.clone(),
                    column: name.to_owned(),
                    problem: "column is missing".to_owned(),
                })?;
            arrays.push(array);
        }
        let mut cols = Vec::with_capacity(5);
        for (array, name) in arrays.into_iter().zip(EVENT_COLUMNS) {
            let col = IntColumn::new(array).ok_or_else(|| InputError::Schema {
                url: self.url.clone(),
                column: name.to_owned(),
                problem: format!(
                    "has type {}, expected an integer type (Int32, Int64, UInt32 or UInt64)",
                    array.data_type()
                ),
            })?;
            cols.push(col);
        }
        let any_nulls = batch.columns().iter().any(|c| c.null_count() > 0);
        out.reserve(batch.num_rows());
        'rows: for i in 0..batch.num_rows() {
            let mut v = [0u32; 5];
            for (k, col) in cols.iter().enumerate() {
                let field = EVENT_COLUMNS[k];
                if any_nulls && col.is_null(i) {
                    bad.push((
                        RowError::new(BadRowKind::NullValue, field, b"null"),
                        self.next_row + i as u64,
                    ));
                    continue 'rows;
                }
                let fail = match col.get(i) {
                    Ok(x) if k < 4 || self.window.contains(x) => {
                        v[k] = x;
                        continue;
                    }
                    Ok(x) => (BadRowKind::TimestampOutOfRange, i128::from(x)),
                    Err(raw) if k < 4 => (BadRowKind::IdOutOfRange, raw),
                    Err(raw) => (BadRowKind::TimestampOutOfRange, raw),
                };
                bad.push((
                    RowError::new(fail.0, field, fail.1.to_string().as_bytes()),
                    self.next_row + i as u64,
                ));
                continue 'rows;
            }
            out.push(ListeningEvent {
                user: v[0],
                artist: v[1],
                album: v[2],
                track: v[3],
                timestamp: v[4],
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{plan_file, FileKind};
    use arrow_array::{Int32Array, Int64Array, StringArray, UInt32Array, UInt64Array};
    use arrow_schema::{Field, Schema};
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    const W: TimeWindow = TimeWindow {
        min: 1_000_000_000,
        max: 2_000_000_000,
    };

    fn write_parquet(columns: Vec<(&str, ArrayRef)>, rows_per_group: usize) -> Vec<u8> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(rows_per_group))
            .build();
        let mut buf = Vec::new();
        let mut w =
            ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap_or_else(|e| panic!("{e}"));
        w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
        w.close().unwrap_or_else(|e| panic!("{e}"));
        buf
    }

    async fn store_with(name: &str, data: Vec<u8>) -> (Arc<dyn ObjectStore>, Path) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from(name);
        store
            .put(&path, PutPayload::from(data))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (store, path)
    }

    async fn read_all(
        store: &Arc<dyn ObjectStore>,
        shards: &[ShardSpec],
        batch_rows: usize,
    ) -> (Vec<ListeningEvent>, Vec<(RowError, u64)>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for s in shards {
            let mut b = read_event_row_groups(Arc::clone(store), s, W, batch_rows)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            while b
                .next_batch(&mut out, &mut bad)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            {}
        }
        (out, bad)
    }

    #[tokio::test]
    async fn row_group_shards_read_every_row_once() {
        let n = 1000u32;
        let file = write_parquet(
            vec![
                (
                    "user_id",
                    Arc::new(UInt32Array::from_iter_values(0..n)) as ArrayRef,
                ),
                (
                    "artist_id",
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|i| i64::from(i) * 3),
                    )),
                ),
                (
                    "album_id",
                    Arc::new(Int32Array::from_iter_values((0..n).map(|i| i as i32))),
                ),
                (
                    "track_id",
                    Arc::new(UInt64Array::from_iter_values((0..n).map(u64::from))),
                ),
                (
                    "timestamp",
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|i| 1_300_000_000 + i64::from(i)),
                    )),
                ),
                (
                    "extra",
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|i| format!("x{i}")),
                    )),
                ),
            ],
            64,
        );
        let (store, path) = store_with("les.parquet", file).await;
        let want: Vec<ListeningEvent> = (0..n)
            .map(|i| ListeningEvent {
                user: i,
                artist: i * 3,
                album: i,
                track: i,
                timestamp: 1_300_000_000 + i,
            })
            .collect();
        for target in [1u64, 500, 3000, u64::MAX] {
            let shards = plan_file(
                &*store,
                &path,
                "mem://les.parquet",
                FileKind::Events,
                target,
                0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            // 1000 rows in groups of 64 make 16 row groups, covered without gaps.
            assert_eq!(shards.first().map(|s| s.start), Some(0));
            assert_eq!(shards.last().map(|s| s.end), Some(16));
            for w in shards.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            if target == 1 {
                assert_eq!(shards.len(), 16);
            }
            if target == u64::MAX {
                assert_eq!(shards.len(), 1);
            }
            let (got, bad) = read_all(&store, &shards, 100).await;
            assert!(bad.is_empty());
            assert_eq!(got, want, "target {target}");
        }
    }

    #[tokio::test]
    async fn bad_values_are_rows_not_failures() {
        let file = write_parquet(
            vec![
                (
                    "user_id",
                    Arc::new(Int64Array::from(vec![
                        Some(1),
                        Some(-1),
                        Some(3),
                        None,
                        Some(5),
                        Some(6),
                    ])) as ArrayRef,
                ),
                (
                    "artist_id",
                    Arc::new(UInt64Array::from(vec![
                        1,
                        2,
                        3,
                        4,
                        1 << 32,
                        u64::from(u32::MAX),
                    ])),
                ),
                (
                    "album_id",
                    Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5, 6])),
                ),
                (
                    "track_id",
                    Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5, 6])),
                ),
                (
                    "timestamp",
                    Arc::new(Int64Array::from(vec![
                        1_300_000_000,
                        1_300_000_000,
                        5,
                        1_300_000_000,
                        1_300_000_000,
                        1_300_000_000,
                    ])),
                ),
            ],
            2,
        );
        let (store, path) = store_with("bad.pq", file).await;
        let shards = plan_file(&*store, &path, "mem://bad.pq", FileKind::Events, 1, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shards.len(), 3);
        // Reading from the second shard on: row indices still count from the file's start.
        let (got, bad) = read_all(&store, &shards[1..], 1).await;
        let kinds: Vec<(BadRowKind, &str, u64)> =
            bad.iter().map(|(e, row)| (e.kind, e.field, *row)).collect();
        assert_eq!(
            kinds,
            vec![
                (BadRowKind::TimestampOutOfRange, "timestamp", 2),
                (BadRowKind::NullValue, "user_id", 3),
                (BadRowKind::IdOutOfRange, "artist_id", 4),
            ]
        );
        assert_eq!(bad[2].0.detail, "4294967296");
        assert_eq!(got.iter().map(|e| e.user).collect::<Vec<_>>(), vec![6]);
        assert_eq!(got[0].artist, u32::MAX);
        let (_, bad) = read_all(&store, &shards[..1], 7).await;
        assert_eq!(bad.len(), 1);
        assert_eq!(
            (bad[0].0.kind, bad[0].0.field, bad[0].1),
            (BadRowKind::IdOutOfRange, "user_id", 1)
        );
    }

    #[tokio::test]
    async fn schema_errors_name_the_column() {
        let ints = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
        let wrong_type = write_parquet(
            vec![
                ("user_id", ints(vec![1])),
                ("artist_id", ints(vec![1])),
                ("album_id", ints(vec![1])),
                ("track_id", ints(vec![1])),
                ("timestamp", Arc::new(StringArray::from(vec!["2013-01-01"]))),
            ],
            10,
        );
        let (store, path) = store_with("t.parquet", wrong_type).await;
        match plan_file(&*store, &path, "mem://t.parquet", FileKind::Events, 10, 0).await {
            Err(InputError::Schema {
                column,
                problem,
                url,
            }) => {
                assert_eq!(column, "timestamp");
                assert_eq!(url, "mem://t.parquet");
                assert!(problem.contains("Utf8"), "{problem}");
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
        // The reader checks too, for shards planned from an older version of the file.
        let shard = ShardSpec {
            id: 0,
            url: "mem://t.parquet".into(),
            path: "t.parquet".into(),
            kind: FileKind::Events,
            encoding: Encoding::Parquet,
            start: 0,
            end: 1,
            file_size: store.head(&path).await.map(|m| m.size).unwrap_or(0),
        };
        match read_event_row_groups(Arc::clone(&store), &shard, W, 10).await {
            Err(InputError::Schema { column, .. }) => assert_eq!(column, "timestamp"),
            other => panic!("expected a schema error, got {other:?}"),
        }

        let missing = write_parquet(
            vec![
                ("user_id", ints(vec![1])),
                ("artist_id", ints(vec![1])),
                ("track_id", ints(vec![1])),
                ("timestamp", ints(vec![1])),
            ],
            10,
        );
        let (store, path) = store_with("m.parquet", missing).await;
        match plan_file(&*store, &path, "mem://m.parquet", FileKind::Events, 10, 0).await {
            Err(e @ InputError::Schema { .. }) => {
                assert!(e.to_string().contains("album_id"), "{e}");
                assert!(e.to_string().contains("missing"), "{e}");
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn not_parquet_is_a_parquet_error() {
        let (store, path) = store_with("x.parquet", b"definitely not parquet".to_vec()).await;
        match plan_file(&*store, &path, "mem://x.parquet", FileKind::Events, 10, 0).await {
            Err(e @ InputError::Parquet { .. }) => {
                assert!(e.to_string().contains("mem://x.parquet"))
            }
            other => panic!("expected a Parquet error, got {other:?}"),
        }
    }
}
