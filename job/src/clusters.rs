//! The country clusters as the archetype phase hands them to the workers.

use serde::{Deserialize, Serialize};

/// Which cluster each kept country belongs to: `labels[i]` is the cluster of `countries[i]`,
/// `0..clusters`, or -1 for a country OPTICS left out of every cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountryClusters {
    pub countries: Vec<String>,
    pub labels: Vec<i32>,
    pub clusters: usize,
    /// The grid pair that produced them.
    pub perplexity: f64,
    pub min_cluster_size: usize,
}

impl CountryClusters {
    /// Checks the invariants a reader relies on, naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.countries.len() != self.labels.len() {
            return Err(format!(
                "{} countries but {} labels",
                self.countries.len(),
                self.labels.len()
            ));
        }
        if let Some((c, l)) = self
            .countries
            .iter()
            .zip(&self.labels)
            .find(|(_, &l)| l < -1 || l >= self.clusters as i32)
        {
            return Err(format!(
                "country {c} has cluster {l}, outside -1..{}",
                self.clusters
            ));
        }
        Ok(())
    }

    pub fn cluster_of(&self, country: &str) -> Option<i32> {
        self.countries
            .iter()
            .position(|c| c == country)
            .map(|i| self.labels[i])
    }
}

/// What the coordinator shows and keeps of the archetype phase.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArchetypeSummary {
    pub countries: usize,
    pub clusters: usize,
    pub left_out: usize,
    pub perplexity: f64,
    pub min_cluster_size: usize,
    pub score: f64,
    pub map_preservation: f64,
    /// The grid's best pair found at least two clusters.
    pub eligible: bool,
    pub pca_solver: String,
    pub pca_components: usize,
    pub variance_kept: f64,
    pub dominating_tracks: usize,
    pub seconds: f64,
    /// Objects written, relative to the job's root.
    pub outputs: Vec<String>,
    /// How the clusters compare with the archetypes planted in generated data, when the
    /// input has a `ground_truth.json` beside its users file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planted: Option<PlantedMatch>,
}

/// The clusters found against the archetypes a generator planted (`ground_truth.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlantedMatch {
    /// The ground-truth file read.
    pub file: String,
    /// Adjusted Rand index over the kept countries; "in no cluster" (found) and "in no
    /// archetype" (planted) are each a group of their own.
    pub ari: f64,
    /// Planted archetypes among the kept countries.
    pub archetypes: usize,
    /// Kept countries the truth plants in no archetype.
    pub unplanted: usize,
    /// Kept countries compared.
    pub countries: usize,
}
