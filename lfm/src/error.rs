//! Errors: bad rows (counted per kind and sampled) and failures to read an input at all.

use serde::{Deserialize, Serialize};

/// Why a row was rejected. Every rejected row is counted under exactly one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BadRowKind {
    /// The row does not have the number of tab-separated columns its file has.
    ColumnCount,
    /// A numeric field is empty or holds something other than a decimal integer.
    NotANumber,
    /// An identifier does not fit in 32 bits.
    IdOutOfRange,
    /// The row is not valid UTF-8.
    NonUtf8,
    /// The last line of a file has no line end and does not parse: the file was cut short.
    TruncatedLastLine,
    /// A timestamp outside the configured window (`[min_timestamp, max_timestamp]`).
    TimestampOutOfRange,
    /// A field that must be one of a few values (gender, country code) holds something else.
    InvalidValue,
    /// A user id seen before in the users file; the first row (lowest byte offset) is kept.
    DuplicateUser,
    /// A line longer than the reader's limit (binary garbage, a file without line ends).
    LineTooLong,
    /// A Parquet row with a null in a required column.
    NullValue,
}

impl BadRowKind {
    pub const ALL: [BadRowKind; 10] = [
        BadRowKind::ColumnCount,
        BadRowKind::NotANumber,
        BadRowKind::IdOutOfRange,
        BadRowKind::NonUtf8,
        BadRowKind::TruncatedLastLine,
        BadRowKind::TimestampOutOfRange,
        BadRowKind::InvalidValue,
        BadRowKind::DuplicateUser,
        BadRowKind::LineTooLong,
        BadRowKind::NullValue,
    ];

    /// Stable snake_case name, used in reports, metrics and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            BadRowKind::ColumnCount => "column_count",
            BadRowKind::NotANumber => "not_a_number",
            BadRowKind::IdOutOfRange => "id_out_of_range",
            BadRowKind::NonUtf8 => "non_utf8",
            BadRowKind::TruncatedLastLine => "truncated_last_line",
            BadRowKind::TimestampOutOfRange => "timestamp_out_of_range",
            BadRowKind::InvalidValue => "invalid_value",
            BadRowKind::DuplicateUser => "duplicate_user",
            BadRowKind::LineTooLong => "line_too_long",
            BadRowKind::NullValue => "null_value",
        }
    }

    pub fn from_name(name: &str) -> Option<BadRowKind> {
        BadRowKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for BadRowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejected row, as the parser sees it: which kind, which field, and what it held.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} in field `{field}`: {detail}")]
pub struct RowError {
    pub kind: BadRowKind,
    /// The column name as in the file's header or LFM-1b's documentation (`user_id`, `track_id`,
    /// `timestamp`, `country`, ...), or `row` when the row as a whole is at fault.
    pub field: &'static str,
    /// What was found, shortened to at most 80 characters (lossy UTF-8).
    pub detail: String,
}

impl RowError {
    pub fn new(kind: BadRowKind, field: &'static str, found: &[u8]) -> RowError {
        RowError {
            kind,
            field,
            detail: sample_text(found),
        }
    }
}

/// A bounded, printable rendering of raw input for error messages.
pub fn sample_text(raw: &[u8]) -> String {
    const MAX: usize = 80;
    let cut = &raw[..raw.len().min(MAX)];
    let mut s: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect::<String>()
        .replace('\t', "\\t");
    if raw.len() > MAX {
        s.push('…');
    }
    s
}

/// A rejected row with where it stood: the report names file, line and field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRowSample {
    /// The object-store URL of the file.
    pub file: String,
    /// Byte offset of the row's first byte in the (decompressed) file.
    pub offset: u64,
    /// 1-based line number within the shard; the coordinator turns it into a line number
    /// within the file from the line counts of the shards before it.
    pub shard_line: u64,
    /// Index of the shard in the job's plan.
    pub shard: u32,
    pub kind: BadRowKind,
    pub field: String,
    pub detail: String,
}

/// Failure to read an input at all (as opposed to a bad row inside it).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot decompress {url}: {source}")]
    Decompress {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read Parquet {url}: {source}")]
    Parquet {
        url: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{url}: column `{column}`: {problem}")]
    Schema {
        url: String,
        column: String,
        problem: String,
    },
    #[error("{url}: {problem}")]
    Format { url: String, problem: String },
}
