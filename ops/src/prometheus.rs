//! A Prometheus `/metrics` endpoint over the process-wide `metrics` registry.
//!
//! The `metrics` crate allows one global recorder per process, while a process may serve
//! several jobs (and tests start many listeners). So [`MetricsEndpoint::start`] installs the
//! Prometheus recorder once, keeps its [`PrometheusHandle`], and serves `/metrics` itself with
//! a minimal HTTP/1.1 responder on a tokio [`TcpListener`] rather than with the exporter's own
//! listener: that way port 0 works, the bound address can be returned, and any number of
//! listeners can serve the same registry. The coordinator and the workers each describe their
//! own metric names; recording before a recorder is installed is a no-op.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest request head we read before answering; a scrape's is a few hundred bytes.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A client that sends no complete request head within this time is dropped, so a stalled
/// connection cannot pin a task forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Failure to start serving metrics.
#[derive(thiserror::Error, Debug)]
pub enum MetricsError {
    /// The listen address could not be resolved or bound (bad syntax, port in use, ...).
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The Prometheus recorder could not be installed, typically because another global
    /// `metrics` recorder was installed first in this process.
    #[error("cannot install the Prometheus metrics recorder: {0}")]
    Install(String),
}

/// A running `/metrics` listener. Dropping it (or [`MetricsEndpoint::stop`]) stops the listener; the
/// recorded values stay in the process-wide registry and later listeners serve them.
#[derive(Debug)]
pub struct MetricsEndpoint {
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Installs the global recorder (the first time only) and starts serving `/metrics` on
    /// `addr`, e.g. `"127.0.0.1:9464"`; port 0 picks a free port, see [`MetricsEndpoint::local_addr`].
    ///
    /// May be called any number of times per process: every instance serves the same registry.
    /// `describe` registers the `# HELP` lines of the caller's metrics (idempotent).
    pub async fn start(addr: &str, describe: fn()) -> Result<MetricsEndpoint, MetricsError> {
        let handle = install()?;
        describe();
        let bind_error = |source| MetricsError::Bind {
            addr: addr.to_owned(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let accept_task = tokio::spawn(accept_loop(listener, handle));
        tracing::info!(%local_addr, "serving Prometheus metrics at /metrics");
        Ok(MetricsEndpoint {
            local_addr,
            accept_task,
        })
    }

    /// Where it listens: the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the listener (dropping the `MetricsEndpoint` does the same). Scrapes already being
    /// answered finish.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// The install outcome, kept for the life of the process: the global recorder can be set only
/// once, and a failure (another recorder got there first) is just as permanent.
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

fn install() -> Result<PrometheusHandle, MetricsError> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .clone()
        .map_err(MetricsError::Install)
}

async fn accept_loop(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let handle = handle.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, &handle).await {
                        tracing::debug!(%peer, error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "metrics listener cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers one request and closes the connection (`Connection: close`; scrapers reconnect).
async fn serve_connection(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_request_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();

    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            // Only histograms need upkeep and we export none, but it is cheap and keeps the
            // registry tidy should one be added.
            handle.run_upkeep();
            ("200 OK", "text/plain; version=0.0.4", handle.render())
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "not found; try /metrics\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET and HEAD\n".into(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads up to the blank line that ends the request head (or [`MAX_REQUEST_HEAD`] bytes, or
/// end of stream); the body of a GET is empty and ignored.
async fn read_request_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_REQUEST_HEAD && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
