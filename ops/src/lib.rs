//! What archetype's processes need to run as services on a shared cluster, kept apart from
//! what they compute.
//!
//! The coordinator and the workers talk gRPC; on a laptop that link is plain loopback, on
//! Kubernetes it crosses a network that other tenants share. This crate holds the pieces both
//! ends use for that, so that the coordinator's and the worker's crates only say *which* of
//! them they switch on:
//!
//! - [`security`]: mutual TLS for the coordinator link (rustls through tonic) and a shared
//!   token that every coordinator call must carry; the command-line flags for both; clear
//!   messages when a peer is refused, naming what to check.
//! - [`certs`]: a development CA with server and client certificates, for local clusters and
//!   tests (production takes its certificates from cert-manager or the platform's CA).
//! - [`health`]: the standard `grpc.health.v1.Health` service on a plaintext port of its own,
//!   because kubelet's gRPC probes cannot speak TLS.
//! - [`prometheus`]: a `/metrics` endpoint over the process-wide `metrics` registry.
//! - [`shutdown`]: SIGTERM and Ctrl-C turned into a flag that long loops poll at safe points
//!   (a training step), so a pod that is asked to stop checkpoints first.
//!
//! Data flows one way: a binary parses [`security::ServerSecurity`] or
//! [`security::ClientSecurity`] from its flags, builds its tonic server or channel through
//! them, and starts [`health`] and [`prometheus`] beside its main service.

pub mod certs;
pub mod health;
pub mod prometheus;
pub mod security;
pub mod shutdown;

/// `e` and every error below it, joined with `: `. tonic's transport errors hide the useful
/// part (the TLS alert, the refused connection) two or three `source()`s down.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}
