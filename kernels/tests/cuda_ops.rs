//! Every CUDA op against its CPU reference on random inputs of several shapes. Runs where a
//! GPU is usable; elsewhere each test says so on stderr and returns, unless
//! `ARCHETYPE_REQUIRE_GPU=1` (set by the device-machine script `bench/gpu_checks.sh`), which
//! turns a missing GPU into a failure.

use archetype_kernels::backend::{select, DeviceChoice, Selected};
use archetype_kernels::cpu;
use archetype_kernels::cpu::adam::AdamParams;
use archetype_kernels::cpu::dense::{Activation, Operand};
use archetype_kernels::cpu::latent::{GateMode, Latent};
use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
use archetype_kernels::cuda::device::{CudaDevice, DevCsr, DevOperand, GemmPrecision};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Option<CudaDevice> {
    let required = std::env::var("ARCHETYPE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match select(DeviceChoice::Auto, 0) {
        Ok(Selected::Cuda { .. }) => {}
        Ok(Selected::Cpu { fallback }) => {
            assert!(!required, "ARCHETYPE_REQUIRE_GPU=1 but {fallback:?}");
            eprintln!("CUDA op test not run here: {fallback:?}");
            return None;
        }
        Err(e) => panic!("{e}"),
    }
    let cache = PtxCache::new(default_cache_dir());
    match CudaDevice::open(0, &cache, GemmPrecision::F32) {
        Ok(d) => Some(d),
        Err(e) => panic!("a GPU is visible but the backend did not open: {e}"),
    }
}

fn random(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Rows of random sparse columns (strictly increasing per row) with positive values.
struct Csr {
    offsets: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f32>,
    cols: usize,
}

fn random_csr(rng: &mut ChaCha8Rng, rows: usize, cols: usize, density: f64) -> Csr {
    let mut offsets = vec![0u64];
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        for j in 0..cols as u32 {
            if rng.random_bool(density) {
                indices.push(j);
                values.push(rng.random_range(1.0..5.0f32));
            }
        }
        offsets.push(indices.len() as u64);
    }
    Csr {
        offsets,
        indices,
        values,
        cols,
    }
}

fn upload(d: &CudaDevice, m: &Csr) -> DevCsr {
    d.upload_csr(&m.offsets, &m.indices, &m.values, m.cols)
        .expect("upload csr")
}

fn sparse_ref(m: &Csr) -> cpu::sparse::CsrRef<'_> {
    cpu::sparse::CsrRef::new(&m.offsets, &m.indices, &m.values, m.cols).expect("csr")
}

/// max |a - b| / max(max |b|, floor): relative to the reference's scale.
fn rel_err(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], bound: f32) {
    let e = rel_err(gpu, cpu, 1e-6);
    assert!(e <= bound, "{what}: relative error {e:e} above {bound:e}");
}

#[test]
fn gemm_matches_faer_in_every_transpose_and_tf32_stays_within_its_bound() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for &(m, k, n) in &[(1, 1, 1), (7, 13, 5), (64, 300, 129), (500, 1200, 600)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = random(&mut rng, m * k, -1.0, 1.0);
            let b = random(&mut rng, k * n, -1.0, 1.0);
            let c0 = random(&mut rng, m * n, -1.0, 1.0);
            let (ar, ac) = if ta { (k, m) } else { (m, k) };
            let (br, bc) = if tb { (n, k) } else { (k, n) };
            let mut want = c0.clone();
            let oa = Operand::new(&a, ar, ac);
            let ob = Operand::new(&b, br, bc);
            cpu::dense::gemm(
                &mut want,
                if ta { oa.t() } else { oa },
                if tb { ob.t() } else { ob },
                true,
            );
            let (da, db) = (d.upload(&a).unwrap(), d.upload(&b).unwrap());
            let mut dc = d.upload(&c0).unwrap();
            let oa = DevOperand::new(&da, ar, ac);
            let ob = DevOperand::new(&db, br, bc);
            d.gemm(
                &mut dc,
                if ta { oa.t() } else { oa },
                if tb { ob.t() } else { ob },
                true,
            )
            .unwrap();
            let got = d.download(&dc).unwrap();
            assert_close(
                &format!("gemm {m}x{k}x{n} t=({ta},{tb})"),
                &got,
                &want,
                1e-5,
            );
        }
    }
    let tf32 = CudaDevice::open(0, &PtxCache::new(default_cache_dir()), GemmPrecision::Tf32)
        .expect("tf32 device");
    let (m, k, n) = (256, 1024, 256);
    let a = random(&mut rng, m * k, -1.0, 1.0);
    let b = random(&mut rng, k * n, -1.0, 1.0);
    let mut want = vec![0f32; m * n];
    cpu::dense::gemm(
        &mut want,
        Operand::new(&a, m, k),
        Operand::new(&b, k, n),
        false,
    );
    let (da, db) = (tf32.upload(&a).unwrap(), tf32.upload(&b).unwrap());
    let mut dc = tf32.zeros::<f32>(m * n).unwrap();
    tf32.gemm(
        &mut dc,
        DevOperand::new(&da, m, k),
        DevOperand::new(&db, k, n),
        false,
    )
    .unwrap();
    // TF32 keeps 10 mantissa bits of each product's inputs: ~1e-3 relative per term.
    assert_close("gemm tf32", &tf32.download(&dc).unwrap(), &want, 5e-3);
    // BF16 keeps 7 (a 2^-9 rounding per input), through cublasGemmEx on the same f32
    // buffers; the transposed and accumulating call is the one the backward pass makes.
    let bf16 = CudaDevice::open(0, &PtxCache::new(default_cache_dir()), GemmPrecision::Bf16)
        .expect("bf16 device");
    let c0 = random(&mut rng, k * k, -1.0, 1.0);
    let mut want_t = c0.clone();
    cpu::dense::gemm(
        &mut want_t,
        Operand::new(&a, m, k).t(),
        Operand::new(&a, m, k),
        true,
    );
    let (da, db) = (bf16.upload(&a).unwrap(), bf16.upload(&b).unwrap());
    let mut dc = bf16.zeros::<f32>(m * n).unwrap();
    bf16.gemm(
        &mut dc,
        DevOperand::new(&da, m, k),
        DevOperand::new(&db, k, n),
        false,
    )
    .unwrap();
    assert_close("gemm bf16", &bf16.download(&dc).unwrap(), &want, 4e-2);
    let mut dct = bf16.upload(&c0).unwrap();
    bf16.gemm(
        &mut dct,
        DevOperand::new(&da, m, k).t(),
        DevOperand::new(&da, m, k),
        true,
    )
    .unwrap();
    assert_close(
        "gemm bf16 a^T a + c",
        &bf16.download(&dct).unwrap(),
        &want_t,
        4e-2,
    );
}

#[test]
fn dense_elementwise_ops_match_the_cpu() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for &(rows, cols) in &[(1, 1), (3, 70), (500, 600), (37, 4099)] {
        for act in [Activation::Identity, Activation::Tanh, Activation::Sigmoid] {
            let x = random(&mut rng, rows * cols, -4.0, 4.0);
            let bias = random(&mut rng, cols, -1.0, 1.0);
            let mut want = x.clone();
            cpu::dense::bias_activation(&mut want, &bias, act);
            let mut dx = d.upload(&x).unwrap();
            d.bias_activation(&mut dx, &d.upload(&bias).unwrap(), act)
                .unwrap();
            let y = d.download(&dx).unwrap();
            assert_close(
                &format!("bias_activation {act:?} {rows}x{cols}"),
                &y,
                &want,
                1e-6,
            );

            let dy = random(&mut rng, rows * cols, -1.0, 1.0);
            let mut want_b = dy.clone();
            cpu::dense::activation_backward(&mut want_b, &want, act);
            let mut ddy = d.upload(&dy).unwrap();
            d.activation_backward(&mut ddy, &d.upload(&want).unwrap(), act)
                .unwrap();
            assert_close(
                "activation_backward",
                &d.download(&ddy).unwrap(),
                &want_b,
                1e-6,
            );
        }
        let dy = random(&mut rng, rows * cols, -1.0, 1.0);
        let out0 = random(&mut rng, cols, -1.0, 1.0);
        let mut want = out0.clone();
        cpu::dense::column_sums(&dy, &mut want);
        let mut dout = d.upload(&out0).unwrap();
        d.column_sums(&d.upload(&dy).unwrap(), &mut dout).unwrap();
        // The same row order on both sides: equal up to the CPU's own chunking, i.e. exactly.
        assert_close("column_sums", &d.download(&dout).unwrap(), &want, 1e-6);
    }
}

#[test]
fn latent_ops_match_the_cpu_in_every_gate_mode() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for &(rows, latent) in &[(1, 1), (5, 50), (500, 600)] {
        let n = rows * latent;
        let mu = random(&mut rng, n, -2.0, 2.0);
        let lv = random(&mut rng, n, -3.0, 1.0);
        let eps = random(&mut rng, n, -2.0, 2.0);
        let gate = random(&mut rng, n, 0.01, 0.99);
        let dz = random(&mut rng, n, -1.0, 1.0);
        let (dmu_, dlv_, deps, dgate_) = (
            d.upload(&mu).unwrap(),
            d.upload(&lv).unwrap(),
            d.upload(&eps).unwrap(),
            d.upload(&gate).unwrap(),
        );
        let (eps_v, gate_v) = (deps.as_view(), dgate_.as_view());
        for mode in [GateMode::Off, GateMode::Literal, GateMode::Scale] {
            let g = (mode != GateMode::Off).then_some(&gate[..]);
            for training in [true, false] {
                let l = Latent {
                    mu: &mu,
                    logvar: &lv,
                    eps: training.then_some(&eps[..]),
                    gate: g,
                };
                let mut want = vec![0f32; n];
                cpu::latent::reparameterise(&l, mode, &mut want);
                let mut z = d.zeros::<f32>(n).unwrap();
                let dg = (mode != GateMode::Off).then_some(&gate_v);
                d.reparameterise(&dmu_, &dlv_, training.then_some(&eps_v), dg, mode, &mut z)
                    .unwrap();
                assert_close(
                    &format!("z {mode:?} {training}"),
                    &d.download(&z).unwrap(),
                    &want,
                    1e-6,
                );
            }
            let l = Latent {
                mu: &mu,
                logvar: &lv,
                eps: Some(&eps),
                gate: g,
            };
            let (mut wm, mut wv, mut wg) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
            cpu::latent::reparameterise_backward(&l, mode, &dz, &mut wm, &mut wv, Some(&mut wg));
            let (mut gm, mut gv, mut gg) = (
                d.zeros::<f32>(n).unwrap(),
                d.zeros::<f32>(n).unwrap(),
                d.zeros::<f32>(n).unwrap(),
            );
            let dg = (mode != GateMode::Off).then_some(&gate_v);
            let mut gg_v = gg.as_view_mut();
            d.reparameterise_backward(
                &dmu_,
                &dlv_,
                &deps,
                dg,
                mode,
                &d.upload(&dz).unwrap(),
                &mut gm,
                &mut gv,
                Some(&mut gg_v),
            )
            .unwrap();
            assert_close("dmu", &d.download(&gm).unwrap(), &wm, 1e-6);
            assert_close("dlogvar", &d.download(&gv).unwrap(), &wv, 1e-6);
            assert_close("dgate", &d.download(&gg).unwrap(), &wg, 1e-6);
        }
        let (mut wm, mut wv) = (dz.clone(), dz.clone());
        let want = cpu::latent::kl_divergence(&mu, &lv, latent, 0.3, &mut wm, &mut wv);
        let (mut gm, mut gv) = (d.upload(&dz).unwrap(), d.upload(&dz).unwrap());
        let kl = d
            .kl_divergence(&dmu_, &dlv_, latent, 0.3, &mut gm, &mut gv)
            .unwrap();
        let kl = d.download(&kl).unwrap();
        for (g, w) in kl.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "kl {g} vs {w}");
        }
        assert_close("kl dmu", &d.download(&gm).unwrap(), &wm, 1e-6);
        assert_close("kl dlogvar", &d.download(&gv).unwrap(), &wv, 1e-6);
    }
}

#[test]
fn multinomial_loss_and_gradient_match_the_cpu_also_for_large_logits() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for &(rows, cols, spread) in &[
        (1, 1, 1.0),
        (4, 33, 3.0),
        (100, 20_000, 5.0),
        (3, 1000, 80.0),
    ] {
        let logits = random(&mut rng, rows * cols, -spread, spread);
        let t = random_csr(&mut rng, rows, cols, 0.05_f64.max(1.0 / cols as f64));
        let mut want = logits.clone();
        let wl = cpu::softmax::multinomial_nll(&mut want, sparse_ref(&t), 0.5);
        let mut dl = d.upload(&logits).unwrap();
        let loss = d.multinomial_nll(&mut dl, &upload(&d, &t), 0.5).unwrap();
        let gl = d.download(&loss).unwrap();
        for (g, w) in gl.iter().zip(&wl) {
            assert!(
                g.is_finite() && (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                "loss {g} vs {w}"
            );
        }
        assert_close(
            &format!("nll grad {rows}x{cols}"),
            &d.download(&dl).unwrap(),
            &want,
            1e-5,
        );
    }
}

#[test]
fn adam_matches_the_cpu_over_several_steps() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 1_000_003;
    let p = AdamParams::default();
    let mut w = random(&mut rng, n, -1.0, 1.0);
    let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
    let (mut dw, mut dm, mut dv) = (
        d.upload(&w).unwrap(),
        d.zeros::<f32>(n).unwrap(),
        d.zeros::<f32>(n).unwrap(),
    );
    for step in 1..=5 {
        let g = random(&mut rng, n, -0.1, 0.1);
        cpu::adam::adam_step(p, step, &mut w, &g, &mut m, &mut v);
        d.adam_step(p, step, &mut dw, &d.upload(&g).unwrap(), &mut dm, &mut dv)
            .unwrap();
    }
    assert_close("adam param", &d.download(&dw).unwrap(), &w, 1e-6);
    assert_close("adam m", &d.download(&dm).unwrap(), &m, 1e-6);
    assert_close("adam v", &d.download(&dv).unwrap(), &v, 1e-6);
}

#[test]
fn sparse_products_match_the_cpu() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for &(rows, cols, h, density) in &[(1, 1, 1, 1.0), (9, 50, 7, 0.2), (500, 20_000, 600, 0.002)] {
        let x = random_csr(&mut rng, rows, cols, density);
        let w = random(&mut rng, cols * h, -1.0, 1.0);
        let out0 = random(&mut rng, rows * h, -1.0, 1.0);
        for accumulate in [false, true] {
            let mut want = out0.clone();
            cpu::sparse::spmm(sparse_ref(&x), &w, h, &mut want, accumulate);
            let mut dout = d.upload(&out0).unwrap();
            d.spmm(
                &upload(&d, &x),
                &d.upload(&w).unwrap(),
                h,
                &mut dout,
                accumulate,
            )
            .unwrap();
            assert_close("spmm", &d.download(&dout).unwrap(), &want, 1e-6);
        }
        let dy = random(&mut rng, rows * h, -1.0, 1.0);
        let dw0 = random(&mut rng, cols * h, -1.0, 1.0);
        let xt = cpu::sparse::transpose(sparse_ref(&x));
        let mut want = dw0.clone();
        cpu::sparse::spmm_transpose_acc(&xt, &dy, h, &mut want);
        let dxt = d
            .upload_csr(&xt.offsets, &xt.rows, &xt.values, rows)
            .unwrap();
        let mut ddw = d.upload(&dw0).unwrap();
        d.spmm_transpose_acc(&dxt, &d.upload(&dy).unwrap(), h, &mut ddw)
            .unwrap();
        assert_close(
            "spmm_transpose_acc",
            &d.download(&ddw).unwrap(),
            &want,
            1e-6,
        );
    }
}

#[test]
fn top_k_matches_the_cpu_with_ties_exclusions_and_non_finite_scores() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for &(rows, cols, k) in &[
        (1, 1, 1),
        (3, 10, 20),
        (50, 5000, 100),
        (4, 200_000, 1024),
        (20, 3000, 10),
    ] {
        // Scores on a coarse grid so that ties are common, with some NaN and infinities.
        let mut scores: Vec<f32> = (0..rows * cols)
            .map(|_| (rng.random_range(-50..50) as f32) * 0.25)
            .collect();
        for _ in 0..(rows * cols / 97) {
            let i = rng.random_range(0..rows * cols);
            scores[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
        }
        let ex = random_csr(&mut rng, rows, cols, 0.01);
        let exclude: Vec<Vec<u32>> = (0..rows)
            .map(|r| ex.indices[ex.offsets[r] as usize..ex.offsets[r + 1] as usize].to_vec())
            .collect();
        let want = cpu::topk::top_k_rows(&scores, cols, k, &exclude);
        let mut ds = d.upload(&scores).unwrap();
        let got = d
            .top_k(&mut ds, rows, cols, k, Some(&upload(&d, &ex)))
            .unwrap();
        assert_eq!(got, want, "top_k {rows}x{cols} k={k}");
    }
}

#[test]
fn gather_rows_matches_the_cpu() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(43);
    for &(rows, k, picks) in &[(1, 1, 1), (300, 64, 1000), (5000, 129, 777), (10, 1024, 3)] {
        let src = random(&mut rng, rows * k, -1.0, 1.0);
        let pos: Vec<u64> = (0..picks)
            .map(|_| rng.random_range(0..rows as u64))
            .collect();
        let mut want = vec![0f32; picks * k];
        cpu::als::gather_rows(&src, k, &pos, &mut want).unwrap();
        let mut out = d.zeros::<f32>(picks * k).unwrap();
        d.gather_rows(
            &mut out,
            &d.upload(&src).unwrap(),
            &d.upload(&pos).unwrap(),
            k,
        )
        .unwrap();
        assert_eq!(
            d.download(&out).unwrap(),
            want,
            "{rows} rows x {k}, {picks} picks"
        );
    }
}

#[test]
fn als_cg_matches_the_cpu_solver_from_32_to_1024_factors() {
    let Some(d) = device() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for &(users, items, k, density) in &[
        (3, 5, 1, 0.5),
        (200, 300, 32, 0.05),
        (300, 2000, 128, 0.01),
        (64, 1500, 1024, 0.05),
    ] {
        let m = random_csr(&mut rng, users, items, density);
        let conf: Vec<f32> = m
            .values
            .iter()
            .map(|v| 1.0 + 2.0 * (1.0 + v).ln())
            .collect();
        let y = random(&mut rng, items * k, -0.1, 0.1);
        let x0 = random(&mut rng, users * k, -0.1, 0.1);
        let yty = cpu::als::gram(&y, k);
        let mut want = x0.clone();
        let csr = cpu::als::CsrRef::new(&m.offsets, &m.indices, &conf).expect("csr");
        cpu::als::solve(
            &mut want,
            &y,
            &yty,
            k,
            &csr,
            0.1,
            cpu::als::Solver::Cg { steps: 3 },
        )
        .expect("cpu solve");
        let dm = d.upload_csr(&m.offsets, &m.indices, &conf, items).unwrap();
        let dy = d.upload(&y).unwrap();
        let dyty = d.gram(&dy, k).unwrap();
        assert_close("gram", &d.download(&dyty).unwrap(), &yty, 1e-5);
        let mut dx = d.upload(&x0).unwrap();
        d.als_cg(&mut dx, &dy, &dyty, k, &dm, 0.1, 3).unwrap();
        // Three CG steps in another summation order: agreement to ~1e-4 of the largest factor.
        assert_close(
            &format!("als_cg k={k}"),
            &d.download(&dx).unwrap(),
            &want,
            1e-3,
        );
    }
}
