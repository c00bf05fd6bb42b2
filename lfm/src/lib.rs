//! placeholder
pub mod error;
pub mod parquet_input;
pub mod parse;
pub mod read;
pub mod record;
pub mod shard;
pub use error::*;
pub use record::*;
