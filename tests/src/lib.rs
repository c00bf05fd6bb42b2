//! End-to-end tests live in tests/tests/; this library holds what they share.

use std::path::{Path, PathBuf};

/// A workspace binary (`archetype`, `archetype-worker`) of the build the tests run in.
pub fn bin(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; the workspace binaries one level up.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} missing: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}
