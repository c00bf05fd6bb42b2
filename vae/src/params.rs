//! The model's parameters as one flat vector of named tensors.
//!
//! One buffer makes the all-reduce a single call over contiguous memory, Adam a single pass,
//! and a checkpoint a list of views. Offsets are `usize` (64-bit): at a million tracks and width
//! 1,200 one weight matrix alone holds 1.2 G values.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::spec::{ModelSpec, Variant};

/// Names of the tensors, as they appear in checkpoints.
pub const ENC1_W: &str = "enc1.weight";
pub const ENC1_B: &str = "enc1.bias";
pub const ENC1_CTX: &str = "enc1.context_weight";
pub const MU_W: &str = "enc_mu.weight";
pub const MU_B: &str = "enc_mu.bias";
pub const LV_W: &str = "enc_logvar.weight";
pub const LV_B: &str = "enc_logvar.bias";
pub const GATE_W: &str = "gate.weight";
pub const GATE_B: &str = "gate.bias";
pub const DEC1_W: &str = "dec1.weight";
pub const DEC1_B: &str = "dec1.bias";
pub const DEC2_W: &str = "dec2.weight";
pub const DEC2_B: &str = "dec2.bias";

/// One tensor: `rows x cols` row-major at `offset` (a bias has one row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub name: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }

    fn is_bias(&self) -> bool {
        self.name.ends_with(".bias")
    }
}

/// Where each tensor of a [`ModelSpec`] lives in the flat vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub tensors: Vec<Tensor>,
    pub total: usize,
}

impl Layout {
    pub fn new(spec: &ModelSpec) -> Layout {
        let (n, h, l, c) = (spec.items, spec.hidden, spec.latent, spec.context);
        let mut shapes: Vec<(&'static str, usize, usize)> = vec![(ENC1_W, n, h), (ENC1_B, 1, h)];
        if spec.variant == Variant::Concat {
            shapes.push((ENC1_CTX, c, h));
        }
        shapes.extend([(MU_W, h, l), (MU_B, 1, l), (LV_W, h, l), (LV_B, 1, l)]);
        if matches!(spec.variant, Variant::GateLiteral | Variant::GateScale) {
            shapes.extend([(GATE_W, c, l), (GATE_B, 1, l)]);
        }
        shapes.extend([
            (DEC1_W, l, h),
            (DEC1_B, 1, h),
            (DEC2_W, h, n),
            (DEC2_B, 1, n),
        ]);
        let mut offset = 0;
        let tensors = shapes
            .into_iter()
            .map(|(name, rows, cols)| {
                let t = Tensor {
                    name,
                    rows,
                    cols,
                    offset,
                };
                offset += rows * cols;
                t
            })
            .collect();
        Layout {
            tensors,
            total: offset,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Where the suffix made of exactly the tensors `done` (those of them this layout has)
    /// starts: the part of a gradient that is final once a backward pass has written them,
    /// which an overlapped all-reduce may start summing.
    ///
    /// # Errors
    /// When the tensors `done` are not a suffix of the layout: summing from their lowest
    /// offset would send values not yet written.
    pub fn suffix_start(&self, done: &[&str]) -> Result<usize, String> {
        let start = self
            .tensors
            .iter()
            .filter(|t| done.contains(&t.name))
            .map(|t| t.offset)
            .min()
            .unwrap_or(self.total);
        match self
            .tensors
            .iter()
            .find(|t| t.offset >= start && !t.is_empty() && !done.contains(&t.name))
        {
            Some(t) => Err(format!(
                "{} lies among {done:?} in the layout but is not final with them",
                t.name
            )),
            None => Ok(start),
        }
    }

    /// For stages of a backward pass, each finishing the tensors it lists (in order, from the
    /// output layer down), where the finished suffix starts after each stage.
    ///
    /// # Errors
    /// As [`Layout::suffix_start`], naming the stage whose finished tensors are no suffix.
    pub fn stage_starts(&self, stages: &[&[&'static str]]) -> Result<Vec<usize>, String> {
        let mut done: Vec<&str> = Vec::new();
        stages
            .iter()
            .map(|stage| {
                done.extend_from_slice(stage);
                self.suffix_start(&done)
            })
            .collect()
    }

    /// The range of a tensor the layout is known to hold.
    #[cfg(test)]
    pub(crate) fn range(&self, name: &str) -> std::ops::Range<usize> {
        self.get(name).map_or(0..0, Tensor::range)
    }

    /// Initial values: Glorot-uniform weights and `N(0, 0.001^2)` biases (Liang et al.), each
    /// tensor from its own stream of `seed`, so a tensor's values do not depend on which
    /// other tensors the variant has.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut w = vec![0f32; self.total];
        for t in &self.tensors {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(stream_of(t.name));
            let out = &mut w[t.range()];
            if t.is_bias() {
                for v in out.iter_mut() {
                    // Truncated at two standard deviations, as TensorFlow's initialiser.
                    *v = loop {
                        let x: f32 = StandardNormal.sample(&mut rng);
                        if x.abs() <= 2.0 {
                            break 0.001 * x;
                        }
                    };
                }
            } else {
                let a = (6.0 / (t.rows + t.cols) as f64).sqrt() as f32;
                for v in out.iter_mut() {
                    *v = rng.random_range(-a..a);
                }
            }
        }
        w
    }
}

/// A stable stream per tensor name (FNV-1a), so reordering the layout keeps the values.
fn stream_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(variant: Variant) -> ModelSpec {
        ModelSpec {
            items: 50,
            hidden: 8,
            latent: 4,
            context: if variant == Variant::Plain { 0 } else { 3 },
            variant,
        }
    }

    const VARIANTS: [Variant; 4] = [
        Variant::Plain,
        Variant::GateLiteral,
        Variant::GateScale,
        Variant::Concat,
    ];

    #[test]
    fn tensors_tile_the_vector_and_each_variant_has_its_own() {
        for v in VARIANTS {
            let l = Layout::new(&spec(v));
            let mut next = 0;
            for t in &l.tensors {
                assert_eq!(t.offset, next, "{}", t.name);
                next += t.len();
            }
            assert_eq!(next, l.total);
            assert_eq!(
                l.get(GATE_W).is_some(),
                v.gate() != archetype_kernels::cpu::latent::GateMode::Off
            );
            assert_eq!(l.get(ENC1_CTX).is_some(), v == Variant::Concat);
            assert_eq!(l.get(DEC2_W).map(|t| (t.rows, t.cols)), Some((8, 50)));
        }
    }

    /// The GPU backward pass hands these suffixes to the overlapped all-reduce in this
    /// order; a layout change that broke one would sum gradients before they are written.
    #[test]
    fn backward_stages_are_suffixes_of_every_layout() {
        for v in VARIANTS {
            let l = Layout::new(&spec(v));
            let starts = l.stage_starts(&crate::gpu::BACKWARD_STAGES).unwrap();
            assert!(starts[0] < l.total, "{v:?}: the output layer is a stage");
            assert!(starts.windows(2).all(|w| w[1] <= w[0]), "{v:?}: {starts:?}");
            let last = starts[starts.len() - 1];
            assert!(last > 0, "the encoder's input layer is left for the finish");
            assert!(l.suffix_start(&[ENC1_W, DEC2_B]).is_err());
            assert!(l.stage_starts(&[&[DEC2_W], &[ENC1_W]]).is_err());
            assert_eq!(l.suffix_start(&[]), Ok(l.total));
        }
    }

    #[test]
    fn initialisation_is_seeded_and_shared_tensors_agree_across_variants() {
        let a = Layout::new(&spec(Variant::Plain));
        let b = Layout::new(&spec(Variant::GateScale));
        let (wa, wb) = (a.init(3), b.init(3));
        assert_eq!(wa, a.init(3));
        assert_ne!(wa, a.init(4));
        for name in [ENC1_W, DEC2_W, DEC1_B] {
            assert_eq!(&wa[a.range(name)], &wb[b.range(name)], "{name}");
        }
        let bound = (6.0f32 / 58.0).sqrt();
        assert!(wa[a.range(ENC1_W)].iter().all(|v| v.abs() <= bound));
        assert!(wa[a.range(DEC2_B)].iter().all(|v| v.abs() <= 0.002));
        let mean: f32 = wa[a.range(ENC1_W)].iter().sum::<f32>() / 400.0;
        assert!(mean.abs() < 0.05, "{mean}");
    }
}
