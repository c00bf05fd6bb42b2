//! End to end: the `archetype` binary starts a coordinator and worker processes on loopback,
//! aggregates a generated LFM-1b-shaped data set, and the Parquet it writes equals a plain
//! single-threaded reference.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use archetype_datagen::{generate, BadRowInjection, GeneratorConfig};
use archetype_job::config::FilterConfig;
use archetype_lfm::parse::TimeWindow;
use archetype_tests::bin;
use archetype_worker::reference::{aggregate_files, load_tables};

fn filter() -> FilterConfig {
    FilterConfig {
        require_country: true,
        min_track_les: 8,
        keep_all_tracks: false,
        min_country_les: 1_000,
        min_country_users: 5,
        ..FilterConfig::default()
    }
}

fn job_toml(data: &Path, out: &Path, workers: usize, extra: &str) -> String {
    let f = filter();
    format!(
        r#"
name = "e2e"
[input]
events = ["{d}/LFM-1b_LEs.txt"]
users = "{d}/LFM-1b_users.txt"
tracks = "{d}/LFM-1b_tracks.txt"
artists = "{d}/LFM-1b_artists.txt"
[output]
url = "{o}"
[ingest]
shard_bytes = 300000
max_bad_fraction = 0.01
[filter]
min_track_les = {mt}
min_country_les = {mcl}
min_country_users = {mcu}
[cluster]
workers = {workers}
threads = 1
listen = "127.0.0.1:0"
spawn_local_workers = true
worker_binary = "{w}"
heartbeat_ms = 200
lease_ms = 3000
register_timeout_s = 60
metrics_listen = "127.0.0.1:0"
{vae}
{extra}
"#,
        vae = if extra.contains("[vae]") {
            ""
        } else {
            // Tiny, so the VAE phase costs seconds here; `worker/tests/vae_phase.rs` trains
            // larger ones.
            "[vae]\nhidden = 16\nlatent = 8\nepochs = 2\nbatch = 100\ncontexts = [\"country_id\"]\ngates = [\"literal\", \"scale\"]\nconcat = []\n"
        },
        d = data.display(),
        o = out.display(),
        mt = f.min_track_les,
        mcl = f.min_country_les,
        mcu = f.min_country_users,
        w = bin("archetype-worker").display(),
    )
}

fn run_job(config: &Path, summary: &Path) -> Output {
    Command::new(bin("archetype"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--summary-json")
        .arg(summary)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run archetype")
}

fn the_job_root(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one job directory expected: {dirs:?}");
    dirs[0].clone()
}

#[test]
fn two_worker_processes_write_what_the_reference_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let bad = BadRowInjection::default()
        .with("column_count", 3)
        .with("not_a_number", 2)
        .with("non_utf8", 2)
        .with("timestamp_out_of_range", 2)
        .with("duplicate_user", 2)
        .with("truncated_last_line", 1);
    let gen = GeneratorConfig {
        seed: 11,
        events: 300_000,
        bad_rows: bad,
        ..GeneratorConfig::default()
    };
    let truth = generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "[als]\nfactors = 32\n")).unwrap();
    let summary_path = tmp.path().join("summary.json");

    let o = run_job(&cfg, &summary_path);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "job failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("succeeded"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["members"].as_array().unwrap().len(), 2);

    let root = archetype_job::open_url(the_job_root(&out).to_str().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(load_tables(&root)).unwrap();
    let want = aggregate_files(
        &[&data.join("LFM-1b_LEs.txt")],
        &data.join("LFM-1b_users.txt"),
        &filter(),
        TimeWindow::default(),
    )
    .unwrap();
    assert!(!want.interactions.is_empty() && want.countries.values().any(|c| c.2));
    assert_eq!(got.interactions, want.interactions);
    assert_eq!(got.users, want.users);
    assert_eq!(got.tracks, want.tracks);
    assert_eq!(got.country_profiles, want.country_profiles);
    assert_eq!(got.countries, want.countries);

    // Every injected bad row is counted under its kind, and reported with file and line.
    let by_kind = &summary["rejections"]["by_kind"];
    for (kind, n) in &truth.bad_rows_injected {
        assert_eq!(by_kind[kind].as_u64(), Some(*n), "kind {kind}: {by_kind}");
        assert_eq!(
            want.bad_rows.get(kind),
            Some(n),
            "reference disagrees on {kind}"
        );
    }
    let samples = summary["rejections"]["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    for s in samples {
        assert!(s["line"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["file"].as_str().unwrap().starts_with("file://"), "{s}");
        assert!(!s["field"].as_str().unwrap().is_empty(), "{s}");
    }
    // Track names joined from the tracks and artists files.
    assert!(summary["counters"]["tracks.with_names"].as_u64().unwrap() > 0);

    // The evaluation report: on the terminal, in the summary, and as files beside the tables.
    assert!(stdout.contains("MP global"), "{stdout}");
    assert!(!stdout.contains("unavailable"), "{stdout}");
    let rows = summary["report"]["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "MP global",
            "MP country",
            "MP cluster",
            "WMF-ALS",
            "WMF-ALS item cosine",
            "WMF-ALS local (cluster)",
            "VAE",
            "VAE country id (model 1)",
            "VAE country id (model 1) scaled gate",
            "WMF-ALS cross-cultural s=0.25",
            "WMF-ALS cross-cultural s=0.5",
            "WMF-ALS cross-cultural s=1",
            "WMF-ALS cross-cultural s=2",
            "WMF-ALS without own country",
        ]
    );
    let job = the_job_root(&out);
    let md = std::fs::read_to_string(job.join("report/report.md")).unwrap();
    assert!(
        md.contains("| Model | P@10 | P@100 | R@10 | R@100 | NDCG@10 | NDCG@100 |"),
        "{md}"
    );
    assert!(md.contains("Friedman"), "{md}");
    for section in [
        "## Head and tail",
        "## By country",
        "## Cross-cultural share",
    ] {
        assert!(md.contains(section), "{section} missing:\n{md}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.join("report/report.json")).unwrap()).unwrap();
    assert_eq!(report["protocol"], "tracks");
    assert_eq!(report["seed"], 42);
    assert!(report["data_fingerprint"].as_str().unwrap().len() == 16);
    let global = &report["report"]["rows"][0];
    assert_eq!(global["name"], "MP global");
    let users = global["status"]["users"].as_u64().unwrap();
    assert!(users > 0, "{global}");
    let means = global["means"].as_array().unwrap();
    assert_eq!(means.len(), 8);
    assert!(means
        .iter()
        .all(|m| (0.0..=1.0).contains(&m.as_f64().unwrap())));
    assert!(job.join("report/per_user_metrics.parquet").exists());
    let cluster_row = &report["report"]["rows"][2];
    assert_eq!(cluster_row["name"], "MP cluster");
    assert_eq!(cluster_row["status"]["state"], "evaluated", "{cluster_row}");
    check_wmf(&job, &summary, &report);
    // The VAE models, trained over both workers (two replicas) and stored as safetensors.
    let vae = &summary["vae"];
    assert_eq!(vae["replicas"], 2, "{vae}");
    let trained = vae["models"].as_array().unwrap();
    assert_eq!(trained.len(), 3, "{vae}");
    for m in trained {
        assert_eq!(m["complete"], true, "{m}");
        let id = m["key"]["id"].as_str().unwrap();
        assert!(
            job.join(format!("vae/{id}/model.safetensors")).exists(),
            "{id}"
        );
    }
    check_recommend(&job);

    // At this size (16 countries, a few users each) the planted structure is too faint to ask
    // for; the next test does on a data set where it is clear.
    check_archetypes(&job, &truth.ground_truth, &summary, None);
    rt.block_on(check_context(&root));
}

/// WMF-ALS trained over both workers, evaluated beside the baselines, stored for Python, and
/// queryable for similar tracks from the CLI.
fn check_wmf(job: &Path, summary: &serde_json::Value, report: &serde_json::Value) {
    let als = &summary["als"];
    assert_eq!(als["complete"], true, "{als}");
    assert_eq!(als["completed"], als["iterations"]);
    assert_eq!(als["workers"], 2);
    let reports = als["reports"].as_array().unwrap();
    let loss = |i: usize| reports[i]["loss"].as_f64().unwrap();
    assert!(loss(reports.len() - 1) < loss(0), "{als}");
    // One local model per archetype cluster, each over the training users of its countries.
    let local = &als["local"];
    assert_eq!(local["complete"], true, "{local}");
    let models = local["models"].as_array().unwrap();
    let clusters = summary["archetypes"]["clusters"].as_u64().unwrap() as usize;
    assert!(!models.is_empty() && models.len() <= clusters, "{local}");
    for m in models {
        assert!(m["users"].as_u64().unwrap() >= 10, "{m}");
        let name = m["name"].as_str().unwrap();
        assert!(
            job.join(format!("als/local/{name}")).is_dir(),
            "{name} has no factors"
        );
    }
    assert!(job.join("als/local/models.json").exists());

    // Head/tail and per-country NDCG, and the foreign share of each model's lists.
    let breakdown = &report["report"]["breakdown"];
    let rows = breakdown["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        report["report"]["rows"].as_array().unwrap().len()
    );
    let head = breakdown["head_tracks"].as_u64().unwrap();
    assert!(
        head > 0 && head < breakdown["catalogue"].as_u64().unwrap(),
        "{breakdown}"
    );
    let foreign = |name: &str| {
        let r = rows.iter().find(|r| r["model"] == name).unwrap();
        r["foreign"][0].as_f64().unwrap()
    };
    // The exclusion leaves no track of the user's own country; the strongest penalty comes
    // close, and both recommend abroad more than plain WMF-ALS.
    assert_eq!(foreign("WMF-ALS without own country"), 1.0);
    assert!(
        foreign("WMF-ALS cross-cultural s=2") >= foreign("WMF-ALS"),
        "{breakdown}"
    );

    let row = &report["report"]["rows"][3];
    assert_eq!(row["name"], "WMF-ALS");
    assert_eq!(row["status"]["state"], "evaluated", "{row}");
    // 26 test users are too few to rank models by; `worker/tests/als_phase.rs` asks WMF-ALS
    // to beat MP global on a larger held-out set.
    assert!(row["means"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| (0.0..=1.0).contains(&m.as_f64().unwrap())));

    // The .npy item factors, and a direct cosine ranking from them.
    let k = als["settings"]["factors"].as_u64().unwrap() as usize;
    let items = als["settings"]["items"].as_u64().unwrap() as usize;
    let b = std::fs::read(job.join("als/item_factors.npy")).unwrap();
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let y: Vec<f32> = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(y.len(), items * k);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = archetype_job::open_url(job.to_str().unwrap()).unwrap();
    let tracks = rt
        .block_on(archetype_worker::query::catalogue(&root))
        .unwrap();
    // The most played track: its neighbours are well determined.
    let query = tracks.iter().max_by_key(|t| t.train_plays).unwrap();
    let o = Command::new(bin("archetype"))
        .args(["similar", "--json", "--n", "5", "--track"])
        .arg(query.track_id.to_string())
        .arg("--job")
        .arg(job.parent().unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let similar = got["similar"].as_array().unwrap();
    assert_eq!(similar.len(), 5, "{got}");
    let norm = |i: usize| {
        y[i * k..(i + 1) * k]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt()
    };
    let q = query.track_idx as usize;
    let mut direct: Vec<(f64, usize)> = (0..items)
        .filter(|&i| i != q && norm(i) > 0.0)
        .map(|i| {
            let dot: f64 = (0..k)
                .map(|d| f64::from(y[q * k + d]) * f64::from(y[i * k + d]))
                .sum();
            (dot / (norm(q) * norm(i)), i)
        })
        .collect();
    direct.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, (cos, _)) in similar.iter().zip(&direct) {
        // Position by position the same cosines; the track there has that cosine directly
        // (near-equal neighbours may swap under other rounding).
        let c = s["cosine"].as_f64().unwrap();
        assert!((c - cos).abs() < 1e-4, "{got}");
        let id = s["track_id"].as_u64().unwrap();
        let i = tracks
            .iter()
            .position(|t| u64::from(t.track_id) == id)
            .unwrap();
        let d = direct.iter().find(|x| x.1 == i).unwrap().0;
        assert!((d - c).abs() < 1e-4, "{got}");
    }
    // An unknown track is an error that says so.
    let o = Command::new(bin("archetype"))
        .args(["similar", "--track", "4294967295", "--job"])
        .arg(job)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not in the job's catalogue"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `archetype recommend` for a held-out user: named tracks, none the user's input, in
/// decreasing probability, with its held-out hits marked; an unknown model is refused by name.
fn check_recommend(job: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = archetype_job::open_url(job.to_str().unwrap()).unwrap();
    let users = rt
        .block_on(archetype_worker::tables::read_table(
            &root.join(archetype_job::layout::USERS),
        ))
        .unwrap();
    let mut test_user = None;
    for b in &users {
        let id = archetype_worker::tables::col::<archetype_worker::tables::U32Col>(b, "user_id")
            .unwrap();
        let split =
            archetype_worker::tables::col::<archetype_worker::tables::StrCol>(b, "split").unwrap();
        if let Some(i) = (0..b.num_rows()).find(|&i| split.value(i) == "test") {
            test_user = Some(id.value(i));
            break;
        }
    }
    let user = test_user.expect("a test user");
    let o = Command::new(bin("archetype"))
        .args(["recommend", "--json", "--n", "10", "--model"])
        .arg("country_id.gate_scale")
        .arg("--user")
        .arg(user.to_string())
        .arg("--job")
        .arg(job)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got["user_id"], user);
    assert_eq!(got["split"], "test");
    assert_eq!(got["model"], "VAE country id (model 1) scaled gate");
    let recs = got["recommended"].as_array().unwrap();
    assert_eq!(recs.len(), 10, "{got}");
    let played: Vec<u64> = got["top_played"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["track_id"].as_u64().unwrap())
        .collect();
    assert!(!played.is_empty(), "{got}");
    let mut last = f64::INFINITY;
    for r in recs {
        let p = r["probability"].as_f64().unwrap();
        assert!(p > 0.0 && p <= last, "{got}");
        last = p;
        assert!(!played.contains(&r["track_id"].as_u64().unwrap()), "{got}");
        assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()), "{got}");
    }
    let o = Command::new(bin("archetype"))
        .args(["recommend", "--model", "no_such_model", "--user"])
        .arg(user.to_string())
        .arg("--job")
        .arg(job)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no VAE model no_such_model") && err.contains("plain"),
        "{err}"
    );
}

#[test]
fn archetypes_recover_the_planted_country_clusters() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 5,
        events: 1_000_000,
        archetypes: 4,
        ..GeneratorConfig::default()
    };
    let truth = generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let summary_path = tmp.path().join("summary.json");
    let o = run_job(&cfg, &summary_path);
    assert!(
        o.status.success(),
        "job failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let job = the_job_root(&out);
    check_archetypes(&job, &truth.ground_truth, &summary, Some(0.9));
    let root = archetype_job::open_url(job.to_str().unwrap()).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(check_context(&root));
}

/// The paper's "VAE sampling" experiment: whole jobs on tracks drawn from a larger pool, each
/// under the main job, averaged in the main report.
#[test]
fn vae_sampling_runs_jobs_on_drawn_tracks_and_reports_their_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 8,
        events: 150_000,
        ..GeneratorConfig::default()
    };
    generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    let extra = "[als]\nenabled = false\n[sampling]\nruns = 2\nmin_track_les = 3\nseed = 4\n";
    std::fs::write(&cfg, job_toml(&data, &out, 2, extra)).unwrap();
    let summary_path = tmp.path().join("summary.json");
    let o = run_job(&cfg, &summary_path);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "job failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("VAE sampling: mean of 2 runs"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert!(summary["phase_seconds"]["sampling"].as_f64().unwrap() > 0.0);
    let main_tracks = summary["kept"]["tracks"].as_u64().unwrap();
    let job = the_job_root(&out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.join("report/report.json")).unwrap()).unwrap();
    let sampling = &report["report"]["sampling"];
    assert_eq!(sampling["min_track_les"], 3, "{sampling}");
    assert_eq!(sampling["sample_tracks"].as_u64(), Some(main_tracks));
    let runs = sampling["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut drawn = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["seed"].as_u64(), Some(4 + i as u64));
        let (pool, tracks) = (
            run["pool_tracks"].as_u64().unwrap(),
            run["tracks"].as_u64().unwrap(),
        );
        // The pool (>= 3 LEs) is larger than the main data set (>= 8), so a draw is a sample.
        assert!(pool > main_tracks && tracks <= main_tracks, "{run}");
        assert!(tracks * 10 >= main_tracks * 9, "{run}");
        assert!(run["held_out_users"].as_u64().unwrap() > 0, "{run}");
        // Each run is a job of its own, with its tables and report under the main job.
        let dir = job.join(format!("sampling/run-{i}"));
        assert!(dir.join("report/report.json").exists(), "{}", dir.display());
        let root = archetype_job::open_url(dir.to_str().unwrap()).unwrap();
        let tables = rt.block_on(load_tables(&root)).unwrap();
        assert_eq!(tables.tracks.len() as u64, tracks);
        drawn.push(tables.tracks.keys().copied().collect::<Vec<u32>>());
    }
    assert_ne!(drawn[0], drawn[1], "two seeds drew the same tracks");

    // The mean rows, named as the paper's Table 3 names them, lie between the runs' values.
    let names: Vec<&str> = sampling["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"VAE sampling"), "{names:?}");
    assert!(
        names.contains(&"VAE sampling country id (model 1)"),
        "{names:?}"
    );
    assert!(names.contains(&"MP global (sampling)"), "{names:?}");
    // The runs train no WMF-ALS: those rows are listed once, not averaged.
    assert!(!names.iter().any(|n| n.starts_with("WMF-ALS")), "{names:?}");
    let not_run = sampling["not_run"].as_array().unwrap();
    assert!(not_run.iter().any(|r| r[0] == "WMF-ALS"), "{not_run:?}");
    assert!(stdout.contains("Not evaluated in any sampling run: WMF-ALS"));
    for row in sampling["rows"].as_array().unwrap() {
        assert_eq!(row["status"]["state"], "evaluated", "{row}");
        let plain = row["name"]
            .as_str()
            .unwrap()
            .replacen("VAE sampling", "VAE", 1)
            .replace(" (sampling)", "");
        for (c, m) in row["means"].as_array().unwrap().iter().enumerate() {
            let m = m.as_f64().unwrap();
            let per_run: Vec<f64> = runs
                .iter()
                .map(|run| {
                    let rows = run["rows"].as_array().unwrap();
                    let same = rows.iter().find(|x| x["name"] == plain.as_str());
                    same.expect("the row in every run")["means"][c]
                        .as_f64()
                        .unwrap()
                })
                .collect();
            let (lo, hi) = per_run
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            assert!(
                (lo - 1e-9..=hi + 1e-9).contains(&m),
                "{} col {c}: {m} not in {per_run:?}",
                row["name"]
            );
        }
    }
    let md = std::fs::read_to_string(job.join("report/report.md")).unwrap();
    assert!(md.contains("## VAE sampling"), "{md}");
    assert!(md.contains("### NDCG@100 per run"), "{md}");
}

/// The archetype phase found the planted country archetypes and wrote its tables and figures.
fn check_archetypes(
    job: &Path,
    ground_truth: &Path,
    summary: &serde_json::Value,
    min_ari: Option<f64>,
) {
    let a = &summary["archetypes"];
    assert!(a["clusters"].as_u64().unwrap() >= 2, "{a}");
    let clusters: archetype_job::CountryClusters =
        serde_json::from_slice(&std::fs::read(job.join("archetypes/clusters.json")).unwrap())
            .unwrap();
    clusters.validate().unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ground_truth).unwrap()).unwrap();
    let planted: Vec<i32> = clusters
        .countries
        .iter()
        .map(|c| truth["country_archetype"][c].as_i64().unwrap() as i32)
        .collect();
    let ari = archetype_archetypes::quality::adjusted_rand_index(&clusters.labels, &planted);
    assert!(
        ari >= min_ari.unwrap_or(f64::NEG_INFINITY),
        "ARI {ari}: {:?} vs planted {planted:?}",
        clusters.labels
    );
    for f in [
        "archetypes/archetypes.json",
        "report/archetypes.md",
        "report/figures/tsne_map.png",
        "report/figures/tsne_map.svg",
        "report/figures/reachability.png",
        "report/figures/reachability.svg",
        "report/figures/demographics.png",
        "report/figures/demographics.svg",
    ] {
        let bytes = std::fs::read(job.join(f)).unwrap_or_default();
        assert!(bytes.len() > 100, "{f} missing or empty");
    }
    let t1 = std::fs::read_to_string(job.join("archetypes/clusters.csv")).unwrap();
    assert!(t1.starts_with("cluster,countries\n"), "{t1}");
    let t2 = std::fs::read_to_string(job.join("archetypes/top_tracks.csv")).unwrap();
    assert!(t2.lines().count() > 1 + clusters.clusters, "{t2}");
    let grid = std::fs::read_to_string(job.join("archetypes/grid.csv")).unwrap();
    assert_eq!(grid.lines().count(), 1 + 12 * 4, "{grid}");
}

/// Every kept user has context features, and the distances equal a direct computation from
/// the tables: the user's normalised plays (held-out users: input plays only) against the
/// normalised training plays of each country.
async fn check_context(root: &archetype_job::StoreUrl) {
    use archetype_worker::tables::{self, col, StrCol, U32Col, U64Col};
    use arrow_array::{Array, Float32Array, Int32Array, ListArray};
    use std::collections::BTreeMap;
    let read = |t: &str| {
        let dir = root.join(t);
        async move { tables::read_table(&dir).await.unwrap() }
    };
    let vocab: serde_json::Value = {
        let v = root.join("aggregate/context/vocabulary.json");
        let path = v.url.strip_prefix("file://").unwrap().to_string();
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let countries: Vec<String> = vocab["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut profile: BTreeMap<(String, u32), f64> = BTreeMap::new();
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for b in read("aggregate/country_profiles").await {
        let c = col::<StrCol>(&b, "country").unwrap();
        let t = col::<U32Col>(&b, "track_idx").unwrap();
        let p = col::<U64Col>(&b, "train_plays").unwrap();
        for i in 0..b.num_rows() {
            *profile
                .entry((c.value(i).to_string(), t.value(i)))
                .or_default() += p.value(i) as f64;
            *totals.entry(c.value(i).to_string()).or_default() += p.value(i) as f64;
        }
    }
    let mut vectors: BTreeMap<u32, BTreeMap<u32, f64>> = BTreeMap::new();
    for b in read("aggregate/interactions").await {
        let u = col::<U32Col>(&b, "user_idx").unwrap();
        let t = col::<U32Col>(&b, "track_idx").unwrap();
        let p = col::<U32Col>(&b, "plays").unwrap();
        for i in 0..b.num_rows() {
            vectors
                .entry(u.value(i))
                .or_default()
                .insert(t.value(i), f64::from(p.value(i)));
        }
    }
    let mut held: BTreeMap<u32, BTreeMap<u32, f64>> = BTreeMap::new();
    for b in read("aggregate/heldout").await {
        let u = col::<U32Col>(&b, "user_idx").unwrap();
        let t = col::<U32Col>(&b, "track_idx").unwrap();
        let p = col::<U32Col>(&b, "input_plays").unwrap();
        for i in 0..b.num_rows() {
            let e = held.entry(u.value(i)).or_default();
            if p.value(i) > 0 {
                e.insert(t.value(i), f64::from(p.value(i)));
            }
        }
    }
    let mut sq_norm: BTreeMap<String, f64> = BTreeMap::new();
    for ((c, _), &p) in &profile {
        *sq_norm.entry(c.clone()).or_default() += (p / totals[c]).powi(2);
    }
    let users: usize = read("aggregate/users")
        .await
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let mut seen = 0usize;
    let mut checked_held = 0usize;
    for b in read("aggregate/context").await {
        let u = col::<U32Col>(&b, "user_idx").unwrap();
        let split = col::<StrCol>(&b, "split").unwrap();
        let ci = b
            .column_by_name("country_index")
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        let cd = b
            .column_by_name("country_distances")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        for i in 0..b.num_rows() {
            seen += 1;
            assert!(ci.value(i) >= 0, "user {} has no country", u.value(i));
            let d = cd.value(i);
            let d = d.as_any().downcast_ref::<Float32Array>().unwrap();
            assert_eq!(d.len(), countries.len());
            // A sample of users, all held-out ones included.
            let is_held = split.value(i) != "train";
            if !(is_held || i % 17 == 0) {
                continue;
            }
            let v = if is_held {
                &held[&u.value(i)]
            } else {
                &vectors[&u.value(i)]
            };
            let total: f64 = v.values().sum();
            for (k, c) in countries.iter().enumerate() {
                let mut sq = 0.0;
                let mut seen_tracks = 0.0;
                for (&t, &p) in v {
                    let x = p / total;
                    let y = profile.get(&(c.clone(), t)).copied().unwrap_or(0.0) / totals[c];
                    sq += (x - y) * (x - y);
                    seen_tracks += y * y;
                }
                // Tracks the user never played contribute their centroid share squared.
                let direct = (sq + sq_norm[c] - seen_tracks).sqrt();
                assert!(
                    (f64::from(d.value(k)) - direct).abs() < 1e-5 * (1.0 + direct),
                    "user {} country {c}: {} vs {direct}",
                    u.value(i),
                    d.value(k)
                );
            }
            checked_held += usize::from(is_held);
        }
    }
    assert_eq!(seen, users);
    assert!(checked_held > 0);
}

#[test]
fn a_missing_input_fails_at_planning_with_its_url() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nothing-here");
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let o = run_job(&cfg, &tmp.path().join("s.json"));
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("planning failed"), "{stderr}");
    assert!(stderr.contains("nothing-here/LFM-1b_users.txt"), "{stderr}");
}

#[test]
fn rejected_rows_over_the_budget_fail_the_job_with_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 5,
        events: 20_000,
        bad_rows: BadRowInjection::default().with("not_a_number", 400),
        ..GeneratorConfig::default()
    };
    generate(&gen, &data, false).unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    std::fs::write(&cfg, job_toml(&data, &out, 2, "")).unwrap();
    let o = run_job(&cfg, &tmp.path().join("s.json"));
    assert!(!o.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("error budget"), "{text}");
    assert!(text.contains("LFM-1b_LEs.txt line"), "{text}");
    assert!(text.contains("not_a_number"), "{text}");
    // No summary.json marks the failed job's tables as complete.
    let root = the_job_root(&out);
    assert!(!root.join("aggregate/summary.json").exists());
    assert!(root.join("aggregate/failed.json").exists());
}

#[test]
fn a_lost_member_fails_the_job_with_a_clear_message() {
    use archetype_proto::v1;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &GeneratorConfig {
            seed: 3,
            events: 20_000,
            ..GeneratorConfig::default()
        },
        &data,
        false,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("job.toml");
    // One real worker is spawned by the test; the other member is a registration that never
    // heartbeats again, as a crashed worker would.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = job_toml(&data, &out, 2, "")
        .replace(
            "\nlisten = \"127.0.0.1:0\"",
            &format!("\nlisten = \"127.0.0.1:{port}\""),
        )
        .replace("spawn_local_workers = true", "spawn_local_workers = false")
        .replace("lease_ms = 3000", "lease_ms = 1500")
        // No re-forming: the loss itself must fail the job (tests/tests/faults.rs covers the
        // retries).
        .replace(
            "metrics_listen = \"127.0.0.1:0\"",
            "metrics_listen = \"127.0.0.1:0\"\nmax_retries = 0",
        );
    std::fs::write(&cfg, text).unwrap();
    let coord = Command::new(bin("archetype"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = loop {
            match archetype_proto::CoordinatorClient::connect(endpoint.clone()).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        client
            .register(v1::RegisterRequest {
                hostname: "ghost".into(),
                timely_address: "127.0.0.1:1".into(),
                threads: 1,
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let mut worker = Command::new(bin("archetype-worker"))
        .args(["--coordinator", &endpoint, "--max-tasks", "1"])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let o = coord.wait_with_output().unwrap();
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("was lost during aggregation"), "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");
    assert!(stderr.contains("cluster.max_retries = 0"), "{stderr}");
}
