//! The archetype coordinator: the one process a user talks to.
//!
//! A job flows through it like this:
//!
//! 1. [`plan`] resolves the config's input URLs, fails early on a missing or unreadable input
//!    (naming the URL and the cause), and cuts every file into shards: byte ranges cut at line
//!    ends for plain text, row groups for Parquet, whole files when compressed.
//! 2. [`server`] is the gRPC service workers talk to: registration, leases kept by heartbeat,
//!    long-polled tasks, progress and results.
//! 3. [`job`] waits for the cluster's members, hands each its timely process index, the peer
//!    addresses and its shards, and watches leases and progress. When a member is lost it
//!    re-forms the cluster from the live workers and redoes the phase that was running (training
//!    from its last checkpoint), a bounded number of times; then it fails the job listing every
//!    loss. After each phase it writes the [`journal`], so a job run again under its id (or
//!    taken up by a restarted `serve --journal`) skips what is done.
//! 4. [`summary`] merges what the members reported, turns rejected-row samples into file and
//!    line numbers, applies the error budget and writes `summary.json` beside the tables.
//! 5. [`job`] then has the first member run the country-archetype phase (it needs every
//!    country at once, and reads the aggregated tables where they are, so the coordinator stays
//!    a control plane), and every member compute its own users' context features.
//! 6. [`evaluation`] hands each member its held-out users to score, reduces the per-user metric
//!    rows, runs the significance tests and writes `report/` (Markdown, JSON, Parquet).
//! 7. [`runs`] records the run (`run.json`) and, when the job asks for it, runs the promotion
//!    gate: the run becomes `<output>/latest.json` only if it beats the promoted one.
//!    [`resume`] decides whether a job id may be run again (`submit --resume`): only an
//!    unfinished run, with its own config.
//! 8. [`local`] starts worker processes on loopback for the embedded default, and restarts
//!    any that dies, as a StatefulSet would.
//!
//! `archetype serve` puts the [`server`] behind the TLS and token checks of `archetype_ops`,
//! with gRPC health and Prometheus beside it, and stops on SIGTERM.
//!
//! While a job runs, [`telemetry`] serves its phase, progress and evaluation results as
//! Prometheus metrics at `/metrics`.

pub mod admission;
pub mod evaluation;
pub mod job;
pub mod journal;
pub mod local;
pub mod memory_plan;
pub mod plan;
pub mod resume;
pub mod runs;
pub mod server;
pub mod summary;
pub mod telemetry;
