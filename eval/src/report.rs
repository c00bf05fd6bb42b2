//! The evaluation report: what was measured, per-model results, significance, rendered as
//! Markdown (for the run's report.md) or a compact console table. Everything here is plain
//! data with serde derives so callers can embed it in report.json; writing files is theirs.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::metrics::{column_index, validate_ks, Metric, MetricSums, UserMetrics, METRICS_PER_K};
use crate::normality::{ks_normality, KsResult};
use crate::significance::{
    friedman, holm, wilcoxon_signed_rank, Direction, FriedmanResult, PValueMethod,
};

/// Significance level the "better" verdicts use (after Holm adjustment).
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The paper's Table 3 metrics; MAP goes to the second table with coverage.
const ACCURACY_METRICS: [Metric; 3] = [Metric::Precision, Metric::Recall, Metric::Ndcg];

/// How the numbers were produced, printed above the tables so a report stands on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHeader {
    pub title: String,
    /// The split, e.g. "per-user 80/20 random holdout of listening events".
    pub protocol: String,
    /// What is removed from recommendations, e.g. "the user's training items".
    pub exclusion: String,
    pub seed: u64,
    /// Identifies the input data (hash of the input tables).
    pub data_fingerprint: String,
    /// Further `key: value` lines, in order.
    pub lines: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    Evaluated {
        users: u64,
        skipped: u64,
    },
    /// The model could not be evaluated (not trained, failed, no users); the report says why
    /// instead of dropping the row.
    Unavailable {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub name: String,
    pub status: ModelStatus,
    /// Mean per [`crate::metrics::columns`] column (K-major: P, R, NDCG, MAP per K); empty
    /// when unavailable.
    pub means: Vec<f64>,
    /// Coverage@K per K; empty when unavailable.
    pub coverage: Vec<f64>,
}

impl ModelRow {
    /// A row from reduced sums. A model with no evaluated user becomes unavailable: a mean
    /// over nobody would be NaN, which JSON cannot even carry.
    pub fn evaluated(name: impl Into<String>, sums: &MetricSums, coverage: Vec<f64>) -> Self {
        let name = name.into();
        match sums.means() {
            Some(means) => Self {
                name,
                status: ModelStatus::Evaluated {
                    users: sums.users(),
                    skipped: sums.skipped(),
                },
                means,
                coverage,
            },
            None => Self::unavailable(
                name,
                format!("no user with held-out items ({} skipped)", sums.skipped()),
            ),
        }
    }

    pub fn unavailable(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: ModelStatus::Unavailable {
                reason: reason.into(),
            },
            means: Vec::new(),
            coverage: Vec::new(),
        }
    }

    fn mean(&self, ks: &[usize], metric: Metric, k: usize) -> Option<f64> {
        column_index(ks, metric, k).and_then(|i| self.means.get(i).copied())
    }
}

/// One pairwise Wilcoxon test on one metric column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairwiseComparison {
    pub model_a: String,
    pub model_b: String,
    /// min(W+, W-) with d = a - b.
    pub statistic: f64,
    pub w_plus: f64,
    pub w_minus: f64,
    pub p_value: f64,
    /// Holm-adjusted over all pairs of the same column.
    pub p_holm: f64,
    pub method: PValueMethod,
    /// Mean of a - b over the common users.
    pub mean_difference: f64,
    /// [`Direction::XGreater`] means model a ranks higher.
    pub direction: Direction,
    /// The model that is better at the table's alpha after Holm adjustment, if either is.
    pub better: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSignificance {
    pub metric: Metric,
    pub k: usize,
    pub column: String,
    /// Across all compared models; `None` with fewer than two models.
    pub friedman: Option<FriedmanResult>,
    /// The same test within each [`ModelGroup`] that has at least two compared models.
    #[serde(default)]
    pub group_friedman: Vec<GroupFriedman>,
    /// Kolmogorov-Smirnov normality of each model's values, in [`SignificanceTable::models`]
    /// order.
    #[serde(default)]
    pub normality: Vec<KsResult>,
    pub pairwise: Vec<PairwiseComparison>,
}

/// Models that are also tested among themselves, e.g. the paper's four context models
/// ("the Friedman test did not indicate any significant differences of the models 1-4").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelGroup {
    pub name: String,
    pub models: Vec<String>,
    /// A model the group's members are each set against in the report (the plain VAE for
    /// the context models), from the pairwise tests.
    #[serde(default)]
    pub baseline: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupFriedman {
    pub group: String,
    /// The group's models that were compared (those evaluated).
    pub models: Vec<String>,
    pub result: FriedmanResult,
}

/// The multiple-comparison correction of the pairwise p-values.
pub const CORRECTION: &str = "holm";

fn correction_name() -> String {
    CORRECTION.to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignificanceTable {
    pub alpha: f64,
    /// How the pairwise p-values were adjusted (`p_holm`): Holm-Bonferroni within a column.
    #[serde(default = "correction_name")]
    pub correction: String,
    pub models: Vec<String>,
    /// Users evaluated by every model: the blocks of every test.
    pub users: usize,
    /// In report order: metric, then K.
    pub columns: Vec<ColumnSignificance>,
    /// The groups given to [`compare_grouped`].
    #[serde(default)]
    pub groups: Vec<ModelGroup>,
}

/// Columns in the paper's table order: grouped by metric, then K (P@10, P@100, R@10, ...),
/// unlike the K-major storage order of [`UserMetrics`].
fn report_order(ks: &[usize]) -> Vec<(Metric, usize)> {
    Metric::ALL
        .iter()
        .flat_map(|&m| ks.iter().map(move |&k| (m, k)))
        .collect()
}

/// Runs the tests on the users every model evaluated (paired tests need the same users on
/// each side; a user skipped by one model is left out of all comparisons). Friedman goes
/// across all models for each column; Wilcoxon over every pair, Holm-adjusted within the
/// column.
pub fn compare(
    models: &[(String, Vec<(u32, UserMetrics)>)],
    ks: &[usize],
) -> Result<SignificanceTable, EvalError> {
    compare_grouped(models, ks, &[])
}

/// [`compare`], plus a Friedman test within each of `groups` (over the same common users)
/// and a Kolmogorov-Smirnov normality check of every model's values per column.
pub fn compare_grouped(
    models: &[(String, Vec<(u32, UserMetrics)>)],
    ks: &[usize],
    groups: &[ModelGroup],
) -> Result<SignificanceTable, EvalError> {
    validate_ks(ks)?;
    let width = ks.len() * METRICS_PER_K;
    for (i, (name, _)) in models.iter().enumerate() {
        if models[..i].iter().any(|(other, _)| other == name) {
            return Err(EvalError::DuplicateModel(name.clone()));
        }
    }
    // Each model's rows sorted by user, checked for repeats and width.
    let mut sorted: Vec<Vec<&(u32, UserMetrics)>> = Vec::with_capacity(models.len());
    for (_, rows) in models {
        let mut by_user: Vec<&(u32, UserMetrics)> = rows.iter().collect();
        by_user.sort_unstable_by_key(|(u, _)| *u);
        if let Some(w) = by_user.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(EvalError::DuplicateUser(w[0].0));
        }
        if let Some((_, bad)) = by_user.iter().find(|(_, m)| m.values.len() != width) {
            return Err(EvalError::ColumnMismatch {
                expected: width,
                got: bad.values.len(),
            });
        }
        sorted.push(by_user);
    }
    let mut common: Vec<u32> = sorted
        .first()
        .map(|rows| rows.iter().map(|(u, _)| *u).collect())
        .unwrap_or_default();
    for rows in sorted.iter().skip(1) {
        common.retain(|u| rows.binary_search_by_key(u, |(id, _)| *id).is_ok());
    }
    if !models.is_empty() && common.is_empty() {
        return Err(EvalError::NoCommonUsers);
    }
    // Per model, its rows for the common users in ascending user order.
    let aligned: Vec<Vec<&UserMetrics>> = sorted
        .iter()
        .map(|rows| {
            let mut pos = 0;
            common
                .iter()
                .filter_map(|u| {
                    // Both lists ascend, so a forward scan finds every common user.
                    while rows.get(pos).is_some_and(|(id, _)| id < u) {
                        pos += 1;
                    }
                    rows.get(pos).filter(|(id, _)| id == u).map(|(_, m)| m)
                })
                .collect()
        })
        .collect();

    let names: Vec<String> = models.iter().map(|(n, _)| n.clone()).collect();
    let mut columns = Vec::new();
    for (metric, k) in report_order(ks) {
        let Some(col) = column_index(ks, metric, k) else {
            continue;
        };
        let samples: Vec<Vec<f64>> = aligned
            .iter()
            .map(|rows| rows.iter().map(|m| m.values[col]).collect())
            .collect();
        let friedman = if samples.len() >= 2 {
            Some(friedman(&samples)?)
        } else {
            None
        };
        let group_friedman = group_tests(&names, &samples, groups)?;
        let normality = samples
            .iter()
            .map(|x| ks_normality(x))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pairwise = Vec::new();
        for a in 0..samples.len() {
            for b in a + 1..samples.len() {
                let w = wilcoxon_signed_rank(&samples[a], &samples[b])?;
                pairwise.push(PairwiseComparison {
                    model_a: names[a].clone(),
                    model_b: names[b].clone(),
                    statistic: w.statistic,
                    w_plus: w.w_plus,
                    w_minus: w.w_minus,
                    p_value: w.p_value,
                    p_holm: w.p_value,
                    method: w.method,
                    mean_difference: w.mean_difference,
                    direction: w.direction,
                    better: None,
                });
            }
        }
        let raw: Vec<f64> = pairwise.iter().map(|p| p.p_value).collect();
        for (pair, adjusted) in pairwise.iter_mut().zip(holm(&raw)) {
            pair.p_holm = adjusted;
            if adjusted < DEFAULT_ALPHA {
                pair.better = match pair.direction {
                    Direction::XGreater => Some(pair.model_a.clone()),
                    Direction::YGreater => Some(pair.model_b.clone()),
                    Direction::Neither => None,
                };
            }
        }
        columns.push(ColumnSignificance {
            metric,
            k,
            column: metric.name(k),
            friedman,
            group_friedman,
            normality,
            pairwise,
        });
    }
    Ok(SignificanceTable {
        alpha: DEFAULT_ALPHA,
        correction: correction_name(),
        models: names,
        users: common.len(),
        columns,
        groups: groups.to_vec(),
    })
}

/// Friedman within each group over its models that were compared; groups with fewer than two
/// of them are left out.
fn group_tests(
    names: &[String],
    samples: &[Vec<f64>],
    groups: &[ModelGroup],
) -> Result<Vec<GroupFriedman>, EvalError> {
    let mut out = Vec::new();
    for g in groups {
        let members: Vec<usize> = g
            .models
            .iter()
            .filter_map(|m| names.iter().position(|n| n == m))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let picked: Vec<&[f64]> = members.iter().map(|&i| samples[i].as_slice()).collect();
        out.push(GroupFriedman {
            group: g.name.clone(),
            models: members.iter().map(|&i| names[i].clone()).collect(),
            result: friedman(&picked)?,
        });
    }
    Ok(out)
}

/// Header lines the console shows above its table too: what the numbers are numbers of.
const TERMINAL_HEADER_LINES: [&str; 2] = ["targets", "users skipped"];

/// Everything report.json holds; [`Report::markdown`] and [`Report::terminal`] render it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub header: ReportHeader,
    pub ks: Vec<usize>,
    pub rows: Vec<ModelRow>,
    pub significance: Option<SignificanceTable>,
    /// Head/tail, per-country and cross-cultural views of the same rankings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<crate::breakdown::Breakdown>,
    /// The "VAE sampling" experiment, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<crate::sampling::Sampling>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = render_markdown(
            &self.header,
            &self.ks,
            &self.rows,
            self.significance.as_ref(),
        );
        if let Some(b) = &self.breakdown {
            md.push_str(&b.markdown());
        }
        if let Some(s) = &self.sampling {
            md.push_str(&s.markdown(&self.ks));
        }
        md
    }

    pub fn terminal(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Protocol: {}", self.header.protocol);
        for (key, value) in &self.header.lines {
            if TERMINAL_HEADER_LINES.contains(&key.as_str()) {
                let _ = writeln!(out, "{key}: {value}");
            }
        }
        out.push_str(&render_terminal(&self.ks, &self.rows));
        if let Some(s) = &self.sampling {
            let _ = writeln!(
                out,
                "\nVAE sampling: mean of {} runs of {} tracks drawn from those with >= {} LEs",
                s.runs.len(),
                s.sample_tracks,
                s.min_track_les
            );
            out.push_str(&render_terminal(&self.ks, &s.rows));
            if let Some(line) = s.not_run_line() {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }
}

fn fmt_value(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "n/a".to_string(),
    }
}

/// A popularity baseline covers a few dozen items of a million-item catalogue; four fixed
/// decimals would print 0.0000 for it, so small non-zero shares switch to scientific notation.
fn fmt_coverage(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v > 0.0 && v < 1e-3 => format!("{v:.2e}"),
        other => fmt_value(other),
    }
}

/// Four decimals, or scientific notation below 1e-3 where fixed decimals would show 0.0000.
fn fmt_p(p: f64) -> String {
    if !p.is_finite() {
        "n/a".to_string()
    } else if p == 0.0 {
        // The normal tail underflowed; any honest bound is "smaller than representable".
        "< 1e-300".to_string()
    } else if p < 1e-3 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// Model names and reasons are free text; keep them from breaking the table.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `numeric(i)` right-aligns column `i`.
fn md_table(
    out: &mut String,
    header: &[String],
    rows: &[Vec<String>],
    numeric: impl Fn(usize) -> bool,
) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = (0..header.len())
        .map(|i| if numeric(i) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

/// Data cells of one model row: the values, or the reason followed by dashes.
fn row_cells(row: &ModelRow, values: impl Iterator<Item = String>, width: usize) -> Vec<String> {
    let mut cells = vec![md_cell(&row.name)];
    match &row.status {
        ModelStatus::Evaluated { .. } => cells.extend(values),
        ModelStatus::Unavailable { reason } => {
            cells.push(format!("unavailable: {}", md_cell(reason)));
            cells.extend((1..width).map(|_| "–".to_string()));
        }
    }
    cells
}

/// The paper's Table 3 layout: P, R and NDCG at each K, one row per model.
pub(crate) fn accuracy_table(ks: &[usize], rows: &[ModelRow]) -> String {
    let mut out = String::new();
    let accuracy: Vec<(Metric, usize)> = ACCURACY_METRICS
        .iter()
        .flat_map(|&m| ks.iter().map(move |&k| (m, k)))
        .collect();
    let mut head = vec!["Model".to_string()];
    head.extend(accuracy.iter().map(|(m, k)| m.name(*k)));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let values = accuracy.iter().map(|&(m, k)| fmt_value(row.mean(ks, m, k)));
            row_cells(row, values, accuracy.len())
        })
        .collect();
    md_table(&mut out, &head, &body, |i| i > 0);
    out
}

/// The report as Markdown: header, the paper's Table 3 (P, R, NDCG at each K), MAP and
/// coverage with user counts, then significance if given.
pub fn render_markdown(
    header: &ReportHeader,
    ks: &[usize],
    rows: &[ModelRow],
    significance: Option<&SignificanceTable>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md_cell(&header.title));
    let _ = writeln!(out, "- Protocol: {}", md_cell(&header.protocol));
    let _ = writeln!(out, "- Exclusion: {}", md_cell(&header.exclusion));
    let _ = writeln!(out, "- Seed: {}", header.seed);
    let _ = writeln!(out, "- Data fingerprint: `{}`", header.data_fingerprint);
    for (key, value) in &header.lines {
        let _ = writeln!(out, "- {}: {}", md_cell(key), md_cell(value));
    }

    let _ = writeln!(out, "\n## Accuracy\n");
    out.push_str(&accuracy_table(ks, rows));

    let _ = writeln!(out, "\n## MAP and coverage\n");
    let mut head = vec!["Model".to_string()];
    head.extend(ks.iter().map(|&k| Metric::Map.name(k)));
    head.extend(ks.iter().map(|&k| format!("Coverage@{k}")));
    head.push("Users".to_string());
    head.push("Skipped".to_string());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut values: Vec<String> = ks
                .iter()
                .map(|&k| fmt_value(row.mean(ks, Metric::Map, k)))
                .collect();
            values.extend((0..ks.len()).map(|i| fmt_coverage(row.coverage.get(i).copied())));
            if let ModelStatus::Evaluated { users, skipped } = &row.status {
                values.push(users.to_string());
                values.push(skipped.to_string());
            }
            row_cells(row, values.into_iter(), 2 * ks.len() + 2)
        })
        .collect();
    md_table(&mut out, &head, &body, |i| i > 0);

    if let Some(sig) = significance {
        render_significance(&mut out, sig);
    }
    out
}

fn render_significance(out: &mut String, sig: &SignificanceTable) {
    let _ = writeln!(out, "\n## Significance\n");
    let names: Vec<String> = sig.models.iter().map(|n| md_cell(n)).collect();
    let _ = writeln!(
        out,
        "Paired tests over the {} users evaluated by all of: {}. As the paper (Sec. 4.2.2): \
         a Kolmogorov-Smirnov check of normality per model and metric, the Friedman test \
         across models per metric (across all of them, and within each group below), and \
         pairwise two-sided Wilcoxon signed-rank tests with {} correction within each metric; \
         \"Better\" at α = {} after correction.\n",
        sig.users,
        names.join(", "),
        correction_label(&sig.correction),
        sig.alpha
    );
    render_normality(out, sig);
    render_friedman(out, sig);
    for g in sig.groups.iter().filter(|g| g.baseline.is_some()) {
        render_against_baseline(out, sig, g);
    }
    let pairs: Vec<Vec<String>> = sig
        .columns
        .iter()
        .flat_map(|c| {
            c.pairwise.iter().map(move |p| {
                vec![
                    c.column.clone(),
                    md_cell(&p.model_a),
                    md_cell(&p.model_b),
                    format!("{:.1}", p.statistic),
                    fmt_p(p.p_value),
                    fmt_p(p.p_holm),
                    p.better.as_deref().map_or("–".to_string(), md_cell),
                ]
            })
        })
        .collect();
    if !pairs.is_empty() {
        let _ = writeln!(out, "\n### Pairwise Wilcoxon\n");
        let adjusted = format!("p ({})", correction_label(&sig.correction));
        let head = ["Metric", "A", "B", "W", "p", &adjusted, "Better"].map(String::from);
        md_table(out, &head, &pairs, |i| (3..=5).contains(&i));
    }
}

fn correction_label(name: &str) -> &str {
    if name == CORRECTION {
        "Holm"
    } else {
        name
    }
}

/// Share of samples normality is rejected for at this level (the paper's p <= 0.001).
const NORMALITY_ALPHA: f64 = 0.001;

fn render_normality(out: &mut String, sig: &SignificanceTable) {
    let tested: Vec<&KsResult> = sig.columns.iter().flat_map(|c| &c.normality).collect();
    if tested.is_empty() {
        return;
    }
    let rejected = tested
        .iter()
        .filter(|k| k.p_value <= NORMALITY_ALPHA)
        .count();
    let _ = writeln!(out, "### Normality (Kolmogorov-Smirnov)\n");
    let _ = writeln!(
        out,
        "Each model's per-user values, standardised with their own mean and deviation, against \
         the normal law (as `scipy.stats.kstest`; estimating the parameters makes the test \
         conservative). Normality is rejected at p ≤ {NORMALITY_ALPHA} for {rejected} of {} \
         samples, which is why the comparisons use rank tests. Cells: D (p).\n",
        tested.len()
    );
    let mut head = vec!["Model".to_string()];
    head.extend(sig.columns.iter().map(|c| c.column.clone()));
    let body: Vec<Vec<String>> = sig
        .models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let mut cells = vec![md_cell(model)];
            cells.extend(sig.columns.iter().map(|c| {
                c.normality.get(i).map_or("–".to_string(), |k| {
                    format!("{:.3} ({})", k.statistic, fmt_p(k.p_value))
                })
            }));
            cells
        })
        .collect();
    md_table(out, &head, &body, |i| i > 0);
}

fn render_friedman(out: &mut String, sig: &SignificanceTable) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for c in &sig.columns {
        if let Some(f) = &c.friedman {
            rows.push(friedman_cells(c, &format!("all {}", f.treatments), f));
        }
        for g in &c.group_friedman {
            let label = format!("{} ({})", md_cell(&g.group), g.models.len());
            rows.push(friedman_cells(c, &label, &g.result));
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Friedman\n");
    let head = ["Metric", "Models", "χ²", "df", "p"].map(String::from);
    md_table(out, &head, &rows, |i| i > 1);
}

fn friedman_cells(c: &ColumnSignificance, models: &str, f: &FriedmanResult) -> Vec<String> {
    vec![
        c.column.clone(),
        models.to_string(),
        format!("{:.4}", f.statistic),
        f.df.to_string(),
        fmt_p(f.p_value),
    ]
}

/// Each member of `g` against its baseline, per metric: the mean paired difference and the
/// corrected p-value of their Wilcoxon test.
fn render_against_baseline(out: &mut String, sig: &SignificanceTable, g: &ModelGroup) {
    let Some(base) = g.baseline.as_deref() else {
        return;
    };
    let _ = writeln!(
        out,
        "\n### {} against {}\n",
        md_cell(&g.name),
        md_cell(base)
    );
    let _ = writeln!(
        out,
        "Mean paired difference (model - {}) over the common users, and the {}-corrected \
         Wilcoxon p-value; a difference counts only where p < {}.\n",
        md_cell(base),
        correction_label(&sig.correction),
        sig.alpha
    );
    let mut head = vec!["Model".to_string()];
    head.extend(sig.columns.iter().map(|c| c.column.clone()));
    let mut body = Vec::new();
    for m in g.models.iter().filter(|m| sig.models.contains(m)) {
        let mut cells = vec![md_cell(m)];
        for c in &sig.columns {
            let pair = c.pairwise.iter().find(|p| {
                (p.model_a == *m && p.model_b == base) || (p.model_b == *m && p.model_a == base)
            });
            cells.push(pair.map_or("–".to_string(), |p| {
                // `0.0 - x`, not `-x`: a tie prints +0.0000, not -0.0000.
                let d = if p.model_a == *m {
                    p.mean_difference
                } else {
                    0.0 - p.mean_difference
                };
                format!("{d:+.4} (p {})", fmt_p(p.p_holm))
            }));
        }
        body.push(cells);
    }
    md_table(out, &head, &body, |i| i > 0);
}

/// A compact aligned table for the console: every metric column and coverage per model.
pub fn render_terminal(ks: &[usize], rows: &[ModelRow]) -> String {
    let mut head = vec!["model".to_string()];
    let order = report_order(ks);
    head.extend(order.iter().map(|(m, k)| m.name(*k)));
    head.extend(ks.iter().map(|&k| format!("Cov@{k}")));
    head.push("users".to_string());
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    let mut notes: Vec<(String, String)> = Vec::new();
    for row in rows {
        match &row.status {
            ModelStatus::Evaluated { users, .. } => {
                let mut cells = vec![row.name.clone()];
                cells.extend(order.iter().map(|&(m, k)| fmt_value(row.mean(ks, m, k))));
                cells.extend((0..ks.len()).map(|i| fmt_coverage(row.coverage.get(i).copied())));
                cells.push(users.to_string());
                lines.push(cells);
            }
            ModelStatus::Unavailable { reason } => notes.push((row.name.clone(), reason.clone())),
        }
    }
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for cells in &lines {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut emit = |cells: &[String]| {
        let mut line = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(line, "{c:<w$}");
            } else {
                let _ = write!(line, "  {c:>w$}");
            }
        }
        let _ = writeln!(out, "{line}");
    };
    emit(&head);
    for cells in &lines {
        emit(cells);
    }
    for (name, reason) in notes {
        let _ = writeln!(out, "{name}: unavailable ({reason})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{columns, user_metrics};

    const KS: [usize; 2] = [10, 100];

    /// A row whose 8 columns are `base + column / 100`, so every cell is distinguishable.
    fn row(base: f64) -> UserMetrics {
        UserMetrics {
            values: (0..8).map(|c| base + c as f64 / 100.0).collect(),
        }
    }

    fn header() -> ReportHeader {
        ReportHeader {
            title: "LFM-2b eval".to_string(),
            protocol: "per-user 80/20 holdout".to_string(),
            exclusion: "training items".to_string(),
            seed: 42,
            data_fingerprint: "abc123".to_string(),
            lines: vec![("Users".to_string(), "1000".to_string())],
        }
    }

    fn evaluated(name: &str, base: f64) -> ModelRow {
        let mut sums = MetricSums::for_ks(&KS);
        sums.add(&row(base)).expect("valid");
        sums.add_skipped(3);
        ModelRow::evaluated(name, &sums, vec![0.25, 0.5])
    }

    #[test]
    fn markdown_tables_follow_paper_layout() {
        let rows = vec![
            evaluated("WMF", 0.1),
            ModelRow::unavailable("VAE|gated", "not trained\nyet"),
        ];
        let md = render_markdown(&header(), &KS, &rows, None);
        assert!(md.starts_with("# LFM-2b eval\n"));
        assert!(md.contains("- Protocol: per-user 80/20 holdout\n"));
        assert!(md.contains("- Exclusion: training items\n"));
        assert!(md.contains("- Seed: 42\n"));
        assert!(md.contains("- Data fingerprint: `abc123`\n"));
        assert!(md.contains("- Users: 1000\n"));
        assert!(md.contains("| Model | P@10 | P@100 | R@10 | R@100 | NDCG@10 | NDCG@100 |\n"));
        // Storage is K-major (P@10=c0, R@10=c1, NDCG@10=c2, MAP@10=c3, P@100=c4, ...), the
        // table is metric-major: c0 c4 c1 c5 c2 c6.
        assert!(md.contains("| WMF | 0.1000 | 0.1400 | 0.1100 | 0.1500 | 0.1200 | 0.1600 |\n"));
        assert!(md.contains("| VAE\\|gated | unavailable: not trained yet | – | – | – | – | – |\n"));
        assert!(md.contains(
            "| Model | MAP@10 | MAP@100 | Coverage@10 | Coverage@100 | Users | Skipped |\n"
        ));
        assert!(md.contains("| WMF | 0.1300 | 0.1700 | 0.2500 | 0.5000 | 1 | 3 |\n"));
        assert!(!md.contains("## Significance"));
    }

    #[test]
    fn model_without_users_becomes_unavailable() {
        let mut sums = MetricSums::for_ks(&KS);
        sums.add_skipped(5);
        let r = ModelRow::evaluated("MP", &sums, vec![0.0, 0.0]);
        assert_eq!(
            r.status,
            ModelStatus::Unavailable {
                reason: "no user with held-out items (5 skipped)".to_string()
            }
        );
        assert!(r.means.is_empty());
    }

    /// Three models over overlapping user sets: A beats B on every user, C ties A.
    fn three_models() -> Vec<(String, Vec<(u32, UserMetrics)>)> {
        let a: Vec<(u32, UserMetrics)> =
            (0..40).map(|u| (u, row(0.3 + u as f64 / 1000.0))).collect();
        let b: Vec<(u32, UserMetrics)> = (5..45)
            .rev()
            .map(|u| (u, row(0.1 + u as f64 / 3000.0)))
            .collect();
        let c: Vec<(u32, UserMetrics)> =
            (0..60).map(|u| (u, row(0.3 + u as f64 / 1000.0))).collect();
        vec![
            ("A".to_string(), a),
            ("B".to_string(), b),
            ("C".to_string(), c),
        ]
    }

    #[test]
    fn compare_aligns_common_users_and_finds_the_better_model() {
        let models = three_models();
        let table = compare(&models, &KS).expect("valid");
        // Users 5..40 are in all three.
        assert_eq!(table.users, 35);
        assert_eq!(table.models, vec!["A", "B", "C"]);
        let names: Vec<&str> = table.columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(
            names,
            ["P@10", "P@100", "R@10", "R@100", "NDCG@10", "NDCG@100", "MAP@10", "MAP@100"]
        );
        for col in &table.columns {
            let f = col.friedman.as_ref().expect("3 models");
            assert_eq!((f.treatments, f.blocks), (3, 35));
            assert!(f.p_value < 1e-6);
            assert_eq!(col.pairwise.len(), 3);
            let ab = &col.pairwise[0];
            assert_eq!((ab.model_a.as_str(), ab.model_b.as_str()), ("A", "B"));
            assert_eq!(ab.better.as_deref(), Some("A"));
            assert!(ab.p_holm >= ab.p_value);
            let cb = &col.pairwise[2];
            assert_eq!((cb.model_a.as_str(), cb.model_b.as_str()), ("B", "C"));
            assert_eq!(cb.better.as_deref(), Some("C"));
            assert_eq!(cb.direction, Direction::YGreater);
            let ac = &col.pairwise[1];
            assert_eq!(ac.method, PValueMethod::NoDifferences);
            assert_eq!(ac.better, None);
            assert_eq!(ac.p_holm, 1.0);
        }
        // The test really ran on the aligned users: redo A vs B on P@10 by hand.
        let x: Vec<f64> = (5..40).map(|u| 0.3 + u as f64 / 1000.0).collect();
        let y: Vec<f64> = (5..40).map(|u| 0.1 + u as f64 / 3000.0).collect();
        let w = wilcoxon_signed_rank(&x, &y).expect("valid");
        assert_eq!(table.columns[0].pairwise[0].p_value, w.p_value);
        assert_eq!(table.columns[0].pairwise[0].statistic, w.statistic);
    }

    #[test]
    fn compare_rejects_bad_input() {
        let mut models = three_models();
        models[1].1.push((7, row(0.2)));
        assert_eq!(compare(&models, &KS), Err(EvalError::DuplicateUser(7)));
        let mut models = three_models();
        models[2].1.push((99, UserMetrics { values: vec![0.1] }));
        assert_eq!(
            compare(&models, &KS),
            Err(EvalError::ColumnMismatch {
                expected: 8,
                got: 1
            })
        );
        let mut models = three_models();
        models[2].0 = "A".to_string();
        assert_eq!(
            compare(&models, &KS),
            Err(EvalError::DuplicateModel("A".to_string()))
        );
        let disjoint = vec![
            ("A".to_string(), vec![(1, row(0.1))]),
            ("B".to_string(), vec![(2, row(0.1))]),
        ];
        assert_eq!(compare(&disjoint, &KS), Err(EvalError::NoCommonUsers));
        assert_eq!(compare(&three_models(), &[]), Err(EvalError::EmptyKs));
        // A single model: nothing to compare, but no error.
        let one = compare(&three_models()[..1], &KS).expect("valid");
        assert!(one
            .columns
            .iter()
            .all(|c| c.friedman.is_none() && c.pairwise.is_empty()));
    }

    #[test]
    fn markdown_significance_section() {
        let table = compare(&three_models(), &KS).expect("valid");
        let md = render_markdown(&header(), &KS, &[evaluated("A", 0.3)], Some(&table));
        assert!(md.contains("## Significance"));
        assert!(md.contains("35 users evaluated by all of: A, B, C"));
        assert!(md.contains("| Metric | Models | χ² | df | p |\n"));
        assert!(md.contains("| P@10 | all 3 |"));
        assert!(md.contains("### Normality (Kolmogorov-Smirnov)"));
        assert!(md.contains("| Metric | A | B | W | p | p (Holm) | Better |\n"));
        assert!(md.contains("| --- | --- | --- | ---: | ---: | ---: | --- |\n"));
        // 35 pairs all in A's favour: p far below 1e-3, printed in scientific notation.
        let ab_line = md
            .lines()
            .find(|l| l.starts_with("| P@10 | A | B |"))
            .expect("A vs B row");
        assert!(ab_line.contains("e-"), "{ab_line}");
        assert!(ab_line.ends_with("| A |"), "{ab_line}");
        let ac_line = md
            .lines()
            .find(|l| l.starts_with("| P@10 | A | C |"))
            .expect("A vs C row");
        assert!(ac_line.ends_with("| 1.0000 | 1.0000 | – |"), "{ac_line}");
    }

    #[test]
    fn groups_get_their_own_friedman_and_a_table_against_the_baseline() {
        let models = three_models();
        let groups = [
            ModelGroup {
                name: "context".to_string(),
                models: vec!["B".to_string(), "C".to_string(), "absent".to_string()],
                baseline: Some("A".to_string()),
            },
            ModelGroup {
                name: "alone".to_string(),
                models: vec!["C".to_string()],
                baseline: None,
            },
        ];
        let table = compare_grouped(&models, &KS, &groups).expect("valid");
        assert_eq!(table.correction, "holm");
        for col in &table.columns {
            // Only the group with two compared models is tested, over B and C alone.
            assert_eq!(col.group_friedman.len(), 1);
            let g = &col.group_friedman[0];
            assert_eq!(g.models, ["B", "C"]);
            let i = column_index(&KS, col.metric, col.k).expect("column");
            let pick = |m: usize| -> Vec<f64> {
                let mut rows: Vec<&(u32, UserMetrics)> = models[m]
                    .1
                    .iter()
                    .filter(|(u, _)| (5..40).contains(u))
                    .collect();
                rows.sort_by_key(|(u, _)| *u);
                rows.iter().map(|(_, r)| r.values[i]).collect()
            };
            assert_eq!(g.result, friedman(&[pick(1), pick(2)]).expect("valid"));
            assert_eq!(col.normality.len(), 3);
            // A's values rise linearly with the user: far from a bell, yet 35 points are few.
            assert!(col.normality.iter().all(|k| k.n == 35 && k.statistic > 0.0));
        }
        let md = render_markdown(&header(), &KS, &[evaluated("A", 0.3)], Some(&table));
        assert!(md.contains("| P@10 | context (2) |"), "{md}");
        assert!(md.contains("### context against A"));
        // B is below A by 0.2 on every user: a negative difference, Holm-significant.
        let b_line = md
            .lines()
            .find(|l| l.starts_with("| B | -0.2"))
            .expect("B against A");
        assert!(b_line.contains("(p "), "{b_line}");
        assert!(
            md.lines()
                .any(|l| l.starts_with("| C | +0.0000 (p 1.0000) |")),
            "C ties A on every user: {md}"
        );
    }

    #[test]
    fn p_value_formatting() {
        assert_eq!(fmt_p(0.04088), "0.0409");
        assert_eq!(fmt_p(0.001), "0.0010");
        assert_eq!(fmt_p(0.000123), "1.23e-4");
        assert_eq!(fmt_p(0.0), "< 1e-300");
        assert_eq!(fmt_value(Some(f64::NAN)), "n/a");
        assert_eq!(fmt_value(None), "n/a");
        assert_eq!(fmt_coverage(Some(0.25)), "0.2500");
        assert_eq!(fmt_coverage(Some(2e-5)), "2.00e-5");
        assert_eq!(fmt_coverage(Some(0.0)), "0.0000");
    }

    #[test]
    fn terminal_table_is_aligned() {
        let rows = vec![
            evaluated("WMF", 0.1),
            evaluated("most-popular-country", 0.2),
            ModelRow::unavailable("VAE", "not trained"),
        ];
        let text = render_terminal(&KS, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let width = lines[0].chars().count();
        assert!(
            lines[..3].iter().all(|l| l.chars().count() == width),
            "{text}"
        );
        assert!(lines[0].starts_with("model                "));
        assert!(lines[0].contains("P@10"));
        assert!(lines[0].contains("MAP@100"));
        assert!(lines[0].contains("Cov@100"));
        assert!(lines[1].starts_with("WMF "));
        assert!(lines[2].contains("0.2000"));
        assert_eq!(lines[3], "VAE: unavailable (not trained)");
    }

    fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_close(p, q))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
            }
            _ => a == b,
        }
    }

    #[test]
    fn report_round_trips_through_json() {
        let ks = [10, 100];
        let mut sums = MetricSums::for_ks(&ks);
        for (u, ranking) in [[1u32, 2, 3], [4, 5, 6]].iter().enumerate() {
            let m = user_metrics(ranking, &[2, 5], &ks).expect("targets");
            sums.add(&m).expect("valid");
            assert_eq!(columns(&ks).len(), m.values.len(), "user {u}");
        }
        let report = Report {
            header: header(),
            ks: ks.to_vec(),
            rows: vec![
                ModelRow::evaluated("MP", &sums, vec![0.1, 0.2]),
                ModelRow::unavailable("VAE", "not trained"),
            ],
            significance: Some(compare(&three_models(), &ks).expect("valid")),
            breakdown: None,
            sampling: None,
        };
        let json = serde_json::to_string(&report).expect("serialize");
        assert!(json.contains("\"state\":\"unavailable\""));
        let back: Report = serde_json::from_str(&json).expect("deserialize");
        // Writing is exact (shortest round-trip digits); serde_json's default float parser
        // may land 1 ulp off, so floats are compared with a relative tolerance.
        let (a, b) = (
            serde_json::to_value(&back).expect("to value"),
            serde_json::to_value(&report).expect("to value"),
        );
        assert!(json_close(&a, &b), "{a}\n{b}");
        assert_eq!(back.markdown(), report.markdown());
        assert_eq!(back.terminal(), report.terminal());
    }
}
