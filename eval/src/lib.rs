//! Offline evaluation of recommenders, done the way Schedl et al. (2021), Sec. 4.2, do it, plus
//! the most-popular baselines that paper compares against.
//!
//! The crate is pure computation: it never reads or writes files, so the same code runs inside
//! a worker (per shard of users) and inside the coordinator (the final reduction and report).
//!
//! Data flow:
//!
//! ```text
//! held-out (track, input plays, target plays) -> targets::is_target      a user's targets
//! ranking (best-first item ids, from a model or a baseline) + held-out targets of one user
//!   -> metrics::user_metrics          one row of P/R/NDCG/MAP at every K     (per user, workers)
//!   -> metrics::Coverage(AtKs)        distinct items recommended at each K   (per worker, merged)
//!   -> metrics::MetricSums            exact, order-independent column sums   (merged anywhere)
//!   -> report::ModelRow               means + coverage, or why a model is missing
//!   -> report::compare                Friedman + pairwise Wilcoxon (Holm) on users common to all
//!   -> report::render_markdown / render_terminal / serde JSON (report.json)
//! ```
//!
//! Reductions are exact (see [`metrics::MetricSums`]) so that a cluster run, whatever the number
//! of workers and the order their partial results arrive in, reports the same bits as a
//! single-process run. The significance tests reproduce `scipy.stats` defaults so numbers can be
//! checked against a notebook.

pub mod baselines;
pub mod breakdown;
pub mod cultural;
mod error;
mod exact;
pub mod metrics;
pub mod normality;
pub mod report;
pub mod sampling;
pub mod significance;
pub mod targets;

pub use error::EvalError;
pub use significance::StatsError;
