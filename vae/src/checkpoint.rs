//! Checkpoints and trained models as safetensors files.
//!
//! A checkpoint holds `weights.<tensor>`, `adam_m.<tensor>`, `adam_v.<tensor>` and, once an
//! epoch was validated, `best.<tensor>`; the metadata holds the spec, the hyper-parameters,
//! step, epoch, best epoch and the epoch history as JSON strings. That is the whole
//! [`TrainState`]: the random draws are keyed by (seed, step, user), so nothing else is needed
//! to resume bit for bit. A model file (`kind = model`) holds the weights only and reads in
//! PyTorch with `safetensors.torch.load_file` (tensors are `[in, out]`, the transpose of
//! `nn.Linear.weight`).

use std::borrow::Cow;
use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::model::Model;
use crate::params::Layout;
use crate::spec::{ModelSpec, TrainParams};
use crate::train::{Best, EpochReport, TrainState};
use crate::VaeError;

const FORMAT: &str = "archetype-vae/1";

/// A borrowed f32 tensor, written without copying.
struct F32<'a> {
    data: &'a [f32],
    shape: Vec<usize>,
}

impl View for F32<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        if cfg!(target_endian = "little") {
            Cow::Borrowed(bytemuck::cast_slice(self.data))
        } else {
            Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        }
    }

    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

fn err(e: impl std::fmt::Display) -> VaeError {
    VaeError::Checkpoint(e.to_string())
}

fn views<'a>(layout: &Layout, prefix: &str, buf: &'a [f32], out: &mut Vec<(String, F32<'a>)>) {
    for t in &layout.tensors {
        let shape = if t.rows == 1 && t.name.ends_with(".bias") {
            vec![t.cols]
        } else {
            vec![t.rows, t.cols]
        };
        out.push((
            format!("{prefix}.{}", t.name),
            F32 {
                data: &buf[t.range()],
                shape,
            },
        ));
    }
}

fn metadata(
    kind: &str,
    spec: &ModelSpec,
    params: &TrainParams,
) -> Result<HashMap<String, String>, VaeError> {
    let mut m = HashMap::new();
    m.insert("format".to_string(), FORMAT.to_string());
    m.insert("kind".to_string(), kind.to_string());
    m.insert(
        "spec".to_string(),
        serde_json::to_string(spec).map_err(err)?,
    );
    m.insert(
        "params".to_string(),
        serde_json::to_string(params).map_err(err)?,
    );
    Ok(m)
}

/// The bytes of a checkpoint of `state`.
pub fn save(model: &Model, params: &TrainParams, state: &TrainState) -> Result<Vec<u8>, VaeError> {
    let mut tensors = Vec::new();
    views(&model.layout, "weights", &state.weights, &mut tensors);
    views(&model.layout, "adam_m", &state.m, &mut tensors);
    views(&model.layout, "adam_v", &state.v, &mut tensors);
    if let Some(b) = &state.best {
        views(&model.layout, "best", &b.weights, &mut tensors);
    }
    let mut meta = metadata("checkpoint", &model.spec, params)?;
    meta.insert("step".to_string(), state.step.to_string());
    meta.insert("epoch".to_string(), state.epoch.to_string());
    if let Some(b) = &state.best {
        meta.insert("best_epoch".to_string(), b.epoch.to_string());
        // JSON keeps every bit of an f64.
        meta.insert(
            "best_ndcg".to_string(),
            serde_json::to_string(&b.ndcg).map_err(err)?,
        );
    }
    meta.insert(
        "history".to_string(),
        serde_json::to_string(&state.history).map_err(err)?,
    );
    if let Some(p) = &state.partial {
        meta.insert(
            "partial_epoch".to_string(),
            serde_json::to_string(p).map_err(err)?,
        );
    }
    safetensors::serialize(tensors, Some(meta)).map_err(err)
}

/// The bytes of a trained model: `weights` only.
pub fn save_model(
    model: &Model,
    params: &TrainParams,
    weights: &[f32],
    extra: &[(&str, String)],
) -> Result<Vec<u8>, VaeError> {
    if weights.len() != model.parameters() {
        return Err(VaeError::Shape(format!(
            "{} weights for a model of {}",
            weights.len(),
            model.parameters()
        )));
    }
    let mut tensors = Vec::new();
    views(&model.layout, "weights", weights, &mut tensors);
    let mut meta = metadata("model", &model.spec, params)?;
    for (k, v) in extra {
        meta.insert((*k).to_string(), v.clone());
    }
    safetensors::serialize(tensors, Some(meta)).map_err(err)
}

/// What a file holds.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub spec: ModelSpec,
    pub params: TrainParams,
    /// `Some` for a checkpoint: the full state; a model file has weights only.
    pub state: Option<TrainState>,
    pub weights: Vec<f32>,
    pub metadata: HashMap<String, String>,
}

fn read_tensor(st: &SafeTensors<'_>, layout: &Layout, prefix: &str) -> Result<Vec<f32>, VaeError> {
    let mut out = vec![0f32; layout.total];
    for t in &layout.tensors {
        let name = format!("{prefix}.{}", t.name);
        let view = st.tensor(&name).map_err(|e| err(format!("{name}: {e}")))?;
        if view.dtype() != Dtype::F32 || view.shape().iter().product::<usize>() != t.len() {
            return Err(err(format!(
                "{name}: {:?} {:?}, expected F32 of {} x {}",
                view.dtype(),
                view.shape(),
                t.rows,
                t.cols
            )));
        }
        for (o, b) in out[t.range()].iter_mut().zip(view.data().chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    Ok(out)
}

/// Reads a checkpoint or a model file, checking every tensor against the spec it names.
pub fn load(bytes: &[u8]) -> Result<Loaded, VaeError> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(err)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| err(format!("metadata `{k}` is missing")))
    };
    if get("format")? != FORMAT {
        return Err(err(format!(
            "format `{}`, expected {FORMAT}",
            get("format")?
        )));
    }
    let spec: ModelSpec = serde_json::from_str(get("spec")?).map_err(err)?;
    let params: TrainParams = serde_json::from_str(get("params")?).map_err(err)?;
    let model = Model::new(spec.clone())?;
    let st = SafeTensors::deserialize(bytes).map_err(err)?;
    let weights = read_tensor(&st, &model.layout, "weights")?;
    let state = match get("kind")?.as_str() {
        "model" => None,
        "checkpoint" => {
            let num = |k: &str| -> Result<u64, VaeError> {
                get(k)?.parse().map_err(|e| err(format!("{k}: {e}")))
            };
            let best = match meta.get("best_epoch") {
                Some(e) => Some(Best {
                    epoch: e.parse().map_err(|x| err(format!("best_epoch: {x}")))?,
                    ndcg: serde_json::from_str(get("best_ndcg")?).map_err(err)?,
                    weights: read_tensor(&st, &model.layout, "best")?,
                }),
                None => None,
            };
            let history: Vec<EpochReport> = serde_json::from_str(get("history")?).map_err(err)?;
            Some(TrainState {
                weights: weights.clone(),
                m: read_tensor(&st, &model.layout, "adam_m")?,
                v: read_tensor(&st, &model.layout, "adam_v")?,
                step: num("step")?,
                epoch: num("epoch")? as usize,
                best,
                history,
                partial: match meta.get("partial_epoch") {
                    Some(p) => Some(serde_json::from_str(p).map_err(err)?),
                    None => None,
                },
            })
        }
        other => return Err(err(format!("kind `{other}`"))),
    };
    Ok(Loaded {
        spec,
        params,
        state,
        weights,
        metadata: meta,
    })
}
