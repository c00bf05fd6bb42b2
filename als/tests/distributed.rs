//! Distributed ALS against one process and against the plain kernels.

use std::sync::{Arc, Mutex};

use archetype_als::train::init_row;
use archetype_als::{
    train, train_with, Checkpoints, Confidence, Factors, IterationReport, LocalInput,
    NoCheckpoints, Params, Resume, Shape, Trained,
};
use archetype_eval::metrics::{user_metrics, Metric};
use archetype_kernels::cpu::als::{gram, loss, solve, transpose, CsrRef, Solver};
use archetype_kernels::cpu::topk::top_k;
use archetype_kernels::cuda::device::CudaDevice;
use rand::{Rng, SeedableRng};

const K: usize = 6;
const USERS: usize = 70; // 0..60 train, 60..70 validation
const ITEMS: usize = 90;

fn data(seed: u64) -> LocalInput {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut input = LocalInput::default();
    for u in 0..USERS as u32 {
        for i in 0..ITEMS as u32 {
            // Popular low ids, so item rows differ in length.
            if rng.random::<f32>() < 0.25 / (1.0 + i as f32 / 30.0) {
                let plays = rng.random_range(1..20) as f32;
                if u < 60 {
                    input.train.push((u, i, plays));
                } else if rng.random::<f32>() < 0.7 {
                    input.validation_input.push((u, i, plays));
                } else {
                    input.validation_target.push((u, i));
                }
            }
        }
    }
    input
}

fn params(iterations: usize, solver: Solver) -> Params {
    Params {
        factors: K,
        lambda: 0.1,
        iterations,
        solver,
        confidence: Confidence::Log {
            alpha: 2.0,
            eps: 1.0,
        },
        seed: 7,
        validate_every: 1,
        top_k: 10,
    }
}

/// The share of worker `w` of `peers`: every `peers`-th cell, so each reads a mix.
fn share(input: &LocalInput, w: usize, peers: usize) -> LocalInput {
    let pick = |i: usize| i % peers == w;
    LocalInput {
        train: input
            .train
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, c)| *c)
            .collect(),
        validation_input: input
            .validation_input
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, c)| *c)
            .collect(),
        validation_target: input
            .validation_target
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, c)| *c)
            .collect(),
    }
}

/// Global matrices from every worker's rows.
fn assemble(parts: &[Factors], n: usize) -> Vec<f32> {
    let mut m = vec![f32::NAN; n * K];
    for p in parts {
        for (&r, v) in p.rows.iter().zip(p.values.chunks(K)) {
            m[r as usize * K..(r as usize + 1) * K].copy_from_slice(v);
        }
    }
    assert!(m.iter().all(|v| v.is_finite()), "a row is missing");
    m
}

struct Run {
    x: Vec<f32>,
    y: Vec<f32>,
    reports: Vec<IterationReport>,
}

type Saved = Arc<Mutex<Vec<(usize, Factors, Factors)>>>;

struct Capture {
    at: usize,
    saved: Saved,
}

impl Checkpoints for Capture {
    fn save(&mut self, r: &IterationReport, u: &Factors, i: &Factors) -> Result<(), String> {
        if r.iteration == self.at {
            self.saved
                .lock()
                .map_err(|e| e.to_string())?
                .push((r.iteration, u.clone(), i.clone()));
        }
        Ok(())
    }
    fn commit(&mut self, _: &IterationReport) -> Result<(), String> {
        Ok(())
    }
}

fn run(
    peers: usize,
    p: &Params,
    resume: Option<(usize, Vec<Factors>, Vec<Factors>)>,
    capture: Option<(usize, Saved)>,
) -> Run {
    run_on(peers, p, resume, capture, None, None)
}

fn run_on(
    peers: usize,
    p: &Params,
    resume: Option<(usize, Vec<Factors>, Vec<Factors>)>,
    capture: Option<(usize, Saved)>,
    device: Option<Arc<CudaDevice>>,
    nccl_id: Option<Vec<u8>>,
) -> Run {
    let input = Arc::new(data(3));
    let p = p.clone();
    let resume = Arc::new(resume);
    let guards = timely::execute(timely::Config::process(peers), move |worker| {
        let w = worker.index();
        let mine = share(&input, w, worker.peers());
        let r = resume.as_ref().as_ref().map(|(completed, u, i)| Resume {
            completed: *completed,
            users: merge(u),
            items: merge(i),
        });
        let mut none = NoCheckpoints;
        let mut cap = capture.clone().map(|(at, saved)| Capture { at, saved });
        let cp: &mut dyn Checkpoints = match cap.as_mut() {
            Some(c) => c,
            None => &mut none,
        };
        let nccl = match (&nccl_id, device.as_deref()) {
            (Some(id), Some(d)) => Some(
                archetype_kernels::cuda::nccl::Nccl::open(d, id, w, worker.peers())
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        train_with(
            worker,
            Shape {
                users: USERS,
                items: ITEMS,
            },
            mine,
            &p,
            r.as_ref(),
            cp,
            device.as_deref(),
            nccl.as_ref(),
        )
        .map_err(|e| e.to_string())
    })
    .expect("timely starts");
    let results: Vec<Trained> = guards
        .join()
        .into_iter()
        .map(|r| r.expect("no panic").expect("training succeeds"))
        .collect();
    for r in &results[1..] {
        let key = |r: &Trained| {
            r.reports
                .iter()
                .map(|x| (x.iteration, x.loss, x.ndcg, x.validation_users))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            key(r),
            key(&results[0]),
            "every worker reports the same figures"
        );
    }
    Run {
        x: assemble(
            &results.iter().map(|r| r.users.clone()).collect::<Vec<_>>(),
            USERS,
        ),
        y: assemble(
            &results.iter().map(|r| r.items.clone()).collect::<Vec<_>>(),
            ITEMS,
        ),
        reports: results[0].reports.clone(),
    }
}

fn merge(parts: &[Factors]) -> Factors {
    let mut f = Factors::default();
    for p in parts {
        f.rows.extend(&p.rows);
        f.values.extend(&p.values);
    }
    f
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
    }
}

/// The training matrix as the plain kernels see it (users x items, confidences).
fn matrix() -> (Vec<u64>, Vec<u32>, Vec<f32>) {
    let input = data(3);
    let c = Confidence::Log {
        alpha: 2.0,
        eps: 1.0,
    };
    let mut cells = input.train.clone();
    cells.sort_by_key(|c| (c.0, c.1));
    let mut offsets = vec![0u64; USERS + 1];
    let (mut idx, mut conf) = (Vec::new(), Vec::new());
    for &(u, i, p) in &cells {
        offsets[u as usize + 1] += 1;
        idx.push(i);
        conf.push(c.of(p));
    }
    for u in 0..USERS {
        offsets[u + 1] += offsets[u];
    }
    (offsets, idx, conf)
}

#[test]
fn one_worker_equals_the_plain_kernel_loop() {
    for solver in [Solver::Cg { steps: 3 }, Solver::Cholesky] {
        let p = params(4, solver);
        let got = run(1, &p, None, None);
        let (o, i, c) = matrix();
        let m = CsrRef::new(&o, &i, &c).unwrap();
        let (to, ti, tc) = transpose(&m, ITEMS).unwrap();
        let mt = CsrRef::new(&to, &ti, &tc).unwrap();
        let mut x = vec![0f32; USERS * K];
        let mut y = vec![0f32; ITEMS * K];
        // Rows without cells start at zero, as the trainer starts them.
        for (r, row) in x.chunks_mut(K).enumerate() {
            if o[r + 1] > o[r] {
                init_row(7, 0, r as u32, row);
            }
        }
        for (r, row) in y.chunks_mut(K).enumerate() {
            if to[r + 1] > to[r] {
                init_row(7, 1, r as u32, row);
            }
        }
        let mut losses = Vec::new();
        for _ in 0..4 {
            solve(&mut x, &y, &gram(&y, K), K, &m, 0.1, solver).unwrap();
            solve(&mut y, &x, &gram(&x, K), K, &mt, 0.1, solver).unwrap();
            losses.push(loss(&x, &y, K, &m, 0.1).unwrap());
        }
        close(&got.x, &x, 1e-5, "users");
        close(&got.y, &y, 1e-5, "items");
        assert_eq!(got.reports.len(), 4);
        for (r, l) in got.reports.iter().zip(&losses) {
            assert!(
                (r.loss - l).abs() <= 1e-6 * l.abs(),
                "loss {} vs {l}",
                r.loss
            );
        }
        assert!(got
            .reports
            .windows(2)
            .all(|w| w[1].loss <= w[0].loss * (1.0 + 1e-6)));
    }
}

#[test]
fn two_and_three_workers_give_the_factors_of_one() {
    let p = params(5, Solver::Cg { steps: 3 });
    let one = run(1, &p, None, None);
    for peers in [2, 3] {
        let many = run(peers, &p, None, None);
        close(&many.x, &one.x, 1e-4, &format!("users, {peers} workers"));
        close(&many.y, &one.y, 1e-4, &format!("items, {peers} workers"));
        for (a, b) in many.reports.iter().zip(&one.reports) {
            assert!((a.loss - b.loss).abs() <= 1e-5 * b.loss);
            assert_eq!(a.validation_users, b.validation_users);
            let (na, nb) = (a.ndcg.unwrap(), b.ndcg.unwrap());
            assert!((na - nb).abs() < 1e-3, "NDCG {na} vs {nb}");
        }
    }
}

#[test]
fn validation_ndcg_equals_a_direct_fold_in() {
    let p = params(3, Solver::Cg { steps: 3 });
    let got = run(2, &p, None, None);
    let input = data(3);
    let yty = gram(&got.y, K);
    let mut sum = 0.0;
    let mut users = 0;
    for u in 60..USERS as u32 {
        let mut cells: Vec<(u32, f32)> = input
            .validation_input
            .iter()
            .filter(|c| c.0 == u)
            .map(|c| {
                (
                    c.1,
                    Confidence::Log {
                        alpha: 2.0,
                        eps: 1.0,
                    }
                    .of(c.2),
                )
            })
            .collect();
        let mut targets: Vec<u32> = input
            .validation_target
            .iter()
            .filter(|c| c.0 == u)
            .map(|c| c.1)
            .collect();
        if cells.is_empty() || targets.is_empty() {
            continue;
        }
        cells.sort_by_key(|c| c.0);
        targets.sort_unstable();
        let o = vec![0u64, cells.len() as u64];
        let idx: Vec<u32> = cells.iter().map(|c| c.0).collect();
        let conf: Vec<f32> = cells.iter().map(|c| c.1).collect();
        let mut xu = vec![0f32; K];
        solve(
            &mut xu,
            &got.y,
            &yty,
            K,
            &CsrRef::new(&o, &idx, &conf).unwrap(),
            0.1,
            Solver::Cholesky,
        )
        .unwrap();
        let scores: Vec<f32> = got
            .y
            .chunks(K)
            .map(|yi| yi.iter().zip(&xu).map(|(a, b)| a * b).sum())
            .collect();
        let ranking = top_k(&scores, 10, &idx);
        let m = user_metrics(&ranking, &targets, &[10]).unwrap();
        sum += m.get(&[10], Metric::Ndcg, 10).unwrap();
        users += 1;
    }
    let last = got.reports.last().unwrap();
    assert_eq!(last.validation_users, users);
    assert!(users >= 5, "the fixture has validation users with targets");
    let want = sum / users as f64;
    assert!(
        (last.ndcg.unwrap() - want).abs() < 1e-4,
        "{:?} vs {want}",
        last.ndcg
    );
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let p = params(5, Solver::Cg { steps: 3 });
    for peers in [1, 2] {
        let saved: Saved = Arc::default();
        let whole = run(peers, &p, None, Some((2, saved.clone())));
        let parts = saved.lock().unwrap().clone();
        assert_eq!(parts.len(), peers, "every worker saved iteration 2");
        let u: Vec<Factors> = parts.iter().map(|p| p.1.clone()).collect();
        let i: Vec<Factors> = parts.iter().map(|p| p.2.clone()).collect();
        let resumed = run(peers, &p, Some((2, u.clone(), i.clone())), None);
        assert_eq!(resumed.x, whole.x, "{peers} workers: users bit for bit");
        assert_eq!(resumed.y, whole.y, "{peers} workers: items bit for bit");
        assert_eq!(
            resumed
                .reports
                .iter()
                .map(|r| r.iteration)
                .collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        for (a, b) in resumed.reports.iter().zip(&whole.reports[2..]) {
            assert_eq!((a.loss, a.ndcg), (b.loss, b.ndcg));
        }
        // A checkpoint of one worker count resumes under another.
        let other = run(3, &p, Some((2, u, i)), None);
        close(&other.x, &whole.x, 1e-4, "users resumed on 3 workers");
    }
}

/// Stops on one worker only, after iteration 2: the request travels with the commit, so
/// every worker stops there, after the checkpoint of iteration 2 is whole.
struct StopAfter {
    at: usize,
    worker: usize,
    me: usize,
    committed: usize,
}

impl Checkpoints for StopAfter {
    fn save(&mut self, _: &IterationReport, _: &Factors, _: &Factors) -> Result<(), String> {
        Ok(())
    }
    fn commit(&mut self, r: &IterationReport) -> Result<(), String> {
        self.committed = r.iteration;
        Ok(())
    }
    fn stop_requested(&self) -> bool {
        self.me == self.worker && self.committed >= self.at
    }
}

#[test]
fn a_shutdown_request_on_one_worker_stops_all_after_a_committed_iteration() {
    let p = params(5, Solver::Cg { steps: 3 });
    let input = Arc::new(data(3));
    let guards = timely::execute(timely::Config::process(3), move |worker| {
        let w = worker.index();
        let mine = share(&input, w, worker.peers());
        let mut cp = StopAfter {
            at: 2,
            worker: 1,
            me: w,
            committed: 0,
        };
        let r = train(
            worker,
            Shape {
                users: USERS,
                items: ITEMS,
            },
            mine,
            &p,
            None,
            &mut cp,
            None,
        );
        (r.map(|_| ()).map_err(|e| e.to_string()), cp.committed)
    })
    .unwrap();
    for r in guards.join() {
        let (r, committed) = r.unwrap();
        let e = r.expect_err("every worker stops");
        assert!(
            e.contains("interrupted by a shutdown request after iteration 2"),
            "{e}"
        );
        assert_eq!(committed, 2, "no worker goes past the agreed iteration");
    }
}

#[test]
fn bad_input_fails_every_worker_with_a_clear_error() {
    let guards = timely::execute(timely::Config::process(2), |worker| {
        let mut input = LocalInput::default();
        if worker.index() == 1 {
            input.train.push((0, ITEMS as u32 + 5, 1.0));
        }
        train(
            worker,
            Shape {
                users: USERS,
                items: ITEMS,
            },
            input,
            &params(2, Solver::Cholesky),
            None,
            &mut NoCheckpoints,
            None,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
    .unwrap();
    let errs: Vec<String> = guards
        .join()
        .into_iter()
        .map(|r| r.unwrap().unwrap_err())
        .collect();
    assert!(
        errs[1].contains("item 95") && errs[1].contains("outside"),
        "{}",
        errs[1]
    );
    assert!(errs[0].contains("another ALS worker failed"), "{}", errs[0]);
}

/// The CG solves on a GPU give the CPU's factors (to the tolerance of another summation order),
/// and exchanging the factor rows over NCCL changes nothing.
/// Runs where a GPU is usable; elsewhere it says so, unless `ARCHETYPE_REQUIRE_GPU=1`.
#[test]
fn gpu_solves_give_the_cpu_factors() {
    use archetype_kernels::backend::{select, DeviceChoice, Selected};
    use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
    use archetype_kernels::cuda::device::GemmPrecision;
    let required = std::env::var("ARCHETYPE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match select(DeviceChoice::Auto, 0) {
        Ok(Selected::Cuda { .. }) => {}
        other => {
            assert!(!required, "ARCHETYPE_REQUIRE_GPU=1 but {other:?}");
            eprintln!("ALS GPU test not run here: {other:?}");
            return;
        }
    }
    let dev = CudaDevice::open(0, &PtxCache::new(default_cache_dir()), GemmPrecision::F32)
        .expect("device opens");
    let p = params(4, Solver::Cg { steps: 3 });
    let cpu = run(2, &p, None, None);
    let dev = Arc::new(dev);
    let gpu = run_on(2, &p, None, None, Some(dev.clone()), None);
    for (which, a, b) in [("users", &cpu.x, &gpu.x), ("items", &cpu.y, &gpu.y)] {
        let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            diff <= 1e-3 * scale,
            "{which}: factors differ by {diff} (scale {scale})"
        );
    }
    // One worker, factor rows through NCCL (a world of one: all-gather, then the row gather
    // kernel) against the same device without it: the same rows reach the solves, so the
    // same bits come out.
    if !archetype_kernels::cuda::libraries::Libraries::probe().nccl {
        assert!(
            !std::env::var("ARCHETYPE_REQUIRE_NCCL").is_ok_and(|v| v == "1"),
            "ARCHETYPE_REQUIRE_NCCL=1 but libnccl.so was not found"
        );
        eprintln!("ALS NCCL test not run here: libnccl.so was not found");
        return;
    }
    let id = archetype_kernels::cuda::nccl::unique_id().expect("NCCL id");
    let plain = run_on(1, &p, None, None, Some(dev.clone()), None);
    let gathered = run_on(1, &p, None, None, Some(dev), Some(id.to_vec()));
    assert_eq!(plain.x, gathered.x);
    assert_eq!(plain.y, gathered.y);
}
