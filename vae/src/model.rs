//! The network (paper Sec. 3.3, Figure 7; Liang et al. 2018) on the `kernels` ops: forward,
//! loss, backward, and scoring.
//!
//! ```text
//! x (sparse, normalised, dropped out)      c (context)
//! enc1   = tanh(x W1 [+ c Wc] + b1)        gate = sigmoid(c Wg + bg)      (gated variants)
//! mu     = enc1 Wmu + bmu,  logvar = enc1 Wlv + blv
//! z      = reparameterise(mu, logvar, eps, gate)                         (kernels::latent)
//! dec1   = tanh(z W3 + b3)
//! logits = dec1 W4 + b4    -> multinomial log-likelihood against x's counts
//! loss   = mean over users of (NLL + beta KL)
//! ```
//!
//! The paper writes `mu = tanh(...)`, `sigma = tanh(...)` and a tanh on the output; like Liang
//! et al.'s code (which the paper extends) mu and the log-variance are linear, so sigma =
//! exp(logvar / 2) stays positive, and the output is linear logits for the softmax.

use archetype_kernels::cpu::dense::{
    activation_backward, bias_activation, column_sums, gemm, Activation, Operand,
};
use archetype_kernels::cpu::latent::{
    kl_divergence, reparameterise, reparameterise_backward, GateMode, Latent,
};
use archetype_kernels::cpu::softmax::multinomial_nll;
use archetype_kernels::cpu::sparse::{spmm, spmm_transpose_acc, transpose};

use crate::data::Batch;
use crate::params::{self, Layout};
use crate::spec::{ModelSpec, Variant};
use crate::VaeError;

/// A model's shape and where its tensors live.
#[derive(Clone, Debug)]
pub struct Model {
    pub spec: ModelSpec,
    pub layout: Layout,
}

/// Views of every tensor of one flat buffer (weights or gradients).
struct Parts<T> {
    enc1_w: T,
    enc1_b: T,
    enc1_ctx: Option<T>,
    mu_w: T,
    mu_b: T,
    lv_w: T,
    lv_b: T,
    gate_w: Option<T>,
    gate_b: Option<T>,
    dec1_w: T,
    dec1_b: T,
    dec2_w: T,
    dec2_b: T,
}

macro_rules! parts {
    ($layout:expr, $buf:expr, $split:ident) => {{
        let mut rest = $buf;
        let mut take = |name: &str| {
            let len = $layout.get(name).map_or(0, |t| t.len());
            let (head, tail) = std::mem::take(&mut rest).$split(len);
            rest = tail;
            head
        };
        // In layout order (see `Layout::new`).
        let enc1_w = take(params::ENC1_W);
        let enc1_b = take(params::ENC1_B);
        let has = |n: &str| $layout.get(n).is_some();
        let enc1_ctx = has(params::ENC1_CTX).then(|| take(params::ENC1_CTX));
        let mu_w = take(params::MU_W);
        let mu_b = take(params::MU_B);
        let lv_w = take(params::LV_W);
        let lv_b = take(params::LV_B);
        let gated = has(params::GATE_W);
        let gate_w = gated.then(|| take(params::GATE_W));
        let gate_b = gated.then(|| take(params::GATE_B));
        let dec1_w = take(params::DEC1_W);
        let dec1_b = take(params::DEC1_B);
        let dec2_w = take(params::DEC2_W);
        let dec2_b = take(params::DEC2_B);
        Parts {
            enc1_w,
            enc1_b,
            enc1_ctx,
            mu_w,
            mu_b,
            lv_w,
            lv_b,
            gate_w,
            gate_b,
            dec1_w,
            dec1_b,
            dec2_w,
            dec2_b,
        }
    }};
}

/// Activations of one batch, kept between forward and backward and reused across steps.
#[derive(Clone, Debug, Default)]
pub struct Activations {
    h1: Vec<f32>,
    mu: Vec<f32>,
    lv: Vec<f32>,
    gate: Vec<f32>,
    z: Vec<f32>,
    h2: Vec<f32>,
    /// The logits, replaced by their gradient in the backward pass.
    pub logits: Vec<f32>,
    d_h2: Vec<f32>,
    d_z: Vec<f32>,
    d_mu: Vec<f32>,
    d_lv: Vec<f32>,
    d_gate: Vec<f32>,
    d_h1: Vec<f32>,
}

fn sized(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Sums over a batch of the two terms of the loss (unscaled, per user).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSums {
    pub nll: f64,
    pub kl: f64,
}

impl Model {
    pub fn new(spec: ModelSpec) -> Result<Model, VaeError> {
        spec.check()?;
        let layout = Layout::new(&spec);
        Ok(Model { spec, layout })
    }

    pub fn parameters(&self) -> usize {
        self.layout.total
    }

    fn check(&self, w: &[f32], batch: &Batch) -> Result<(), VaeError> {
        self.check_shapes(w.len(), batch)
    }

    /// [`Model::check_shapes`], plus a gradient of the weights' size and the batch's noise
    /// draws, which a training step needs (both backends).
    pub(crate) fn check_training(
        &self,
        weights: usize,
        grads: usize,
        batch: &Batch,
    ) -> Result<(), VaeError> {
        self.check_shapes(weights, batch)?;
        if grads != weights {
            return Err(VaeError::Shape(format!(
                "{grads} gradients for {weights} weights"
            )));
        }
        if batch.eps.len() != batch.rows * self.spec.latent {
            return Err(VaeError::Shape(
                "a training batch needs the latent noise draws".into(),
            ));
        }
        Ok(())
    }

    /// The weights' count and the batch's tracks and context against the model (both
    /// backends check the same things).
    pub(crate) fn check_shapes(&self, weights: usize, batch: &Batch) -> Result<(), VaeError> {
        if weights != self.layout.total {
            return Err(VaeError::Shape(format!(
                "{weights} weights given, the model has {}",
                self.layout.total
            )));
        }
        if batch.items != self.spec.items {
            return Err(VaeError::Shape(format!(
                "a batch over {} tracks for a model of {}",
                batch.items, self.spec.items
            )));
        }
        let c = if self.spec.variant.uses_context() {
            self.spec.context
        } else {
            0
        };
        if batch.context.len() != batch.rows * c {
            return Err(VaeError::Shape(format!(
                "{} context values for {} users of {c} features",
                batch.context.len(),
                batch.rows
            )));
        }
        Ok(())
    }

    /// The forward pass up to the logits; `train` uses the batch's noise draws.
    fn forward(&self, w: &[f32], batch: &Batch, train: bool, a: &mut Activations) {
        let (n, h, l, c, b) = (
            self.spec.items,
            self.spec.hidden,
            self.spec.latent,
            self.spec.context,
            batch.rows,
        );
        let p = parts!(self.layout, w, split_at);
        sized(&mut a.h1, b * h);
        spmm(batch.input(), p.enc1_w, h, &mut a.h1, false);
        if let Some(wc) = p.enc1_ctx {
            gemm(
                &mut a.h1,
                Operand::new(&batch.context, b, c),
                Operand::new(wc, c, h),
                true,
            );
        }
        bias_activation(&mut a.h1, p.enc1_b, Activation::Tanh);
        sized(&mut a.mu, b * l);
        sized(&mut a.lv, b * l);
        gemm(
            &mut a.mu,
            Operand::new(&a.h1, b, h),
            Operand::new(p.mu_w, h, l),
            false,
        );
        bias_activation(&mut a.mu, p.mu_b, Activation::Identity);
        gemm(
            &mut a.lv,
            Operand::new(&a.h1, b, h),
            Operand::new(p.lv_w, h, l),
            false,
        );
        bias_activation(&mut a.lv, p.lv_b, Activation::Identity);
        let mode = self.spec.variant.gate();
        if let (Some(gw), Some(gb)) = (p.gate_w, p.gate_b) {
            sized(&mut a.gate, b * l);
            gemm(
                &mut a.gate,
                Operand::new(&batch.context, b, c),
                Operand::new(gw, c, l),
                false,
            );
            bias_activation(&mut a.gate, gb, Activation::Sigmoid);
        } else {
            a.gate.clear();
        }
        sized(&mut a.z, b * l);
        let latent = Latent {
            mu: &a.mu,
            logvar: &a.lv,
            eps: (train && !batch.eps.is_empty()).then_some(&batch.eps[..]),
            gate: (mode != GateMode::Off).then_some(&a.gate[..]),
        };
        reparameterise(&latent, mode, &mut a.z);
        sized(&mut a.h2, b * h);
        gemm(
            &mut a.h2,
            Operand::new(&a.z, b, l),
            Operand::new(p.dec1_w, l, h),
            false,
        );
        bias_activation(&mut a.h2, p.dec1_b, Activation::Tanh);
        sized(&mut a.logits, b * n);
        gemm(
            &mut a.logits,
            Operand::new(&a.h2, b, h),
            Operand::new(p.dec2_w, h, n),
            false,
        );
        bias_activation(&mut a.logits, p.dec2_b, Activation::Identity);
    }

    /// Scores (logits) of every track for the users of `batch`: the code is the mean, times
    /// the gate for [`Variant::GateScale`]. Written into `a.logits`, `batch.rows x items`.
    pub fn score(&self, w: &[f32], batch: &Batch, a: &mut Activations) -> Result<(), VaeError> {
        self.check(w, batch)?;
        self.forward(w, batch, false, a);
        Ok(())
    }

    /// The loss of `batch` with KL weight `beta`, and `scale` times its gradient added to
    /// `grads` (callers zero it per step and pass `scale = 1 / global batch`). Returns the
    /// batch's sums of the multinomial NLL and of the KL.
    pub fn loss_and_gradient(
        &self,
        w: &[f32],
        batch: &Batch,
        beta: f32,
        scale: f32,
        grads: &mut [f32],
        a: &mut Activations,
    ) -> Result<LossSums, VaeError> {
        self.check_training(w.len(), grads.len(), batch)?;
        let (n, h, l, c, b) = (
            self.spec.items,
            self.spec.hidden,
            self.spec.latent,
            self.spec.context,
            batch.rows,
        );
        self.forward(w, batch, true, a);
        let p = parts!(self.layout, w, split_at);
        let g = parts!(self.layout, grads, split_at_mut);

        let nll = multinomial_nll(&mut a.logits, batch.target(), scale);
        let d_logits = &a.logits;
        gemm(
            g.dec2_w,
            Operand::new(&a.h2, b, h).t(),
            Operand::new(d_logits, b, n),
            true,
        );
        column_sums(d_logits, g.dec2_b);
        sized(&mut a.d_h2, b * h);
        gemm(
            &mut a.d_h2,
            Operand::new(d_logits, b, n),
            Operand::new(p.dec2_w, h, n).t(),
            false,
        );
        activation_backward(&mut a.d_h2, &a.h2, Activation::Tanh);
        gemm(
            g.dec1_w,
            Operand::new(&a.z, b, l).t(),
            Operand::new(&a.d_h2, b, h),
            true,
        );
        column_sums(&a.d_h2, g.dec1_b);
        sized(&mut a.d_z, b * l);
        gemm(
            &mut a.d_z,
            Operand::new(&a.d_h2, b, h),
            Operand::new(p.dec1_w, l, h).t(),
            false,
        );

        let mode = self.spec.variant.gate();
        sized(&mut a.d_mu, b * l);
        sized(&mut a.d_lv, b * l);
        sized(&mut a.d_gate, if mode == GateMode::Off { 0 } else { b * l });
        let latent = Latent {
            mu: &a.mu,
            logvar: &a.lv,
            eps: Some(&batch.eps),
            gate: (mode != GateMode::Off).then_some(&a.gate[..]),
        };
        reparameterise_backward(
            &latent,
            mode,
            &a.d_z,
            &mut a.d_mu,
            &mut a.d_lv,
            (mode != GateMode::Off).then_some(&mut a.d_gate[..]),
        );
        let kl = kl_divergence(&a.mu, &a.lv, l, beta * scale, &mut a.d_mu, &mut a.d_lv);
        if let (Some(gw), Some(gb)) = (g.gate_w, g.gate_b) {
            activation_backward(&mut a.d_gate, &a.gate, Activation::Sigmoid);
            gemm(
                gw,
                Operand::new(&batch.context, b, c).t(),
                Operand::new(&a.d_gate, b, l),
                true,
            );
            column_sums(&a.d_gate, gb);
        }
        for (dw, db, d) in [(g.mu_w, g.mu_b, &a.d_mu), (g.lv_w, g.lv_b, &a.d_lv)] {
            gemm(
                dw,
                Operand::new(&a.h1, b, h).t(),
                Operand::new(d, b, l),
                true,
            );
            column_sums(d, db);
        }
        sized(&mut a.d_h1, b * h);
        gemm(
            &mut a.d_h1,
            Operand::new(&a.d_mu, b, l),
            Operand::new(p.mu_w, h, l).t(),
            false,
        );
        gemm(
            &mut a.d_h1,
            Operand::new(&a.d_lv, b, l),
            Operand::new(p.lv_w, h, l).t(),
            true,
        );
        activation_backward(&mut a.d_h1, &a.h1, Activation::Tanh);
        let xt = transpose(batch.input());
        spmm_transpose_acc(&xt, &a.d_h1, h, g.enc1_w);
        column_sums(&a.d_h1, g.enc1_b);
        if let Some(dc) = g.enc1_ctx {
            gemm(
                dc,
                Operand::new(&batch.context, b, c).t(),
                Operand::new(&a.d_h1, b, h),
                true,
            );
        }
        Ok(LossSums {
            nll: nll.iter().sum(),
            kl: kl.iter().sum(),
        })
    }

    /// The context features a variant reads (`None` for the plain VAE).
    pub fn wants_context(&self) -> bool {
        self.spec.variant != Variant::Plain
    }
}
