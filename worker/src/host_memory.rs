//! The memory this worker can count on, as it reports it at registration: the coordinator's
//! memory plan compares it with what a phase will need.

/// The lower of the host's `MemAvailable` and the room left under this process's cgroup
/// limit (a container sees the host's `/proc/meminfo`, not its own limit). Falls back to
/// `fallback` (the host's total) when neither can be read, e.g. off Linux.
pub fn available_bytes(fallback: u64) -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_available(&t));
    let cgroup = cgroup_room(
        read("/sys/fs/cgroup/memory.max")
            .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes")),
        read("/sys/fs/cgroup/memory.current")
            .or_else(|| read("/sys/fs/cgroup/memory/memory.usage_in_bytes")),
    );
    lower(meminfo, cgroup).unwrap_or(fallback)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn lower(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut parts = line["MemAvailable:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// Bytes left under a cgroup limit: `None` without a limit (`max` in v2; v1 writes a number
/// near `i64::MAX` instead, far above any host).
pub fn cgroup_room(limit: Option<String>, usage: Option<String>) -> Option<u64> {
    let limit: u64 = limit?.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let used: u64 = usage.and_then(|u| u.trim().parse().ok()).unwrap_or(0);
    Some(limit.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available_in_bytes() {
        let t = "MemTotal:       65536000 kB\nMemFree:  1000 kB\nMemAvailable:   23400000 kB\n";
        assert_eq!(mem_available(t), Some(23_400_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn cgroup_limit_counts_only_when_set() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(cgroup_room(s("max\n"), s("100")), None);
        assert_eq!(cgroup_room(s("9223372036854771712\n"), s("100")), None);
        assert_eq!(cgroup_room(s("4000\n"), s("1000\n")), Some(3000));
        assert_eq!(cgroup_room(s("4000"), None), Some(4000));
        assert_eq!(cgroup_room(None, s("1")), None);
    }

    #[test]
    fn the_lower_of_the_two_wins() {
        assert_eq!(lower(Some(5), Some(3)), Some(3));
        assert_eq!(lower(None, Some(3)), Some(3));
        assert_eq!(lower(Some(5), None), Some(5));
        assert_eq!(lower(None, None), None);
        assert!(available_bytes(7) > 0);
    }
}
