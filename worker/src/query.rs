//! Questions a person asks of a finished job: which tracks are like this one.
//!
//! Reads the job's tables and trained models from its object store; nothing here runs inside a
//! cluster. Tracks are named by their LFM-1b id on the way in and out; the dense indices stay
//! inside.

use archetype_job::layout::{ALS_STATE, SUMMARY, TRACKS};
use archetype_job::{open_url, StoreUrl};
use arrow_array::Array;

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
/// recent job below it that trained WMF-ALS (job ids end in `-<unix seconds>-<ms>`).
pub async fn resolve_job(url: &str) -> Result<StoreUrl, String> {
    let root = open_url(url).map_err(|e| e.to_string())?;
    if tables::exists(&root.join(SUMMARY)).await {
        return Ok(root);
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
        if !tables::exists(&job.join(ALS_STATE)).await {
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
             holding a job with a trained WMF-ALS model (als/state.json)"
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
