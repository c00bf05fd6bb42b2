//! Context features of a user (the paper's Sec. 3.3, models 3 and 4): Euclidean distances from
//! the user's normalised track vector to every cluster centroid and every country centroid.
//!
//! A centroid is the summed plays of its countries' users per track divided by their total
//! plays, so a country's centroid is its normalised country vector. Distances expand as
//! `||u - c||^2 = ||u||^2 - 2 u.c + ||c||^2`; the centroids are kept track-major, so a user
//! costs (its tracks) x (centroids playing each track) multiply-adds, never a dense pass over
//! the catalogue.

use crate::matrix::SparseRows;
use crate::ArchetypeError;

#[derive(Clone, Debug)]
pub struct Centroids {
    /// One name per centroid (country code, or cluster id as text).
    pub names: Vec<String>,
    /// Track-major: row t holds (centroid, share) for every centroid with plays on track t.
    by_track: SparseRows,
    sq_norms: Vec<f64>,
}

impl Centroids {
    /// Centroids from raw plays (centroids x tracks); each row is normalised here.
    pub fn from_rows(names: Vec<String>, plays: &SparseRows) -> Result<Centroids, ArchetypeError> {
        if names.len() != plays.rows() {
            return Err(ArchetypeError::Input(format!(
                "{} centroid names for {} rows",
                names.len(),
                plays.rows()
            )));
        }
        let rows = plays.clone().normalised(&names)?;
        let sq_norms = (0..rows.rows())
            .map(|i| rows.row(i).1.iter().map(|v| v * v).sum())
            .collect();
        Ok(Centroids {
            names,
            by_track: rows.transpose(),
            sq_norms,
        })
    }

    /// Sums country rows into one row per cluster. `labels[i]` is country i's cluster; -1
    /// (left out by OPTICS) joins no cluster. Clusters are `0..clusters`.
    pub fn cluster_rows(
        plays: &SparseRows,
        labels: &[i32],
        clusters: usize,
    ) -> Result<SparseRows, ArchetypeError> {
        let mut triples = Vec::new();
        for (i, &l) in labels.iter().enumerate().take(plays.rows()) {
            if l < 0 {
                continue;
            }
            let (cs, vs) = plays.row(i);
            triples.extend(cs.iter().zip(vs).map(|(&c, &v)| (l as u32, c, v)));
        }
        SparseRows::from_triples(clusters, plays.n_cols, &mut triples)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn tracks(&self) -> usize {
        self.by_track.rows()
    }

    /// Distances from the normalised vector of `plays` (track index, plays) to every centroid.
    /// Tracks outside the catalogue are an error; an empty vector is the zero vector.
    pub fn distances(
        &self,
        plays: &[(u32, f64)],
        out: &mut Vec<f64>,
    ) -> Result<(), ArchetypeError> {
        out.clear();
        out.resize(self.len(), 0.0);
        let total: f64 = plays.iter().map(|p| p.1).sum();
        let scale = if total > 0.0 { 1.0 / total } else { 0.0 };
        let mut u_sq = 0.0;
        for &(t, p) in plays {
            if t as usize >= self.tracks() {
                return Err(ArchetypeError::Input(format!(
                    "track index {t} outside the catalogue of {}",
                    self.tracks()
                )));
            }
            let u = p * scale;
            u_sq += u * u;
            let (ks, cs) = self.by_track.row(t as usize);
            for (&k, &c) in ks.iter().zip(cs) {
                out[k as usize] += u * c;
            }
        }
        for (d, &c_sq) in out.iter_mut().zip(&self.sq_norms) {
            *d = (u_sq - 2.0 * *d + c_sq).max(0.0).sqrt();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn distances_equal_a_direct_dense_computation() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (countries, tracks) = (6usize, 50usize);
        let mut t = Vec::new();
        for c in 0..countries {
            for k in 0..tracks {
                if rng.random::<f64>() < 0.4 || k == c {
                    t.push((c as u32, k as u32, rng.random_range(1..100) as f64));
                }
            }
        }
        let plays = SparseRows::from_triples(countries, tracks, &mut t).unwrap();
        let names: Vec<String> = (0..countries).map(|c| format!("C{c}")).collect();
        let labels = [0, 1, 0, -1, 1, 2];
        let countries_c = Centroids::from_rows(names, &plays).unwrap();
        let cluster_plays = Centroids::cluster_rows(&plays, &labels, 3).unwrap();
        let clusters_c =
            Centroids::from_rows(vec!["0".into(), "1".into(), "2".into()], &cluster_plays).unwrap();
        let dense = plays.to_dense();
        let centroid = |rows: &[usize]| -> Vec<f64> {
            let mut v = vec![0.0; tracks];
            for &r in rows {
                for k in 0..tracks {
                    v[k] += dense[r * tracks + k];
                }
            }
            let s: f64 = v.iter().sum();
            v.iter().map(|x| x / s).collect()
        };
        let mut out = Vec::new();
        for _ in 0..20 {
            let mut user: Vec<(u32, f64)> = Vec::new();
            for k in 0..tracks as u32 {
                if rng.random::<f64>() < 0.2 {
                    user.push((k, rng.random_range(1..30) as f64));
                }
            }
            let total: f64 = user.iter().map(|u| u.1).sum();
            let mut u = vec![0.0; tracks];
            for &(k, p) in &user {
                u[k as usize] = p / total.max(1.0);
            }
            let direct = |c: &[f64]| -> f64 {
                u.iter()
                    .zip(c)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            };
            countries_c.distances(&user, &mut out).unwrap();
            for (c, d) in out.iter().enumerate() {
                assert!((d - direct(&centroid(&[c]))).abs() < 1e-12);
            }
            clusters_c.distances(&user, &mut out).unwrap();
            for (k, members) in [vec![0, 2], vec![1, 4], vec![5]].iter().enumerate() {
                assert!(
                    (out[k] - direct(&centroid(members))).abs() < 1e-12,
                    "cluster {k}"
                );
            }
        }
        assert!(countries_c
            .distances(&[(tracks as u32, 1.0)], &mut out)
            .is_err());
    }
}
