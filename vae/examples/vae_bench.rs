//! Times epochs of the Mult-VAE trainer on a matrix written by `bench/vae_vs_torch.py`.
//!
//! `vae_bench DIR ITEMS HIDDEN LATENT EPOCHS BATCH REPLICAS [ANNEAL_STEPS]` reads, all raw
//! little-endian:
//! * `DIR/train_{offsets.u64,indices.u32,values.f32}`: the training users' play counts (CSR);
//! * `DIR/val_{offsets.u64,indices.u32,values.f32}`: the validation users' input rows;
//! * `DIR/target_{offsets.u64,indices.u32}`: their held-out tracks.
//!
//! It trains the plain Mult-VAE (binary input, dropout 0.5, Adam 1e-3, beta annealed to 0.2)
//! with `REPLICAS` data-parallel replicas on threads (rayon threads set by
//! `RAYON_NUM_THREADS`), validates NDCG@100 after every epoch, and prints one JSON line: the
//! seconds of each epoch (training only, validation apart), the validation NDCG@100 of each,
//! and the parameter count. `ARCHETYPE_DEVICE=cuda` trains on GPU 0 (`ARCHETYPE_GEMM=tf32` or
//! `bf16` for tensor-core GEMMs) and adds users per second to the line.

use std::path::Path;
use std::time::Instant;

use archetype_vae::{
    Collective, InputKind, ModelSpec, Solo, ThreadGroup, TrainData, TrainParams, Trainer, UserRows,
    Validation, Variant,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn read_raw<T, const N: usize>(path: &Path, from: fn([u8; N]) -> T) -> Result<Vec<T>, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % N != 0 {
        return Err(format!(
            "{}: length {} is not a multiple of {N}",
            path.display(),
            bytes.len()
        )
        .into());
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        })
        .collect())
}

/// Per-row lists of a raw CSR triple (`values` absent: ones).
fn rows(dir: &Path, name: &str, with_values: bool) -> Result<Vec<Vec<(u32, f32)>>, Error> {
    let offsets = read_raw(&dir.join(format!("{name}_offsets.u64")), u64::from_le_bytes)?;
    let indices = read_raw(&dir.join(format!("{name}_indices.u32")), u32::from_le_bytes)?;
    let values = if with_values {
        read_raw(&dir.join(format!("{name}_values.f32")), f32::from_le_bytes)?
    } else {
        vec![1.0; indices.len()]
    };
    if offsets.last().copied() != Some(indices.len() as u64) || values.len() != indices.len() {
        return Err(format!("{name}: offsets, indices and values disagree").into());
    }
    Ok(offsets
        .windows(2)
        .map(|w| {
            (w[0] as usize..w[1] as usize)
                .map(|i| (indices[i], values[i]))
                .collect()
        })
        .collect())
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T, Error> {
    args.get(i)
        .ok_or_else(|| format!("missing argument {name}"))?
        .parse()
        .map_err(|_| format!("argument {name}: not a number").into())
}

fn train<C: Collective>(
    coll: &mut C,
    spec: ModelSpec,
    params: TrainParams,
    train: &UserRows,
    val: &Validation,
) -> Result<(Vec<f64>, Vec<f64>, usize), Error> {
    let mut t = Trainer::new(spec, params.clone())?;
    if std::env::var("ARCHETYPE_DEVICE").is_ok_and(|d| d == "cuda") {
        use archetype_kernels::cuda::compile::{default_cache_dir, PtxCache};
        use archetype_kernels::cuda::device::{CudaDevice, GemmPrecision};
        let precision = match std::env::var("ARCHETYPE_GEMM").as_deref() {
            Ok("tf32") => GemmPrecision::Tf32,
            Ok("bf16") => GemmPrecision::Bf16,
            _ => GemmPrecision::F32,
        };
        let dev = CudaDevice::open(0, &PtxCache::new(default_cache_dir()), precision)?;
        t.use_device(std::sync::Arc::new(dev))?;
    }
    let parameters = t.state.weights.len();
    let data = TrainData {
        rows: train,
        context: None,
    };
    let (mut secs, mut ndcg) = (Vec::new(), Vec::new());
    for _ in 0..params.epochs {
        let started = Instant::now();
        t.epoch(coll, &data, &mut |_| {})?;
        secs.push(started.elapsed().as_secs_f64());
        ndcg.push(t.validate(coll, val)?.0);
    }
    Ok((secs, ndcg, parameters))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let dir =
        Path::new(args.get(1).ok_or(
            "usage: vae_bench DIR ITEMS HIDDEN LATENT EPOCHS BATCH REPLICAS [ANNEAL_STEPS]",
        )?);
    let items: usize = arg(&args, 2, "ITEMS")?;
    let hidden: usize = arg(&args, 3, "HIDDEN")?;
    let latent: usize = arg(&args, 4, "LATENT")?;
    let epochs: usize = arg(&args, 5, "EPOCHS")?;
    let batch: usize = arg(&args, 6, "BATCH")?;
    let replicas: usize = arg(&args, 7, "REPLICAS")?;
    let anneal: u64 = if args.len() > 8 {
        arg(&args, 8, "ANNEAL_STEPS")?
    } else {
        200_000
    };
    let train_rows = UserRows::new(items, rows(dir, "train", true)?)?;
    let val = Validation {
        input: UserRows::new(items, rows(dir, "val", true)?)?,
        context: None,
        targets: rows(dir, "target", false)?
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.0).collect())
            .collect(),
    };
    let spec = ModelSpec {
        items,
        hidden,
        latent,
        context: 0,
        variant: Variant::Plain,
    };
    let params = TrainParams {
        epochs,
        batch,
        lr: 1e-3,
        beta_cap: 0.2,
        anneal_steps: anneal,
        dropout: 0.5,
        input: InputKind::Binary,
        seed: 1,
        patience: 0,
    };
    let (secs, ndcg, parameters) = if replicas <= 1 {
        train(&mut Solo, spec, params, &train_rows, &val)?
    } else {
        let results: Vec<Result<_, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = ThreadGroup::new(replicas)
                .into_iter()
                .map(|mut g| {
                    let (spec, params) = (spec.clone(), params.clone());
                    let (tr, val) = (&train_rows, &val);
                    s.spawn(move || train(&mut g, spec, params, tr, val))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| Error::from("a replica panicked"))?)
                .collect()
        });
        let mut first = None;
        for r in results {
            let r = r?;
            first.get_or_insert(r);
        }
        first.ok_or("no replica")?
    };
    println!(
        "{}",
        serde_json::json!({
            "seconds_per_epoch": secs,
            "validation_ndcg100": ndcg,
            "parameters": parameters,
            "train_users": train_rows.rows(),
            "train_nnz": train_rows.nnz(),
            "validation_users": val.input.rows(),
            "replicas": replicas,
            "device": std::env::var("ARCHETYPE_DEVICE").unwrap_or_else(|_| "cpu".into()),
            "users_per_second": secs.iter().map(|s| train_rows.rows() as f64 / s).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
