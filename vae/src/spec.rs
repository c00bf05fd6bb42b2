//! What a model is (sizes, context variant) and how it is trained (the hyper-parameters).

use serde::{Deserialize, Serialize};

use archetype_kernels::cpu::latent::GateMode;

use crate::VaeError;

/// How the user's context enters the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Liang et al.'s Mult-VAE: no context.
    Plain,
    /// The paper's gate, eq. 6: `z = mu + sigma * eps * gate`; `z = mu` at inference.
    GateLiteral,
    /// `z = gate * (mu + sigma * eps)`; `z = gate * mu` at inference.
    GateScale,
    /// Footnote 13: the context vector concatenated to the track vector at the input.
    Concat,
}

impl Variant {
    pub fn gate(self) -> GateMode {
        match self {
            Variant::GateLiteral => GateMode::Literal,
            Variant::GateScale => GateMode::Scale,
            Variant::Plain | Variant::Concat => GateMode::Off,
        }
    }

    pub fn uses_context(self) -> bool {
        self != Variant::Plain
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::GateLiteral => "gate_literal",
            Variant::GateScale => "gate_scale",
            Variant::Concat => "concat",
        }
    }
}

/// The shape of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Tracks: the input and output width.
    pub items: usize,
    /// Width of `enc1` and `dec1` (the paper: 1,200).
    pub hidden: usize,
    /// Width of the latent code (the paper: 600).
    pub latent: usize,
    /// Length of the context vector (0 for [`Variant::Plain`]).
    pub context: usize,
    pub variant: Variant,
}

impl ModelSpec {
    pub fn check(&self) -> Result<(), VaeError> {
        let bad = |why: String| Err(VaeError::Spec(why));
        if self.items == 0 || self.hidden == 0 || self.latent == 0 {
            return bad(format!(
                "items ({}), hidden ({}) and latent ({}) must be positive",
                self.items, self.hidden, self.latent
            ));
        }
        if u32::try_from(self.items).is_err() {
            return bad(format!(
                "{} items do not fit track indices (u32)",
                self.items
            ));
        }
        match (self.variant.uses_context(), self.context) {
            (true, 0) => bad(format!(
                "variant {} needs a context vector of positive length",
                self.variant.name()
            )),
            (false, c) if c > 0 => bad(format!(
                "the plain VAE takes no context, {c} features were given"
            )),
            _ => Ok(()),
        }
    }
}

/// What the track vector holds before normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// 1 for every track played (Liang et al.).
    #[default]
    Binary,
    /// Play counts; also the multinomial's counts, so re-listening weighs in the loss.
    Counts,
}

/// Hyper-parameters of training (Liang et al.'s defaults where the paper is silent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    pub epochs: usize,
    /// Users per optimiser step, over all replicas.
    pub batch: usize,
    pub lr: f32,
    /// The cap of the KL weight beta.
    pub beta_cap: f32,
    /// Steps over which beta grows linearly from 0 to the cap.
    pub anneal_steps: u64,
    /// Share of a user's input tracks dropped in training.
    pub dropout: f32,
    pub input: InputKind,
    pub seed: u64,
    /// Stop when the validation NDCG@100 has not improved for this many epochs (0: never).
    pub patience: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 50,
            batch: 500,
            lr: 1e-3,
            beta_cap: 0.2,
            anneal_steps: 200_000,
            dropout: 0.5,
            input: InputKind::Binary,
            seed: 7,
            patience: 5,
        }
    }
}

impl TrainParams {
    pub fn check(&self) -> Result<(), VaeError> {
        let bad = |why: String| Err(VaeError::Spec(why));
        if self.batch == 0 {
            return bad("batch must be positive".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr {} must be positive", self.lr));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if !(self.beta_cap >= 0.0 && self.beta_cap.is_finite()) {
            return bad(format!("beta_cap {} must be >= 0", self.beta_cap));
        }
        Ok(())
    }

    /// The KL weight of the step after `done` steps (Liang et al.: `min(cap, done / total)`).
    pub fn beta(&self, done: u64) -> f32 {
        if self.anneal_steps == 0 {
            return self.beta_cap;
        }
        (done as f64 / self.anneal_steps as f64).min(f64::from(self.beta_cap)) as f32
    }
}
