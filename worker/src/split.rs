//! Training, validation and test users, and held-out users' input/target split.
//!
//! Every worker receives the sorted list of all kept users, so each computes the same choice
//! of held-out users locally: users are ordered by a seeded hash of their id, the first ones
//! are validation users, the next ones test users. A held-out user's interactions are split
//! with a random generator seeded by the job seed and the user id alone, so the outcome does
//! not depend on which worker holds the user, nor on how many workers there are.

use archetype_job::config::{EvalConfig, SplitProtocol};
use archetype_job::hash::mix64;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Hypergeometric};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "validation" => Some(Split::Validation),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

fn user_key(seed: u64, user: u32, salt: u64) -> u64 {
    mix64(mix64(seed ^ salt) ^ u64::from(user))
}

/// How many users each held-out set gets out of `users`.
pub fn heldout_sizes(users: usize, cfg: &EvalConfig) -> (usize, usize) {
    let cap = (users as f64 * cfg.heldout_fraction).floor() as usize;
    (cfg.validation_users.min(cap), cfg.test_users.min(cap))
}

/// The split of every kept user, aligned with `kept_users` (sorted ids of all kept users).
pub fn assign(kept_users: &[u32], cfg: &EvalConfig) -> Vec<Split> {
    let (n_val, n_test) = heldout_sizes(kept_users.len(), cfg);
    let mut order: Vec<(u64, u32, usize)> = kept_users
        .iter()
        .enumerate()
        .map(|(i, &u)| (user_key(cfg.seed, u, 0x5EED_05E7), u, i))
        .collect();
    // Only the first n_val + n_test positions matter: no need to sort all users.
    let take = (n_val + n_test).min(order.len());
    if take < order.len() {
        order.select_nth_unstable(take);
    }
    order[..take].sort_unstable();
    let mut out = vec![Split::Train; kept_users.len()];
    for (rank, &(_, _, i)) in order[..take].iter().enumerate() {
        out[i] = if rank < n_val {
            Split::Validation
        } else {
            Split::Test
        };
    }
    out
}

/// One held-out interaction: plays given to the model as input and plays to be predicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldOutPair {
    pub track: u32,
    pub input: u32,
    pub target: u32,
}

/// Pairs with at most this many plays are split event by event rather than through a
/// hypergeometric draw.
const EVENT_BY_EVENT_MAX: u64 = 32;

/// Splits one held-out user's interactions (tracks ascending, plays > 0). By events, a
/// `target_fraction` share of the user's listening events (rounded) is drawn without
/// replacement, so a track may keep plays on both sides; by tracks, that share of the distinct
/// tracks is drawn and moves whole. Pairs with nothing on either side are not returned.
pub fn split_user(
    user: u32,
    pairs: &[(u32, u32)],
    protocol: SplitProtocol,
    target_fraction: f64,
    seed: u64,
) -> Vec<HeldOutPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(user_key(seed, user, 0x007A_26E7));
    let mut out: Vec<HeldOutPair> = pairs
        .iter()
        .map(|&(track, plays)| HeldOutPair {
            track,
            input: plays,
            target: 0,
        })
        .collect();
    match protocol {
        SplitProtocol::Events => {
            let total: u64 = pairs.iter().map(|&(_, p)| u64::from(p)).sum();
            let mut left_target = (total as f64 * target_fraction).round() as u64;
            let mut left = total;
            for p in &mut out {
                if left_target == 0 {
                    break;
                }
                let c = u64::from(p.input);
                // How many of this track's events fall among the target events still to be
                // drawn: exact sequential sampling without replacement. Most pairs have few
                // plays, and building a `Hypergeometric` per pair was 12% of an ingest job's
                // CPU, so short pairs draw their events one by one (the same law: each event
                // is a target with probability targets-left / events-left).
                let k = if c <= EVENT_BY_EVENT_MAX {
                    let (mut k, mut l, mut lt) = (0u64, left, left_target);
                    for _ in 0..c {
                        if lt == 0 {
                            break;
                        }
                        if rng.random_range(0..l) < lt {
                            k += 1;
                            lt -= 1;
                        }
                        l -= 1;
                    }
                    k
                } else {
                    match Hypergeometric::new(left, left_target, c) {
                        Ok(h) => h.sample(&mut rng),
                        // Unreachable by construction (left_target <= left, c <= left); keep
                        // everything as input rather than panic.
                        Err(_) => 0,
                    }
                };
                let k = k.min(c).min(left_target);
                p.target = k as u32;
                p.input -= k as u32;
                left -= c;
                left_target -= k;
            }
        }
        SplitProtocol::Tracks => {
            let m = out.len();
            let n_target = ((m as f64 * target_fraction).round() as usize).min(m);
            for i in sample(&mut rng, m, n_target).into_iter() {
                out[i].target = out[i].input;
                out[i].input = 0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EvalConfig {
        EvalConfig {
            validation_users: 30,
            test_users: 20,
            heldout_fraction: 0.2,
            ..EvalConfig::default()
        }
    }

    #[test]
    fn held_out_sets_are_disjoint_sized_and_reproducible() {
        let users: Vec<u32> = (0..1000).map(|i| i * 3 + 1).collect();
        let a = assign(&users, &cfg());
        let b = assign(&users, &cfg());
        assert_eq!(a, b);
        let count = |s: Split| a.iter().filter(|x| **x == s).count();
        assert_eq!(count(Split::Validation), 30);
        assert_eq!(count(Split::Test), 20);
        assert_eq!(count(Split::Train), 950);
        // A different seed picks different users.
        let c = assign(&users, &EvalConfig { seed: 7, ..cfg() });
        assert_ne!(a, c);
    }

    #[test]
    fn small_data_caps_held_out_sets_by_fraction() {
        let users: Vec<u32> = (0..100).collect();
        let a = assign(&users, &cfg());
        assert_eq!(a.iter().filter(|x| **x == Split::Validation).count(), 20);
        assert_eq!(a.iter().filter(|x| **x == Split::Test).count(), 20);
    }

    /// A user's split depends on the user's own id, not on which other users exist: adding
    /// users only ever moves a user out of a held-out set when a lower key displaces it.
    #[test]
    fn assignment_is_by_key_order() {
        let users: Vec<u32> = (0..500).collect();
        let cfg = cfg();
        let a = assign(&users, &cfg);
        let mut keys: Vec<(u64, u32)> = users
            .iter()
            .map(|&u| (user_key(cfg.seed, u, 0x5EED_05E7), u))
            .collect();
        keys.sort_unstable();
        let (nv, nt) = heldout_sizes(users.len(), &cfg);
        for (rank, (_, u)) in keys.iter().enumerate() {
            let want = if rank < nv {
                Split::Validation
            } else if rank < nv + nt {
                Split::Test
            } else {
                Split::Train
            };
            assert_eq!(a[*u as usize], want);
        }
    }

    #[test]
    fn events_protocol_keeps_every_play_and_draws_the_share() {
        let pairs: Vec<(u32, u32)> = (0..50).map(|t| (t * 2, 1 + (t * 7) % 13)).collect();
        let total: u32 = pairs.iter().map(|p| p.1).sum();
        let s = split_user(9, &pairs, SplitProtocol::Events, 0.2, 42);
        assert_eq!(s.len(), pairs.len());
        for (h, &(t, p)) in s.iter().zip(&pairs) {
            assert_eq!(h.track, t);
            assert_eq!(h.input + h.target, p);
        }
        let target: u32 = s.iter().map(|h| h.target).sum();
        assert_eq!(target, (f64::from(total) * 0.2).round() as u32);
        assert_eq!(s, split_user(9, &pairs, SplitProtocol::Events, 0.2, 42));
        assert_ne!(s, split_user(10, &pairs, SplitProtocol::Events, 0.2, 42));
        // Some track has plays on both sides (the point of this protocol).
        assert!(s.iter().any(|h| h.input > 0 && h.target > 0));
    }

    /// Over many users, each event is a target with probability about target_fraction,
    /// whatever track it belongs to (no bias toward early or heavy tracks).
    #[test]
    fn events_protocol_is_unbiased_across_tracks() {
        let pairs: Vec<(u32, u32)> = vec![(0, 1), (1, 10), (2, 100), (3, 5)];
        let mut target = [0u64; 4];
        let runs = 4000;
        for u in 0..runs {
            for (i, h) in split_user(u, &pairs, SplitProtocol::Events, 0.2, 1)
                .iter()
                .enumerate()
            {
                target[i] += u64::from(h.target);
            }
        }
        for (i, &(_, p)) in pairs.iter().enumerate() {
            let share = target[i] as f64 / (runs as f64 * f64::from(p));
            assert!((share - 0.2).abs() < 0.03, "track {i}: {share}");
        }
    }

    /// Short pairs are drawn event by event; the count of a pair's events that land among the
    /// targets must still follow the hypergeometric law of drawing without replacement.
    #[test]
    fn light_pairs_follow_the_hypergeometric_law() {
        // 40 events, 10 targets: the first track's 8 events hold k targets with probability
        // C(10,k) C(30,8-k) / C(40,8).
        let pairs: Vec<(u32, u32)> = vec![(0, 8), (1, 32)];
        let choose = |n: u64, k: u64| -> f64 {
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        };
        let runs = 40_000u32;
        let mut hist = [0u32; 9];
        for u in 0..runs {
            let s = split_user(u, &pairs, SplitProtocol::Events, 0.25, 7);
            assert_eq!(s[0].target + s[1].target, 10);
            hist[s[0].target as usize] += 1;
        }
        for (k, &n) in hist.iter().enumerate() {
            let k = k as u64;
            let pmf = choose(10, k) * choose(30, 8 - k) / choose(40, 8);
            let got = f64::from(n) / f64::from(runs);
            assert!((got - pmf).abs() < 0.01, "k = {k}: {got} against {pmf}");
        }
    }

    #[test]
    fn tracks_protocol_moves_whole_tracks() {
        let pairs: Vec<(u32, u32)> = (0..40).map(|t| (t, 3)).collect();
        let s = split_user(5, &pairs, SplitProtocol::Tracks, 0.2, 42);
        assert!(s.iter().all(|h| (h.input == 0) != (h.target == 0)));
        assert_eq!(s.iter().filter(|h| h.target > 0).count(), 8);
    }
}
