//! The rendezvous through which the members of a GPU phase share rank 0's NCCL id: one member
//! publishes, the others (some asking before it is there) all get the same bytes; another
//! attempt of the phase is another group; conflicting bytes, oversized values and unknown
//! workers are refused; a wait with nothing published ends empty after its time.

use std::time::{Duration, Instant};

use archetype_coordinator::server::{self, CoordinatorState};
use archetype_ops::security::ClientSecurity;
use archetype_proto::{v1, CoordinatorClient};
use archetype_worker::rendezvous::Rendezvous;

#[test]
fn members_get_the_id_rank_zero_publishes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (srv, state) = rt.block_on(async {
        let state = CoordinatorState::new(200, 60_000);
        (
            server::start(state.clone(), "127.0.0.1:0").await.unwrap(),
            state,
        )
    });
    let url = srv.endpoint();
    let clients: Vec<(String, CoordinatorClient<_>)> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..4 {
            let ch = ClientSecurity::none().connect(&url).await.unwrap();
            let mut c = CoordinatorClient::new(ch);
            let id = c
                .register(v1::RegisterRequest {
                    hostname: format!("gpu-{i}"),
                    threads: 1,
                    timely_address: format!("127.0.0.1:{}", 7000 + i),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .worker_id;
            out.push((id, c));
        }
        out
    });
    let members: Vec<Rendezvous> = clients
        .iter()
        .enumerate()
        .map(|(i, (id, c))| {
            Rendezvous::new(c.clone(), id, &format!("j/vae/{i}"), rt.handle().clone())
        })
        .collect();
    assert!(members.iter().all(|m| m.group() == "j/vae"));
    let id: Vec<u8> = (0..128u8).map(|b| b.wrapping_mul(37)).collect();

    // Three members wait before rank 0 publishes; each gets the same bytes.
    let got: Vec<Vec<u8>> = std::thread::scope(|s| {
        let waiters: Vec<_> = members[1..]
            .iter()
            .map(|m| s.spawn(move || m.wait("nccl-id", Duration::from_secs(20))))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        members[0].publish("nccl-id", &id).unwrap();
        waiters
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(got, vec![id.clone(); 3]);
    // Republishing the same bytes is fine; other bytes are refused, naming the group.
    members[0].publish("nccl-id", &id).unwrap();
    let e = members[1].publish("nccl-id", &[1, 2, 3]).unwrap_err();
    assert!(
        e.contains("j/vae") && e.contains("already published"),
        "{e}"
    );
    let e = members[1].publish("big", &vec![0u8; 5000]).unwrap_err();
    assert!(e.contains("5000 bytes"), "{e}");

    // A retried attempt is another group: it does not see the first attempt's id.
    let retry = Rendezvous::new(
        clients[2].1.clone(),
        &clients[2].0,
        "j/vae/retry-1/2",
        rt.handle().clone(),
    );
    let t = Instant::now();
    let e = retry
        .wait("nccl-id", Duration::from_millis(600))
        .unwrap_err();
    assert!(e.contains("not published within"), "{e}");
    assert!(
        t.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t.elapsed()
    );

    // An unknown worker is told at once rather than left waiting.
    let stranger = Rendezvous::new(
        clients[3].1.clone(),
        "w-unknown",
        "j/vae/3",
        rt.handle().clone(),
    );
    let t = Instant::now();
    let e = stranger
        .wait("nccl-id", Duration::from_secs(20))
        .unwrap_err();
    assert!(e.contains("not registered"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // Resubmitting the job forgets its rendezvous values.
    state.forget_job("j");
    assert!(state.lock().rendezvous.is_empty());
    rt.block_on(srv.stop());
}
