//! The archetypes a generator planted, when the input carries them: `archetype generate`
//! writes `ground_truth.json` beside the users file, and the archetype phase reports how well
//! the clusters it found recover them (adjusted Rand index). Real data has no such file; its
//! absence is the normal case and says nothing.

use std::collections::BTreeMap;

use archetype_archetypes::quality::adjusted_rand_index;
use archetype_job::{open_url, PlantedMatch};
use object_store::ObjectStoreExt;
use serde::Deserialize;

/// The ground-truth file's name, as the generator writes it.
pub const GROUND_TRUTH: &str = "ground_truth.json";

#[derive(Deserialize)]
struct Truth {
    /// Country code (as in the users file) to its archetype; null or negative: none.
    country_archetype: BTreeMap<String, Option<i64>>,
}

/// Where the truth of the data set whose users file is `users_url` would be.
pub fn truth_url(users_url: &str) -> String {
    match users_url.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{GROUND_TRUTH}"),
        None => GROUND_TRUTH.to_string(),
    }
}

/// Compares `labels` (cluster of each of `countries`, -1 none) with the planted archetypes.
/// `Ok(None)` when there is no truth file; an unreadable or malformed one is an error naming it.
pub async fn compare(
    users_url: &str,
    countries: &[String],
    labels: &[i32],
) -> Result<Option<PlantedMatch>, String> {
    let url = truth_url(users_url);
    let src = open_url(&url).map_err(|e| e.to_string())?;
    let bytes = match src.store.get(&src.path).await {
        Ok(got) => got.bytes().await.map_err(|e| format!("{url}: {e}"))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(format!("{url}: {e}")),
    };
    let truth: Truth = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{url}: field `country_archetype`: {e}"))?;
    Ok(Some(score(
        &url,
        &truth.country_archetype,
        countries,
        labels,
    )))
}

fn score(
    file: &str,
    planted: &BTreeMap<String, Option<i64>>,
    countries: &[String],
    labels: &[i32],
) -> PlantedMatch {
    let want: Vec<i32> = countries
        .iter()
        .map(|c| match planted.get(c).copied().flatten() {
            Some(a) if a >= 0 => i32::try_from(a).unwrap_or(i32::MAX),
            _ => -1,
        })
        .collect();
    let mut archetypes: Vec<i32> = want.iter().copied().filter(|&a| a >= 0).collect();
    archetypes.sort_unstable();
    archetypes.dedup();
    PlantedMatch {
        file: file.to_string(),
        ari: adjusted_rand_index(labels, &want),
        archetypes: archetypes.len(),
        unplanted: want.iter().filter(|&&a| a < 0).count(),
        countries: countries.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_truth_sits_beside_the_users_file() {
        assert_eq!(
            truth_url("s3://b/lfm/LFM-1b_users.txt"),
            "s3://b/lfm/ground_truth.json"
        );
        assert_eq!(truth_url("/d/LFM-1b_users.txt"), "/d/ground_truth.json");
    }

    #[test]
    fn kept_countries_are_scored_against_their_archetypes() {
        let planted: BTreeMap<String, Option<i64>> = [
            ("AT", Some(0)),
            ("DE", Some(0)),
            ("RU", Some(1)),
            ("UA", Some(1)),
            ("FR", None),
            ("XX", Some(2)),
        ]
        .into_iter()
        .map(|(c, a)| (c.to_string(), a))
        .collect();
        let countries: Vec<String> = ["AT", "DE", "FR", "RU", "UA"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let exact = score("t", &planted, &countries, &[3, 3, -1, 5, 5]);
        assert!((exact.ari - 1.0).abs() < 1e-12, "{exact:?}");
        assert_eq!(
            (exact.archetypes, exact.unplanted, exact.countries),
            (2, 1, 5)
        );
        let merged = score("t", &planted, &countries, &[0, 0, -1, 0, 0]);
        assert!(merged.ari < 0.5, "{merged:?}");
    }

    #[tokio::test]
    async fn a_missing_truth_is_none_and_a_broken_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("LFM-1b_users.txt");
        let users = users.to_str().unwrap();
        let c = vec!["AT".to_string()];
        assert_eq!(compare(users, &c, &[0]).await.unwrap(), None);
        std::fs::write(dir.path().join(GROUND_TRUTH), b"{\"country_archetype\": 3}").unwrap();
        let err = compare(users, &c, &[0]).await.unwrap_err();
        assert!(
            err.contains(GROUND_TRUTH) && err.contains("country_archetype"),
            "{err}"
        );
    }
}
