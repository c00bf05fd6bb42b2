//! A plain, dense, f64 forward pass of the whole model, written from the equations with no
//! kernel in sight, and the tests that hold the fast path to it: gradients against central
//! finite differences of this loss, an Adam step against the textbook update, replicas
//! against one process, resume against an uninterrupted run.

use crate::data::Batch;
use crate::params::{self, Layout};
use crate::spec::{ModelSpec, Variant};

fn tensor<'a>(layout: &Layout, w: &'a [f64], name: &str) -> Option<&'a [f64]> {
    layout.get(name).map(|t| &w[t.range()])
}

/// `y[j] = b[j] + sum_i x[i] W[i, j]` with `W` of `x.len() x b.len()`.
fn affine(x: &[f64], w: &[f64], b: Option<&[f64]>, out: usize) -> Vec<f64> {
    let mut y: Vec<f64> = b.map_or(vec![0.0; out], <[f64]>::to_vec);
    for (i, &xi) in x.iter().enumerate() {
        for j in 0..out {
            y[j] += xi * w[i * out + j];
        }
    }
    y
}

/// Per user: the logits, mu and log-variance of the plain forward pass.
pub fn forward(
    spec: &ModelSpec,
    w: &[f64],
    batch: &Batch,
    train: bool,
) -> Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let layout = Layout::new(spec);
    let (n, h, l, c) = (spec.items, spec.hidden, spec.latent, spec.context);
    let t = |name| tensor(&layout, w, name).unwrap_or(&[]);
    let input = batch.input();
    (0..batch.rows)
        .map(|r| {
            let mut x = vec![0.0; n];
            for (&i, &v) in input.row(r).0.iter().zip(input.row(r).1) {
                x[i as usize] = f64::from(v);
            }
            let ctx: Vec<f64> = if batch.context.is_empty() {
                Vec::new()
            } else {
                batch.context[r * c..(r + 1) * c]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect()
            };
            let mut pre = affine(&x, t(params::ENC1_W), Some(t(params::ENC1_B)), h);
            if spec.variant == Variant::Concat {
                let extra = affine(&ctx, t(params::ENC1_CTX), None, h);
                pre.iter_mut().zip(extra).for_each(|(p, e)| *p += e);
            }
            let h1: Vec<f64> = pre.iter().map(|v| v.tanh()).collect();
            let mu = affine(&h1, t(params::MU_W), Some(t(params::MU_B)), l);
            let lv = affine(&h1, t(params::LV_W), Some(t(params::LV_B)), l);
            let gate: Vec<f64> = match spec.variant {
                Variant::GateLiteral | Variant::GateScale => {
                    affine(&ctx, t(params::GATE_W), Some(t(params::GATE_B)), l)
                        .iter()
                        .map(|v| 1.0 / (1.0 + (-v).exp()))
                        .collect()
                }
                _ => vec![1.0; l],
            };
            let z: Vec<f64> = (0..l)
                .map(|j| {
                    let noise = if train {
                        (0.5 * lv[j]).exp() * f64::from(batch.eps[r * l + j])
                    } else {
                        0.0
                    };
                    match spec.variant {
                        Variant::GateLiteral => mu[j] + noise * gate[j],
                        Variant::GateScale => gate[j] * (mu[j] + noise),
                        _ => mu[j] + noise,
                    }
                })
                .collect();
            let h2: Vec<f64> = affine(&z, t(params::DEC1_W), Some(t(params::DEC1_B)), h)
                .iter()
                .map(|v| v.tanh())
                .collect();
            let o = affine(&h2, t(params::DEC2_W), Some(t(params::DEC2_B)), n);
            (o, mu, lv)
        })
        .collect()
}

/// `scale * sum over users of (NLL + beta KL)`: the quantity whose gradient the model adds.
pub fn loss(spec: &ModelSpec, w: &[f64], batch: &Batch, beta: f64, scale: f64, train: bool) -> f64 {
    let target = batch.target();
    let mut total = 0.0;
    for (r, (o, mu, lv)) in forward(spec, w, batch, train).into_iter().enumerate() {
        let max = o.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + o.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        let (idx, val) = target.row(r);
        let nll: f64 = idx
            .iter()
            .zip(val)
            .map(|(&i, &v)| f64::from(v) * (lse - o[i as usize]))
            .sum();
        let kl: f64 = mu
            .iter()
            .zip(&lv)
            .map(|(m, v)| 0.5 * (v.exp() + m * m - 1.0 - v))
            .sum();
        total += scale * (nll + beta * kl);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::{Collective, Solo, ThreadGroup};
    use crate::data::{ContextRows, Draws, UserRows};
    use crate::model::{Activations, Model};
    use crate::spec::{InputKind, TrainParams};
    use crate::train::{TrainData, Trainer, Validation};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const VARIANTS: [Variant; 4] = [
        Variant::Plain,
        Variant::GateLiteral,
        Variant::GateScale,
        Variant::Concat,
    ];

    fn spec(variant: Variant, items: usize) -> ModelSpec {
        ModelSpec {
            items,
            hidden: 6,
            latent: 4,
            context: if variant == Variant::Plain { 0 } else { 3 },
            variant,
        }
    }

    fn random_users(rng: &mut ChaCha8Rng, users: usize, items: usize, density: f64) -> UserRows {
        let rows: Vec<Vec<(u32, f32)>> = (0..users)
            .map(|_| {
                let mut row = Vec::new();
                for t in 0..items as u32 {
                    if rng.random_bool(density) {
                        row.push((t, rng.random_range(1..6) as f32));
                    }
                }
                row
            })
            .collect();
        UserRows::new(items, rows).unwrap()
    }

    fn random_context(rng: &mut ChaCha8Rng, users: usize, dim: usize) -> ContextRows {
        ContextRows::new(
            (0..users * dim)
                .map(|_| rng.random_range(0.0..1.5))
                .collect(),
            dim,
        )
        .unwrap()
    }

    #[test]
    fn gradients_of_the_whole_model_match_finite_differences_of_the_plain_loss() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for variant in VARIANTS {
            for kind in [InputKind::Binary, InputKind::Counts] {
                let s = spec(variant, 9);
                let model = Model::new(s.clone()).unwrap();
                // Larger weights than the initialiser's, so that every term matters.
                let w: Vec<f32> = (0..model.parameters())
                    .map(|_| rng.random_range(-0.6..0.6))
                    .collect();
                let users = random_users(&mut rng, 5, 9, 0.5);
                let ctx = random_context(&mut rng, 5, 3);
                let draws = Draws {
                    seed: 3,
                    step: 2,
                    dropout: 0.3,
                    latent: 4,
                };
                let batch = Batch::build(
                    &users,
                    variant.uses_context().then_some(&ctx),
                    &[0, 1, 2, 3, 4],
                    kind,
                    Some(draws),
                );
                let (beta, scale) = (0.7f32, 0.25f32);
                let mut grads = vec![0f32; w.len()];
                let mut acts = Activations::default();
                let sums = model
                    .loss_and_gradient(&w, &batch, beta, scale, &mut grads, &mut acts)
                    .unwrap();
                let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
                let base = loss(&s, &w64, &batch, f64::from(beta), f64::from(scale), true);
                let fast = f64::from(scale) * (sums.nll + f64::from(beta) * sums.kl);
                assert!(
                    (base - fast).abs() < 1e-4 * base.abs().max(1.0),
                    "{variant:?}: {base} {fast}"
                );
                let h = 1e-5;
                let mut worst = 0f64;
                for (i, &g) in grads.iter().enumerate() {
                    let mut wp = w64.clone();
                    wp[i] += h;
                    let mut wm = w64.clone();
                    wm[i] -= h;
                    let fd = (loss(&s, &wp, &batch, f64::from(beta), f64::from(scale), true)
                        - loss(&s, &wm, &batch, f64::from(beta), f64::from(scale), true))
                        / (2.0 * h);
                    let err = (fd - f64::from(g)).abs() / fd.abs().max(1e-2);
                    worst = worst.max(err);
                    assert!(
                        err < 2e-3,
                        "{variant:?} {kind:?} parameter {i}: analytic {g}, numeric {fd}"
                    );
                }
                assert!(worst.is_finite());
            }
        }
    }

    #[test]
    fn inference_scores_match_the_plain_forward_pass() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for variant in VARIANTS {
            let s = spec(variant, 7);
            let model = Model::new(s.clone()).unwrap();
            let w: Vec<f32> = (0..model.parameters())
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            let users = random_users(&mut rng, 3, 7, 0.5);
            let ctx = random_context(&mut rng, 3, 3);
            let batch = Batch::build(
                &users,
                variant.uses_context().then_some(&ctx),
                &[0, 1, 2],
                InputKind::Binary,
                None,
            );
            let mut acts = Activations::default();
            model.score(&w, &batch, &mut acts).unwrap();
            let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
            for (r, (o, _, _)) in forward(&s, &w64, &batch, false).iter().enumerate() {
                for (j, &v) in o.iter().enumerate() {
                    let fast = f64::from(acts.logits[r * 7 + j]);
                    assert!(
                        (fast - v).abs() < 1e-5,
                        "{variant:?} user {r} track {j}: {fast} vs {v}"
                    );
                }
            }
        }
    }

    fn toy_params(batch: usize) -> TrainParams {
        TrainParams {
            epochs: 3,
            batch,
            lr: 1e-2,
            beta_cap: 0.2,
            anneal_steps: 10,
            dropout: 0.5,
            input: InputKind::Binary,
            seed: 21,
            patience: 0,
        }
    }

    #[test]
    fn a_training_step_is_the_textbook_adam_update_of_the_plain_gradient() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let s = spec(Variant::GateScale, 8);
        let users = random_users(&mut rng, 6, 8, 0.4);
        let ctx = random_context(&mut rng, 6, 3);
        let p = toy_params(6);
        let mut t = Trainer::new(s.clone(), p.clone()).unwrap();
        let w0: Vec<f64> = t.state.weights.iter().map(|&v| f64::from(v)).collect();
        let order: Vec<u32> = vec![4, 1, 0, 5, 3, 2];
        let data = TrainData {
            rows: &users,
            context: Some(&ctx),
        };
        let r = t.step(&mut Solo, &data, &order).unwrap();
        assert_eq!((r.step, r.beta), (1, 0.0));
        let batch = Batch::build(
            &users,
            Some(&ctx),
            &order,
            InputKind::Binary,
            Some(Draws {
                seed: 21,
                step: 0,
                dropout: 0.5,
                latent: 4,
            }),
        );
        let h = 1e-6;
        for (i, &after) in t.state.weights.iter().enumerate() {
            let mut wp = w0.clone();
            wp[i] += h;
            let mut wm = w0.clone();
            wm[i] -= h;
            let g = (loss(&s, &wp, &batch, 0.0, 1.0 / 6.0, true)
                - loss(&s, &wm, &batch, 0.0, 1.0 / 6.0, true))
                / (2.0 * h);
            // Adam's first step: m = 0.1 g, v = 0.001 g^2, bias-corrected to g and g^2.
            let expect = w0[i] - 1e-2 * g / (g.abs() + 1e-8);
            let tol = if g.abs() < 1e-5 { 1.1e-2 } else { 1e-4 };
            assert!(
                (f64::from(after) - expect).abs() < tol,
                "parameter {i}: {after} vs {expect} (g = {g})"
            );
        }
    }

    fn train_with(world: usize, variant: Variant) -> (Vec<f32>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let users = random_users(&mut rng, 23, 15, 0.3);
        let ctx = random_context(&mut rng, 23, 3);
        let val = Validation {
            input: random_users(&mut rng, 7, 15, 0.3),
            context: Some(random_context(&mut rng, 7, 3)),
            targets: (0..7).map(|u| vec![u as u32, 14 - u as u32]).collect(),
        };
        let s = spec(variant, 15);
        let members = ThreadGroup::new(world);
        let results: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|sc| {
            let hs: Vec<_> = members
                .into_iter()
                .map(|mut m| {
                    let (s, users, ctx, val) = (s.clone(), &users, &ctx, &val);
                    sc.spawn(move || {
                        let mut t = Trainer::new(s, toy_params(8)).unwrap();
                        let data = TrainData {
                            rows: users,
                            context: Some(ctx),
                        };
                        let mut losses = Vec::new();
                        t.fit(
                            &mut m,
                            &data,
                            Some(val),
                            &mut |r| losses.push(r.loss),
                            &mut |_, _| Ok(true),
                        )
                        .unwrap();
                        assert_eq!(t.state.step, 9, "3 epochs of ceil(23 / 8) steps");
                        assert_eq!(m.world(), world);
                        (t.state.weights.clone(), losses)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            assert_eq!(
                r.0, results[0].0,
                "replicas of one world hold the same bits"
            );
        }
        results.into_iter().next().unwrap()
    }

    #[test]
    fn one_two_and_four_replicas_train_the_same_model() {
        for variant in [Variant::Plain, Variant::GateLiteral, Variant::Concat] {
            let (w1, l1) = train_with(1, variant);
            for world in [2, 4] {
                let (w, l) = train_with(world, variant);
                let max = w1
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    max < 1e-4,
                    "{variant:?} world {world}: weights differ by {max}"
                );
                for (a, b) in l1.iter().zip(&l) {
                    assert!(
                        (a - b).abs() < 1e-4 * a.abs().max(1.0),
                        "{variant:?} world {world}: loss {a} vs {b}"
                    );
                }
            }
        }
    }

    /// 20 training users over 12 items with 3 context features, 5 validation users.
    fn resume_fixture(seed: u64) -> (UserRows, ContextRows, Validation) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let users = random_users(&mut rng, 20, 12, 0.3);
        let ctx = random_context(&mut rng, 20, 3);
        let val = Validation {
            input: random_users(&mut rng, 5, 12, 0.4),
            context: Some(random_context(&mut rng, 5, 3)),
            targets: (0..5).map(|u| vec![u as u32]).collect(),
        };
        (users, ctx, val)
    }

    /// A state without its wall-clock seconds, for bit-for-bit comparisons.
    fn timeless(st: &crate::train::TrainState) -> crate::train::TrainState {
        let mut st = st.clone();
        st.history.iter_mut().for_each(|h| h.seconds = 0.0);
        if let Some(p) = st.partial.as_mut() {
            p.seconds = 0.0;
        }
        st
    }

    #[test]
    fn a_resumed_run_ends_with_the_bits_of_an_uninterrupted_one() {
        let (users, ctx, val) = resume_fixture(4);
        let s = spec(Variant::GateScale, 12);
        let data = TrainData {
            rows: &users,
            context: Some(&ctx),
        };
        let mut straight = Trainer::new(s.clone(), toy_params(6)).unwrap();
        straight
            .fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |_, _| {
                Ok(true)
            })
            .unwrap();

        let mut first = Trainer::new(s.clone(), toy_params(6)).unwrap();
        let mut saved = None;
        first
            .fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |r, st| {
                if r.epoch == 2 {
                    saved = Some(
                        crate::checkpoint::save(
                            &Model::new(s.clone()).unwrap(),
                            &toy_params(6),
                            st,
                        )
                        .unwrap(),
                    );
                    return Ok(false);
                }
                Ok(true)
            })
            .unwrap();
        let loaded = crate::checkpoint::load(&saved.unwrap()).unwrap();
        assert_eq!(loaded.spec, s);
        let state = loaded.state.unwrap();
        assert_eq!((state.epoch, state.step, state.history.len()), (2, 8, 2));
        let mut resumed = Trainer::from_state(loaded.spec, loaded.params, state).unwrap();
        resumed
            .fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |_, _| {
                Ok(true)
            })
            .unwrap();
        let (a, b) = (timeless(&resumed.state), timeless(&straight.state));
        assert_eq!((a.step, a.epoch), (b.step, b.epoch));
        assert!(a.weights == b.weights, "weights");
        assert!(a.m == b.m && a.v == b.v, "Adam moments");
        assert_eq!(
            a.best.as_ref().map(|x| (x.epoch, x.ndcg)),
            b.best.as_ref().map(|x| (x.epoch, x.ndcg))
        );
        assert!(a.best == b.best, "best weights");
        assert_eq!(a.history, b.history);
        assert!(straight.state.best.is_some());

        let bytes = crate::checkpoint::save_model(
            &straight.model,
            &straight.params,
            straight.final_weights(),
            &[("note", "x".into())],
        )
        .unwrap();
        let m = crate::checkpoint::load(&bytes).unwrap();
        assert!(m.state.is_none());
        assert_eq!(m.weights, straight.final_weights());
        assert_eq!(m.metadata.get("note").map(String::as_str), Some("x"));
        let mut corrupt = bytes.clone();
        corrupt.truncate(bytes.len() - 3);
        assert!(crate::checkpoint::load(&corrupt).is_err());
    }

    /// A shutdown asked for in the middle of an epoch: every replica stops after the same
    /// step, the state holds the partial epoch, and a run resumed from its checkpoint ends with
    /// the bits of an uninterrupted one.
    #[test]
    fn an_interrupted_epoch_checkpoints_mid_epoch_and_resumes_bit_for_bit() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let (users, ctx, val) = resume_fixture(9);
        let s = spec(Variant::GateScale, 12);
        let data = TrainData {
            rows: &users,
            context: Some(&ctx),
        };
        let mut straight = Trainer::new(s.clone(), toy_params(6)).unwrap();
        straight
            .fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |_, _| {
                Ok(true)
            })
            .unwrap();

        // 4 steps per epoch (20 users, batches of 6): step 6 is the second batch of epoch 2.
        let flag = Arc::new(AtomicBool::new(false));
        let mut first = Trainer::new(s.clone(), toy_params(6)).unwrap();
        first.set_interrupt(flag.clone());
        let r = first.fit(
            &mut Solo,
            &data,
            Some(&val),
            &mut |r| {
                if r.step == 5 {
                    flag.store(true, Ordering::SeqCst);
                }
            },
            &mut |_, _| Ok(true),
        );
        match r {
            Err(crate::VaeError::Interrupted { step, epoch }) => assert_eq!((step, epoch), (6, 2)),
            other => panic!("expected an interruption, got {other:?}"),
        }
        let st = first.state.clone();
        assert_eq!((st.step, st.epoch, st.history.len()), (6, 1, 1));
        let partial = st.partial.clone().expect("a partial epoch");
        assert_eq!(partial.batches, 2);
        let bytes =
            crate::checkpoint::save(&Model::new(s.clone()).unwrap(), &toy_params(6), &st).unwrap();
        let loaded = crate::checkpoint::load(&bytes).unwrap();
        let state = loaded.state.unwrap();
        assert_eq!(
            state.partial.as_ref(),
            Some(&partial),
            "the partial epoch survives the file"
        );
        let mut resumed = Trainer::from_state(loaded.spec, loaded.params, state).unwrap();
        resumed
            .fit(&mut Solo, &data, Some(&val), &mut |_| {}, &mut |_, _| {
                Ok(true)
            })
            .unwrap();
        let (a, b) = (timeless(&resumed.state), timeless(&straight.state));
        assert_eq!((a.step, a.epoch), (b.step, b.epoch));
        assert!(a.weights == b.weights, "weights");
        assert!(a.m == b.m && a.v == b.v, "Adam moments");
        assert!(a.best == b.best, "best epoch");
        assert_eq!(
            a.history, b.history,
            "epoch means, the interrupted one included"
        );
        assert!(a.partial.is_none());
    }

    /// Only one replica is signalled; the flag travels in the step's all-reduce, so both stop
    /// after the same step with the same state.
    #[test]
    fn a_signal_on_one_replica_stops_all_of_them_after_the_same_step() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let users = random_users(&mut rng, 23, 15, 0.3);
        let ctx = random_context(&mut rng, 23, 3);
        let s = spec(Variant::GateLiteral, 15);
        let members = ThreadGroup::new(2);
        let outcomes: Vec<(Result<(), String>, crate::train::TrainState)> =
            std::thread::scope(|sc| {
                let hs: Vec<_> = members
                    .into_iter()
                    .enumerate()
                    .map(|(rank, mut m)| {
                        let (s, users, ctx) = (s.clone(), &users, &ctx);
                        sc.spawn(move || {
                            let flag = Arc::new(AtomicBool::new(false));
                            let mut t = Trainer::new(s, toy_params(8)).unwrap();
                            t.set_interrupt(flag.clone());
                            let data = TrainData {
                                rows: users,
                                context: Some(ctx),
                            };
                            let r = t.fit(
                                &mut m,
                                &data,
                                None,
                                &mut |r| {
                                    if rank == 1 && r.step == 4 {
                                        flag.store(true, Ordering::SeqCst);
                                    }
                                },
                                &mut |_, _| Ok(true),
                            );
                            (r.map_err(|e| e.to_string()), t.state.clone())
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
        for (r, st) in &outcomes {
            let e = r.as_ref().expect_err("every replica is interrupted");
            assert!(e.contains("interrupted after step 5"), "{e}");
            assert_eq!(st.step, 5);
            assert!(st.partial.is_some());
        }
        assert!(
            timeless(&outcomes[0].1) == timeless(&outcomes[1].1),
            "replicas hold the same state"
        );
    }
}
