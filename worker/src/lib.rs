//! The archetype worker: one member of the timely cluster the coordinator forms.
//!
//! Data flows through a worker like this:
//!
//! 1. [`service`] registers with the coordinator over gRPC, keeps its lease by heartbeat and
//!    long-polls for a task. An aggregate task names this member's timely process index, the
//!    addresses of all members, the job config and the shards this member reads.
//! 2. [`ingest`] streams each shard from its object store (never a whole file in memory),
//!    parses rows, counts and samples bad ones; [`pairs`] folds each user's run of events into
//!    (user, track) partial aggregates before anything is exchanged, and keeps them per user at
//!    the user's owner.
//! 3. [`dataflow`] runs the timely dataflow over all members and threads (the members connect
//!    through [`cluster`], as they do again for every later phase): pairs and users meet
//!    at the worker owning the user; track totals at the worker owning the track; the paper's
//!    filters; dense indices ordered by original id; [`split`] picks the validation and test
//!    users and splits their interactions into input and target; and the output tables.
//! 4. [`tables`] writes those tables as Parquet parts through `object_store`.
//! 5. [`outcome`] merges what every thread counted into the result sent back to the coordinator.
//! 6. [`archetypes`] (a later task, one member) clusters the countries from the aggregated
//!    country profiles and writes the archetype tables and figures; then [`context`] (every
//!    member) computes its users' context features from the clusters' and countries' centroids.
//! 7. [`als`] (every member, one timely cluster again) trains WMF by ALS on the training
//!    users and stores factors, checkpoints and `.npy` matrices; then [`local_models`], one
//!    WMF model per archetype cluster or country over the same cluster.
//! 8. [`vae`] (every member, one timely cluster: each timely worker a data-parallel replica)
//!    trains the plain and the gated Mult-VAE models, checkpointing every epoch; on GPUs the
//!    gradients go over NCCL, whose id the members exchange through [`rendezvous`].
//! 9. [`evaluate`] (a later task) scores this member's held-out users with every available
//!    model and returns one metric row per user.
//!
//! [`query`] answers questions about a finished job (similar tracks) from its stored models.
//! [`reference`] is a plain single-threaded implementation of the same aggregation, the oracle
//! of the tests.

pub mod als;
pub mod archetypes;
pub mod cluster;
pub mod context;
pub mod dataflow;
pub mod device;
pub mod evaluate;
pub mod faults;
pub mod ground_truth;
pub mod handshake;
pub mod host_memory;
pub mod ingest;
pub mod local_models;
pub mod metrics;
pub mod nccl;
pub mod outcome;
pub mod pairs;
pub mod query;
pub mod reference;
pub mod rendezvous;
pub mod service;
pub mod split;
pub mod tables;
pub mod vae;

pub use dataflow::{run_aggregation, AggregateParams, ClusterSpec};
pub use outcome::{AggregateOutcome, Progress};
