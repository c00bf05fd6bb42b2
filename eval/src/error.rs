use crate::significance::StatsError;

/// Everything that can go wrong while evaluating; all of it comes from inputs (configuration,
/// rows from workers, play counts), never from internal invariants.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("the list of cut-offs K is empty")]
    EmptyKs,
    #[error("cut-off K = 0 is not allowed (P@0 is undefined)")]
    ZeroK,
    #[error("cut-off K = {0} is listed twice")]
    DuplicateK(usize),
    #[error("cut-offs differ: {left:?} vs {right:?}")]
    KsMismatch { left: Vec<usize>, right: Vec<usize> },
    #[error("metric row has {got} columns, expected {expected}")]
    ColumnMismatch { expected: usize, got: usize },
    #[error("metric value {value} in column {column} is not a finite non-negative number")]
    InvalidMetricValue { column: usize, value: f64 },
    #[error("user {0} appears more than once")]
    DuplicateUser(u32),
    #[error("model {0:?} is listed more than once")]
    DuplicateModel(String),
    #[error("no user is common to all evaluated models")]
    NoCommonUsers,
    #[error("play count of item {item} overflows u64")]
    PlaysOverflow { item: u32 },
    #[error("catalogue of {0} items does not fit u32 item indices")]
    CatalogueTooLarge(usize),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Stats(#[from] StatsError),
}
