//! The one error type of the crate.

use std::path::PathBuf;

/// Why [`crate::generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The configuration cannot be honoured (sizes out of range, unknown bad-row kind, ...).
    #[error("invalid generator configuration: {0}")]
    InvalidConfig(String),
    /// Creating or writing an output file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The Parquet writer refused a batch or failed to finish the file.
    #[error("Parquet error on {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow record batch failed (a schema mismatch: a bug, not bad input).
    #[error("Arrow error on {}: {source}", path.display())]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// Serialising `ground_truth.json` failed.
    #[error("JSON error on {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The worker thread pool could not be built.
    #[error("cannot start {threads} generator threads: {message}")]
    ThreadPool { threads: usize, message: String },
}

impl GenError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> GenError {
        let path = path.to_path_buf();
        move |source| GenError::Io { path, source }
    }
}
