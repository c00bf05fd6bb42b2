//! What training a VAE needs in memory on one replica, from sizes known before it starts, so
//! that a job can refuse a model that cannot fit instead of losing its workers to the
//! allocator.

use crate::params::Layout;
use crate::spec::ModelSpec;

const F32: u64 = std::mem::size_of::<f32>() as u64;

/// f32 vectors of the parameters' length a training replica holds: the weights, their
/// gradient, Adam's two moments ([`crate::train::Trainer::new`]), and one more for the
/// all-reduce's chunks.
pub const PARAMETER_COPIES: u64 = 5;

/// Bytes one replica needs, by what holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaeMemory {
    /// [`PARAMETER_COPIES`] x the parameters of [`Layout::new`].
    pub parameters: u64,
    /// Per step, for `rows` users: the dense `rows x items` logits and their softmax (also
    /// the validation scores), the hidden layers and their gradients (4 x `hidden`), the
    /// latent ones (9 x `latent`: mu, log-variance, gate, z, noise and their gradients) and
    /// the context.
    pub activations: u64,
}

impl VaeMemory {
    pub fn total(&self) -> u64 {
        self.parameters.saturating_add(self.activations)
    }
}

/// The estimate for one replica training `spec` on `rows` users per step (its share of
/// `vae.batch`).
pub fn replica_bytes(spec: &ModelSpec, rows: usize) -> VaeMemory {
    let params = Layout::new(spec).total as u64;
    let (n, h, l, c) = (
        spec.items as u64,
        spec.hidden as u64,
        spec.latent as u64,
        spec.context as u64,
    );
    let per_row = (2 * n)
        .saturating_add(4 * h)
        .saturating_add(9 * l)
        .saturating_add(c);
    VaeMemory {
        parameters: params.saturating_mul(PARAMETER_COPIES * F32),
        activations: (rows as u64).saturating_mul(per_row).saturating_mul(F32),
    }
}

/// The bytes of every user's rows as one process holds them (a replica's share of a batch
/// may be any user): CSR of `cells` (u32 track, f32 value) over `users` rows, input and target.
pub fn user_rows_bytes(users: u64, cells: u64) -> u64 {
    let cell = std::mem::size_of::<u32>() as u64 + F32;
    2 * ((users + 1) * std::mem::size_of::<u64>() as u64).saturating_add(cells.saturating_mul(cell))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Variant;
    use crate::Model;

    fn spec(items: usize, variant: Variant) -> ModelSpec {
        ModelSpec {
            items,
            hidden: 12,
            latent: 5,
            context: if variant == Variant::Plain { 0 } else { 3 },
            variant,
        }
    }

    #[test]
    fn parameters_follow_the_real_layout() {
        for v in [
            Variant::Plain,
            Variant::GateLiteral,
            Variant::GateScale,
            Variant::Concat,
        ] {
            let s = spec(40, v);
            let model = Model::new(s.clone()).unwrap();
            let (n, h, l, c) = (40u64, 12u64, 5u64, s.context as u64);
            // enc1, mu, log-variance, dec1, dec2 with biases, then what the variant adds.
            let mut want = n * h + h + 2 * (h * l + l) + l * h + h + h * n + n;
            want += match v {
                Variant::Plain => 0,
                Variant::Concat => c * h,
                Variant::GateLiteral | Variant::GateScale => c * l + l,
            };
            assert_eq!(model.parameters() as u64, want, "{v:?}");
            let m = replica_bytes(&s, 0);
            assert_eq!(m.parameters, want * PARAMETER_COPIES * 4, "{v:?}");
            assert_eq!(m.activations, 0);
        }
    }

    #[test]
    fn the_paper_size_on_lfm_1b_needs_gigabytes_not_terabytes() {
        // 122,442 tracks at 1,200 x 600: 296 M weights, 5.9 GB in five copies.
        let s = ModelSpec {
            items: 122_442,
            hidden: 1_200,
            latent: 600,
            context: 0,
            variant: Variant::Plain,
        };
        let m = replica_bytes(&s, 500);
        assert!(
            m.parameters > 5_000_000_000 && m.parameters < 7_000_000_000,
            "{m:?}"
        );
        assert!(m.activations > 2 * 500 * 122_442 * 4, "{m:?}");
        assert!(m.total() < 8_000_000_000, "{m:?}");
    }
}
