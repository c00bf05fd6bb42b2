//! An unauthenticated flood of the coordinator's gRPC port. Before connections were admitted
//! within limits, 20,000 half-open TLS handshakes were never timed out: the coordinator ran out
//! of descriptors, `/metrics` stopped answering, a valid worker could not register, and health
//! still said SERVING. Now the port holds at most `--max-connections`, closes stalled
//! handshakes, says NOT_SERVING while full, and takes a valid worker once the flood is shed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use archetype_tests::{bin, free_port, Proc};

fn health(addr: &str) -> String {
    let o = Command::new(bin("archetype"))
        .args(["health", "--addr", addr])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the server has closed `s` (EOF or an error on read).
fn closed(s: &mut TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn metrics_answer(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut b = [0u8; 32];
    s.read(&mut b)
        .is_ok_and(|n| b[..n].starts_with(b"HTTP/1.1 200"))
}

#[test]
fn a_flood_of_half_open_tls_handshakes_is_shed_and_a_valid_worker_still_registers() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = archetype_ops::certs::write_dev_pki(
        &tmp.path().join("pki"),
        &["localhost".to_string(), "127.0.0.1".to_string()],
        "worker",
    )
    .unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "flood-test-token\n").unwrap();
    let (port, health_port, metrics_port) = (free_port(), free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let health_addr = format!("127.0.0.1:{health_port}");
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let coord = Proc::spawn(
        Command::new(bin("archetype"))
            .args(["serve", "--listen", &listen])
            .args(["--health-listen", &health_addr])
            .args(["--metrics-listen", &metrics_addr])
            .args([
                "--max-connections",
                "50",
                "--max-connections-per-peer",
                "1000",
            ])
            .args(["--idle-timeout-s", "30"])
            .arg("--tls-cert")
            .arg(&pki.server_cert)
            .arg("--tls-key")
            .arg(&pki.server_key)
            .arg("--tls-ca")
            .arg(&pki.ca)
            .arg("--token-file")
            .arg(&token)
            .env_remove("ARCHETYPE_TOKEN"),
        tmp.path().join("coordinator.log"),
    );
    wait_for("SERVING", Duration::from_secs(30), || {
        health(&health_addr) == "SERVING"
    });

    // 300 handshakes that start (a TLS record header promising a ClientHello) and stall.
    let mut flood: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&listen).ok())
        .collect();
    for s in &mut flood {
        let _ = s.write_all(&[0x16, 0x03, 0x01, 0x00, 0xff, 0x01]);
    }
    assert!(
        flood.len() >= 250,
        "only {} connections opened",
        flood.len()
    );
    // Full: health says so; metrics, on their own port, still answer.
    wait_for("NOT_SERVING while full", Duration::from_secs(10), || {
        health(&health_addr) == "NOT_SERVING"
    });
    assert!(metrics_answer(&metrics_addr), "/metrics stopped answering");
    // Those over the limit are closed at once; the stalled handshakes within the TLS
    // handshake timeout (10 s); then health recovers.
    wait_for(
        "every flood connection closed",
        Duration::from_secs(25),
        || flood.iter_mut().all(closed),
    );
    wait_for("SERVING after the flood", Duration::from_secs(10), || {
        health(&health_addr) == "SERVING"
    });

    let worker = Proc::spawn(
        Command::new(bin("archetype-worker"))
            .args(["--coordinator", &format!("https://localhost:{port}")])
            .arg("--tls-ca")
            .arg(&pki.ca)
            .arg("--tls-cert")
            .arg(&pki.client_cert)
            .arg("--tls-key")
            .arg(&pki.client_key)
            .arg("--token-file")
            .arg(&token)
            .env_remove("ARCHETYPE_TOKEN"),
        tmp.path().join("worker.log"),
    );
    wait_for("the worker's registration", Duration::from_secs(30), || {
        coord.log().contains("worker registered")
    });
    assert!(
        coord
            .log()
            .contains("connection refused: the port is at its limits"),
        "{}",
        coord.log()
    );
    drop(worker);
}
