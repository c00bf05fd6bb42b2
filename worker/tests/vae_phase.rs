//! The VAE phase on aggregated tables with planted country archetypes, artist loyalty and
//! genres: every model trained data-parallel over two replicas, stored as safetensors,
//! resumed, evaluated on the test users beside the popularity baselines, and asked for one
//! user's recommendations as the CLI asks.

use std::sync::Arc;

use archetype_datagen::{generate, GeneratorConfig};
use archetype_eval::metrics::Metric;
use archetype_job::config::{SplitProtocol, VaeContext, VaeGate};
use archetype_job::layout::VAE_MODELS;
use archetype_worker::evaluate::{evaluate, MP_CLUSTER, MP_COUNTRY, MP_GLOBAL};
use archetype_worker::split::Split;
use archetype_worker::vae::{run_phase, VaeModels, VaePhase, VaeProgress, VAE_PLAIN};

mod common;
use common::{aggregate, config};

#[test]
fn vae_models_train_over_replicas_resume_and_beat_the_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let gen = GeneratorConfig {
        seed: 3,
        // Large enough that the asserted margins stand clear of the noise of which tracks the
        // split holds out; at 4,000 users and 800k events (266 test users) the plain VAE and
        // the cluster chart traded places when the split's draws changed. With replay-heavy
        // listening (the generator's default since the evaluation-targets issue) the margin
        // over the cluster chart is thin for the plain VAE (0.2488 against 0.2467 at seed 3)
        // and 5-6% for the context models.
        events: 3_200_000,
        users: Some(8_000),
        tracks: Some(3_000),
        archetypes: 4,
        ..GeneratorConfig::default()
    };
    generate(&gen, &dir, false).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = config(&dir, SplitProtocol::Tracks);
    c.eval.heldout_fraction = 0.2;
    c.eval.validation_users = 200;
    c.eval.test_users = 700;
    c.archetypes.enabled = true;
    c.archetypes.grid = false;
    c.archetypes.perplexity = 3.0;
    c.archetypes.min_samples = 2;
    c.vae.enabled = true;
    c.vae.hidden = 96;
    c.vae.latent = 32;
    c.vae.epochs = 25;
    c.vae.batch = 100;
    c.vae.anneal_steps = 500;
    c.vae.patience = 0;
    c.vae.contexts = vec![VaeContext::CountryId, VaeContext::ClusterDistances];
    c.vae.gates = vec![VaeGate::Literal, VaeGate::Scale];
    c.vae.concat = vec![VaeContext::CountryId];
    let root = aggregate(&rt, &c, &tmp.path().join("a"), 2);
    rt.block_on(archetype_worker::archetypes::run_phase(&root, &c))
        .unwrap();
    rt.block_on(archetype_worker::context::compute(&root, &c, 0..2))
        .unwrap();

    let train = |threads: usize| -> VaeModels {
        let json = run_phase(
            VaePhase {
                process_index: 0,
                peers: Vec::new(),
                formation_secret: Vec::new(),
                threads,
                config: c.clone(),
                root: root.url.clone(),
                device: archetype_worker::device::DeviceOptions::default(),
                rendezvous: None,
            },
            Arc::new(VaeProgress::default()),
            rt.handle().clone(),
        )
        .unwrap();
        let m: VaeModels = serde_json::from_str(&json).unwrap();
        // `auto`: the CPU here, a named device where a GPU is usable.
        assert!(
            m.device == "cpu" || m.device.starts_with("cuda:"),
            "{}",
            m.device
        );
        m
    };
    let models = train(2);
    assert_eq!(models.replicas, 2);
    let names: Vec<&str> = models.models.iter().map(|m| m.key.name.as_str()).collect();
    assert_eq!(
        names,
        [
            VAE_PLAIN,
            "VAE country id (model 1)",
            "VAE country id (model 1) scaled gate",
            "VAE cluster dist (model 3)",
            "VAE cluster dist (model 3) scaled gate",
            "VAE country id (model 1) concatenated",
        ],
        "skipped: {:?}",
        models.skipped
    );
    for m in &models.models {
        assert!(m.complete && m.epochs_done == 25, "{m:?}");
        assert_eq!(m.history.len(), 25);
        let (first, last) = (&m.history[0], &m.history[24]);
        assert!(
            last.nll < first.nll,
            "{}: NLL {} -> {}",
            m.key.name,
            first.nll,
            last.nll
        );
        assert!(m
            .history
            .iter()
            .all(|h| h.validation_ndcg.is_some_and(|n| n > 0.0)));
        let best = m.best_ndcg.unwrap();
        assert!(m.history.iter().all(|h| h.validation_ndcg.unwrap() <= best));
        let dir = tmp.path().join("a").join("vae").join(&m.key.id);
        assert!(dir.join("model.safetensors").exists());
        assert!(
            !dir.join("checkpoint.safetensors").exists(),
            "removed once final"
        );
    }
    assert!(tmp.path().join("a").join(VAE_MODELS).exists());

    // A rerun with the same settings trains nothing again.
    let t0 = std::time::Instant::now();
    let again = train(1);
    assert_eq!(again.models, models.models);
    assert!(t0.elapsed().as_secs_f64() < 30.0);

    let eval = rt
        .block_on(evaluate(&root, &c, Split::Test, |_| true))
        .unwrap();
    let ndcg = |name: &str| -> f64 {
        let m = eval.models.iter().find(|m| m.model == name).unwrap();
        assert!(m.unavailable.is_none(), "{name}: {:?}", m.unavailable);
        let v: Vec<f64> = m
            .rows
            .iter()
            .map(|r| r.metrics.get(&c.eval.ks, Metric::Ndcg, 100).unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let mut table = String::new();
    for m in &eval.models {
        if m.unavailable.is_none() {
            table.push_str(&format!("{:<45} {:.4}\n", m.model, ndcg(&m.model)));
        }
    }
    eprintln!("NDCG@100 on {} test users:\n{table}", eval.users);
    // The generator plants what collaborative models can learn and charts cannot (artist
    // loyalty, a favourite genre per user) beside the archetypes' local music, so every VAE
    // must beat the global and country charts, and all but the scaled gates (gate * mu at
    // inference, which trails here) the archetype's chart; concatenating the country must
    // beat the plain VAE. The literal gates' lead over the plain VAE is reported, not
    // asserted: on this data the input already tells the country through its local music,
    // and over generator seeds 3 and 5 that lead ran from 4% to a tie. Where the input cannot
    // tell the group, the vae crate's `context_beats_the_plain_vae_when_the_input_cannot_
    // tell_the_group` asserts the gate's gain.
    let plain = ndcg(VAE_PLAIN);
    for name in &names {
        for mp in [MP_GLOBAL, MP_COUNTRY] {
            assert!(ndcg(name) > ndcg(mp), "{name} against {mp}\n{table}");
        }
        if !name.ends_with("scaled gate") {
            assert!(
                ndcg(name) > ndcg(MP_CLUSTER),
                "{name} against {MP_CLUSTER}\n{table}"
            );
        }
        if name.ends_with("concatenated") {
            assert!(ndcg(name) > plain, "{name} against {VAE_PLAIN}\n{table}");
        }
    }

    // What `archetype recommend` answers for a test user is the evaluated model's ranking.
    let loaded = rt
        .block_on(archetype_worker::vae::load_models(&root))
        .unwrap()
        .0;
    let literal = loaded
        .iter()
        .find(|l| l.key.id == "country_id.gate_literal")
        .unwrap();
    let user_id = first_test_user(&rt, &root);
    let r = rt
        .block_on(archetype_worker::query::recommend_tracks(
            &root,
            user_id,
            Some("country_id.gate_literal"),
            30,
        ))
        .unwrap();
    assert_eq!(r.user.split, "test");
    let input: Vec<(u32, f32)> = r.user.input.iter().map(|&(t, p)| (t, p as f32)).collect();
    let rows = archetype_vae::UserRows::new(literal.model.spec.items, [input]).unwrap();
    let context = rt
        .block_on(archetype_worker::vae::read_context(&root))
        .unwrap();
    let direct = literal
        .recommend(&rows, &[r.user.user_idx], &context, 30, true)
        .unwrap();
    let listed: Vec<u32> = r.recommended.iter().map(|x| x.track.track_idx).collect();
    assert_eq!(listed, direct[0]);
    let p: Vec<f64> = r.recommended.iter().map(|x| x.probability).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]) && p.iter().sum::<f64>() <= 1.0 + 1e-9);
    assert!(r
        .recommended
        .iter()
        .all(|x| !r.user.input.iter().any(|i| i.0 == x.track.track_idx)));
    // An unknown user is refused by id.
    let err = rt
        .block_on(archetype_worker::query::recommend_tracks(
            &root,
            u32::MAX,
            None,
            5,
        ))
        .unwrap_err();
    assert!(err.contains(&format!("user {}", u32::MAX)), "{err}");
}

fn first_test_user(rt: &tokio::runtime::Runtime, root: &archetype_job::StoreUrl) -> u32 {
    use archetype_worker::tables::{col, read_table, StrCol, U32Col};
    for b in rt
        .block_on(read_table(&root.join(archetype_job::layout::USERS)))
        .unwrap()
    {
        let id = col::<U32Col>(&b, "user_id").unwrap();
        let split = col::<StrCol>(&b, "split").unwrap();
        if let Some(i) = (0..b.num_rows()).find(|&i| split.value(i) == "test") {
            return id.value(i);
        }
    }
    panic!("no test user");
}
