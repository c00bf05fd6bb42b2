//! Which of a held-out user's tracks a recommender is scored on.
//!
//! A held-out user's listening is split into input plays (what the model sees) and target
//! plays (what it should find). Real listeners replay the same few tracks hundreds of times, so
//! when the split is by listening events nearly every held-out event replays a track that is
//! also in the input (median share 1.000 in both real Last.fm samples of
//! `shared/data/real_listening_stats.md`). Rankings that leave the input out can never reach
//! such a track; counting it in N_u and in the ideal DCG capped every model near zero on real
//! data (NDCG@100 0.001-0.005 for MP, WMF-ALS and the VAEs alike). So, when the input is
//! excluded, a track is a target only if it is held out and not in the input: the tracks the
//! user went on to discover. Without exclusion every held-out track counts, replays included.
//!
//! One rule for every place that scores held-out users (the test report, both training
//! phases' validation, the `recommend` command), so that they cannot drift apart.

use serde::{Deserialize, Serialize};

/// Whether a held-out (user, track) with these plays is one of the user's targets.
#[inline]
pub fn is_target(input_plays: u32, target_plays: u32, exclude_input: bool) -> bool {
    target_plays > 0 && !(exclude_input && input_plays > 0)
}

/// How a held-out user's listening was split and scored; the report states it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRule {
    /// Split by events, input excluded: held-out tracks the input does not contain.
    NewTracks,
    /// Split by events, input not excluded: every held-out track, replays included.
    AllHeldOutTracks,
    /// Split by distinct tracks: the held-out tracks (never in the input by construction).
    HeldOutTracks,
}

impl TargetRule {
    pub fn new(split_by_events: bool, exclude_input: bool) -> TargetRule {
        match (split_by_events, exclude_input) {
            (true, true) => TargetRule::NewTracks,
            (true, false) => TargetRule::AllHeldOutTracks,
            (false, _) => TargetRule::HeldOutTracks,
        }
    }

    /// One sentence for the report: what a user's targets are.
    pub fn describe(self) -> &'static str {
        match self {
            TargetRule::NewTracks => {
                "the held-out tracks that are not in the user's input (tracks the user went on \
                 to discover); a held-out event that replays an input track is no target, since \
                 input tracks are left out of every ranking"
            }
            TargetRule::AllHeldOutTracks => {
                "every track with a held-out event, replays of input tracks included (input \
                 tracks may be recommended)"
            }
            TargetRule::HeldOutTracks => {
                "the held-out tracks (a track is wholly input or wholly held out)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_track_is_a_target_only_without_exclusion() {
        // Held out and also in the input: a replay.
        assert!(!is_target(3, 2, true));
        assert!(is_target(3, 2, false));
        // Held out only.
        assert!(is_target(0, 1, true));
        assert!(is_target(0, 1, false));
        // Input only, or nothing held out.
        assert!(!is_target(5, 0, true));
        assert!(!is_target(5, 0, false));
    }

    #[test]
    fn rules_follow_the_protocol_and_the_exclusion() {
        assert_eq!(TargetRule::new(true, true), TargetRule::NewTracks);
        assert_eq!(TargetRule::new(true, false), TargetRule::AllHeldOutTracks);
        assert_eq!(TargetRule::new(false, true), TargetRule::HeldOutTracks);
        assert_eq!(TargetRule::new(false, false), TargetRule::HeldOutTracks);
        assert!(TargetRule::NewTracks
            .describe()
            .contains("not in the user's input"));
    }
}
