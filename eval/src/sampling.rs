//! The paper's "VAE sampling" rows (Schedl et al. 2021, Sec. 4.3 and the bottom of Table 3):
//! the same models evaluated on several data sets whose tracks were drawn at random from a
//! larger, less popular pool, and the mean over those runs.
//!
//! Each run is a data set of its own, with its own users, catalogue and held-out split, so its
//! rows are not paired with the main table's: the section carries means and per-run values,
//! never significance tests against the main rows.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::metrics::{column_index, Metric};
use crate::report::{ModelRow, ModelStatus};

/// One sampled data set and what the models scored on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingRun {
    pub job_id: String,
    pub seed: u64,
    /// Tracks in the pool the sample was drawn from (at least `min_track_les` events).
    pub pool_tracks: u64,
    /// Tracks the run kept: the sample, less any no kept user played.
    pub tracks: u64,
    pub held_out_users: u64,
    pub rows: Vec<ModelRow>,
}

/// Every run and the mean over them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub min_track_les: u64,
    /// Tracks each run asked for (the main data set's count unless configured).
    pub sample_tracks: u64,
    pub runs: Vec<SamplingRun>,
    /// Mean of each model over the runs, named as the paper names them ("VAE sampling ...").
    pub rows: Vec<ModelRow>,
    /// Models no run could evaluate (the runs train no WMF-ALS), with the first run's reason:
    /// listed once rather than as a column of empty rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<(String, String)>,
}

/// "VAE country id (model 1)" becomes "VAE sampling country id (model 1)", as in Table 3;
/// other rows (the baselines) say they ran on the sampled data after their name.
pub fn sampling_name(name: &str) -> String {
    match name.strip_prefix("VAE") {
        Some(rest) => format!("VAE sampling{rest}"),
        None => format!("{name} (sampling)"),
    }
}

impl Sampling {
    pub fn new(min_track_les: u64, sample_tracks: u64, runs: Vec<SamplingRun>) -> Self {
        let unavailable_everywhere = |name: &str| {
            runs.iter().all(|run| {
                run.rows
                    .iter()
                    .any(|r| r.name == name && matches!(r.status, ModelStatus::Unavailable { .. }))
            })
        };
        let not_run: Vec<(String, String)> = runs
            .first()
            .map(|first| {
                first
                    .rows
                    .iter()
                    .filter(|r| unavailable_everywhere(&r.name))
                    .map(|r| match &r.status {
                        ModelStatus::Unavailable { reason } => (r.name.clone(), reason.clone()),
                        ModelStatus::Evaluated { .. } => (r.name.clone(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows = average(&runs)
            .into_iter()
            .filter(|row| !not_run.iter().any(|(n, _)| sampling_name(n) == row.name))
            .collect();
        Sampling {
            min_track_les,
            sample_tracks,
            runs,
            rows,
            not_run,
        }
    }

    /// One line naming the models no run evaluated, or nothing.
    pub fn not_run_line(&self) -> Option<String> {
        if self.not_run.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.not_run.iter().map(|(n, _)| n.as_str()).collect();
        let why = &self.not_run[0].1;
        Some(format!(
            "Not evaluated in any sampling run: {} (first reason: {why})",
            names.join(", ")
        ))
    }

    /// The section of report.md: the mean table and the per-run NDCG at the largest K.
    pub fn markdown(&self, ks: &[usize]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n## VAE sampling\n");
        let pools: Vec<String> = self
            .runs
            .iter()
            .map(|r| r.pool_tracks.to_string())
            .collect();
        let _ = writeln!(
            out,
            "Mean over {} runs, each on {} tracks drawn at random from those with at least {} \
             listening events (pool: {} tracks). Every run is a job of its own (aggregation, \
             archetypes, context, models, held-out split), so these rows are not paired with \
             the table above and carry no significance tests.\n",
            self.runs.len(),
            self.sample_tracks,
            self.min_track_les,
            pools.join(" / "),
        );
        out.push_str(&crate::report::accuracy_table(ks, &self.rows));
        if let Some(line) = self.not_run_line() {
            let _ = writeln!(out, "\n{line}.");
        }
        let Some(&k) = ks.iter().max() else {
            return out;
        };
        let Some(col) = column_index(ks, Metric::Ndcg, k) else {
            return out;
        };
        let _ = writeln!(out, "\n### {} per run\n", Metric::Ndcg.name(k));
        let _ = write!(out, "| Model |");
        for r in &self.runs {
            let _ = write!(
                out,
                " {} ({} tracks, {} users) |",
                r.job_id, r.tracks, r.held_out_users
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "| --- |{}", " ---: |".repeat(self.runs.len()));
        for row in &self.rows {
            let _ = write!(out, "| {} |", row.name.replace('|', "\\|"));
            for r in &self.runs {
                let v = r
                    .rows
                    .iter()
                    .find(|x| sampling_name(&x.name) == row.name)
                    .and_then(|x| x.means.get(col))
                    .map_or("n/a".to_string(), |v| format!("{v:.4}"));
                let _ = write!(out, " {v} |");
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// Means of the rows of `runs`, in the first run's order. A model missing or unavailable in any
/// run is unavailable in the mean, with the run that lacks it named.
pub fn average(runs: &[SamplingRun]) -> Vec<ModelRow> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let n = runs.len() as f64;
    first
        .rows
        .iter()
        .map(|template| {
            let name = sampling_name(&template.name);
            let mut means = vec![0.0; template.means.len()];
            let mut coverage = vec![0.0; template.coverage.len()];
            let (mut users, mut skipped) = (0u64, 0u64);
            for run in runs {
                let row = run.rows.iter().find(|r| r.name == template.name);
                let Some(row) = row else {
                    return ModelRow::unavailable(name, format!("not in run {}", run.job_id));
                };
                match &row.status {
                    ModelStatus::Evaluated {
                        users: u,
                        skipped: s,
                    } if row.means.len() == means.len() && row.coverage.len() == coverage.len() => {
                        users += u;
                        skipped += s;
                    }
                    ModelStatus::Evaluated { .. } => {
                        return ModelRow::unavailable(
                            name,
                            format!("run {} has other columns", run.job_id),
                        )
                    }
                    ModelStatus::Unavailable { reason } => {
                        return ModelRow::unavailable(name, format!("run {}: {reason}", run.job_id))
                    }
                }
                for (m, v) in means.iter_mut().zip(&row.means) {
                    *m += v / n;
                }
                for (c, v) in coverage.iter_mut().zip(&row.coverage) {
                    *c += v / n;
                }
            }
            ModelRow {
                name,
                // Users and skips summed over the runs: how many evaluations the means rest on.
                status: ModelStatus::Evaluated { users, skipped },
                means,
                coverage,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricSums;
    use crate::metrics::UserMetrics;

    const KS: [usize; 2] = [10, 100];

    fn row(name: &str, v: f64, users: usize) -> ModelRow {
        let mut sums = MetricSums::for_ks(&KS);
        for _ in 0..users {
            sums.add(&UserMetrics { values: vec![v; 8] })
                .expect("valid");
        }
        ModelRow::evaluated(name, &sums, vec![v, v / 2.0])
    }

    fn run(i: u64, rows: Vec<ModelRow>) -> SamplingRun {
        SamplingRun {
            job_id: format!("run-{i}"),
            seed: i,
            pool_tracks: 1000,
            tracks: 100,
            held_out_users: 10,
            rows,
        }
    }

    #[test]
    fn averages_each_model_over_the_runs_and_names_it_as_the_paper() {
        let runs = vec![
            run(0, vec![row("MP global", 0.1, 3), row("VAE", 0.2, 3)]),
            run(1, vec![row("VAE", 0.4, 5), row("MP global", 0.3, 5)]),
        ];
        let rows = average(&runs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "MP global (sampling)");
        assert_eq!(rows[1].name, "VAE sampling");
        assert!((rows[0].means[0] - 0.2).abs() < 1e-12);
        assert!((rows[1].means[7] - 0.3).abs() < 1e-12);
        assert!((rows[1].coverage[1] - 0.15).abs() < 1e-12);
        assert_eq!(
            rows[1].status,
            ModelStatus::Evaluated {
                users: 8,
                skipped: 0
            }
        );
        assert_eq!(
            sampling_name("VAE country id (model 1)"),
            "VAE sampling country id (model 1)"
        );
    }

    #[test]
    fn a_model_missing_from_a_run_is_unavailable_with_the_run_named() {
        let runs = vec![
            run(
                0,
                vec![row("VAE", 0.2, 3), row("VAE cluster id (model 2)", 0.2, 3)],
            ),
            run(1, vec![row("VAE", 0.4, 5)]),
            run(
                2,
                vec![
                    row("VAE", 0.4, 5),
                    ModelRow::unavailable("VAE cluster id (model 2)", "no clusters"),
                ],
            ),
        ];
        let rows = average(&runs);
        assert!(matches!(rows[0].status, ModelStatus::Evaluated { .. }));
        match &rows[1].status {
            ModelStatus::Unavailable { reason } => assert!(reason.contains("run-1"), "{reason}"),
            s => panic!("{s:?}"),
        }
        let s = Sampling::new(100, 100, runs);
        assert!(s.not_run.is_empty());
        let md = s.markdown(&KS);
        assert!(md.contains("## VAE sampling"), "{md}");
        assert!(md.contains("Mean over 3 runs"), "{md}");
        assert!(md.contains("| VAE sampling | 0.3333 |"), "{md}");
        assert!(md.contains("### NDCG@100 per run"), "{md}");
    }

    #[test]
    fn models_no_run_evaluated_are_listed_once_not_averaged() {
        let als = || ModelRow::unavailable("WMF-ALS", "als.enabled = false");
        let runs = vec![
            run(0, vec![row("VAE", 0.2, 3), als()]),
            run(1, vec![row("VAE", 0.4, 5), als()]),
        ];
        let s = Sampling::new(100, 100, runs);
        let names: Vec<&str> = s.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["VAE sampling"]);
        assert_eq!(
            s.not_run,
            [("WMF-ALS".to_string(), "als.enabled = false".to_string())]
        );
        let md = s.markdown(&KS);
        assert!(
            md.contains(
                "Not evaluated in any sampling run: WMF-ALS (first reason: als.enabled = false)"
            ),
            "{md}"
        );
    }
}
