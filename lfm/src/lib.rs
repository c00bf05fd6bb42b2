//! LFM-1b input for archetype: file formats, sharding and streaming reads.
//!
//! This crate knows everything about the data set's files and nothing about the distributed
//! job. Data flows through it in three steps:
//!
//! 1. **Planning** ([`shard`], on the coordinator): [`shard::plan_file`] looks at each input
//!    object (size, extension, Parquet footer) and cuts it into [`shard::ShardSpec`]s: byte ranges
//!    of plain text, whole compressed files, or runs of Parquet row groups. Parquet schemas are
//!    checked here, so a wrong file fails before any worker starts.
//! 2. **Reading** ([`read`] and [`parquet_input`], on workers): a shard is streamed from the
//!    object store in bounded memory. Text arrives as [`read::LineChunk`]s of complete lines,
//!    each line with its byte offset and line number within the shard; a line belongs to the
//!    shard holding its first byte, so shards can be cut anywhere and still see every line
//!    exactly once. Parquet arrives as batches of events.
//! 3. **Parsing** ([`parse`]): each line becomes a typed row ([`record`]) or a
//!    [`error::RowError`] that says which kind of defect was found in which field. Bad rows are
//!    counted and sampled by the caller; only failures to read an input at all
//!    ([`error::InputError`]) stop a shard. Event chunks, the bulk of the input, are parsed a
//!    chunk at a time by [`scan`], which finds line ends and field ends together and hands the
//!    lines it declines to the same per-line parser.

pub mod error;
pub mod parquet_input;
pub mod parse;
pub mod read;
pub mod record;
pub mod scan;
pub mod shard;

pub use error::*;
pub use record::*;
