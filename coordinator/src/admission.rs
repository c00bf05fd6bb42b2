//! Which connections the coordinator's gRPC port takes, and for how long.
//!
//! Left to itself the server accepted every connection and kept it: 20,000 half-open TLS
//! handshakes exhausted its file descriptors, so `/metrics` stopped answering and a valid
//! worker could not register while health still said SERVING. Here an accept loop admits a
//! connection only while the port holds fewer than `max_connections` (and its peer address
//! fewer than `max_per_peer`), closes a connection that sends nothing for `first_byte` after
//! it opens or for `idle` later on (the server pings live peers more often than that, so only
//! dead or silent ones reach it), and reports when it cannot admit, for health to say
//! NOT_SERVING.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::warn;

/// Bounds on what the port holds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_peer: usize,
    /// A new connection must send its first byte (a TLS ClientHello, an HTTP/2 preface)
    /// within this.
    pub first_byte: Duration,
    /// An open connection must send something within this of its last read.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            // A worker holds one or two connections, a client one; 64 leaves room for many
            // processes behind one NAT address.
            max_per_peer: 64,
            first_byte: Duration::from_secs(10),
            // Three times the server's HTTP/2 keepalive ping interval.
            idle: Duration::from_secs(60),
        }
    }
}

/// How often the server pings an HTTP/2 peer; a live peer's answer counts as a read.
pub const KEEPALIVE: Duration = Duration::from_secs(20);

struct Counts {
    limits: Limits,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
    saturated: watch::Sender<bool>,
}

impl Counts {
    fn take(self: &Arc<Counts>, ip: IpAddr) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let per_peer = held.1.get(&ip).copied().unwrap_or(0);
        if held.0 >= self.limits.max_connections || per_peer >= self.limits.max_per_peer {
            return None;
        }
        held.0 += 1;
        held.1.insert(ip, per_peer + 1);
        self.saturated.send_if_modified(|s| {
            std::mem::replace(s, held.0 >= self.limits.max_connections) != *s
        });
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }

    fn is_full(&self) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).0 >= self.limits.max_connections
    }
}

/// One admitted connection's place; given back when the connection is dropped.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let c = &self.counts;
        let mut held = c.held.lock().unwrap_or_else(|p| p.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.ip);
            }
        }
        let full = held.0 >= c.limits.max_connections;
        c.saturated
            .send_if_modified(|s| std::mem::replace(s, full) != *s);
    }
}

/// An admitted connection: the stream, its read deadline and its slot.
pub struct Admitted {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
    idle: Duration,
    _slot: Slot,
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let next = Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer sent nothing in time; closed",
                )))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

/// The admitted connections of `listener`, for `serve_with_incoming`, and a signal that is
/// `true` while the port cannot admit (full, or out of descriptors).
pub fn admit(
    listener: TcpListener,
    limits: Limits,
) -> (ReceiverStream<io::Result<Admitted>>, watch::Receiver<bool>) {
    let (saturated, signal) = watch::channel(false);
    let counts = Arc::new(Counts {
        limits,
        held: Mutex::new((0, HashMap::new())),
        saturated,
    });
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(listener, counts, tx));
    (ReceiverStream::new(rx), signal)
}

async fn accept_loop(
    listener: TcpListener,
    counts: Arc<Counts>,
    tx: mpsc::Sender<io::Result<Admitted>>,
) {
    let mut refused = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors, most likely: say so to health and let some close.
                counts.saturated.send_replace(true);
                warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                counts.saturated.send_replace(counts.is_full());
                continue;
            }
        };
        let Some(slot) = counts.take(peer.ip()) else {
            refused += 1;
            // Logged at powers of two: a flood must not flood the log too.
            if refused.is_power_of_two() {
                warn!(%peer, refused, limits = ?counts.limits, "connection refused: the port is at its limits");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let admitted = Admitted {
            inner: stream,
            deadline: Box::pin(tokio::time::sleep(counts.limits.first_byte)),
            idle: counts.limits.idle,
            _slot: slot,
        };
        if tx.send(Ok(admitted)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn port(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        ReceiverStream<io::Result<Admitted>>,
        watch::Receiver<bool>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (incoming, signal) = admit(l, limits);
        (addr, incoming, signal)
    }

    fn small() -> Limits {
        Limits {
            max_connections: 4,
            max_per_peer: 3,
            first_byte: Duration::from_millis(300),
            idle: Duration::from_millis(600),
        }
    }

    /// Whether the server closed `s` (a read returns EOF or an error) within `within`.
    async fn closed(s: &mut TcpStream, within: Duration) -> bool {
        let mut b = [0u8; 8];
        matches!(
            tokio::time::timeout(within, s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn a_peer_over_its_share_is_closed_and_others_still_get_in() {
        let (addr, mut incoming, signal) = port(small()).await;
        let mut held = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(
                TcpStream::connect(addr)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            held.push(incoming.next().await);
        }
        // The fourth from the same address is over max_per_peer.
        let mut extra = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(closed(&mut extra, Duration::from_secs(2)).await);
        assert!(!*signal.borrow(), "3 of 4 held is not full");
        // Another address (127.0.0.2 is loopback too) still gets the last place.
        let sock = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
        sock.bind("127.0.0.2:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let _other = sock.connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
        let last = tokio::time::timeout(Duration::from_secs(2), incoming.next()).await;
        assert!(matches!(last, Ok(Some(Ok(_)))));
        held.push(last.ok().flatten());
        // Four held: full, and health hears it.
        assert!(*signal.borrow());
        held.clear();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !*signal.borrow(),
            "places given back when the connections closed"
        );
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_and_a_talking_one_kept() {
        let (addr, mut incoming, _signal) = port(small()).await;
        let mut silent = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut talker = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let echo = |mut a: Admitted| {
            tokio::spawn(async move {
                let mut b = [0u8; 16];
                while let Ok(n) = a.read(&mut b).await {
                    if n == 0 || a.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                }
            })
        };
        for _ in 0..2 {
            match incoming.next().await {
                Some(Ok(a)) => {
                    echo(a);
                }
                other => panic!("{:?}", other.map(|r| r.err())),
            }
        }
        // The talker keeps writing inside the idle window for longer than first_byte + idle.
        for _ in 0..8 {
            talker
                .write_all(b"hi")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut b = [0u8; 2];
            talker
                .read_exact(&mut b)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert!(closed(&mut silent, Duration::from_millis(100)).await);
        // Then the talker goes quiet and is closed too.
        assert!(closed(&mut talker, Duration::from_secs(3)).await);
    }
}
