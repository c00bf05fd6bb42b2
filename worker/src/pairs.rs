//! (user, track) partial aggregates, held per user.
//!
//! LFM-1b lists each user's events together, so partials reach a user's owner in runs: keeping
//! one short list per user and merging it by sorting touches a few cache lines per user, where
//! one hash table of every (user, track) pair took a cache miss per event at millions of pairs.
//! A list is compacted (sorted, equal tracks merged) whenever it doubles, so memory stays within
//! twice the distinct pairs however the input is ordered.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use archetype_lfm::ListeningEvent;

/// Partial aggregate of one (user, track) pair. Plays of one user on one track fit 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairAgg {
    pub plays: u32,
    pub first: u32,
    pub last: u32,
    /// The track's artist as the events name it (LFM-1b gives one artist per track).
    pub artist: u32,
}

impl PairAgg {
    pub fn of(e: &ListeningEvent) -> PairAgg {
        PairAgg {
            plays: 1,
            first: e.timestamp,
            last: e.timestamp,
            artist: e.artist,
        }
    }

    pub fn merge(&mut self, o: &PairAgg) {
        self.plays = self.plays.saturating_add(o.plays);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.artist = self.artist.min(o.artist);
    }
}

/// Below this many entries a list is left alone: compacting tiny lists costs more than it saves.
const MIN_COMPACT: usize = 64;

#[derive(Default)]
struct List {
    items: Vec<(u32, PairAgg)>,
    /// Length after the last compaction; the list is compacted again when it doubles.
    compacted: usize,
}

/// Sorts by track and merges equal tracks in place.
pub fn compact(items: &mut Vec<(u32, PairAgg)>) {
    items.sort_unstable_by_key(|(t, _)| *t);
    let mut w = 0usize;
    for r in 0..items.len() {
        if w > 0 && items[w - 1].0 == items[r].0 {
            let a = items[r].1;
            items[w - 1].1.merge(&a);
        } else {
            items[w] = items[r];
            w += 1;
        }
    }
    items.truncate(w);
}

/// Partials gathered at a user's owner.
#[derive(Default)]
pub struct UserPairs {
    users: FxHashMap<u32, List>,
}

impl UserPairs {
    pub fn add(&mut self, user: u32, track: u32, agg: PairAgg) {
        let list = self.users.entry(user).or_default();
        list.items.push((track, agg));
        if list.items.len() >= MIN_COMPACT.max(2 * list.compacted) {
            compact(&mut list.items);
            list.compacted = list.items.len();
        }
    }

    /// Every user with its pairs, users ascending, each list sorted by track without repeats.
    pub fn finish(self) -> Vec<(u32, Vec<(u32, PairAgg)>)> {
        let mut out: Vec<(u32, Vec<(u32, PairAgg)>)> = self
            .users
            .into_iter()
            .map(|(u, mut l)| {
                compact(&mut l.items);
                l.items.shrink_to_fit();
                (u, l.items)
            })
            .collect();
        out.sort_unstable_by_key(|(u, _)| *u);
        out
    }
}

/// Folds one reader's events before the exchange. Events of a user run (consecutive events
/// of one user, the order of LFM-1b files) are merged in a small map that stays in cache and
/// leave as complete partials when the run ends; short runs, as in input not grouped by user,
/// go to a larger map instead so that the exchange still carries one partial per pair.
#[derive(Default)]
pub struct RunFolder {
    user: Option<u32>,
    run_events: usize,
    run: FxHashMap<u32, PairAgg>,
    spill: FxHashMap<(u32, u32), PairAgg>,
    /// Complete partials waiting to be sent.
    pub out: Vec<(u32, u32, PairAgg)>,
}

/// Runs shorter than this are not worth sending on their own.
const LONG_RUN: usize = 8;

impl RunFolder {
    #[inline]
    pub fn add(&mut self, e: &ListeningEvent) {
        if self.user != Some(e.user) {
            self.end_run();
            self.user = Some(e.user);
        }
        self.run_events += 1;
        self.run
            .entry(e.track)
            .and_modify(|a| {
                a.plays = a.plays.saturating_add(1);
                a.first = a.first.min(e.timestamp);
                a.last = a.last.max(e.timestamp);
                a.artist = a.artist.min(e.artist);
            })
            .or_insert_with(|| PairAgg::of(e));
    }

    fn end_run(&mut self) {
        let Some(u) = self.user.take() else {
            return;
        };
        if self.run_events >= LONG_RUN {
            self.out.extend(self.run.drain().map(|(t, a)| (u, t, a)));
        } else {
            for (t, a) in self.run.drain() {
                self.spill
                    .entry((u, t))
                    .and_modify(|x| x.merge(&a))
                    .or_insert(a);
            }
        }
        self.run_events = 0;
    }

    /// Partials held (sent or not) beyond the current run: the caller flushes past its cap.
    pub fn held(&self) -> usize {
        self.out.len() + self.spill.len()
    }

    /// Ends the current run and moves everything held into `out`.
    pub fn drain_all(&mut self) {
        self.end_run();
        self.out
            .extend(self.spill.drain().map(|((u, t), a)| (u, t, a)));
    }

    /// Moves what is complete into `out` without ending the run.
    pub fn drain_spill(&mut self) {
        self.out
            .extend(self.spill.drain().map(|((u, t), a)| (u, t, a)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn ev(user: u32, track: u32, ts: u32) -> ListeningEvent {
        ListeningEvent {
            user,
            artist: track / 3,
            album: 0,
            track,
            timestamp: ts,
        }
    }

    fn reference(events: &[ListeningEvent]) -> BTreeMap<(u32, u32), PairAgg> {
        let mut m: BTreeMap<(u32, u32), PairAgg> = BTreeMap::new();
        for e in events {
            m.entry((e.user, e.track))
                .and_modify(|a| a.merge(&PairAgg::of(e)))
                .or_insert_with(|| PairAgg::of(e));
        }
        m
    }

    /// Reader fold then owner lists, for grouped and shuffled input, equal a plain map.
    #[test]
    fn folder_and_lists_equal_a_plain_map() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut events = Vec::new();
        for u in 0..200u32 {
            let n = rng.random_range(0..300);
            for _ in 0..n {
                events.push(ev(u, rng.random_range(0..150), rng.random_range(0..1000)));
            }
        }
        let want = reference(&events);
        for shuffled in [false, true] {
            let mut evs = events.clone();
            if shuffled {
                use rand::seq::SliceRandom;
                evs.shuffle(&mut rng);
            }
            let mut owner = UserPairs::default();
            // Two readers over halves, flushing at a small cap, as the dataflow does.
            for half in evs.chunks(evs.len() / 2 + 1) {
                let mut f = RunFolder::default();
                for e in half {
                    f.add(e);
                    if f.held() >= 100 {
                        f.drain_spill();
                        for (u, t, a) in f.out.drain(..) {
                            owner.add(u, t, a);
                        }
                    }
                }
                f.drain_all();
                for (u, t, a) in f.out.drain(..) {
                    owner.add(u, t, a);
                }
            }
            let got: BTreeMap<(u32, u32), PairAgg> = owner
                .finish()
                .into_iter()
                .flat_map(|(u, l)| l.into_iter().map(move |(t, a)| ((u, t), a)))
                .collect();
            assert_eq!(got, want, "shuffled = {shuffled}");
        }
    }

    #[test]
    fn lists_come_out_sorted_without_repeats() {
        let mut p = UserPairs::default();
        for i in 0..1000u32 {
            p.add(i % 3, (i * 7919) % 101, PairAgg::of(&ev(0, 0, i)));
        }
        let out = p.finish();
        assert_eq!(out.iter().map(|(u, _)| *u).collect::<Vec<_>>(), [0, 1, 2]);
        for (_, l) in &out {
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0));
            assert_eq!(l.len(), 101);
        }
        let plays: u32 = out
            .iter()
            .flat_map(|(_, l)| l.iter().map(|x| x.1.plays))
            .sum();
        assert_eq!(plays, 1000);
    }
}
