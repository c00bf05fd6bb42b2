//! Most-popular baselines: MP (global), MP country and MP cluster in the paper's terms.
//!
//! The popularity order is computed once per group; a per-user request only walks it until k
//! items survive the user's exclusions (each checked by binary search), so it costs about k
//! plus the excluded items met on the way, never a sort of the catalogue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;

/// Items in descending play count; equal counts go to the lower item index so every run,
/// whatever the input order, recommends the same list. Items never played are not in the
/// order at all: recommending them would be arbitrary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopularityRanker {
    order: Vec<u32>,
}

impl PopularityRanker {
    /// From `(item, plays)` pairs in any order; repeated items have their plays added, since
    /// such pairs usually come from partial aggregates.
    pub fn from_pairs(pairs: &[(u32, u64)]) -> Result<Self, EvalError> {
        let mut sorted = pairs.to_vec();
        sorted.sort_unstable_by_key(|&(item, _)| item);
        let mut merged: Vec<(u32, u64)> = Vec::with_capacity(sorted.len());
        for (item, plays) in sorted {
            match merged.last_mut() {
                Some((last, total)) if *last == item => {
                    *total = total
                        .checked_add(plays)
                        .ok_or(EvalError::PlaysOverflow { item })?;
                }
                _ => merged.push((item, plays)),
            }
        }
        Ok(Self::from_unique(merged))
    }

    /// From a dense vector: `plays[i]` is the play count of item `i`.
    pub fn from_dense(plays: &[u64]) -> Result<Self, EvalError> {
        if plays.len() > u32::MAX as usize + 1 {
            return Err(EvalError::CatalogueTooLarge(plays.len()));
        }
        let pairs = plays
            .iter()
            .enumerate()
            .map(|(i, &p)| (i as u32, p))
            .collect();
        Ok(Self::from_unique(pairs))
    }

    fn from_unique(mut pairs: Vec<(u32, u64)>) -> Self {
        pairs.retain(|&(_, plays)| plays > 0);
        pairs.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Self {
            order: pairs.into_iter().map(|(item, _)| item).collect(),
        }
    }

    /// The full popularity order, most played first.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Number of items with at least one play.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The `k` most popular items not in `exclude` (sorted ascending: the user's input items).
    /// Shorter than `k` when fewer played items remain.
    pub fn recommend(&self, k: usize, exclude: &[u32]) -> Vec<u32> {
        debug_assert!(
            exclude.windows(2).all(|w| w[0] <= w[1]),
            "exclude list must be sorted ascending"
        );
        self.order
            .iter()
            .copied()
            .filter(|item| exclude.binary_search(item).is_err())
            .take(k)
            .collect()
    }
}

/// One [`PopularityRanker`] per group (a country for MP country, an archetype cluster for MP
/// cluster).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupedPopularity {
    rankers: BTreeMap<u32, PopularityRanker>,
}

impl GroupedPopularity {
    /// From `(group, item, plays)` triples in any order; repeated `(group, item)` pairs have
    /// their plays added.
    pub fn from_triples(triples: &[(u32, u32, u64)]) -> Result<Self, EvalError> {
        let mut sorted = triples.to_vec();
        sorted.sort_unstable_by_key(|&(group, item, _)| (group, item));
        let mut rankers = BTreeMap::new();
        let mut start = 0;
        while start < sorted.len() {
            let group = sorted[start].0;
            let end = start + sorted[start..].partition_point(|t| t.0 == group);
            let pairs: Vec<(u32, u64)> = sorted[start..end]
                .iter()
                .map(|&(_, item, plays)| (item, plays))
                .collect();
            rankers.insert(group, PopularityRanker::from_pairs(&pairs)?);
            start = end;
        }
        Ok(Self { rankers })
    }

    /// The ranker of `group`; `None` when the group had no plays at all in training, which
    /// callers report rather than silently falling back to the global order.
    pub fn get(&self, group: u32) -> Option<&PopularityRanker> {
        self.rankers.get(&group)
    }

    /// Groups in ascending id order.
    pub fn groups(&self) -> impl Iterator<Item = u32> + '_ {
        self.rankers.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.rankers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rankers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_plays_then_lower_item() {
        // Item 4 and 1 tie at 7 plays: 1 comes first. Item 2 has no plays and is left out.
        let r = PopularityRanker::from_dense(&[3, 7, 0, 9, 7, 1]).expect("small catalogue");
        assert_eq!(r.order(), &[3, 1, 4, 0, 5]);
        assert_eq!(r.len(), 5);
        let shuffled =
            PopularityRanker::from_pairs(&[(5, 1), (4, 7), (0, 3), (3, 9), (1, 7), (2, 0)])
                .expect("no overflow");
        assert_eq!(shuffled, r, "input order must not matter");
    }

    #[test]
    fn repeated_pairs_are_summed() {
        // Item 8: 2 + 5 = 7 beats item 3 at 6.
        let r = PopularityRanker::from_pairs(&[(8, 2), (3, 6), (8, 5)]).expect("ok");
        assert_eq!(r.order(), &[8, 3]);
        assert_eq!(
            PopularityRanker::from_pairs(&[(8, u64::MAX), (8, 1)]),
            Err(EvalError::PlaysOverflow { item: 8 })
        );
    }

    #[test]
    fn recommend_skips_excluded_and_stops_at_k() {
        let r = PopularityRanker::from_dense(&[3, 7, 0, 9, 7, 1]).expect("ok");
        // Order 3 1 4 0 5.
        assert_eq!(r.recommend(2, &[]), vec![3, 1]);
        assert_eq!(r.recommend(3, &[1, 3]), vec![4, 0, 5]);
        assert_eq!(r.recommend(10, &[0, 2, 4]), vec![3, 1, 5]);
        assert_eq!(r.recommend(0, &[]), Vec::<u32>::new());
        assert_eq!(r.recommend(5, &[0, 1, 3, 4, 5]), Vec::<u32>::new());
        let empty = PopularityRanker::from_dense(&[0, 0]).expect("ok");
        assert!(empty.is_empty());
        assert!(empty.recommend(3, &[]).is_empty());
    }

    #[test]
    fn grouped_rankers_are_independent() {
        let g = GroupedPopularity::from_triples(&[
            (7, 1, 5),
            (2, 1, 1),
            (7, 2, 9),
            (2, 3, 4),
            (7, 1, 5), // group 7, item 1: 5 + 5 = 10 > item 2's 9
            (2, 4, 4), // ties item 3 in group 2: lower index first
            (9, 5, 0), // only unplayed items: the group exists but is empty
        ])
        .expect("ok");
        assert_eq!(g.groups().collect::<Vec<_>>(), vec![2, 7, 9]);
        assert_eq!(g.get(7).map(|r| r.order().to_vec()), Some(vec![1, 2]));
        assert_eq!(g.get(2).map(|r| r.order().to_vec()), Some(vec![3, 4, 1]));
        assert_eq!(g.get(2).map(|r| r.recommend(2, &[3])), Some(vec![4, 1]));
        assert_eq!(g.get(9).map(|r| r.is_empty()), Some(true));
        assert!(g.get(3).is_none());
        assert_eq!(g.len(), 3);
    }
}
