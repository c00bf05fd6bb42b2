//! The standard gRPC health checking protocol (`grpc.health.v1.Health`) on a plaintext port.
//!
//! Kubernetes' native `grpc:` probes speak plaintext only, while the coordinator's main port
//! may require mutual TLS; so health has a listener of its own (`--health-listen`), serving
//! nothing else. It reports the overall status (service `""`) and the process's named service
//! (`archetype.v1.Coordinator` or `archetype.v1.Worker`): SERVING once the process is ready,
//! NOT_SERVING from the moment a shutdown starts, so that no new work is routed to it.

use std::net::SocketAddr;
use std::time::Duration;

use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Failure to start the health server.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve gRPC health on {addr}: {source}")]
pub struct HealthError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// A running health server. Dropping it stops the server.
pub struct Health {
    reporter: HealthReporter,
    service: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Health {
    /// Binds `addr` (port 0 picks one) and serves health for `service` and the overall status,
    /// both NOT_SERVING until [`Health::serving`].
    pub async fn start(addr: &str, service: &str) -> Result<Health, HealthError> {
        let err = |source| HealthError {
            addr: addr.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
        let local = listener.local_addr().map_err(err)?;
        let (reporter, server) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %crate::error_chain(&e), "gRPC health server stopped");
            }
        });
        tracing::info!(addr = %local, service, "serving gRPC health");
        Ok(Health {
            reporter,
            service: service.to_string(),
            addr: local,
            stop: Some(tx),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ready for work.
    pub async fn serving(&self) {
        self.set(ServingStatus::Serving).await;
    }

    /// Shutting down, or unable to serve.
    pub async fn not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    async fn set(&self, s: ServingStatus) {
        self.reporter.set_service_status("", s).await;
        self.reporter
            .set_service_status(self.service.as_str(), s)
            .await;
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Asks a health server for `service`'s status, as a probe would; for tests and for
/// `archetype health`: `"SERVING"`, `"NOT_SERVING"`, ... Errors are returned as text naming
/// the address.
pub async fn check(addr: &str, service: &str) -> Result<String, String> {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| format!("{url}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{url}: {}", crate::error_chain(&e)))?;
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .map_err(|s| format!("{url}: {}", s.message()))?
        .into_inner();
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    Ok(Wire::try_from(reply.status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("status {}", reply.status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_not_serving_then_serving_then_not_serving() {
        let h = Health::start("127.0.0.1:0", "archetype.v1.Worker")
            .await
            .unwrap();
        let addr = h.local_addr().to_string();
        assert_eq!(check(&addr, "").await.unwrap(), "NOT_SERVING");
        h.serving().await;
        assert_eq!(check(&addr, "").await.unwrap(), "SERVING");
        assert_eq!(
            check(&addr, "archetype.v1.Worker").await.unwrap(),
            "SERVING"
        );
        let unknown = check(&addr, "nope").await.unwrap_err();
        assert!(unknown.contains(&addr), "{unknown}");
        h.not_serving().await;
        assert_eq!(check(&addr, "").await.unwrap(), "NOT_SERVING");
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_naming_it() {
        let h = Health::start("127.0.0.1:0", "x").await.unwrap();
        let addr = h.local_addr().to_string();
        let e = Health::start(&addr, "x").await.err().unwrap();
        assert!(e.to_string().contains(&addr), "{e}");
    }
}
