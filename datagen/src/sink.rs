//! Output files: the events file in its configured encoding, and the ordered, overlapped
//! block pipeline that feeds every file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::config::OutputEncoding;
use crate::error::GenError;
use crate::events::{Columns, Payload};

/// Blocks arrive as multi-MB buffers, which `BufWriter` passes straight through when they
/// exceed its capacity; the buffer only serves small writes (compressor output, headers).
const FILE_BUFFER: usize = 1 << 20;
/// Parquet row groups of ~1M rows: big enough for efficient scans, small enough that a reader
/// can split the file into many shards.
pub(crate) const PARQUET_ROW_GROUP: usize = 1 << 20;

pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, GenError> {
    let f = File::create(path).map_err(GenError::io(path))?;
    Ok(BufWriter::with_capacity(FILE_BUFFER, f))
}

/// A finished plain writer: flushing is where buffered write errors surface.
pub(crate) fn finish_plain(mut w: BufWriter<File>, path: &Path) -> Result<(), GenError> {
    w.flush().map_err(GenError::io(path))
}

enum Text {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Bzip2(bzip2::write::BzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

enum Kind {
    Text(Text),
    Parquet {
        writer: Box<ArrowWriter<BufWriter<File>>>,
        schema: SchemaRef,
    },
}

/// The events file being written.
pub(crate) struct EventSink {
    path: PathBuf,
    kind: Kind,
}

impl EventSink {
    pub fn create(path: PathBuf, encoding: OutputEncoding) -> Result<EventSink, GenError> {
        let w = create(&path)?;
        // Fast compression levels: generation speed matters more than a few percent of size,
        // and every level is deterministic (gzip headers carry no time stamp here).
        let kind = match encoding {
            OutputEncoding::Plain => Kind::Text(Text::Plain(w)),
            OutputEncoding::Gzip => Kind::Text(Text::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::fast(),
            ))),
            OutputEncoding::Bzip2 => Kind::Text(Text::Bzip2(bzip2::write::BzEncoder::new(
                w,
                bzip2::Compression::fast(),
            ))),
            OutputEncoding::Zstd => Kind::Text(Text::Zstd(
                zstd::stream::write::Encoder::new(w, 3).map_err(GenError::io(&path))?,
            )),
            OutputEncoding::Parquet => {
                let schema: SchemaRef = Arc::new(Schema::new(
                    ["user_id", "artist_id", "album_id", "track_id", "timestamp"]
                        .map(|n| Field::new(n, DataType::Int64, false))
                        .to_vec(),
                ));
                // Dictionaries only where values repeat in runs (users); track-like ids have
                // too many distinct values and fall back expensively. Timestamps ascend within
                // a user, which delta encoding packs well.
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
                    .set_dictionary_enabled(false)
                    .set_column_dictionary_enabled(ColumnPath::from("user_id"), true)
                    .set_column_encoding(
                        ColumnPath::from("timestamp"),
                        Encoding::DELTA_BINARY_PACKED,
                    )
                    .build();
                let writer =
                    ArrowWriter::try_new(w, schema.clone(), Some(props)).map_err(|source| {
                        GenError::Parquet {
                            path: path.clone(),
                            source,
                        }
                    })?;
                Kind::Parquet {
                    writer: Box::new(writer),
                    schema,
                }
            }
        };
        Ok(EventSink { path, kind })
    }

    pub fn write(&mut self, payload: Payload) -> Result<(), GenError> {
        match (&mut self.kind, payload) {
            (Kind::Text(t), Payload::Text(bytes)) => write_text_to(t, &bytes, &self.path),
            (Kind::Parquet { writer, schema }, Payload::Columns(c)) => {
                let Columns {
                    user,
                    artist,
                    album,
                    track,
                    timestamp,
                } = c;
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    [user, artist, album, track, timestamp]
                        .map(|v| Arc::new(Int64Array::from(v)) as _)
                        .to_vec(),
                )
                .map_err(|source| GenError::Arrow {
                    path: self.path.clone(),
                    source,
                })?;
                writer.write(&batch).map_err(|source| GenError::Parquet {
                    path: self.path.clone(),
                    source,
                })
            }
            _ => Err(GenError::InvalidConfig(
                "internal: block payload does not match the events encoding".into(),
            )),
        }
    }

    /// Raw bytes (the truncated last line); text encodings only.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), GenError> {
        match &mut self.kind {
            Kind::Text(t) => write_text_to(t, bytes, &self.path),
            Kind::Parquet { .. } => Err(GenError::InvalidConfig(
                "raw lines cannot be written to Parquet".into(),
            )),
        }
    }

    pub fn finish(self) -> Result<PathBuf, GenError> {
        let path = self.path;
        let io = GenError::io(&path);
        match self.kind {
            Kind::Text(Text::Plain(w)) => finish_plain(w, &path)?,
            Kind::Text(Text::Gzip(e)) => finish_plain(e.finish().map_err(io)?, &path)?,
            Kind::Text(Text::Bzip2(e)) => finish_plain(e.finish().map_err(io)?, &path)?,
            Kind::Text(Text::Zstd(e)) => finish_plain(e.finish().map_err(io)?, &path)?,
            Kind::Parquet { writer, .. } => {
                let w = writer.into_inner().map_err(|source| GenError::Parquet {
                    path: path.clone(),
                    source,
                })?;
                finish_plain(w, &path)?;
            }
        }
        Ok(path)
    }
}

fn write_text_to(t: &mut Text, bytes: &[u8], path: &Path) -> Result<(), GenError> {
    let r = match t {
        Text::Plain(w) => w.write_all(bytes),
        Text::Gzip(w) => w.write_all(bytes),
        Text::Bzip2(w) => w.write_all(bytes),
        Text::Zstd(w) => w.write_all(bytes),
    };
    r.map_err(GenError::io(path))
}

/// Renders items `0..n` on the pool and hands them to `consume` strictly in index order, on a
/// separate thread so that writing (and compressing) overlaps with rendering the next batch.
/// Output therefore depends only on `render`, never on the number of threads.
pub(crate) fn ordered<T, S>(
    pool: &rayon::ThreadPool,
    n: usize,
    render: impl Fn(usize) -> T + Sync,
    mut state: S,
    mut consume: impl FnMut(&mut S, T) -> Result<(), GenError> + Send,
) -> Result<S, GenError>
where
    T: Send,
    S: Send,
{
    // A few items per thread per batch keeps all threads busy despite uneven item costs while
    // bounding the rendered-but-unwritten memory.
    let batch = pool.current_num_threads().max(1) * 4;
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<T>>(1);
        let writer = scope.spawn(move || -> Result<S, GenError> {
            for items in rx {
                for item in items {
                    consume(&mut state, item)?;
                }
            }
            Ok(state)
        });
        let mut start = 0;
        while start < n {
            let end = (start + batch).min(n);
            let items: Vec<T> =
                pool.install(|| (start..end).into_par_iter().map(&render).collect());
            if tx.send(items).is_err() {
                // The writer stopped on an error; joining below reports it.
                break;
            }
            start = end;
        }
        drop(tx);
        match writer.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
