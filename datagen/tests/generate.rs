//! Behaviour of whole generation runs at test scale.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use archetype_datagen::{
    BadRowInjection, GeneratorConfig, OutputEncoding, TIMESTAMP_MAX, TIMESTAMP_MIN,
};
use common::{config, run};

fn read_all(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        out.insert(
            p.file_name().expect("name").to_string_lossy().into_owned(),
            std::fs::read(&p).expect("read"),
        );
    }
    out
}

#[test]
fn determinism_across_runs_threads_and_seeds() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let c = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let base = GeneratorConfig {
        bad_rows: BadRowInjection::every_kind(3),
        ..config(11, 300_000)
    };
    run(
        &GeneratorConfig {
            threads: 1,
            ..base.clone()
        },
        a.path(),
    );
    run(
        &GeneratorConfig {
            threads: 1,
            ..base.clone()
        },
        b.path(),
    );
    run(
        &GeneratorConfig {
            threads: 4,
            ..base.clone()
        },
        c.path(),
    );
    run(
        &GeneratorConfig {
            seed: 12,
            ..base.clone()
        },
        d.path(),
    );
    let (fa, fb, fc, fd) = (
        read_all(a.path()),
        read_all(b.path()),
        read_all(c.path()),
        read_all(d.path()),
    );
    assert_eq!(fa.len(), 5, "{:?}", fa.keys());
    assert!(fa == fb, "same seed twice gives identical bytes");
    assert!(fa == fc, "thread count does not change a byte");
    for name in [
        "LFM-1b_LEs.txt",
        "LFM-1b_users.txt",
        "LFM-1b_tracks.txt",
        "ground_truth.json",
    ] {
        assert_ne!(fa[name], fd[name], "{name} differs with another seed");
    }
}

#[test]
fn events_are_exact_grouped_ordered_and_consistent() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(3, 250_000);
    let s = run(&cfg, dir.path());
    assert_eq!(s.events_written, 250_000);
    let events = common::events(&dir.path().join("LFM-1b_LEs.txt"));
    assert_eq!(events.len() as u64, cfg.events);

    let (_, users) = common::users(&dir.path().join("LFM-1b_users.txt"));
    assert_eq!(users.len() as u64, s.users);
    assert_eq!(s.users, 625, "default users = max(500, events / 400)");
    let known: HashMap<u64, &common::UserRow> = users.iter().map(|u| (u.id, u)).collect();
    assert!(
        users.windows(2).all(|w| w[0].id < w[1].id),
        "ascending sparse user ids"
    );
    assert!(
        users[0].id >= 384 && users[0].id < 1_000,
        "ids start near LFM-1b's 384"
    );

    let tracks = common::tracks(&dir.path().join("LFM-1b_tracks.txt"));
    assert_eq!(tracks.len() as u64, s.tracks);
    assert!(
        (1..=s.tracks).all(|t| tracks.contains_key(&t)),
        "track ids are 1..=n"
    );

    let mut per_user: HashMap<u64, u64> = HashMap::new();
    let mut track_meta: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut finished: HashSet<u64> = HashSet::new();
    let mut recent = 0u64;
    for (i, e) in events.iter().enumerate() {
        assert!(
            known.contains_key(&e.user),
            "event user {} in users file",
            e.user
        );
        assert!((TIMESTAMP_MIN..=TIMESTAMP_MAX).contains(&e.ts));
        if e.ts >= 1_325_376_000 {
            recent += 1;
        }
        *per_user.entry(e.user).or_insert(0) += 1;
        let meta = *track_meta.entry(e.track).or_insert((e.artist, e.album));
        assert_eq!(
            meta,
            (e.artist, e.album),
            "a track keeps its artist and album"
        );
        assert_eq!(tracks.get(&e.track), Some(&e.artist), "tracks file agrees");
        if i > 0 {
            let p = events[i - 1];
            if p.user == e.user {
                assert!(p.ts <= e.ts, "time-ordered within a user");
            } else {
                assert!(p.user < e.user, "users ascending");
                assert!(finished.insert(p.user), "a user's events are contiguous");
            }
        }
    }
    assert!(
        recent * 10 > events.len() as u64 * 6,
        "mostly 2012-2014: {recent}"
    );
    // The playcount column agrees with the events, except where it is LFM-1b's -1 marker.
    for u in &users {
        let n = per_user.get(&u.id).copied().unwrap_or(0) as i64;
        assert!(
            u.playcount == n || u.playcount == -1,
            "user {} {} vs {n}",
            u.id,
            u.playcount
        );
    }
    assert!(
        users.iter().any(|u| u.playcount == -1),
        "a few playcounts are -1"
    );
    // Heavy-tailed activity: the busiest user far above the median.
    let mut counts: Vec<u64> = per_user.values().copied().collect();
    counts.sort_unstable();
    assert!(
        counts[counts.len() - 1] > 10 * counts[counts.len() / 2],
        "{counts:?}"
    );
}

#[test]
fn users_file_has_the_real_quirks_at_realistic_shares() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = GeneratorConfig {
        users: Some(20_000),
        ..config(5, 100_000)
    };
    run(&cfg, dir.path());
    let (header, users) = common::users(&dir.path().join("LFM-1b_users.txt"));
    assert_eq!(
        header,
        "user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"
    );
    assert_eq!(users.len(), 20_000);
    let share = |f: &dyn Fn(&common::UserRow) -> bool| {
        users.iter().filter(|u| f(u)).count() as f64 / users.len() as f64
    };
    let empty = share(&|u| u.country.is_empty());
    assert!((0.51..0.57).contains(&empty), "empty country share {empty}");
    let uk = share(&|u| u.country == "UK");
    assert!((0.030..0.046).contains(&uk), "UK share {uk} (real 3.77%)");
    assert_eq!(
        share(&|u| u.country == "GB"),
        0.0,
        "Great Britain is written UK"
    );
    let us = share(&|u| u.country == "US");
    assert!((0.075..0.095).contains(&us), "US share {us} (real 8.5%)");
    let no_age = share(&|u| u.age == -1);
    assert!(
        (0.58..0.66).contains(&no_age),
        "age -1 share {no_age} (real 61.7%)"
    );
    assert!(
        users.iter().any(|u| (0..10).contains(&u.age)),
        "odd young ages"
    );
    assert!(users.iter().any(|u| u.age >= 100), "odd old ages");
    for g in ["m", "f", "n", ""] {
        assert!(users.iter().any(|u| u.gender == g), "gender {g:?} present");
    }
    // Users without a country mostly state no gender, as in LFM-1b.
    let n_given_empty = users
        .iter()
        .filter(|u| u.country.is_empty() && u.gender == "n")
        .count() as f64
        / users.iter().filter(|u| u.country.is_empty()).count() as f64;
    assert!(n_given_empty > 0.8, "{n_given_empty}");
    assert!(users.iter().any(|u| u.playcount == -1));
    assert!(
        users.windows(2).all(|w| w[0].registered <= w[1].registered),
        "registration grows with id"
    );
    let distinct: HashSet<&str> = users.iter().map(|u| u.country.as_str()).collect();
    assert!(distinct.len() > 100, "{} countries", distinct.len());
}

#[test]
fn planted_archetypes_are_recoverable_by_cosine() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(21, 2_000_000);
    let s = run(&cfg, dir.path());
    let truth = common::ground_truth(&s);
    let archetype: HashMap<String, u64> = truth["country_archetype"]
        .as_object()
        .expect("map")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("id")))
        .collect();
    let (_, users) = common::users(&dir.path().join("LFM-1b_users.txt"));
    let country_of: HashMap<u64, String> =
        users.iter().map(|u| (u.id, u.country.clone())).collect();
    let mut size: HashMap<String, u64> = HashMap::new();
    for u in &users {
        *size.entry(u.country.clone()).or_insert(0) += 1;
    }
    // The 24 biggest countries: enough users each for a stable profile.
    let mut big: Vec<(String, u64)> = size.into_iter().filter(|(c, _)| !c.is_empty()).collect();
    big.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    big.truncate(24);
    let index: HashMap<&str, usize> = big
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.as_str(), i))
        .collect();
    let mut profiles: Vec<HashMap<u64, f64>> = vec![HashMap::new(); big.len()];
    for e in common::events(&dir.path().join("LFM-1b_LEs.txt")) {
        if let Some(&i) = index.get(country_of[&e.user].as_str()) {
            *profiles[i].entry(e.track).or_insert(0.0) += 1.0;
        }
    }
    let norm = |p: &HashMap<u64, f64>| p.values().map(|v| v * v).sum::<f64>().sqrt();
    let cosine = |a: &HashMap<u64, f64>, b: &HashMap<u64, f64>| {
        let dot: f64 = a.iter().map(|(t, v)| v * b.get(t).unwrap_or(&0.0)).sum();
        dot / (norm(a) * norm(b))
    };
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..big.len() {
        for j in i + 1..big.len() {
            let c = cosine(&profiles[i], &profiles[j]);
            if archetype[&big[i].0] == archetype[&big[j].0] {
                same.push(c);
            } else {
                diff.push(c);
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ms, md) = (mean(&same), mean(&diff));
    eprintln!(
        "same-archetype cosine {ms:.3} ({} pairs), cross {md:.3} ({} pairs)",
        same.len(),
        diff.len()
    );
    assert!(!same.is_empty());
    assert!(ms > md + 0.15, "same {ms:.3} vs different {md:.3}");
}

#[test]
fn heavy_relistening_and_ground_truth_totals() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = run(&config(8, 400_000), dir.path());
    let events = common::events(&dir.path().join("LFM-1b_LEs.txt"));
    let pairs: HashSet<(u64, u64)> = events.iter().map(|e| (e.user, e.track)).collect();
    let mean = events.len() as f64 / pairs.len() as f64;
    assert!(mean > 2.0, "mean plays per (user, track) {mean}");
    let truth = common::ground_truth(&s);
    assert_eq!(
        truth["totals"]["distinct_user_track_pairs"].as_u64(),
        Some(pairs.len() as u64)
    );
    assert_eq!(truth["totals"]["events"].as_u64(), Some(400_000));
    let per_country: u64 = truth["country_users"]
        .as_object()
        .expect("map")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(per_country, s.users);
    // Top local tracks are real catalogue ids, played mostly in their own archetype.
    let tracks = common::tracks(&dir.path().join("LFM-1b_tracks.txt"));
    for a in truth["archetypes"].as_array().expect("list") {
        let top = a["top_local_tracks"].as_array().expect("list");
        assert_eq!(top.len(), 20);
        assert!(top
            .iter()
            .all(|t| tracks.contains_key(&t.as_u64().expect("id"))));
    }
    assert_eq!(truth["archetypes"].as_array().map(Vec::len), Some(6));
    assert!(
        truth["config"].get("threads").is_none(),
        "thread count kept out of the truth"
    );
}

#[test]
fn compressed_encodings_hold_the_plain_bytes() {
    use std::io::Read;
    let plain = tempfile::tempdir().expect("tmp");
    let cfg = GeneratorConfig {
        bad_rows: BadRowInjection::default()
            .with("non_utf8", 2)
            .with("truncated_last_line", 1),
        ..config(4, 120_000)
    };
    run(&cfg, plain.path());
    let expected = std::fs::read(plain.path().join("LFM-1b_LEs.txt")).expect("plain");
    for enc in [
        OutputEncoding::Gzip,
        OutputEncoding::Bzip2,
        OutputEncoding::Zstd,
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let s = run(
            &GeneratorConfig {
                encoding: enc,
                ..cfg.clone()
            },
            dir.path(),
        );
        let path = dir.path().join(enc.events_file_name());
        assert_eq!(s.files[0], path);
        let file = std::fs::File::open(&path).expect("open");
        let mut got = Vec::new();
        match enc {
            OutputEncoding::Gzip => flate2::read::GzDecoder::new(file).read_to_end(&mut got),
            OutputEncoding::Bzip2 => bzip2::read::BzDecoder::new(file).read_to_end(&mut got),
            _ => zstd::stream::read::Decoder::new(file)
                .expect("zstd")
                .read_to_end(&mut got),
        }
        .expect("decompress");
        assert!(got == expected, "{enc} decodes to the plain file");
    }
}

#[test]
fn parquet_has_int_columns_and_million_row_groups() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().expect("tmp");
    let plain = tempfile::tempdir().expect("tmp");
    let cfg = GeneratorConfig {
        encoding: OutputEncoding::Parquet,
        ..config(9, 2_200_000)
    };
    let s = run(&cfg, dir.path());
    assert_eq!(s.events_written, 2_200_000);
    let path = dir.path().join("LFM-1b_LEs.parquet");
    let reader =
        SerializedFileReader::new(std::fs::File::open(&path).expect("open")).expect("parquet");
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 3, "row groups of 2^20 rows");
    assert_eq!(meta.file_metadata().num_rows(), 2_200_000);
    let names: Vec<&str> = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(
        names,
        ["user_id", "artist_id", "album_id", "track_id", "timestamp"]
    );

    // Same rows as the text encoding of the same configuration (first row group checked).
    run(
        &GeneratorConfig {
            encoding: OutputEncoding::Plain,
            ..cfg.clone()
        },
        plain.path(),
    );
    let text = std::fs::read_to_string(plain.path().join("LFM-1b_LEs.txt")).expect("plain");
    let mut rows = reader.get_row_iter(None).expect("rows");
    for line in text.lines().take(50_000) {
        let row = rows.next().expect("row").expect("valid row");
        let got: Vec<String> = row.get_column_iter().map(|(_, f)| f.to_string()).collect();
        assert_eq!(got.join("\t"), line);
    }
}

#[test]
fn very_active_users_are_rendered_in_chunks_consistently() {
    // 3 users sharing 400k events: each is split into several chunks.
    let cfg = GeneratorConfig {
        users: Some(3),
        bad_rows: BadRowInjection::default().with("not_a_number", 5),
        ..config(13, 400_000)
    };
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let s = run(
        &GeneratorConfig {
            threads: 1,
            ..cfg.clone()
        },
        a.path(),
    );
    run(
        &GeneratorConfig {
            threads: 3,
            ..cfg.clone()
        },
        b.path(),
    );
    assert!(
        read_all(a.path()) == read_all(b.path()),
        "thread count does not matter"
    );

    let text = std::fs::read_to_string(a.path().join("LFM-1b_LEs.txt")).expect("events");
    let mut valid = Vec::new();
    for line in text.lines() {
        let v: Result<Vec<u64>, _> = line.split('\t').map(str::parse::<u64>).collect();
        match v {
            Ok(v) if v.len() == 5 => valid.push(v),
            _ => {}
        }
    }
    assert_eq!(valid.len(), 400_000);
    for w in valid.windows(2) {
        assert!(
            w[0][0] < w[1][0] || (w[0][0] == w[1][0] && w[0][4] <= w[1][4]),
            "{w:?}"
        );
    }
    let pairs: HashSet<(u64, u64)> = valid.iter().map(|v| (v[0], v[3])).collect();
    let truth = common::ground_truth(&s);
    assert_eq!(
        truth["totals"]["distinct_user_track_pairs"].as_u64(),
        Some(pairs.len() as u64)
    );
}
