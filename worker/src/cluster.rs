//! Forming the timely cluster between worker processes.
//!
//! Timely's own networking start polls its listener and retries its connects once a second, so
//! a member whose peer was a moment late waited a full second: that was most of the wall time
//! of a two-process aggregation of 20M events, and it came again at every phase. Here each
//! process dials every lower-indexed one with millisecond retries and a deadline that ends in
//! an error naming the peer, and timely is handed the connected sockets. Every link is proven
//! first ([`crate::handshake`]): a connection that cannot prove it holds this formation's
//! secret is logged and dropped while the formation goes on, so a stranger on the network can
//! neither take a member's place nor fail the job by connecting.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::communication::WorkerGuards;
use timely::execute::execute_from;
use timely::worker::Worker;
use timely::CommunicationConfig;
use tracing::{debug, warn};

use crate::handshake::{self, FormationKey, HandshakeError};

/// How long a member waits for its peers before the phase fails.
const PEER_DEADLINE: Duration = Duration::from_secs(120);
/// Pause between attempts to reach a peer not listening yet.
const RETRY: Duration = Duration::from_millis(2);
/// Handshakes in progress at once; connections beyond it are dropped unread, so a flood of
/// silent connections costs threads and descriptors only up to here.
const MAX_PENDING_HANDSHAKES: usize = 32;

/// [`timely::execute`], with clusters formed by [`connect_peers`] under `secret`.
pub fn execute<T, F>(
    config: timely::Config,
    secret: &[u8],
    func: F,
) -> Result<WorkerGuards<T>, String>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    match config.communication {
        CommunicationConfig::Cluster {
            threads,
            process,
            addresses,
            zerocopy: false,
            ..
        } => {
            let key = FormationKey::new(secret).map_err(|e| e.to_string())?;
            let sockets = connect_peers(&addresses, process, &key, PEER_DEADLINE)?;
            let hooks = Hooks::default();
            let local = ProcessBuilder::new_typed_vector(
                threads,
                hooks.refill.clone(),
                hooks.spill.clone(),
            );
            let (builders, guard) =
                initialize_networking_from_sockets(local, sockets, process, threads, hooks)
                    .map_err(|e| format!("starting the cluster's network threads: {e}"))?;
            let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
            execute_from(builders, Box::new(guard), config.worker, func)
        }
        _ => timely::execute(config, func),
    }
}

/// One proven stream per peer, in index order, `None` at `me`.
pub fn connect_peers(
    addresses: &[String],
    me: usize,
    key: &FormationKey,
    deadline: Duration,
) -> Result<Vec<Option<TcpStream>>, String> {
    let n = addresses.len();
    if me >= n {
        return Err(format!("process index {me} outside a cluster of {n}"));
    }
    let until = Instant::now() + deadline;
    let listener = TcpListener::bind(&addresses[me])
        .map_err(|e| format!("cannot listen on {} (this member): {e}", addresses[me]))?;
    let later = n - me - 1;
    let k2 = key.clone();
    let accepting = std::thread::Builder::new()
        .name("timely-accept".into())
        .spawn(move || accept_peers(listener, me, later, &k2, until))
        .map_err(|e| format!("cannot start the accepting thread: {e}"))?;
    let mut sockets: Vec<Option<TcpStream>> = Vec::with_capacity(n);
    if me > 0 {
        crate::faults::pause("dial");
    }
    let mut dial_error = None;
    for (index, address) in addresses.iter().enumerate().take(me) {
        match dial(address, me, index, key, until) {
            Ok(s) => sockets.push(Some(s)),
            Err(e) => {
                dial_error = Some(format!("cannot reach member {index} at {address}: {e}"));
                break;
            }
        }
    }
    let accepted = accepting
        .join()
        .map_err(|_| "the accepting thread panicked".to_string())?;
    if let Some(e) = dial_error {
        return Err(e);
    }
    sockets.push(None);
    sockets.extend(accepted?.into_iter().map(Some));
    Ok(sockets)
}

/// Connects to member `peer` and proves both ends, retrying until `until`: the peer may not
/// listen yet, and a refused proof may come from something else that held the port.
fn dial(
    address: &str,
    me: usize,
    peer: usize,
    key: &FormationKey,
    until: Instant,
) -> Result<TcpStream, String> {
    let targets: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    loop {
        let mut last = "no address resolved".to_string();
        for t in &targets {
            match try_dial(t, me, peer, key) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() >= until {
            return Err(last);
        }
        std::thread::sleep(RETRY);
    }
}

fn try_dial(
    target: &SocketAddr,
    me: usize,
    peer: usize,
    key: &FormationKey,
) -> Result<TcpStream, HandshakeError> {
    let mut s = TcpStream::connect_timeout(target, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    handshake::dial(&mut s, key, me, peer).inspect_err(|e| {
        if !matches!(e, HandshakeError::Io(_)) {
            warn!(%target, peer, "member link refused: {e}");
        }
    })?;
    Ok(s)
}

/// What a handshake thread hands back: who connected, and the proven stream and index.
type Proven = (SocketAddr, Result<(u64, TcpStream), HandshakeError>);

/// The `count` members after `me`, each placed by the index it proves. Connections that fail
/// the proof are logged and dropped; only the deadline ends the wait.
fn accept_peers(
    listener: TcpListener,
    me: usize,
    count: usize,
    key: &FormationKey,
    until: Instant,
) -> Result<Vec<TcpStream>, String> {
    let mut got: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<Proven>();
    let pending = Arc::new(AtomicUsize::new(0));
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    while got.iter().any(Option::is_none) {
        match listener.accept() {
            Ok((s, from)) => start_handshake(s, from, me, count, key, &pending, &tx),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                for (from, r) in rx.try_iter() {
                    place(&mut got, me, from, r);
                }
                if Instant::now() >= until {
                    return Err(absent(&got, me));
                }
                std::thread::sleep(RETRY);
            }
            // Out of descriptors under a flood, say: wait for handshakes to end, not fail.
            Err(e) => {
                warn!("accepting peers: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(got.into_iter().flatten().collect())
}

fn start_handshake(
    mut s: TcpStream,
    from: SocketAddr,
    me: usize,
    count: usize,
    key: &FormationKey,
    pending: &Arc<AtomicUsize>,
    tx: &mpsc::Sender<Proven>,
) {
    if pending.load(Ordering::Acquire) >= MAX_PENDING_HANDSHAKES {
        warn!(%from, "dropped a connection to the timely port: too many handshakes in progress");
        return;
    }
    pending.fetch_add(1, Ordering::AcqRel);
    let (key, in_flight, tx) = (key.clone(), pending.clone(), tx.clone());
    let accepts = move |i: u64| i > me as u64 && i <= (me + count) as u64;
    let spawned = std::thread::Builder::new()
        .name("timely-handshake".into())
        .spawn(move || {
            let r = (|| {
                s.set_nonblocking(false)?;
                let index = handshake::accept(&mut s, &key, me, accepts)?;
                s.set_nodelay(true)?;
                Ok((index, s))
            })();
            in_flight.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send((from, r));
        });
    if let Err(e) = spawned {
        pending.fetch_sub(1, Ordering::AcqRel);
        warn!(%from, "dropped a connection to the timely port: no thread for its handshake: {e}");
    }
}

/// Files a finished handshake: a proven member in its slot (a later proven connection from
/// the same member replaces the earlier, since the dialer keeps only its last), anything else
/// logged and dropped.
fn place(
    got: &mut [Option<TcpStream>],
    me: usize,
    from: SocketAddr,
    r: Result<(u64, TcpStream), HandshakeError>,
) {
    match r {
        Ok((index, s)) => {
            let slot = index as usize - me - 1;
            if got[slot].replace(s).is_some() {
                debug!(%from, index, "member connected again; keeping the newer link");
            }
        }
        Err(e) => warn!(%from, "refused a connection to the timely port: {e}"),
    }
}

fn absent(got: &[Option<TcpStream>], me: usize) -> String {
    let absent: Vec<String> = got
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| (me + 1 + k).to_string())
        .collect();
    format!("members {} did not connect in time", absent.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::{Exchange, Inspect, ToStream};

    fn free_addresses(n: usize) -> Vec<String> {
        // Bound then released: the members bind them again at once.
        (0..n)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
                l.local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    /// Three processes (threads here), started late and out of order, form a cluster whose
    /// exchange delivers every record to its owner.
    #[test]
    fn staggered_members_form_a_cluster() {
        let addresses = free_addresses(3);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = [2usize, 0, 1]
            .into_iter()
            .enumerate()
            .map(|(k, me)| {
                let addresses = addresses.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30 * k as u64));
                    let config = timely::Config {
                        communication: CommunicationConfig::Cluster {
                            threads: 2,
                            process: me,
                            addresses,
                            report: false,
                            zerocopy: false,
                        },
                        worker: timely::WorkerConfig::default(),
                    };
                    let guards = execute(config, &SECRET, move |worker| {
                        let index = worker.index();
                        let seen = seen.clone();
                        worker.dataflow::<u64, _, _>(move |scope| {
                            (0..60u64)
                                .filter(move |x| x % 6 == index as u64)
                                .to_stream(scope)
                                .container::<Vec<u64>>()
                                .exchange(|x| *x)
                                .inspect(move |x: &u64| {
                                    if let Ok(mut s) = seen.lock() {
                                        s.push((*x, index));
                                    }
                                });
                        });
                    })
                    .unwrap_or_else(|e| panic!("member {me}: {e}"));
                    drop(guards);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap_or_else(|_| panic!("a member panicked"));
        }
        let mut seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        seen.sort_unstable();
        let want: Vec<(u64, usize)> = (0..60u64).map(|x| (x, (x % 6) as usize)).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn absent_peer_fails_with_its_address() {
        let addresses = free_addresses(2);
        let err = connect_peers(&addresses, 1, &key(), Duration::from_millis(200))
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("member 0") && err.contains(&addresses[0]),
            "{err}"
        );
        let err = connect_peers(&addresses, 0, &key(), Duration::from_millis(200))
            .err()
            .unwrap_or_default();
        assert!(err.contains("members 1 did not connect"), "{err}");
    }

    const SECRET: [u8; 32] = [9; 32];

    fn key() -> FormationKey {
        FormationKey::new(&SECRET).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Connects to `address` until it answers, then runs `then` on the stream.
    fn stranger(address: String, then: impl FnOnce(TcpStream) + Send + 'static) {
        std::thread::spawn(move || loop {
            if let Ok(s) = TcpStream::connect(&address) {
                then(s);
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        });
    }

    /// Garbage, a silent connection, and a client claiming member 1 under another secret all
    /// reach member 0's port before member 1 does; the formation still completes with the
    /// real member 1 (before the handshake, each of them failed the formation).
    #[test]
    fn strangers_on_the_port_neither_fail_nor_join_a_formation() {
        use std::io::Write;
        let addresses = free_addresses(2);
        let a0 = addresses.clone();
        let member0 =
            std::thread::spawn(move || connect_peers(&a0, 0, &key(), Duration::from_secs(30)));
        stranger(addresses[0].clone(), |mut s| {
            let _ = s.write_all(&[0u8, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xEE]);
        });
        stranger(addresses[0].clone(), |s| {
            std::thread::sleep(Duration::from_secs(8));
            drop(s);
        });
        stranger(addresses[0].clone(), |mut s| {
            let other = FormationKey::new(&[3u8; 32]).unwrap_or_else(|e| panic!("{e}"));
            let _ = handshake::dial(&mut s, &other, 1, 0);
        });
        std::thread::sleep(Duration::from_millis(300));
        let member1 = connect_peers(&addresses, 1, &key(), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("member 1: {e}"));
        let member0 = member0
            .join()
            .unwrap_or_else(|_| panic!("member 0 panicked"))
            .unwrap_or_else(|e| panic!("member 0: {e}"));
        assert!(member0[0].is_none() && member0[1].is_some());
        assert!(member1[0].is_some() && member1[1].is_none());
        // The two proven ends are one link: bytes written at one arrive at the other.
        let (mut a, mut b) = (
            member0[1].as_ref().unwrap_or_else(|| panic!("no link")),
            member1[0].as_ref().unwrap_or_else(|| panic!("no link")),
        );
        a.write_all(b"ping").unwrap_or_else(|e| panic!("{e}"));
        let mut got = [0u8; 4];
        std::io::Read::read_exact(&mut b, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got, b"ping");
    }

    /// A member whose coordinator sent another secret never joins: its peer times out naming
    /// the member that did not connect.
    #[test]
    fn a_member_with_another_secret_is_kept_out() {
        let addresses = free_addresses(2);
        let a0 = addresses.clone();
        let member0 =
            std::thread::spawn(move || connect_peers(&a0, 0, &key(), Duration::from_millis(800)));
        let other = FormationKey::new(&[4u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        let r1 = connect_peers(&addresses, 1, &other, Duration::from_millis(800));
        let r0 = member0
            .join()
            .unwrap_or_else(|_| panic!("member 0 panicked"));
        assert!(r1.is_err());
        let e0 = r0.err().unwrap_or_default();
        assert!(e0.contains("members 1 did not connect"), "{e0}");
    }
}
