//! Questions a person asks of a finished job: which tracks are like this one, and what a trained
//! VAE recommends to a user.
//!
//! Reads the job's tables and trained models from its object store; nothing here runs inside a
//! cluster. Tracks are named by their LFM-1b id on the way in and out; the dense indices stay
//! inside.

use std::collections::BTreeSet;

use archetype_eval::targets::is_target;
use archetype_job::layout::{HELDOUT, INTERACTIONS, SUMMARY, TRACKS, USERS};
use archetype_job::{open_url, StoreUrl};
use arrow_array::Array;
use object_store::ObjectStoreExt;

use crate::tables::{self, col, StrCol, U32Col, U64Col};

/// One track of the catalogue, as the tracks table describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInfo {
    pub track_idx: u32,
    pub track_id: u32,
    pub artist_id: u32,
    pub name: Option<String>,
    pub artist_name: Option<String>,
    pub train_plays: u64,
}

/// A neighbour of the query track.
#[derive(Clone, Debug, PartialEq)]
pub struct Similar {
    pub track: TrackInfo,
    /// Cosine of the two tracks' item factors.
    pub cosine: f32,
}

/// The catalogue by dense index.
pub async fn catalogue(root: &StoreUrl) -> Result<Vec<TrackInfo>, String> {
    let e = |x: tables::TableError| x.to_string();
    let mut out: Vec<Option<TrackInfo>> = Vec::new();
    for b in tables::read_table(&root.join(TRACKS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "track_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "track_id").map_err(e)?;
        let artist = col::<U32Col>(&b, "artist_id").map_err(e)?;
        let name = col::<StrCol>(&b, "name").map_err(e)?;
        let artist_name = col::<StrCol>(&b, "artist_name").map_err(e)?;
        let train = col::<U64Col>(&b, "train_plays").map_err(e)?;
        for i in 0..b.num_rows() {
            let t = idx.value(i) as usize;
            if t >= out.len() {
                out.resize(t + 1, None);
            }
            let text = |c: &StrCol| (!c.is_null(i)).then(|| c.value(i).to_string());
            out[t] = Some(TrackInfo {
                track_idx: idx.value(i),
                track_id: id.value(i),
                artist_id: artist.value(i),
                name: text(name),
                artist_name: text(artist_name),
                train_plays: train.value(i),
            });
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.ok_or_else(|| format!("{}: no row for track_idx {i}", root.join(TRACKS).url))
        })
        .collect()
}

/// `url` itself when it is a job root (it holds `aggregate/summary.json`), else the most
/// recent job below it that holds `needs` (a layout path such as [`ALS_STATE`]; job ids end in
/// `-<unix seconds>-<ms>`).
pub async fn resolve_job(url: &str, needs: &str) -> Result<StoreUrl, String> {
    let root = open_url(url).map_err(|e| e.to_string())?;
    if tables::exists(&root.join(SUMMARY)).await {
        return Ok(root);
    }
    // A promoted run (the retraining gate's `latest.json`) wins over the newest run: a run
    // the gate kept aside must not be served just because it is newer.
    if let Ok(got) = root.store.get(&root.join("latest.json").path).await {
        if let Ok(bytes) = got.bytes().await {
            let job = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("job_id").and_then(|j| j.as_str()).map(str::to_string));
            if let Some(job) = job {
                let r = root.join(&job);
                if tables::exists(&r.join(needs)).await {
                    return Ok(r);
                }
            }
        }
    }
    let listed = root
        .store
        .list_with_delimiter(Some(&root.path))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut jobs: Vec<(u128, String)> = Vec::new();
    for p in listed.common_prefixes {
        let Some(name) = p.filename().map(str::to_string) else {
            continue;
        };
        let job = root.join(&name);
        if !tables::exists(&job.join(needs)).await {
            continue;
        }
        let mut parts = name.rsplitn(3, '-');
        let ms = parts.next().and_then(|v| v.parse::<u128>().ok());
        let s = parts.next().and_then(|v| v.parse::<u128>().ok());
        if let (Some(s), Some(ms)) = (s, ms) {
            jobs.push((s * 1000 + ms, name));
        }
    }
    jobs.sort();
    match jobs.pop() {
        Some((_, name)) => Ok(root.join(&name)),
        None => Err(format!(
            "{url}: neither a job root (no aggregate/summary.json) nor an output directory \
             holding a job with {needs}"
        )),
    }
}

/// The `n` tracks closest to LFM-1b track `track_id` by cosine of the WMF-ALS item factors.
pub async fn similar_tracks(
    root: &StoreUrl,
    track_id: u32,
    n: usize,
) -> Result<(TrackInfo, Vec<Similar>), String> {
    let tracks = catalogue(root).await?;
    let query = tracks
        .iter()
        .find(|t| t.track_id == track_id)
        .cloned()
        .ok_or_else(|| {
            format!(
                "track {track_id} is not in the job's catalogue ({} tracks kept by the filters; \
                 see {})",
                tracks.len(),
                root.join(TRACKS).url
            )
        })?;
    let model = crate::als::load_model(root).await?;
    if model.items() != tracks.len() {
        return Err(format!(
            "the model has {} item rows, the catalogue {} tracks",
            model.items(),
            tracks.len()
        ));
    }
    let ranked = model
        .similar(query.track_idx, n)
        .map_err(|e| e.to_string())?;
    let out = ranked
        .into_iter()
        .map(|(i, cosine)| Similar {
            track: tracks[i as usize].clone(),
            cosine,
        })
        .collect();
    Ok((query, out))
}

/// A user as the model sees it when asked for recommendations.
#[derive(Clone, Debug, PartialEq)]
pub struct UserListening {
    pub user_idx: u32,
    pub user_id: u32,
    pub country: Option<String>,
    /// `train`, `validation` or `test`.
    pub split: String,
    /// (track_idx, plays) the model reads: every play of a training user; the input part of
    /// a held-out user, whose target part it never saw.
    pub input: Vec<(u32, u32)>,
    /// A held-out user's target tracks (empty for training users).
    pub target: BTreeSet<u32>,
}

/// One recommended track.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommended {
    pub track: TrackInfo,
    /// The model's multinomial probability of the track, over the tracks not in the input.
    pub probability: f64,
    /// The track is in the user's held-out target.
    pub held_out: bool,
}

/// What [`recommend_tracks`] answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendations {
    pub user: UserListening,
    /// The model's report name and its directory below `vae/`.
    pub model: String,
    pub model_id: String,
    /// The user's most played input tracks, for a person to compare with.
    pub top_played: Vec<(TrackInfo, u32)>,
    pub recommended: Vec<Recommended>,
}

/// The listening of LFM-1b user `user_id` in the job's tables.
pub async fn user_listening(root: &StoreUrl, user_id: u32) -> Result<UserListening, String> {
    let e = |x: tables::TableError| x.to_string();
    let mut found = None;
    let mut users = 0usize;
    for b in tables::read_table(&root.join(USERS)).await.map_err(e)? {
        let idx = col::<U32Col>(&b, "user_idx").map_err(e)?;
        let id = col::<U32Col>(&b, "user_id").map_err(e)?;
        let country = col::<StrCol>(&b, "country").map_err(e)?;
        let split = col::<StrCol>(&b, "split").map_err(e)?;
        users += b.num_rows();
        if let Some(i) = (0..b.num_rows()).find(|&i| id.value(i) == user_id) {
            let c = (!country.is_null(i) && !country.value(i).is_empty())
                .then(|| country.value(i).to_string());
            found = Some((idx.value(i), c, split.value(i).to_string()));
        }
    }
    let (user_idx, country, split) = found.ok_or_else(|| {
        format!(
            "user {user_id} is not in the job's users ({users} kept by the filters; see {})",
            root.join(USERS).url
        )
    })?;
    let mut input = Vec::new();
    let mut target = BTreeSet::new();
    if split == "train" {
        for b in tables::read_table(&root.join(INTERACTIONS))
            .await
            .map_err(e)?
        {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let n = col::<U32Col>(&b, "plays").map_err(e)?;
            input.extend(
                (0..b.num_rows())
                    .filter(|&i| u.value(i) == user_idx)
                    .map(|i| (t.value(i), n.value(i))),
            );
        }
    } else {
        for b in tables::read_table(&root.join(HELDOUT)).await.map_err(e)? {
            let u = col::<U32Col>(&b, "user_idx").map_err(e)?;
            let t = col::<U32Col>(&b, "track_idx").map_err(e)?;
            let inp = col::<U32Col>(&b, "input_plays").map_err(e)?;
            let tgt = col::<U32Col>(&b, "target_plays").map_err(e)?;
            for i in (0..b.num_rows()).filter(|&i| u.value(i) == user_idx) {
                if inp.value(i) > 0 {
                    input.push((t.value(i), inp.value(i)));
                }
                // Recommendations leave the input out, so a replayed track is never a hit.
                if is_target(inp.value(i), tgt.value(i), true) {
                    target.insert(t.value(i));
                }
            }
        }
    }
    input.sort_unstable();
    Ok(UserListening {
        user_idx,
        user_id,
        country,
        split,
        input,
        target,
    })
}

/// The top `n` tracks a trained VAE recommends to LFM-1b user `user_id`, the user's own
/// tracks excluded. `model` is a report name or a directory id (`plain`,
/// `country_id.gate_scale`, ...); without it, the model with the best validation NDCG@100.
pub async fn recommend_tracks(
    root: &StoreUrl,
    user_id: u32,
    model: Option<&str>,
    n: usize,
) -> Result<Recommendations, String> {
    let (loaded, skipped) = crate::vae::load_models(root).await?;
    let states: crate::vae::VaeModels =
        crate::als::read_json(&root.join(archetype_job::layout::VAE_MODELS))
            .await?
            .unwrap_or_default();
    let available = || {
        loaded
            .iter()
            .map(|l| format!("{} ({})", l.key.id, l.key.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match model {
        Some(m) => loaded
            .iter()
            .find(|l| l.key.id == m || l.key.name == m)
            .ok_or_else(
                || match skipped.iter().find(|s| s.key.id == m || s.key.name == m) {
                    Some(s) => format!("model {m} was not trained: {}", s.reason),
                    None => format!("no VAE model {m} in the job; trained: {}", available()),
                },
            )?,
        None => {
            let best = |l: &&crate::vae::LoadedVae| {
                states
                    .models
                    .iter()
                    .find(|s| s.key.id == l.key.id)
                    .and_then(|s| s.best_ndcg)
                    .unwrap_or(f64::NEG_INFINITY)
            };
            loaded
                .iter()
                .max_by(|a, b| best(a).total_cmp(&best(b)))
                .ok_or_else(|| "the job trained no VAE model".to_string())?
        }
    };
    let tracks = catalogue(root).await?;
    if chosen.model.spec.items != tracks.len() {
        return Err(format!(
            "model {} scores {} tracks, the catalogue has {}",
            chosen.key.id,
            chosen.model.spec.items,
            tracks.len()
        ));
    }
    let user = user_listening(root, user_id).await?;
    let context = crate::vae::read_context(root).await?;
    let input: Vec<(u32, f32)> = user.input.iter().map(|&(t, p)| (t, p as f32)).collect();
    let logits = chosen.logits(&input, user.user_idx, &context)?;
    let own: BTreeSet<u32> = user.input.iter().map(|x| x.0).collect();
    let candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(t, _)| !own.contains(&(*t as u32)))
        .map(|(t, &l)| (t as u32, l))
        .collect();
    // Softmax over the candidates, in f64 with the maximum subtracted.
    let max = candidates
        .iter()
        .map(|c| f64::from(c.1))
        .fold(f64::NEG_INFINITY, f64::max);
    let norm: f64 = candidates
        .iter()
        .map(|c| (f64::from(c.1) - max).exp())
        .sum();
    let mut ranked = candidates;
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    let recommended = ranked
        .into_iter()
        .map(|(t, l)| Recommended {
            track: tracks[t as usize].clone(),
            probability: (f64::from(l) - max).exp() / norm,
            held_out: user.target.contains(&t),
        })
        .collect();
    let mut played = user.input.clone();
    played.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top_played = played
        .into_iter()
        .take(n)
        .map(|(t, p)| (tracks[t as usize].clone(), p))
        .collect();
    Ok(Recommendations {
        user,
        model: chosen.key.name.clone(),
        model_id: chosen.key.id.clone(),
        top_played,
        recommended,
    })
}
