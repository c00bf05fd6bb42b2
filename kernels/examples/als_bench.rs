//! Times full ALS iterations (user and item half-steps, CG 3 steps).
//!
//! Random matrix: `als_bench [users] [items] [nnz] [k] [iters]` (defaults 20000 80000 1000000
//! 128 5). A matrix written by `bench/als_vs_implicit.py`: `als_bench --load DIR users items k
//! iters lambda`, which reads `DIR/{offsets.u64,indices.u32,confidence.f32,x0.f32,y0.f32}` (raw
//! little-endian), starts from the same factors as implicit, writes `DIR/ours_{x,y}.f32` and
//! prints the wall and CPU seconds of each iteration as the last line, in JSON.

#[path = "shared/als_matrix.rs"]
mod als_matrix;

use std::path::Path;
use std::time::Instant;

use archetype_kernels::cpu::als::{gram, loss, solve, transpose, CsrRef, Solver};
use rand::{Rng, SeedableRng};

type Matrix = (
    usize,
    usize,
    Vec<u64>,
    Vec<u32>,
    Vec<f32>,
    Vec<f32>,
    Vec<f32>,
);

fn read_raw<T, const N: usize>(
    path: &Path,
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>, Box<dyn std::error::Error>> {
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

fn write_f32(path: &Path, v: &[f32]) -> std::io::Result<()> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes)
}

/// CPU seconds of this process over all its threads (utime + stime of /proc/self/stat), to show
/// how many cores an iteration really kept busy; 0 where /proc is missing.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the name; Linux reports
    // them in USER_HZ, which is 100 on every architecture it supports.
    (ticks(11) + ticks(12)) / 100.0
}

fn generated(users: usize, items: usize, nnz: usize, k: usize) -> Matrix {
    let (offsets, indices, confidence) = als_matrix::generate(users, items, nnz, 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x = (0..users * k)
        .map(|_| rng.random_range(0.0..0.01))
        .collect();
    let y = (0..items * k)
        .map(|_| rng.random_range(0.0..0.01))
        .collect();
    (users, items, offsets, indices, confidence, x, y)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let load = raw.first().is_some_and(|a| a == "--load");
    let (dir, rest) = if load {
        let dir = raw.get(1).ok_or("--load needs a directory")?;
        (Some(Path::new(dir).to_path_buf()), &raw[2..])
    } else {
        (None, &raw[..])
    };
    let args: Vec<f64> = rest.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let arg = |i: usize, default: f64| args.get(i).copied().unwrap_or(default);
    let t = Instant::now();
    let (k, iters, lambda, (users, items, offsets, indices, confidence, mut x, mut y)) =
        if let Some(dir) = &dir {
            let (users, items) = (arg(0, 0.0) as usize, arg(1, 0.0) as usize);
            let k = arg(2, 128.0) as usize;
            let m: Matrix = (
                users,
                items,
                read_raw(&dir.join("offsets.u64"), u64::from_le_bytes)?,
                read_raw(&dir.join("indices.u32"), u32::from_le_bytes)?,
                read_raw(&dir.join("confidence.f32"), f32::from_le_bytes)?,
                read_raw(&dir.join("x0.f32"), f32::from_le_bytes)?,
                read_raw(&dir.join("y0.f32"), f32::from_le_bytes)?,
            );
            (k, arg(3, 5.0) as usize, arg(4, 0.1) as f32, m)
        } else {
            let k = arg(3, 128.0) as usize;
            let m = generated(
                arg(0, 20_000.0) as usize,
                arg(1, 80_000.0) as usize,
                arg(2, 1_000_000.0) as usize,
                k,
            );
            (k, arg(4, 5.0) as usize, 0.1, m)
        };
    let solver = Solver::Cg { steps: 3 };
    let m = CsrRef::new(&offsets, &indices, &confidence)?;
    let (t_off, t_idx, t_conf) = transpose(&m, items)?;
    let mt = CsrRef::new(&t_off, &t_idx, &t_conf)?;
    println!(
        "{users} users x {items} items, {} non-zeros, k = {k}, {} threads (setup {:.2} s)",
        m.nnz(),
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for it in 0..iters {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let yty = gram(&y, k);
        let t1 = Instant::now();
        solve(&mut x, &y, &yty, k, &m, lambda, solver)?;
        let t2 = Instant::now();
        let xtx = gram(&x, k);
        let t3 = Instant::now();
        solve(&mut y, &x, &xtx, k, &mt, lambda, solver)?;
        let t4 = Instant::now();
        let secs = (t4 - t0).as_secs_f64();
        times.push(secs);
        cpu.push(cpu_seconds() - c0);
        let l = loss(&x, &y, k, &m, lambda)?;
        println!(
            "iteration {it}: {secs:.3} s (gram {:.3} + users {:.3} + gram {:.3} + items {:.3}), \
             loss {l:.6e} ({:.3} s)",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64(),
            t4.elapsed().as_secs_f64()
        );
    }
    if let Some(dir) = &dir {
        write_f32(&dir.join("ours_x.f32"), &x)?;
        write_f32(&dir.join("ours_y.f32"), &y)?;
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|t| format!("{t:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{{\"seconds_per_iteration\": [{}], \"cpu_seconds_per_iteration\": [{}]}}",
        list(&times),
        list(&cpu)
    );
    Ok(())
}
