//! Wire types of the archetype cluster.
//!
//! `proto/archetype/v1/cluster.proto` is the one source of truth for what crosses the network
//! between the coordinator and its workers; this crate only compiles it (tonic + prost) so that
//! both sides share the generated client, server and messages.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("archetype.v1");
}

pub use v1::coordinator_client::CoordinatorClient;
pub use v1::coordinator_server::{Coordinator, CoordinatorServer};
