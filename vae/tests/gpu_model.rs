//! The Mult-VAE on a CUDA device against the CPU model: loss and gradient of one batch for
//! every variant, and whole training epochs. Runs where a GPU is usable; elsewhere each test
//! says so on stderr and returns, unless `ARCHETYPE_REQUIRE_GPU=1`.

use std::sync::Arc;

use archetype_kernels::backend::{select, DeviceChoice, Selected};
use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
use archetype_kernels::cuda::device::{CudaDevice, GemmPrecision};
use archetype_vae::data::Draws;
use archetype_vae::gpu::GpuModel;
use archetype_vae::model::Activations;
use archetype_vae::{
    Batch, ContextRows, InputKind, Model, ModelSpec, Solo, TrainData, TrainParams, Trainer,
    UserRows, Validation, Variant,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Option<Arc<CudaDevice>> {
    let required = std::env::var("ARCHETYPE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match select(DeviceChoice::Auto, 0) {
        Ok(Selected::Cuda { .. }) => {}
        Ok(Selected::Cpu { fallback }) => {
            assert!(!required, "ARCHETYPE_REQUIRE_GPU=1 but {fallback:?}");
            eprintln!("GPU model test not run here: {fallback:?}");
            return None;
        }
        Err(e) => panic!("{e}"),
    }
    match CudaDevice::open(0, &PtxCache::new(default_cache_dir()), GemmPrecision::F32) {
        Ok(d) => Some(Arc::new(d)),
        Err(e) => panic!("a GPU is visible but the backend did not open: {e}"),
    }
}

fn random_users(rng: &mut ChaCha8Rng, users: usize, items: usize, density: f64) -> UserRows {
    let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(users);
    for _ in 0..users {
        let mut row = Vec::new();
        for t in 0..items as u32 {
            if rng.random_bool(density) {
                row.push((t, rng.random_range(1..6) as f32));
            }
        }
        rows.push(row);
    }
    UserRows::new(items, rows).expect("rows")
}

/// Batches of 100 users, no early stopping.
fn train_params(epochs: usize, anneal_steps: u64) -> TrainParams {
    TrainParams {
        epochs,
        batch: 100,
        anneal_steps,
        patience: 0,
        ..TrainParams::default()
    }
}

fn random_context(rng: &mut ChaCha8Rng, users: usize, dim: usize) -> ContextRows {
    ContextRows::new(
        (0..users * dim)
            .map(|_| rng.random_range(0.0..1.5))
            .collect(),
        dim,
    )
    .expect("context")
}

const VARIANTS: [Variant; 4] = [
    Variant::Plain,
    Variant::GateLiteral,
    Variant::GateScale,
    Variant::Concat,
];

#[test]
fn loss_and_gradient_match_the_cpu_model_for_every_variant() {
    let Some(dev) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for &(items, hidden, latent, users) in &[(9, 6, 4, 5), (3000, 200, 50, 300)] {
        for variant in VARIANTS {
            let spec = ModelSpec {
                items,
                hidden,
                latent,
                context: if variant == Variant::Plain { 0 } else { 7 },
                variant,
            };
            let model = Model::new(spec.clone()).expect("model");
            let w: Vec<f32> = (0..model.parameters())
                .map(|_| rng.random_range(-0.3..0.3))
                .collect();
            let rows = random_users(&mut rng, users, items, 0.05_f64.max(2.0 / items as f64));
            let ctx = random_context(&mut rng, users, 7);
            let ids: Vec<u32> = (0..users as u32).collect();
            let draws = Draws {
                seed: 3,
                step: 2,
                dropout: 0.3,
                latent,
            };
            let batch = Batch::build(
                &rows,
                variant.uses_context().then_some(&ctx),
                &ids,
                InputKind::Binary,
                Some(draws),
            );
            let mut g_cpu = vec![0f32; w.len()];
            let cpu = model
                .loss_and_gradient(
                    &w,
                    &batch,
                    0.7,
                    0.25,
                    &mut g_cpu,
                    &mut Activations::default(),
                )
                .expect("cpu");
            let mut gm = GpuModel::new(model.clone(), dev.clone());
            let dw = gm.upload(&w).expect("upload");
            let mut dg = gm.upload(&vec![0f32; w.len()]).expect("zeros");
            let gpu = gm
                .loss_and_gradient(&dw, &batch, 0.7, 0.25, &mut dg)
                .expect("gpu");
            let g_gpu = dev.download(&dg).expect("download");
            let name = format!("{variant:?} {items}x{hidden}x{latent}");
            assert!(
                (cpu.nll - gpu.nll).abs() <= 1e-4 * cpu.nll.abs().max(1.0),
                "{name} nll {} {}",
                cpu.nll,
                gpu.nll
            );
            assert!(
                (cpu.kl - gpu.kl).abs() <= 1e-4 * cpu.kl.abs().max(1.0),
                "{name} kl {} {}",
                cpu.kl,
                gpu.kl
            );
            for t in &model.layout.tensors {
                let (a, b) = (&g_gpu[t.range()], &g_cpu[t.range()]);
                let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                let err = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
                assert!(err < 1e-4, "{name} {}: relative error {err:e}", t.name);
            }
            let scores_cpu = {
                let mut acts = Activations::default();
                let b = Batch::build(
                    &rows,
                    variant.uses_context().then_some(&ctx),
                    &ids,
                    InputKind::Binary,
                    None,
                );
                model.score(&w, &b, &mut acts).expect("score");
                acts.logits
            };
            let b = Batch::build(
                &rows,
                variant.uses_context().then_some(&ctx),
                &ids,
                InputKind::Binary,
                None,
            );
            let scores_gpu = gm.score(&dw, &b).expect("gpu score");
            let scale = scores_cpu.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            let err = scores_gpu
                .iter()
                .zip(&scores_cpu)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
                / scale;
            assert!(err < 1e-4, "{name} scores: relative error {err:e}");
        }
    }
}

#[test]
fn a_gpu_trainer_follows_the_cpu_trainer_over_two_epochs() {
    let Some(dev) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let (users, items) = (400, 2000);
    let rows = random_users(&mut rng, users, items, 0.02);
    let val_rows = random_users(&mut rng, 100, items, 0.02);
    let targets: Vec<Vec<u32>> = (0..100)
        .map(|_| {
            let mut t: Vec<u32> = (0..5).map(|_| rng.random_range(0..items as u32)).collect();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let val = Validation {
        input: val_rows,
        context: None,
        targets,
    };
    let spec = ModelSpec {
        items,
        hidden: 100,
        latent: 20,
        context: 0,
        variant: Variant::Plain,
    };
    let params = train_params(2, 20);
    let data = TrainData {
        rows: &rows,
        context: None,
    };
    let mut cpu = Trainer::new(spec.clone(), params.clone()).expect("cpu trainer");
    let mut gpu = Trainer::new(spec, params).expect("gpu trainer");
    gpu.use_device(dev).expect("device");
    assert!(gpu.on_device() && !cpu.on_device());
    for t in [&mut cpu, &mut gpu] {
        t.fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |_, _| {
            Ok(true)
        })
        .expect("fit");
    }
    let (hc, hg) = (&cpu.state.history, &gpu.state.history);
    assert_eq!(hc.len(), 2);
    for (c, g) in hc.iter().zip(hg) {
        assert!(
            (c.loss - g.loss).abs() <= 1e-3 * c.loss.abs(),
            "epoch {}: loss {} vs {}",
            c.epoch,
            c.loss,
            g.loss
        );
        let (nc, ng) = (
            c.validation_ndcg.unwrap_or(-1.0),
            g.validation_ndcg.unwrap_or(-2.0),
        );
        assert!(
            (nc - ng).abs() <= 0.02,
            "epoch {}: NDCG {nc} vs {ng}",
            c.epoch
        );
    }
    let max = cpu
        .state
        .weights
        .iter()
        .zip(&gpu.state.weights)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-3, "weights after two epochs differ by {max}");
}

/// NCCL with a world of one on the device machine: the overlapped, bucketed all-reduce of
/// the gradient (tiny buckets, so every stage of the backward pass sends several) leaves a
/// training run exactly as the run without it, and its buckets cover the gradient once.
#[test]
fn nccl_world_of_one_trains_as_without_it() {
    use archetype_kernels::cuda::libraries::Libraries;
    use archetype_kernels::cuda::nccl::{unique_id, GradientReducer, Nccl};
    let Some(dev) = device() else { return };
    if !Libraries::probe().nccl {
        assert!(
            !std::env::var("ARCHETYPE_REQUIRE_NCCL").is_ok_and(|v| v == "1"),
            "ARCHETYPE_REQUIRE_NCCL=1 but libnccl.so was not found"
        );
        eprintln!("NCCL test not run here: libnccl.so was not found");
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (users, items) = (300, 1500);
    let rows = random_users(&mut rng, users, items, 0.02);
    let ctx = random_context(&mut rng, users, 4);
    let spec = ModelSpec {
        items,
        hidden: 64,
        latent: 16,
        context: 4,
        variant: Variant::GateScale,
    };
    let params = train_params(1, 10);
    let data = TrainData {
        rows: &rows,
        context: Some(&ctx),
    };
    let mut plain = Trainer::new(spec.clone(), params.clone()).expect("trainer");
    let mut reduced = Trainer::new(spec, params).expect("trainer");
    plain.use_device(dev.clone()).expect("device");
    reduced.use_device(dev.clone()).expect("device");
    let id = unique_id().expect("NCCL id");
    let comm = Nccl::open(&dev, &id, 0, 1).expect("NCCL world of one");
    let total = reduced.model.parameters();
    // 1,000 bytes: 250 values per bucket.
    reduced.set_reducer(GradientReducer::new(comm, &dev, 1000));
    for t in [&mut plain, &mut reduced] {
        t.epoch(&mut Solo, &data, &mut |_| {}).expect("epoch");
    }
    assert_eq!(plain.state.weights, reduced.state.weights);
    assert_eq!(plain.state.m, reduced.state.m);
    let mut r = reduced.take_reducer().expect("reducer kept");
    let mut seen = vec![0u8; total];
    for b in &r.issued {
        assert!(b.len() <= 250, "{b:?}");
        for i in b.clone() {
            seen[i] += 1;
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "each value summed once in the last step"
    );
    assert!(r.issued.len() > 4, "the stages sent several buckets");
    let issued_by_a_full_step = r.issued.len();
    // A replica with an empty share of a short last batch still sends every bucket, in the
    // order the others do, and adds nothing.
    let mut gm = GpuModel::new(reduced.model.clone(), dev.clone());
    let w = gm.upload(&reduced.state.weights).expect("weights");
    let mut g = gm.upload(&vec![0f32; total]).expect("gradient");
    let empty = Batch::build(
        &rows,
        Some(&ctx),
        &[],
        InputKind::Binary,
        Some(Draws {
            seed: 1,
            step: 0,
            dropout: 0.5,
            latent: 16,
        }),
    );
    let sums = gm
        .loss_and_gradient_reduced(&w, &empty, 0.2, 1.0, &mut g, Some(&mut r))
        .expect("an empty share");
    assert_eq!((sums.nll, sums.kl), (0.0, 0.0));
    assert_eq!(r.issued.len(), issued_by_a_full_step);
    assert!(dev
        .download(&g)
        .expect("gradient")
        .iter()
        .all(|&v| v == 0.0));
}

/// Two replicas (threads; on a GPU they share it, gradients through the host) on a data set
/// whose last batch has one user, so one replica's share is empty: training goes on and
/// follows a single replica.
fn replicas_with_an_empty_share_follow_one_replica(dev: Option<Arc<CudaDevice>>) {
    use archetype_vae::ThreadGroup;
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let (users, items) = (201, 800);
    let rows = random_users(&mut rng, users, items, 0.03);
    let spec = ModelSpec {
        items,
        hidden: 48,
        latent: 12,
        context: 0,
        variant: Variant::Plain,
    };
    let params = train_params(1, 10);
    let data = TrainData {
        rows: &rows,
        context: None,
    };
    let mut one = Trainer::new(spec.clone(), params.clone()).expect("trainer");
    if let Some(d) = &dev {
        one.use_device(d.clone()).expect("device");
    }
    one.epoch(&mut Solo, &data, &mut |_| {})
        .expect("one replica");
    let states: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(2)
            .into_iter()
            .map(|mut member| {
                let (spec, params, dev, data) = (spec.clone(), params.clone(), dev.clone(), &data);
                s.spawn(move || {
                    let mut t = Trainer::new(spec, params).expect("trainer");
                    if let Some(d) = dev {
                        t.use_device(d).expect("device");
                    }
                    t.epoch(&mut member, data, &mut |_| {})
                        .expect("two replicas");
                    t.state.weights
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(states[0], states[1], "replicas hold the same weights");
    let max = one
        .state
        .weights
        .iter()
        .zip(&states[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "two replicas differ from one by {max}");
}

#[test]
fn gpu_replicas_with_an_empty_share_follow_one_replica() {
    let Some(dev) = device() else { return };
    replicas_with_an_empty_share_follow_one_replica(Some(dev));
}

/// The same on the CPU (runs everywhere).
#[test]
fn cpu_replicas_with_an_empty_share_follow_one_replica() {
    replicas_with_an_empty_share_follow_one_replica(None);
}
