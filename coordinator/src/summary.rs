//! The job summary: what was read, rejected, kept and written, and how long it took.

use std::collections::BTreeMap;

use archetype_job::config::FilterConfig;
use archetype_job::{JobConfig, JobLayout};
use archetype_lfm::shard::{Encoding, ShardSpec};
use archetype_proto::v1;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberSummary {
    pub index: usize,
    pub worker_id: String,
    pub hostname: String,
    pub timely_address: String,
    pub cores: u32,
    /// What the worker could count on when it registered (MemAvailable, or the room under
    /// its cgroup limit when lower): what the memory plan compares against.
    pub memory_bytes: u64,
    pub gpus: Vec<String>,
    pub shards: usize,
    pub bytes: u64,
}

/// A rejected row as the report shows it: file, line, field.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RejectedRow {
    pub file: String,
    /// 1-based line in the (decompressed) file; the row number for Parquet.
    pub line: u64,
    pub byte_offset: u64,
    pub kind: String,
    pub field: String,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rejections {
    pub rows_read: u64,
    pub rejected: u64,
    pub fraction: f64,
    pub budget_fraction: f64,
    pub by_kind: BTreeMap<String, u64>,
    pub samples: Vec<RejectedRow>,
}

/// A member loss the job survived: the phase was redone on a re-formed cluster.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recovery {
    pub phase: String,
    /// 0 for the phase's first attempt.
    pub attempt: u32,
    /// The lost members, each with why it was taken for lost.
    pub lost: Vec<String>,
    /// How the attempt failed.
    pub error: String,
    /// From the attempt's start to its failure: work the phase's time includes but its
    /// result does not show.
    #[serde(default)]
    pub attempt_seconds: f64,
    /// From the failure to the re-formed cluster.
    pub reform_seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Kept {
    pub users: u64,
    pub tracks: u64,
    pub countries: u64,
    pub interactions: u64,
    pub events: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSummary {
    pub job_id: String,
    pub name: String,
    /// `None` when the job succeeded.
    pub error: Option<String>,
    pub output: String,
    pub members: Vec<MemberSummary>,
    pub threads_per_member: usize,
    pub shards: usize,
    pub input_bytes: u64,
    pub lines_per_kind: BTreeMap<String, u64>,
    pub events_read: u64,
    pub rejections: Rejections,
    pub filters: FilterConfig,
    /// Events dropped by the user filter, by reason.
    pub events_without_country: u64,
    pub events_of_unknown_users: u64,
    pub kept: Kept,
    pub counters: BTreeMap<String, u64>,
    pub phase_seconds: BTreeMap<String, f64>,
    pub events_per_second: f64,
    pub outputs: Vec<String>,
    /// The evaluation report, once that phase has run (not in `summary.json`, which is
    /// written when the aggregation completes; `report/report.json` holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<archetype_eval::report::Report>,
    /// The archetype phase's result, once it has run (details in `archetypes/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archetypes: Option<archetype_job::ArchetypeSummary>,
    /// The ALS phase's `als/state.json` (settings, iterations, loss and validation NDCG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub als: Option<serde_json::Value>,
    /// The VAE phase's `vae/models.json` (per model: epochs, best epoch, validation NDCG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vae: Option<serde_json::Value>,
    /// The promotion gate's decision, when `[promotion]` is enabled and the run succeeded
    /// (also in `<job>/promotion.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<crate::runs::Decision>,
    /// Member losses survived, in order (also across a resume: the journal keeps them).
    #[serde(default)]
    pub recoveries: Vec<Recovery>,
}

impl JobSummary {
    pub fn build(
        job_id: &str,
        config: &JobConfig,
        layout: &JobLayout,
        shards: &[ShardSpec],
        members: Vec<MemberSummary>,
        results: &[v1::TaskResult],
        mut phase_seconds: BTreeMap<String, f64>,
    ) -> JobSummary {
        let mut counters: BTreeMap<String, u64> = BTreeMap::new();
        let mut shard_lines: BTreeMap<u32, u64> = BTreeMap::new();
        let mut samples: Vec<v1::BadRow> = Vec::new();
        let mut outputs = Vec::new();
        for r in results {
            for c in &r.counters {
                *counters.entry(c.name.clone()).or_default() += c.value;
            }
            for s in &r.shard_lines {
                shard_lines.insert(s.shard, s.lines);
            }
            samples.extend(r.bad_rows.iter().cloned());
            for (k, v) in &r.phase_seconds {
                let e = phase_seconds.entry(format!("member.{k}")).or_insert(0.0);
                *e = e.max(*v);
            }
            outputs.extend(r.outputs.iter().cloned());
        }
        outputs.sort();
        outputs.dedup();
        let by_id: BTreeMap<u32, &ShardSpec> = shards.iter().map(|s| (s.id, s)).collect();
        let mut lines_per_kind: BTreeMap<String, u64> = BTreeMap::new();
        for (id, n) in &shard_lines {
            if let Some(s) = by_id.get(id) {
                *lines_per_kind.entry(s.kind.name().to_string()).or_default() += n;
            }
        }
        let rejected_rows =
            resolve_samples(shards, &shard_lines, samples, config.ingest.bad_row_samples);
        let by_kind: BTreeMap<String, u64> = counters
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("bad_rows.").map(|k| (k.to_string(), *v)))
            .collect();
        let rejected: u64 = by_kind.values().sum();
        // The users header is a line but not a row.
        let rows_read: u64 = lines_per_kind.values().sum::<u64>()
            - counters.get("users.header").copied().unwrap_or(0);
        let fraction = if rows_read == 0 {
            0.0
        } else {
            rejected as f64 / rows_read as f64
        };
        let get = |k: &str| counters.get(k).copied().unwrap_or(0);
        let events_read = get("events.accepted");
        let agg_secs = phase_seconds.get("aggregate").copied().unwrap_or(0.0);
        let error = (fraction > config.ingest.max_bad_fraction).then(|| {
            let kinds: Vec<String> = by_kind.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let first = rejected_rows
                .first()
                .map(|r| format!("; first: {} line {} field `{}` ({}): {}", r.file, r.line, r.field, r.kind, r.detail))
                .unwrap_or_default();
            format!(
                "rejected rows exceed the error budget: {rejected} of {rows_read} ({:.4}%) > ingest.max_bad_fraction = {} ({}){first}",
                fraction * 100.0,
                config.ingest.max_bad_fraction,
                kinds.join(", ")
            )
        });
        JobSummary {
            job_id: job_id.to_string(),
            name: config.name.clone(),
            error,
            output: layout.root.url.clone(),
            members,
            threads_per_member: config.cluster.threads,
            shards: shards.len(),
            input_bytes: shards.iter().map(|s| s.end - s.start).sum(),
            lines_per_kind,
            events_read,
            rejections: Rejections {
                rows_read,
                rejected,
                fraction,
                budget_fraction: config.ingest.max_bad_fraction,
                by_kind,
                samples: rejected_rows,
            },
            filters: config.filter.clone(),
            events_without_country: get("events.no_country"),
            events_of_unknown_users: get("events.unknown_user"),
            kept: Kept {
                users: get("users.kept"),
                tracks: get("tracks.kept"),
                countries: get("countries.kept"),
                interactions: get("interactions.rows"),
                events: get("events.kept"),
            },
            counters,
            events_per_second: if agg_secs > 0.0 {
                events_read as f64 / agg_secs
            } else {
                0.0
            },
            phase_seconds,
            outputs,
            report: None,
            archetypes: None,
            als: None,
            vae: None,
            promotion: None,
            recoveries: Vec::new(),
        }
    }

    /// Sets `total` to the job's wall time, failed attempts and failed phases included: the
    /// phases set it as they end, so a job that failed after the aggregation showed the
    /// aggregation's time as its total.
    pub fn finish(&mut self, wall_seconds: f64) {
        self.phase_seconds.insert("total".into(), wall_seconds);
    }

    /// Writes `summary.json` when the job succeeded (its presence marks the tables complete),
    /// `failed.json` otherwise.
    pub async fn write(&self, layout: &JobLayout) -> Result<(), object_store::Error> {
        let name = if self.error.is_none() {
            archetype_job::layout::SUMMARY
        } else {
            "aggregate/failed.json"
        };
        let dest = layout.file(name);
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        dest.store.put(&dest.path, PutPayload::from(body)).await?;
        Ok(())
    }

    /// The summary as a person reads it on a terminal.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let status = match &self.error {
            None => "succeeded".to_string(),
            Some(e) => format!("FAILED: {e}"),
        };
        let _ = writeln!(s, "job {}  {}", self.job_id, status);
        let _ = writeln!(
            s,
            "  cluster     {} workers x {} threads; {} shards, {:.1} MiB",
            self.members.len(),
            self.threads_per_member,
            self.shards,
            self.input_bytes as f64 / (1u64 << 20) as f64
        );
        for r in &self.recoveries {
            let _ = writeln!(
                s,
                "  recovered   {} attempt {} failed after {:.1} s: lost {}; cluster re-formed in {:.1} s",
                r.phase,
                r.attempt,
                r.attempt_seconds,
                r.lost.join(", "),
                r.reform_seconds
            );
        }
        let _ = writeln!(s, "  events read {:>14}", fmt_n(self.events_read));
        let _ = writeln!(
            s,
            "  rejected    {:>14}  ({:.4}% of {} rows; budget {}%)",
            fmt_n(self.rejections.rejected),
            self.rejections.fraction * 100.0,
            fmt_n(self.rejections.rows_read),
            self.rejections.budget_fraction * 100.0
        );
        for (k, v) in &self.rejections.by_kind {
            let _ = writeln!(s, "    {k:<24} {:>10}", fmt_n(*v));
        }
        for r in self.rejections.samples.iter().take(6) {
            let _ = writeln!(
                s,
                "    e.g. {}:{} field `{}` {}: {}",
                short(&r.file),
                r.line,
                r.field,
                r.kind,
                r.detail
            );
        }
        let _ = writeln!(
            s,
            "  dropped     {:>14} events of users without a country, {} of users missing from the users file",
            fmt_n(self.events_without_country),
            fmt_n(self.events_of_unknown_users)
        );
        let _ = writeln!(
            s,
            "  filters     require_country={} min_track_les={}{} min_country_les={} min_country_users={}",
            self.filters.require_country,
            self.filters.min_track_les,
            if self.filters.keep_all_tracks { " (keep_all_tracks)" } else { "" },
            self.filters.min_country_les,
            self.filters.min_country_users
        );
        let _ = writeln!(
            s,
            "  kept        {} users, {} tracks, {} countries, {} (user, track) pairs, {} events",
            fmt_n(self.kept.users),
            fmt_n(self.kept.tracks),
            fmt_n(self.kept.countries),
            fmt_n(self.kept.interactions),
            fmt_n(self.kept.events)
        );
        if let Some(d) = &self.promotion {
            let _ = writeln!(
                s,
                "  promotion   {}: {}",
                if d.promoted {
                    "PROMOTED to latest"
                } else {
                    "kept aside"
                },
                d.reason
            );
        }
        if let Some(a) = &self.archetypes {
            let _ = writeln!(
                s,
                "  archetypes  {} clusters of {} countries ({} in none): perplexity {}, min cluster size {}, score {:.3}; PCA {} dims keep {:.1}%",
                a.clusters,
                a.countries,
                a.left_out,
                a.perplexity,
                a.min_cluster_size,
                a.score,
                a.pca_components,
                100.0 * a.variance_kept
            );
            if let Some(p) = &a.planted {
                let _ = writeln!(
                    s,
                    "              against the {} planted archetypes ({} of the {} countries in \
                     none): adjusted Rand index {:.3} ({})",
                    p.archetypes, p.unplanted, p.countries, p.ari, p.file
                );
            }
        }
        if let Some(a) = &self.als {
            let last = a["reports"].as_array().and_then(|r| r.last());
            let _ = writeln!(
                s,
                "  WMF-ALS     {} iterations of {}, k = {}, {} training cells; loss {:.4e}, validation NDCG@100 {}",
                a["completed"],
                a["iterations"],
                a["settings"]["factors"],
                a["nnz"],
                last.and_then(|r| r["loss"].as_f64()).unwrap_or(f64::NAN),
                last.and_then(|r| r["ndcg"].as_f64())
                    .map_or("-".to_string(), |v| format!("{v:.4}"))
            );
            if let Some(models) = a["local"]["models"].as_array() {
                let settings = &a["local"]["settings"];
                let users: u64 = models.iter().filter_map(|m| m["users"].as_u64()).sum();
                let seconds: f64 = models.iter().filter_map(|m| m["seconds"].as_f64()).sum();
                let _ = writeln!(
                    s,
                    "  local WMF   {} models by {}, k = {}, {} iterations, {} users; {:.2}s",
                    models.len(),
                    settings["groups"].as_str().unwrap_or("-"),
                    settings["factors"],
                    settings["iterations"],
                    fmt_n(users),
                    seconds
                );
            }
        }
        let phases: Vec<String> = [
            "plan",
            "wait_for_workers",
            "aggregate",
            "archetypes",
            "context",
            "als",
            "vae",
            "sampling",
            "evaluate",
            "total",
        ]
        .iter()
        .filter_map(|p| self.phase_seconds.get(*p).map(|v| format!("{p} {v:.2}s")))
        .collect();
        let _ = writeln!(s, "  time        {}", phases.join(", "));
        let _ = writeln!(
            s,
            "  throughput  {} events/s",
            fmt_n(self.events_per_second as u64)
        );
        let _ = writeln!(s, "  output      {}", self.output);
        s
    }
}

fn short(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

pub fn fmt_n(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Turns shard-relative line numbers into file line numbers: a shard's first line is one past
/// the lines of the shards of the same file before it (shards of a file have increasing ids in
/// byte order). Keeps the first `per_kind` samples of each kind in file order.
pub fn resolve_samples(
    shards: &[ShardSpec],
    shard_lines: &BTreeMap<u32, u64>,
    samples: Vec<v1::BadRow>,
    per_kind: usize,
) -> Vec<RejectedRow> {
    let by_id: BTreeMap<u32, &ShardSpec> = shards.iter().map(|s| (s.id, s)).collect();
    let mut before: BTreeMap<u32, u64> = BTreeMap::new();
    let mut running: BTreeMap<&str, u64> = BTreeMap::new();
    let mut ordered: Vec<&ShardSpec> = shards.iter().collect();
    ordered.sort_by_key(|s| s.id);
    for s in ordered {
        let r = running.entry(s.url.as_str()).or_default();
        before.insert(s.id, *r);
        *r += shard_lines.get(&s.id).copied().unwrap_or(0);
    }
    let mut rows: Vec<RejectedRow> = samples
        .into_iter()
        .map(|b| {
            let shard = by_id.get(&b.shard);
            let file = if b.file.is_empty() {
                shard.map(|s| s.url.clone()).unwrap_or_default()
            } else {
                b.file
            };
            let line = match shard {
                Some(s) if s.encoding == Encoding::Parquet => b.shard_line,
                Some(_) => before.get(&b.shard).copied().unwrap_or(0) + b.shard_line,
                None => b.shard_line,
            };
            RejectedRow {
                file,
                line,
                byte_offset: b.offset,
                kind: b.kind,
                field: b.field,
                detail: b.detail,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.kind, &a.file, a.line).cmp(&(&b.kind, &b.file, b.line)));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    rows.retain(|r| {
        let n = seen.entry(r.kind.clone()).or_default();
        *n += 1;
        *n <= per_kind
    });
    rows.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use archetype_lfm::shard::FileKind;

    fn shard(id: u32, url: &str) -> ShardSpec {
        ShardSpec {
            id,
            url: url.into(),
            path: "p".into(),
            kind: FileKind::Events,
            encoding: Encoding::Plain,
            start: 0,
            end: 1,
            file_size: 1,
        }
    }

    #[test]
    fn sample_lines_become_file_lines() {
        let shards = vec![
            shard(0, "file:///u"),
            shard(1, "file:///e"),
            shard(2, "file:///e"),
            shard(3, "file:///e"),
        ];
        let lines = BTreeMap::from([(0, 10), (1, 100), (2, 50), (3, 7)]);
        let bad = |shard: u32, shard_line: u64| v1::BadRow {
            shard,
            shard_line,
            kind: "not_a_number".into(),
            ..Default::default()
        };
        let rows = resolve_samples(&shards, &lines, vec![bad(3, 2), bad(1, 5), bad(0, 4)], 10);
        let got: Vec<(String, u64)> = rows.iter().map(|r| (r.file.clone(), r.line)).collect();
        assert_eq!(
            got,
            vec![
                ("file:///e".into(), 5),
                ("file:///e".into(), 152),
                ("file:///u".into(), 4)
            ]
        );
        let capped = resolve_samples(&shards, &lines, vec![bad(3, 2), bad(1, 5), bad(0, 4)], 2);
        assert_eq!(capped.len(), 2);
    }

    fn failed_summary() -> JobSummary {
        let config =
            JobConfig::from_toml("[input]\nevents = [\"e.txt\"]\nusers = \"u.txt\"\n").unwrap();
        let root = archetype_job::open_url("memory://out").unwrap();
        let layout = JobLayout::new(&root, "j");
        // As the aggregation leaves it: its time, and `total` at its end.
        let phases = BTreeMap::from([("aggregate".to_string(), 0.1), ("total".to_string(), 0.11)]);
        let mut s = JobSummary::build("j", &config, &layout, &[], Vec::new(), &[], phases);
        s.phase_seconds.insert("vae".into(), 38.5);
        s.recoveries.push(Recovery {
            phase: "vae".into(),
            attempt: 0,
            lost: vec!["w1 (deregistered)".into()],
            error: "lost".into(),
            attempt_seconds: 12.25,
            reform_seconds: 1.5,
        });
        s.error = Some("VAE phase failed".into());
        s
    }

    #[test]
    fn total_is_the_wall_time_of_a_failed_job() {
        let mut s = failed_summary();
        s.finish(40.0);
        assert_eq!(s.phase_seconds["total"], 40.0);
        let text = s.render();
        assert!(text.contains("vae 38.50s"), "{text}");
        assert!(text.contains("total 40.00s"), "{text}");
        assert!(text.contains("attempt 0 failed after 12.2 s"), "{text}");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(fmt_n(0), "0");
        assert_eq!(fmt_n(1234567), "1,234,567");
        assert_eq!(fmt_n(100), "100");
    }
}
