//! From a job config to shards, and from shards to members.

pub use archetype_job::plan::{plan_shards, PlanError};
use archetype_lfm::shard::ShardSpec;

/// Work of a shard for balancing: bytes for text, an estimate for row groups.
fn weight(s: &ShardSpec) -> u64 {
    match s.encoding {
        archetype_lfm::shard::Encoding::Parquet => {
            let groups = (s.end - s.start).max(1);
            s.file_size / groups.max(1) * groups
        }
        _ => s.end - s.start,
    }
}

/// Assigns shards to `members` by longest-processing-time first: each shard, largest first,
/// goes to the least-loaded member. Deterministic for a given plan and member count.
pub fn assign(shards: &[ShardSpec], members: usize) -> Vec<Vec<ShardSpec>> {
    let mut order: Vec<&ShardSpec> = shards.iter().collect();
    order.sort_by(|a, b| weight(b).cmp(&weight(a)).then(a.id.cmp(&b.id)));
    let mut load = vec![0u64; members.max(1)];
    let mut out: Vec<Vec<ShardSpec>> = vec![Vec::new(); members.max(1)];
    for s in order {
        let (m, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        load[m] += weight(s).max(1);
        out[m].push(s.clone());
    }
    for o in &mut out {
        o.sort_by_key(|s| s.id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use archetype_lfm::shard::{Encoding, FileKind};

    fn shard(id: u32, size: u64) -> ShardSpec {
        ShardSpec {
            id,
            url: "file:///x".into(),
            path: "x".into(),
            kind: FileKind::Events,
            encoding: Encoding::Plain,
            start: 0,
            end: size,
            file_size: size,
        }
    }

    #[test]
    fn every_shard_goes_to_exactly_one_member_and_load_is_balanced() {
        let shards: Vec<ShardSpec> = (0..37)
            .map(|i| shard(i, 100 + u64::from(i % 5) * 10))
            .collect();
        for members in 1..6 {
            let a = assign(&shards, members);
            assert_eq!(a.len(), members);
            let mut ids: Vec<u32> = a.iter().flatten().map(|s| s.id).collect();
            ids.sort_unstable();
            assert_eq!(ids, (0..37).collect::<Vec<_>>());
            let loads: Vec<u64> = a.iter().map(|m| m.iter().map(|s| s.end).sum()).collect();
            let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            assert!(max - min <= 140, "unbalanced: {loads:?}");
            assert_eq!(assign(&shards, members), a, "not deterministic");
        }
    }
}
