//! The memory plan: before a training phase starts, what one member will need (from the
//! config and the sizes the aggregation found) against what each member reported at
//! registration. A plan that cannot fit fails the job at once, naming the config key to
//! change, rather than letting every worker abort in the allocator and be retried as lost.

use archetype_als::factor_memory::member_bytes;
use archetype_als::Shape;
use archetype_job::JobConfig;
use archetype_vae::replica_memory::{replica_bytes, user_rows_bytes};
use archetype_vae::{ModelSpec, Variant};

use crate::summary::Kept;

#[derive(Debug, thiserror::Error)]
pub enum MemoryPlanError {
    #[error(
        "{} = {} needs {} per member for {} ({}) but member {member} (host {host}) has {have} \
         available{shared}: lower {}",
        need.key, need.value, Bytes(need.bytes), need.model, need.detail, need.key
    )]
    TooLarge {
        need: Box<Need>,
        member: usize,
        host: String,
        have: Bytes,
        shared: String,
    },
}

/// A byte count shown in decimal GB (or MB), as `free` and cloud quotas show memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0 as f64;
        if b >= 1e9 {
            write!(f, "{:.1} GB", b / 1e9)
        } else {
            write!(f, "{:.1} MB", b / 1e6)
        }
    }
}

/// What a phase needs per member, and the config key that moves it most.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    pub model: &'static str,
    pub bytes: u64,
    pub key: &'static str,
    pub value: String,
    pub detail: String,
}

/// A member as the plan sees it: `available` is 0 when the worker did not say.
#[derive(Clone, Debug)]
pub struct MemberMemory {
    pub host: String,
    pub available: u64,
}

/// WMF-ALS on `members` processes of `cluster.threads` workers each.
pub fn als_need(config: &JobConfig, kept: &Kept, members: usize) -> Need {
    let shape = Shape {
        users: kept.users as usize,
        items: kept.tracks as usize,
    };
    let k = config.als.factors;
    let m = member_bytes(shape, kept.interactions, k, members, config.cluster.threads);
    let detail = format!(
        "dense factors (users + tracks) x factors x 4 B = ({} + {}) x {k} x 4 B = {}, k x k solves {}, \
         the member's share of {} pairs {}",
        kept.users,
        kept.tracks,
        Bytes(m.factors),
        Bytes(m.solves),
        kept.interactions,
        Bytes(m.cells)
    );
    // Factors and solves both grow with k; only the pairs are lowered by more members.
    let (key, value) = if m.cells > m.factors.saturating_add(m.solves) {
        ("cluster.workers", members.to_string())
    } else {
        ("als.factors", k.to_string())
    };
    Need {
        model: "WMF-ALS",
        bytes: m.total(),
        key,
        value,
        detail,
    }
}

/// The VAE's largest variant, one replica per timely worker, each with its share of
/// `vae.batch`; every process holds all users' rows.
pub fn vae_need(config: &JobConfig, kept: &Kept, members: usize) -> Need {
    let v = &config.vae;
    let threads = config.cluster.threads.max(1);
    let replicas = members.max(1) * threads;
    // Context vectors are at most one entry per country (ids one-hot, distances per country).
    let context = kept.countries.max(1) as usize;
    let variant = if !v.concat.is_empty() {
        Variant::Concat
    } else if !v.contexts.is_empty() {
        Variant::GateScale
    } else {
        Variant::Plain
    };
    let spec = ModelSpec {
        items: kept.tracks as usize,
        hidden: v.hidden,
        latent: v.latent,
        context: if variant == Variant::Plain {
            0
        } else {
            context
        },
        variant,
    };
    // A step never holds more users than there are: a batch above them is the whole set.
    let step_users = v
        .batch
        .min(usize::try_from(kept.users).unwrap_or(usize::MAX))
        .max(1);
    let r = replica_bytes(&spec, step_users.div_ceil(replicas));
    let data = user_rows_bytes(kept.users, kept.interactions);
    let t = threads as u64;
    let detail = format!(
        "{threads} replica(s) x (weights, gradient, two Adam moments and an all-reduce \
         buffer of tracks x hidden x 2 + hidden x latent x 3 + ... parameters = {} + \
         activations of {} users x tracks per step = {}) + user rows {}",
        Bytes(r.parameters),
        step_users.div_ceil(replicas),
        Bytes(r.activations),
        Bytes(data)
    );
    let (key, value) = if r.activations > r.parameters {
        ("vae.batch", v.batch.to_string())
    } else {
        ("vae.hidden", v.hidden.to_string())
    };
    Need {
        model: "the VAE",
        bytes: r.total().saturating_mul(t).saturating_add(data),
        key,
        value,
        detail,
    }
}

/// Fails when `need` does not fit a member. Members on one host share its memory (the local
/// launcher puts them all on one), so a host must hold the need of each of its members.
pub fn check(need: &Need, members: &[MemberMemory]) -> Result<(), MemoryPlanError> {
    for (i, m) in members.iter().enumerate() {
        if m.available == 0 {
            continue;
        }
        let on_host = members.iter().filter(|o| o.host == m.host).count() as u64;
        let host_need = need.bytes.saturating_mul(on_host);
        if host_need > m.available {
            return Err(MemoryPlanError::TooLarge {
                need: Box::new(need.clone()),
                member: i,
                host: m.host.clone(),
                have: Bytes(m.available),
                shared: if on_host > 1 {
                    format!(
                        " for the {on_host} members on that host ({} needed)",
                        Bytes(host_need)
                    )
                } else {
                    String::new()
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [input]
        events = ["e.txt"]
        users = "u.txt"
    "#;

    fn config(sets: &[&str]) -> JobConfig {
        let o: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        JobConfig::from_toml_with(MINIMAL, "t", &o).unwrap()
    }

    fn kept() -> Kept {
        Kept {
            users: 120_000,
            tracks: 80_000,
            countries: 50,
            interactions: 10_000_000,
            events: 100_000_000,
        }
    }

    fn hosts(gb: &[(&str, f64)]) -> Vec<MemberMemory> {
        gb.iter()
            .map(|(h, g)| MemberMemory {
                host: h.to_string(),
                available: (g * 1e9) as u64,
            })
            .collect()
    }

    #[test]
    fn als_that_cannot_fit_fails_naming_als_factors() {
        let need = als_need(&config(&["als.factors=4096"]), &kept(), 2);
        let e = check(&need, &hosts(&[("a", 64.0), ("b", 2.0)]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("als.factors = 4096 needs"), "{e}");
        assert!(e.contains("member 1 (host b) has 2.0 GB available"), "{e}");
        assert!(e.ends_with("lower als.factors"), "{e}");
    }

    #[test]
    fn als_that_fits_passes() {
        let need = als_need(&config(&[]), &kept(), 2);
        check(&need, &hosts(&[("a", 16.0), ("b", 16.0)])).unwrap();
        // A worker that did not report its memory is not held against the plan.
        check(&need, &hosts(&[("a", 0.0)])).unwrap();
    }

    #[test]
    fn members_on_one_host_share_it() {
        let need = als_need(&config(&["als.factors=1024"]), &kept(), 2);
        let gb = need.bytes as f64 / 1e9;
        check(&need, &hosts(&[("a", gb * 1.5), ("b", gb * 1.5)])).unwrap();
        let e = check(&need, &hosts(&[("a", gb * 1.5), ("a", gb * 1.5)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("for the 2 members on that host"), "{e}");
    }

    #[test]
    fn vae_that_cannot_fit_fails_naming_the_key_that_dominates() {
        let c = config(&["vae.hidden=16384"]);
        let e = check(
            &vae_need(&c, &kept(), 2),
            &hosts(&[("a", 32.0), ("b", 32.0)]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("vae.hidden = 16384 needs"), "{e}");
        assert!(e.ends_with("lower vae.hidden"), "{e}");
        let c = config(&["vae.batch=200000", "vae.hidden=64", "vae.latent=32"]);
        let e = check(
            &vae_need(&c, &kept(), 2),
            &hosts(&[("a", 32.0), ("b", 32.0)]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.ends_with("lower vae.batch"), "{e}");
        // A batch above the users costs what the users do.
        let all = vae_need(&config(&["vae.batch=120000"]), &kept(), 2).bytes;
        assert_eq!(
            vae_need(&config(&["vae.batch=9000000"]), &kept(), 2).bytes,
            all
        );
        check(
            &vae_need(&config(&[]), &kept(), 2),
            &hosts(&[("a", 32.0), ("b", 32.0)]),
        )
        .unwrap();
    }
}
