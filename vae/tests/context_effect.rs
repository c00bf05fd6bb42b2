//! On users whose group decides what they play, and whose held-out input says nothing about
//! the group, a model that reads the group as context must beat the plain Mult-VAE; given a
//! context that carries no signal (a label drawn independently of the group), none may beat
//! it by more than the noise between two plain models trained with different seeds.

use archetype_eval::metrics::{user_metrics, Metric};
use archetype_vae::{
    ContextRows, InputKind, ModelSpec, Solo, TrainData, TrainParams, Trainer, UserRows, Validation,
    Variant,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const GROUPS: usize = 3;
const PER_GROUP: u32 = 20;
const SHARED: u32 = 3;
const ITEMS: usize = GROUPS * PER_GROUP as usize + SHARED as usize;

/// Users of random groups: `shared` tracks from the common pool, `own` from the group's.
fn users(
    rng: &mut ChaCha8Rng,
    n: usize,
    shared: usize,
    own: usize,
) -> (Vec<Vec<(u32, f32)>>, Vec<i32>) {
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for _ in 0..n {
        let g = rng.random_range(0..GROUPS);
        let mut row: Vec<(u32, f32)> = Vec::new();
        while row.len() < shared {
            let t = GROUPS as u32 * PER_GROUP + rng.random_range(0..SHARED);
            if !row.iter().any(|c| c.0 == t) {
                row.push((t, 1.0));
            }
        }
        while row.len() < shared + own {
            let t = g as u32 * PER_GROUP + rng.random_range(0..PER_GROUP);
            if !row.iter().any(|c| c.0 == t) {
                row.push((t, 1.0));
            }
        }
        rows.push(row);
        groups.push(g as i32);
    }
    (rows, groups)
}

fn ndcg(t: &mut Trainer, val: &Validation) -> f64 {
    let lists = t.recommend(&val.input, val.context.as_ref(), 10).unwrap();
    let mut sum = 0.0;
    for (l, target) in lists.iter().zip(&val.targets) {
        sum += user_metrics(l, target, &[10])
            .and_then(|m| m.get(&[10], Metric::Ndcg, 10))
            .unwrap_or(0.0);
    }
    sum / lists.len() as f64
}

const ALL: [Variant; 4] = [
    Variant::Plain,
    Variant::GateLiteral,
    Variant::GateScale,
    Variant::Concat,
];

/// NDCG@10 of each of `variants` trained with `seed`, given `context_of` the user's group as
/// its context label.
fn scores(
    context_of: impl Fn(&mut ChaCha8Rng, i32) -> i32,
    seed: u64,
    variants: &[Variant],
) -> Vec<(Variant, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (train_rows, train_groups) = users(&mut rng, 600, 2, 8);
    let train = UserRows::new(ITEMS, train_rows).unwrap();
    let mut labels = ChaCha8Rng::seed_from_u64(99);
    let train_labels: Vec<i32> = train_groups
        .iter()
        .map(|&g| context_of(&mut labels, g))
        .collect();
    let train_ctx = ContextRows::one_hot(&train_labels, GROUPS).unwrap();
    // Held out: the input is two shared tracks only; the targets are the group's tracks.
    let (held_rows, held_groups) = users(&mut rng, 150, 2, 8);
    let input = UserRows::new(ITEMS, held_rows.iter().map(|r| r[..2].to_vec())).unwrap();
    let targets: Vec<Vec<u32>> = held_rows
        .iter()
        .map(|r| {
            let mut t: Vec<u32> = r[2..].iter().map(|c| c.0).collect();
            t.sort_unstable();
            t
        })
        .collect();
    let held_labels: Vec<i32> = held_groups
        .iter()
        .map(|&g| context_of(&mut labels, g))
        .collect();
    let val = Validation {
        input,
        context: Some(ContextRows::one_hot(&held_labels, GROUPS).unwrap()),
        targets,
    };
    let params = TrainParams {
        epochs: 40,
        batch: 100,
        lr: 3e-3,
        anneal_steps: 100,
        input: InputKind::Binary,
        patience: 0,
        seed,
        ..TrainParams::default()
    };
    let mut scores = Vec::new();
    for &variant in variants {
        let spec = ModelSpec {
            items: ITEMS,
            hidden: 32,
            latent: 8,
            context: if variant == Variant::Plain { 0 } else { GROUPS },
            variant,
        };
        let mut t = Trainer::new(spec, params.clone()).unwrap();
        let data = TrainData {
            rows: &train,
            context: Some(&train_ctx),
        };
        t.fit(&mut Solo, &data, None, &mut |_| {}, &mut |_, _| Ok(true))
            .unwrap();
        scores.push((variant, ndcg(&mut t, &val)));
    }
    scores
}

#[test]
fn context_beats_the_plain_vae_when_the_input_cannot_tell_the_group() {
    let scores = scores(|_, g| g, 7, &ALL);
    eprintln!("NDCG@10 by variant: {scores:?}");
    let plain = scores[0].1;
    // Guessing the group: a third of the lists hit, at 8 of 20 tracks.
    assert!(plain < 0.45, "the plain VAE cannot know the group: {plain}");
    for &(v, s) in &scores[2..] {
        assert!(
            s > plain + 0.2,
            "{v:?}: {s} against the plain VAE's {plain}"
        );
    }
}

/// The paper-literal gate is left out of the margin above: at test time z = mu, so it can only
/// act through what training taught the encoder, which here is nothing the input can show.
#[test]
fn a_context_without_signal_beats_the_plain_vae_by_no_more_than_noise() {
    let noise = |rng: &mut ChaCha8Rng, _: i32| rng.random_range(0..GROUPS as i32);
    let other_seed = scores(noise, 42, &[Variant::Plain])[0].1;
    let scores = scores(noise, 7, &ALL);
    let spread = (scores[0].1 - other_seed).abs();
    eprintln!("NDCG@10 by variant with noise context: {scores:?}; plain at seed 42: {other_seed}");
    let plain = scores[0].1;
    // The margin: the seed-to-seed spread of the plain model, and never less than 0.05 (a
    // quarter of the 0.2 the informative context gains above).
    let margin = (2.0 * spread).max(0.05);
    for &(v, s) in &scores[1..] {
        assert!(
            s < plain + margin,
            "{v:?}: {s} against the plain VAE's {plain} (margin {margin})"
        );
    }
}
