//! Forming the timely cluster between worker processes.
//!
//! Timely's own networking start polls its listener and retries its connects once a second, so
//! a member whose peer was a moment late waited a full second: that was most of the wall time
//! of a two-process aggregation of 20M events, and it came again at every phase. Here the
//! connections are made with the same handshake (each process dials every lower-indexed one
//! and sends its index as a big-endian u64) but with millisecond retries and a deadline that
//! ends in an error naming the peer, and timely is handed the connected sockets.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::communication::WorkerGuards;
use timely::execute::execute_from;
use timely::worker::Worker;
use timely::CommunicationConfig;

/// How long a member waits for its peers before the phase fails.
const PEER_DEADLINE: Duration = Duration::from_secs(120);
/// Pause between attempts to reach a peer not listening yet.
const RETRY: Duration = Duration::from_millis(2);

/// [`timely::execute`], with clusters formed by [`connect_peers`].
pub fn execute<T, F>(config: timely::Config, func: F) -> Result<WorkerGuards<T>, String>
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
            let sockets = connect_peers(&addresses, process, PEER_DEADLINE)?;
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

/// One connected stream per peer, in index order, `None` at `me`.
pub fn connect_peers(
    addresses: &[String],
    me: usize,
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
    let accepting = std::thread::Builder::new()
        .name("timely-accept".into())
        .spawn(move || accept_peers(listener, me, later, until))
        .map_err(|e| format!("cannot start the accepting thread: {e}"))?;
    let mut sockets: Vec<Option<TcpStream>> = Vec::with_capacity(n);
    let mut dial_error = None;
    for (index, address) in addresses.iter().enumerate().take(me) {
        match dial(address, me, until) {
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

fn dial(address: &str, me: usize, until: Instant) -> io::Result<TcpStream> {
    let targets: Vec<_> = address.to_socket_addrs()?.collect();
    loop {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
        for t in &targets {
            match TcpStream::connect_timeout(t, Duration::from_secs(5)) {
                Ok(mut s) => {
                    s.set_nodelay(true)?;
                    s.write_all(&(me as u64).to_be_bytes())?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        if Instant::now() >= until {
            return Err(last);
        }
        std::thread::sleep(RETRY);
    }
}

/// The `count` members after `me`, each placed by the index it sends.
fn accept_peers(
    listener: TcpListener,
    me: usize,
    count: usize,
    until: Instant,
) -> Result<Vec<TcpStream>, String> {
    let mut got: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    let mut missing = count;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    while missing > 0 {
        match listener.accept() {
            Ok((mut s, from)) => {
                let handshake = (|| {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b)?;
                    s.set_read_timeout(None)?;
                    s.set_nodelay(true)?;
                    Ok::<_, io::Error>(u64::from_be_bytes(b))
                })();
                let index = handshake.map_err(|e| format!("handshake from {from}: {e}"))?;
                let slot = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(me + 1))
                    .filter(|&k| k < count)
                    .ok_or_else(|| {
                        format!("a peer at {from} says it is member {index}, not one after {me}")
                    })?;
                if got[slot].replace(s).is_some() {
                    return Err(format!("member {index} connected twice (last from {from})"));
                }
                missing -= 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= until {
                    let absent: Vec<String> = got
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.is_none())
                        .map(|(k, _)| (me + 1 + k).to_string())
                        .collect();
                    return Err(format!(
                        "members {} did not connect in time",
                        absent.join(", ")
                    ));
                }
                std::thread::sleep(RETRY);
            }
            Err(e) => return Err(format!("accepting peers: {e}")),
        }
    }
    Ok(got.into_iter().flatten().collect())
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
                    let guards = execute(config, move |worker| {
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
        let err = connect_peers(&addresses, 1, Duration::from_millis(200))
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("member 0") && err.contains(&addresses[0]),
            "{err}"
        );
        let err = connect_peers(&addresses, 0, Duration::from_millis(200))
            .err()
            .unwrap_or_default();
        assert!(err.contains("members 1 did not connect"), "{err}");
    }
}
