//! The evaluation phase: every member scores its held-out users, the coordinator reduces the
//! per-user rows into the paper's Table 3, runs the significance tests and writes the report.
//!
//! Means are reduced with exact sums (`archetype_eval::metrics::MetricSums`), so they do not
//! depend on how many members there were or in which order their rows arrived.

use std::collections::BTreeMap;
use std::sync::Arc;

use archetype_eval::breakdown::{self, ModelParts, UserParts};
use archetype_eval::metrics::{columns, CoverageAtKs, MetricSums, UserMetrics};
use archetype_eval::report::{compare_grouped, ModelGroup, ModelRow, Report, ReportHeader};
use archetype_job::config::{VaeConfig, VaeGate, VAE_PLAIN_NAME};
use archetype_job::{JobConfig, JobLayout};
use archetype_proto::v1;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use serde::Serialize;

/// One held-out user's metrics under one model.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub user_idx: u32,
    pub user_id: u32,
    pub country: Option<String>,
    pub metrics: UserMetrics,
    /// Against the head targets only, and the tail targets only (`None`: none there).
    pub head: Option<UserMetrics>,
    pub tail: Option<UserMetrics>,
}

/// Per-user rows of one model, merged over members, users ascending.
#[derive(Clone, Debug, Default)]
pub struct ModelRows {
    pub model: String,
    pub unavailable: Option<String>,
    pub rows: Vec<UserRow>,
    pub skipped: u64,
    pub fallback: u64,
    pub coverage: Option<CoverageAtKs>,
    /// Per K: foreign-origin and known-origin top-K tracks, summed over members.
    pub foreign: Vec<u64>,
    pub known_origin: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReduceError {
    #[error("member result for {model}: {message}")]
    Member { model: String, message: String },
    #[error("{0}")]
    Eval(#[from] archetype_eval::EvalError),
}

/// Merges the members' evaluations model by model, in the order the first member lists them.
pub fn merge(results: &[v1::Evaluation], ks: &[usize]) -> Result<Vec<ModelRows>, ReduceError> {
    let width = columns(ks).len();
    let mut order: Vec<String> = Vec::new();
    let mut by_model: BTreeMap<String, ModelRows> = BTreeMap::new();
    for r in results {
        for m in &r.models {
            let entry = by_model.entry(m.model.clone()).or_insert_with(|| {
                order.push(m.model.clone());
                ModelRows {
                    model: m.model.clone(),
                    ..ModelRows::default()
                }
            });
            if !m.unavailable.is_empty() {
                entry.unavailable = Some(m.unavailable.clone());
            }
            entry.skipped += m.skipped;
            entry.fallback += m.fallback;
            for (sum, part) in [
                (&mut entry.foreign, &m.foreign),
                (&mut entry.known_origin, &m.known_origin),
            ] {
                if sum.is_empty() {
                    sum.resize(part.len(), 0);
                }
                if sum.len() != part.len() {
                    return Err(ReduceError::Member {
                        model: m.model.clone(),
                        message: format!(
                            "{} origin counts, {} from another member",
                            part.len(),
                            sum.len()
                        ),
                    });
                }
                for (a, b) in sum.iter_mut().zip(part) {
                    *a += b;
                }
            }
            if !m.coverage_json.is_empty() {
                let c: CoverageAtKs =
                    serde_json::from_str(&m.coverage_json).map_err(|e| ReduceError::Member {
                        model: m.model.clone(),
                        message: format!("coverage: {e}"),
                    })?;
                match &mut entry.coverage {
                    Some(have) => have.merge(&c)?,
                    None => entry.coverage = Some(c),
                }
            }
            for row in &m.rows {
                let side = |v: &[f64]| -> Result<Option<UserMetrics>, ReduceError> {
                    match v.len() {
                        0 => Ok(None),
                        n if n == width => Ok(Some(UserMetrics { values: v.to_vec() })),
                        n => Err(ReduceError::Member {
                            model: m.model.clone(),
                            message: format!(
                                "user {} has {n} head/tail values, expected {width}",
                                row.user_id
                            ),
                        }),
                    }
                };
                if row.values.len() != width {
                    return Err(ReduceError::Member {
                        model: m.model.clone(),
                        message: format!(
                            "user {} has {} metric values, expected {width}",
                            row.user_id,
                            row.values.len()
                        ),
                    });
                }
                entry.rows.push(UserRow {
                    user_idx: row.user_idx,
                    user_id: row.user_id,
                    country: (!row.country.is_empty()).then(|| row.country.clone()),
                    metrics: UserMetrics {
                        values: row.values.clone(),
                    },
                    head: side(&row.head)?,
                    tail: side(&row.tail)?,
                });
            }
        }
    }
    let mut out = Vec::new();
    for name in order {
        if let Some(mut m) = by_model.remove(&name) {
            m.rows.sort_by_key(|r| r.user_idx);
            out.push(m);
        }
    }
    Ok(out)
}

/// Table rows and significance tests for the merged models.
/// What the head/tail view needs besides the rows.
#[derive(Clone, Copy, Debug)]
pub struct HeadInfo {
    pub share: f64,
    pub tracks: u64,
}

/// Countries listed in the per-country view.
const BREAKDOWN_COUNTRIES: usize = 10;

/// The model groups the paper also tests among themselves: its four context models (the
/// paper's gate), and the same contexts through the scaled gate and concatenated, each also set
/// against the plain VAE.
pub fn vae_groups(vae: &VaeConfig) -> Vec<ModelGroup> {
    if !vae.enabled {
        return Vec::new();
    }
    let group = |name: &str, models: Vec<String>| ModelGroup {
        name: name.to_string(),
        models,
        baseline: Some(VAE_PLAIN_NAME.to_string()),
    };
    let mut out = Vec::new();
    for (name, gate) in [
        ("VAE context models (paper's gate)", VaeGate::Literal),
        ("VAE context models (scaled gate)", VaeGate::Scale),
    ] {
        if vae.gates.contains(&gate) {
            let models = vae.contexts.iter().map(|c| c.gated_name(gate)).collect();
            out.push(group(name, models));
        }
    }
    if !vae.concat.is_empty() {
        let models = vae.concat.iter().map(|c| c.concat_name()).collect();
        out.push(group("VAE context concatenated", models));
    }
    out
}

pub fn build_report(
    header: ReportHeader,
    models: &[ModelRows],
    ks: &[usize],
    catalogue: usize,
    head: Option<HeadInfo>,
    groups: &[ModelGroup],
) -> Result<Report, ReduceError> {
    let mut rows = Vec::new();
    let mut evaluated: Vec<(String, Vec<(u32, UserMetrics)>)> = Vec::new();
    for m in models {
        if let Some(reason) = &m.unavailable {
            rows.push(ModelRow::unavailable(&m.model, reason));
            continue;
        }
        let per_user: Vec<(u32, UserMetrics)> = m
            .rows
            .iter()
            .map(|r| (r.user_idx, r.metrics.clone()))
            .collect();
        let mut sums = MetricSums::from_rows(columns(ks).len(), &per_user)?;
        sums.add_skipped(m.skipped);
        let coverage = m
            .coverage
            .as_ref()
            .map(|c| c.fractions(catalogue))
            .unwrap_or_else(|| vec![0.0; ks.len()]);
        rows.push(ModelRow::evaluated(&m.model, &sums, coverage));
        if !per_user.is_empty() {
            evaluated.push((m.model.clone(), per_user));
        }
    }
    let significance = if evaluated.len() >= 2 {
        Some(compare_grouped(&evaluated, ks, groups)?)
    } else {
        None
    };
    let breakdown = match head {
        Some(h) => {
            let parts: Vec<ModelParts> = models
                .iter()
                .filter(|m| m.unavailable.is_none() && !m.rows.is_empty())
                .map(|m| ModelParts {
                    name: &m.model,
                    users: m
                        .rows
                        .iter()
                        .map(|r| UserParts {
                            user: r.user_idx,
                            country: r.country.as_deref(),
                            all: &r.metrics,
                            head: r.head.as_ref(),
                            tail: r.tail.as_ref(),
                        })
                        .collect(),
                    foreign: &m.foreign,
                    known: &m.known_origin,
                })
                .collect();
            Some(breakdown::build(
                ks,
                h.share,
                h.tracks,
                catalogue as u64,
                &parts,
                BREAKDOWN_COUNTRIES,
            )?)
        }
        None => None,
    };
    Ok(Report {
        header,
        ks: ks.to_vec(),
        rows,
        significance,
        breakdown,
        sampling: None,
    })
}

/// Per-user metric rows of every evaluated model, one Parquet file.
pub fn per_user_batch(
    models: &[ModelRows],
    ks: &[usize],
    split: &str,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    use arrow_schema::{DataType, Field, Schema};
    let names = columns(ks);
    let mut model = Vec::new();
    let mut user_idx = Vec::new();
    let mut user_id = Vec::new();
    let mut country: Vec<Option<String>> = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for m in models {
        for r in &m.rows {
            model.push(m.model.clone());
            user_idx.push(r.user_idx);
            user_id.push(r.user_id);
            country.push(r.country.clone());
            for (col, x) in values.iter_mut().zip(&r.metrics.values) {
                col.push(*x);
            }
        }
    }
    let n = model.len();
    let mut fields = vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("user_idx", DataType::UInt32, false),
        Field::new("user_id", DataType::UInt32, false),
        Field::new("country", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(model)),
        Arc::new(StringArray::from(vec![split; n])),
        Arc::new(UInt32Array::from(user_idx)),
        Arc::new(UInt32Array::from(user_id)),
        Arc::new(StringArray::from(country)),
    ];
    for (name, v) in names.iter().zip(values) {
        fields.push(Field::new(name, DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from(v)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// What report.json holds besides the tables.
#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    pub job_id: &'a str,
    pub split: &'a str,
    pub protocol: &'a str,
    pub exclude_input: bool,
    /// What a user's targets were (see `archetype_eval::targets`).
    pub targets: archetype_eval::targets::TargetRule,
    /// Held-out users left out of every mean because they had no target.
    pub users_without_target: u64,
    pub seed: u64,
    pub data_fingerprint: &'a str,
    pub catalogue_tracks: usize,
    pub held_out_users: u64,
    pub fallback_users: BTreeMap<String, u64>,
    pub phase_seconds: &'a BTreeMap<String, f64>,
    pub config: &'a JobConfig,
    pub report: &'a Report,
}

/// FNV-1a over what identifies the data: input objects and sizes, and the kept counts.
pub fn fingerprint(parts: &[(String, u64)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, n) in parts {
        for b in name.as_bytes().iter().chain(&n.to_le_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Writes report.md, report.json and the per-user metrics under the job's root.
pub async fn write_report(
    layout: &JobLayout,
    report: &Report,
    json: &ReportJson<'_>,
    per_user: &RecordBatch,
) -> Result<Vec<String>, String> {
    use archetype_job::layout::{PER_USER_METRICS, REPORT_JSON, REPORT_MD};
    use object_store::ObjectStoreExt;
    let put = |name: &'static str, bytes: Vec<u8>| {
        let dest = layout.file(name);
        async move {
            dest.store
                .put(&dest.path, bytes.into())
                .await
                .map_err(|e| format!("writing {}: {e}", dest.url))?;
            Ok::<String, String>(dest.url.clone())
        }
    };
    let mut written = Vec::new();
    written.push(put(REPORT_MD, report.markdown().into_bytes()).await?);
    let body = serde_json::to_vec_pretty(json).map_err(|e| format!("report.json: {e}"))?;
    written.push(put(REPORT_JSON, body).await?);
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, per_user.schema(), None)
            .map_err(|e| format!("per-user metrics: {e}"))?;
        w.write(per_user)
            .map_err(|e| format!("per-user metrics: {e}"))?;
        w.close().map_err(|e| format!("per-user metrics: {e}"))?;
    }
    written.push(put(PER_USER_METRICS, buf).await?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user_idx: u32, values: Vec<f64>) -> v1::UserMetricRow {
        v1::UserMetricRow {
            user_idx,
            user_id: user_idx + 1000,
            country: "AT".into(),
            values,
            ..Default::default()
        }
    }

    fn eval(models: Vec<(&str, Vec<v1::UserMetricRow>)>) -> v1::Evaluation {
        v1::Evaluation {
            models: models
                .into_iter()
                .map(|(m, rows)| v1::ModelEvaluation {
                    model: m.into(),
                    rows,
                    ..Default::default()
                })
                .collect(),
            catalogue: 10,
            users: 0,
            head_tracks: 0,
        }
    }

    /// Rows split over members in any order reduce to the same means as one member's rows.
    #[test]
    fn distributed_reduction_equals_single_process() {
        let ks = [10usize];
        let vals = |i: u32| {
            vec![
                f64::from(i) / 10.0,
                1.0 / f64::from(i + 1),
                0.1 * f64::from(i % 3),
                0.3,
            ]
        };
        let all: Vec<v1::UserMetricRow> = (0..50).map(|i| row(i, vals(i))).collect();
        let one = merge(&[eval(vec![("a", all.clone())])], &ks).unwrap();
        let (x, y): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|r| r.user_idx % 3 == 0);
        let mut y = y;
        y.reverse();
        let two = merge(&[eval(vec![("a", y)]), eval(vec![("a", x)])], &ks).unwrap();
        let header = ReportHeader::default();
        let r1 = build_report(header.clone(), &one, &ks, 10, None, &[]).unwrap();
        let r2 = build_report(header, &two, &ks, 10, None, &[]).unwrap();
        assert_eq!(r1.rows[0].means, r2.rows[0].means);
        assert_eq!(one[0].rows.len(), 50);
        assert_eq!(
            one[0].rows.iter().map(|r| r.user_idx).collect::<Vec<_>>(),
            two[0].rows.iter().map(|r| r.user_idx).collect::<Vec<_>>()
        );
        // The mean of P@10 is the plain mean of the values.
        let want: f64 = (0..50).map(|i| f64::from(i) / 10.0).sum::<f64>() / 50.0;
        assert!((r1.rows[0].means[0] - want).abs() < 1e-12);
    }

    #[test]
    fn a_row_of_the_wrong_width_is_an_error() {
        let r = merge(&[eval(vec![("a", vec![row(0, vec![0.5])])])], &[10]);
        assert!(matches!(r, Err(ReduceError::Member { .. })));
    }

    #[test]
    fn per_user_batch_has_a_column_per_metric() {
        let ks = [10usize, 100];
        let m = merge(
            &[eval(vec![(
                "a",
                vec![row(3, vec![0.1; 8]), row(1, vec![0.2; 8])],
            )])],
            &ks,
        )
        .unwrap();
        let b = per_user_batch(&m, &ks, "test").unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.num_columns(), 5 + 8);
        assert!(b.column_by_name("NDCG@100").is_some());
    }
}
