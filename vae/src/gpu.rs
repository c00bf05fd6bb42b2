//! The network of [`crate::model`] on a CUDA device: the same forward pass, loss and backward
//! pass, op for op, with the weights, gradients and activations in device memory and each
//! CPU kernel replaced by its counterpart in `archetype_kernels::cuda::device`. The batch is
//! built on the host (it is sparse and small) and uploaded per step.
//!
//! Tested against the CPU model on random batches (`tests/gpu_model.rs`, on a GPU machine).

use std::sync::Arc;

use archetype_kernels::cpu::dense::Activation;
use archetype_kernels::cpu::latent::GateMode;
use archetype_kernels::cpu::sparse::{transpose, CsrRef};
use archetype_kernels::cuda::cudarc::driver::{CudaSlice, CudaView};
use archetype_kernels::cuda::device::{CudaDevice, DevCsr, DevOperand};
use archetype_kernels::cuda::nccl::GradientReducer;
use archetype_kernels::cuda::CudaError;

use crate::data::Batch;
use crate::model::{LossSums, Model};
use crate::params;
use crate::VaeError;

impl From<CudaError> for VaeError {
    fn from(e: CudaError) -> Self {
        VaeError::Device(e.to_string())
    }
}

/// The tensors each stage of the backward pass finishes, from the output layer down; after
/// each stage the finished tensors are a suffix of the parameter layout
/// ([`params::Layout::stage_starts`]), which an overlapped all-reduce sums while the layers
/// below are computed. The encoder's input layer (the largest with the output layer) is
/// summed by the reducer's finish.
pub const BACKWARD_STAGES: [&[&str]; 4] = [
    &[params::DEC2_W, params::DEC2_B],
    &[params::DEC1_W, params::DEC1_B],
    &[params::GATE_W, params::GATE_B],
    &[params::MU_W, params::MU_B, params::LV_W, params::LV_B],
];

/// Device buffers of one batch's activations, grown to the largest batch seen and used
/// through views of the current batch's size.
#[derive(Default)]
struct DevActs {
    rows: usize,
    bufs: Vec<(Slot, CudaSlice<f32>)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    H1,
    Mu,
    Lv,
    Gate,
    Z,
    H2,
    Logits,
    DH2,
    DZ,
    DMu,
    DLv,
    DGate,
    DH1,
}

/// The Mult-VAE on one device.
pub struct GpuModel {
    pub model: Model,
    dev: Arc<CudaDevice>,
    acts: DevActs,
}

/// A batch in device memory.
struct DevBatch {
    input: DevCsr,
    input_t: DevCsr,
    target: DevCsr,
    context: Option<CudaSlice<f32>>,
    eps: Option<CudaSlice<f32>>,
}

fn upload_csr(dev: &CudaDevice, m: CsrRef<'_>) -> Result<DevCsr, CudaError> {
    dev.upload_csr(m.offsets, m.indices, m.values, m.cols)
}

impl GpuModel {
    pub fn new(model: Model, dev: Arc<CudaDevice>) -> Self {
        GpuModel {
            model,
            dev,
            acts: DevActs::default(),
        }
    }

    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }

    /// Uploads host weights (or any flat parameter-sized vector).
    pub fn upload(&self, host: &[f32]) -> Result<CudaSlice<f32>, VaeError> {
        if host.len() != self.model.layout.total {
            return Err(VaeError::Shape(format!(
                "{} values for a model of {}",
                host.len(),
                self.model.layout.total
            )));
        }
        Ok(self.dev.upload(host)?)
    }

    fn width(&self, s: Slot) -> usize {
        let sp = &self.model.spec;
        match s {
            Slot::H1 | Slot::H2 | Slot::DH2 | Slot::DH1 => sp.hidden,
            Slot::Logits => sp.items,
            _ => sp.latent,
        }
    }

    fn ensure(&mut self, rows: usize) -> Result<(), CudaError> {
        if self.acts.rows >= rows && !self.acts.bufs.is_empty() {
            return Ok(());
        }
        use Slot::*;
        let mut bufs = Vec::new();
        for s in [
            H1, Mu, Lv, Gate, Z, H2, Logits, DH2, DZ, DMu, DLv, DGate, DH1,
        ] {
            bufs.push((s, self.dev.zeros::<f32>(rows.max(1) * self.width(s))?));
        }
        self.acts = DevActs { rows, bufs };
        Ok(())
    }

    fn upload_batch(&self, batch: &Batch, train: bool) -> Result<DevBatch, CudaError> {
        let d = &self.dev;
        let input = upload_csr(d, batch.input())?;
        let xt = transpose(batch.input());
        let input_t = d.upload_csr(&xt.offsets, &xt.rows, &xt.values, batch.rows)?;
        Ok(DevBatch {
            input,
            input_t,
            target: upload_csr(d, batch.target())?,
            context: if batch.context.is_empty() {
                None
            } else {
                Some(d.upload(&batch.context)?)
            },
            eps: if train && !batch.eps.is_empty() {
                Some(d.upload(&batch.eps)?)
            } else {
                None
            },
        })
    }

    fn check(&self, w: &CudaSlice<f32>, batch: &Batch) -> Result<(), VaeError> {
        self.model.check_shapes(w.len(), batch)
    }

    /// Logits of every track for the users of `batch` (the code's mean, gated as the variant
    /// says), downloaded row-major `batch.rows x items`.
    pub fn score(&mut self, w: &CudaSlice<f32>, batch: &Batch) -> Result<Vec<f32>, VaeError> {
        self.check(w, batch)?;
        let db = self.upload_batch(batch, false)?;
        self.forward(w, &db, batch.rows)?;
        let n = batch.rows * self.model.spec.items;
        let logits = &self.acts.bufs[slot_index(Slot::Logits)].1;
        Ok(self.dev.download(&logits.slice(..n))?)
    }

    /// The top `k` tracks of each user of `batch`, input tracks excluded, ranked on the
    /// device (as the CPU's `rank_batch`).
    pub fn rank(
        &mut self,
        w: &CudaSlice<f32>,
        batch: &Batch,
        k: usize,
    ) -> Result<Vec<Vec<u32>>, VaeError> {
        self.check(w, batch)?;
        let db = self.upload_batch(batch, false)?;
        self.forward(w, &db, batch.rows)?;
        let n = batch.rows * self.model.spec.items;
        let logits = &mut self.acts.bufs[slot_index(Slot::Logits)].1;
        Ok(self.dev.top_k(
            &mut logits.slice_mut(..n),
            batch.rows,
            self.model.spec.items,
            k,
            Some(&db.input),
        )?)
    }

    fn forward(&mut self, w: &CudaSlice<f32>, db: &DevBatch, b: usize) -> Result<(), CudaError> {
        self.ensure(b)?;
        let sp = self.model.spec.clone();
        let (n, h, l, c) = (sp.items, sp.hidden, sp.latent, sp.context);
        let lay = &self.model.layout;
        let d = &self.dev;
        let wv = |name: &str| tensor(w, lay, name);
        let mode = sp.variant.gate();
        let mut acts = std::mem::take(&mut self.acts.bufs);
        let result = (|| {
            let [h1, mu, lv, gate, z, h2, logits, ..] = &mut acts[..] else {
                unreachable!("ensure() makes every slot")
            };
            let (h1, mu, lv, gate, z, h2, logits) = (
                &mut h1.1,
                &mut mu.1,
                &mut lv.1,
                &mut gate.1,
                &mut z.1,
                &mut h2.1,
                &mut logits.1,
            );
            d.spmm(
                &db.input,
                &wv(params::ENC1_W),
                h,
                &mut h1.slice_mut(..b * h),
                false,
            )?;
            if lay.get(params::ENC1_CTX).is_some() {
                let ctx = db.context.as_ref().map(|c| c.as_view());
                let ctx = ctx.ok_or_else(|| missing("context"))?;
                let wc = wv(params::ENC1_CTX);
                d.gemm(
                    &mut h1.slice_mut(..b * h),
                    DevOperand::new(&ctx, b, c),
                    DevOperand::new(&wc, c, h),
                    true,
                )?;
            }
            d.bias_activation(
                &mut h1.slice_mut(..b * h),
                &wv(params::ENC1_B),
                Activation::Tanh,
            )?;
            let h1v = h1.slice(..b * h);
            for (dst, wn, bn) in [
                (&mut *mu, params::MU_W, params::MU_B),
                (&mut *lv, params::LV_W, params::LV_B),
            ] {
                let wt = wv(wn);
                d.gemm(
                    &mut dst.slice_mut(..b * l),
                    DevOperand::new(&h1v, b, h),
                    DevOperand::new(&wt, h, l),
                    false,
                )?;
                d.bias_activation(&mut dst.slice_mut(..b * l), &wv(bn), Activation::Identity)?;
            }
            let gated = lay.get(params::GATE_W).is_some();
            if gated {
                let ctx = db.context.as_ref().map(|c| c.as_view());
                let ctx = ctx.ok_or_else(|| missing("context"))?;
                let gw = wv(params::GATE_W);
                d.gemm(
                    &mut gate.slice_mut(..b * l),
                    DevOperand::new(&ctx, b, c),
                    DevOperand::new(&gw, c, l),
                    false,
                )?;
                d.bias_activation(
                    &mut gate.slice_mut(..b * l),
                    &wv(params::GATE_B),
                    Activation::Sigmoid,
                )?;
            }
            let eps = db.eps.as_ref().map(|e| e.as_view());
            let gv = gate.slice(..b * l);
            d.reparameterise(
                &mu.slice(..b * l),
                &lv.slice(..b * l),
                eps.as_ref(),
                (mode != GateMode::Off).then_some(&gv),
                mode,
                &mut z.slice_mut(..b * l),
            )?;
            let zv = z.slice(..b * l);
            let w3 = wv(params::DEC1_W);
            d.gemm(
                &mut h2.slice_mut(..b * h),
                DevOperand::new(&zv, b, l),
                DevOperand::new(&w3, l, h),
                false,
            )?;
            d.bias_activation(
                &mut h2.slice_mut(..b * h),
                &wv(params::DEC1_B),
                Activation::Tanh,
            )?;
            let h2v = h2.slice(..b * h);
            let w4 = wv(params::DEC2_W);
            d.gemm(
                &mut logits.slice_mut(..b * n),
                DevOperand::new(&h2v, b, h),
                DevOperand::new(&w4, h, n),
                false,
            )?;
            d.bias_activation(
                &mut logits.slice_mut(..b * n),
                &wv(params::DEC2_B),
                Activation::Identity,
            )
        })();
        self.acts.bufs = acts;
        result
    }

    /// As [`Model::loss_and_gradient`]: `scale` times the gradient of the batch's loss added
    /// to `grads` (a device buffer of the parameters' size), the NLL and KL sums returned.
    pub fn loss_and_gradient(
        &mut self,
        w: &CudaSlice<f32>,
        batch: &Batch,
        beta: f32,
        scale: f32,
        grads: &mut CudaSlice<f32>,
    ) -> Result<LossSums, VaeError> {
        self.loss_and_gradient_reduced(w, batch, beta, scale, grads, None)
    }

    /// [`GpuModel::loss_and_gradient`] with the gradient summed over the replicas by
    /// `reducer` as the backward pass finishes each stage ([`BACKWARD_STAGES`]): on return
    /// the device's stream is ordered after the last bucket, so `grads` holds the sums for
    /// whatever is queued next (the Adam step). `grads` must be zero on entry, as the sum
    /// adds every replica's buffer whole.
    pub fn loss_and_gradient_reduced(
        &mut self,
        w: &CudaSlice<f32>,
        batch: &Batch,
        beta: f32,
        scale: f32,
        grads: &mut CudaSlice<f32>,
        mut reducer: Option<&mut GradientReducer>,
    ) -> Result<LossSums, VaeError> {
        self.model.check_training(w.len(), grads.len(), batch)?;
        let stages = self
            .model
            .layout
            .stage_starts(&BACKWARD_STAGES)
            .map_err(VaeError::Shape)?;
        if let Some(r) = reducer.as_deref_mut() {
            r.begin(grads.len());
        }
        if batch.rows == 0 {
            // A replica whose share of a short last batch is empty adds nothing, but must
            // still make every collective call the others make, in the same order.
            if let Some(r) = reducer {
                for &start in &stages {
                    r.ready(grads, start)?;
                }
                r.finish(grads)?;
            }
            return Ok(LossSums { nll: 0.0, kl: 0.0 });
        }
        let mut ready = |grads: &CudaSlice<f32>, stage: usize| -> Result<(), CudaError> {
            match reducer.as_deref_mut() {
                Some(r) if stage < stages.len() => r.ready(grads, stages[stage]),
                Some(r) => r.finish(grads),
                None => Ok(()),
            }
        };
        let b = batch.rows;
        let db = self.upload_batch(batch, true)?;
        self.forward(w, &db, b)?;
        let sp = self.model.spec.clone();
        let (n, h, l, c) = (sp.items, sp.hidden, sp.latent, sp.context);
        let lay = self.model.layout.clone();
        let d = self.dev.clone();
        let wv = |name: &str| tensor(w, &lay, name);
        let mode = sp.variant.gate();
        let mut acts = std::mem::take(&mut self.acts.bufs);
        let result = (|| -> Result<(f64, f64), CudaError> {
            let [h1, mu, lv, gate, z, h2, logits, dh2, dz, dmu, dlv, dgate, dh1] = &mut acts[..]
            else {
                unreachable!("ensure() makes every slot")
            };
            let (h1, mu, lv, gate, z, h2, logits) =
                (&h1.1, &mu.1, &lv.1, &mut gate.1, &z.1, &h2.1, &mut logits.1);
            let (dh2, dz, dmu, dlv, dgate, dh1) = (
                &mut dh2.1,
                &mut dz.1,
                &mut dmu.1,
                &mut dlv.1,
                &mut dgate.1,
                &mut dh1.1,
            );
            let g = |name: &str| tensor_mut_range(&lay, name);

            let nll = d.multinomial_nll(&mut logits.slice_mut(..b * n), &db.target, scale)?;
            let dl = logits.slice(..b * n);
            let h2v = h2.slice(..b * h);
            d.gemm(
                &mut grads.slice_mut(g(params::DEC2_W)),
                DevOperand::new(&h2v, b, h).t(),
                DevOperand::new(&dl, b, n),
                true,
            )?;
            d.column_sums(&dl, &mut grads.slice_mut(g(params::DEC2_B)))?;
            ready(grads, 0)?;
            let w4 = wv(params::DEC2_W);
            d.gemm(
                &mut dh2.slice_mut(..b * h),
                DevOperand::new(&dl, b, n),
                DevOperand::new(&w4, h, n).t(),
                false,
            )?;
            d.activation_backward(&mut dh2.slice_mut(..b * h), &h2v, Activation::Tanh)?;
            let zv = z.slice(..b * l);
            let dh2v = dh2.slice(..b * h);
            d.gemm(
                &mut grads.slice_mut(g(params::DEC1_W)),
                DevOperand::new(&zv, b, l).t(),
                DevOperand::new(&dh2v, b, h),
                true,
            )?;
            d.column_sums(&dh2v, &mut grads.slice_mut(g(params::DEC1_B)))?;
            ready(grads, 1)?;
            let w3 = wv(params::DEC1_W);
            d.gemm(
                &mut dz.slice_mut(..b * l),
                DevOperand::new(&dh2v, b, h),
                DevOperand::new(&w3, l, h).t(),
                false,
            )?;

            let eps = db
                .eps
                .as_ref()
                .ok_or_else(|| missing("noise draws"))?
                .as_view();
            let gv = gate.slice(..b * l);
            let gated = mode != GateMode::Off;
            {
                let mut dgv = dgate.slice_mut(..b * l);
                d.reparameterise_backward(
                    &mu.slice(..b * l),
                    &lv.slice(..b * l),
                    &eps,
                    gated.then_some(&gv),
                    mode,
                    &dz.slice(..b * l),
                    &mut dmu.slice_mut(..b * l),
                    &mut dlv.slice_mut(..b * l),
                    if gated { Some(&mut dgv) } else { None },
                )?;
            }
            let kl = d.kl_divergence(
                &mu.slice(..b * l),
                &lv.slice(..b * l),
                l,
                beta * scale,
                &mut dmu.slice_mut(..b * l),
                &mut dlv.slice_mut(..b * l),
            )?;
            if lay.get(params::GATE_W).is_some() {
                d.activation_backward(&mut dgate.slice_mut(..b * l), &gv, Activation::Sigmoid)?;
                let ctx = db
                    .context
                    .as_ref()
                    .ok_or_else(|| missing("context"))?
                    .as_view();
                let dgv = dgate.slice(..b * l);
                d.gemm(
                    &mut grads.slice_mut(g(params::GATE_W)),
                    DevOperand::new(&ctx, b, c).t(),
                    DevOperand::new(&dgv, b, l),
                    true,
                )?;
                d.column_sums(&dgv, &mut grads.slice_mut(g(params::GATE_B)))?;
            }
            ready(grads, 2)?;
            let h1v = h1.slice(..b * h);
            for (wn, bn, dv) in [
                (params::MU_W, params::MU_B, &*dmu),
                (params::LV_W, params::LV_B, &*dlv),
            ] {
                let dvv = dv.slice(..b * l);
                d.gemm(
                    &mut grads.slice_mut(g(wn)),
                    DevOperand::new(&h1v, b, h).t(),
                    DevOperand::new(&dvv, b, l),
                    true,
                )?;
                d.column_sums(&dvv, &mut grads.slice_mut(g(bn)))?;
            }
            ready(grads, 3)?;
            let (dmuv, dlvv) = (dmu.slice(..b * l), dlv.slice(..b * l));
            let (wmu, wlv) = (wv(params::MU_W), wv(params::LV_W));
            d.gemm(
                &mut dh1.slice_mut(..b * h),
                DevOperand::new(&dmuv, b, l),
                DevOperand::new(&wmu, h, l).t(),
                false,
            )?;
            d.gemm(
                &mut dh1.slice_mut(..b * h),
                DevOperand::new(&dlvv, b, l),
                DevOperand::new(&wlv, h, l).t(),
                true,
            )?;
            d.activation_backward(&mut dh1.slice_mut(..b * h), &h1v, Activation::Tanh)?;
            let dh1v = dh1.slice(..b * h);
            d.spmm_transpose_acc(
                &db.input_t,
                &dh1v,
                h,
                &mut grads.slice_mut(g(params::ENC1_W)),
            )?;
            d.column_sums(&dh1v, &mut grads.slice_mut(g(params::ENC1_B)))?;
            if lay.get(params::ENC1_CTX).is_some() {
                let ctx = db
                    .context
                    .as_ref()
                    .ok_or_else(|| missing("context"))?
                    .as_view();
                d.gemm(
                    &mut grads.slice_mut(g(params::ENC1_CTX)),
                    DevOperand::new(&ctx, b, c).t(),
                    DevOperand::new(&dh1v, b, h),
                    true,
                )?;
            }
            ready(grads, BACKWARD_STAGES.len())?;
            let nll: f64 = d.download(&nll)?.iter().sum();
            let kl: f64 = d.download(&kl)?.iter().sum();
            Ok((nll, kl))
        })();
        self.acts.bufs = acts;
        let (nll, kl) = result?;
        Ok(LossSums { nll, kl })
    }
}

fn slot_index(s: Slot) -> usize {
    s as usize
}

fn missing(what: &str) -> CudaError {
    CudaError::Shape {
        op: "gpu model",
        what: format!("the batch has no {what} on the device"),
    }
}

fn tensor<'a>(w: &'a CudaSlice<f32>, lay: &params::Layout, name: &str) -> CudaView<'a, f32> {
    w.slice(lay.get(name).map_or(0..0, |t| t.range()))
}

fn tensor_mut_range(lay: &params::Layout, name: &str) -> std::ops::Range<usize> {
    lay.get(name).map_or(0..0, |t| t.range())
}
