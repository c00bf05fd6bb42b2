//! The `archetype` command line, as a user meets it.

use std::process::Command;

fn archetype() -> Command {
    Command::new(env!("CARGO_BIN_EXE_archetype"))
}

#[test]
fn generate_writes_the_lfm_files_and_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let o = archetype()
        .args(["generate", "--events", "50000", "--seed", "9", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "LFM-1b_LEs.txt",
        "LFM-1b_users.txt",
        "LFM-1b_tracks.txt",
        "LFM-1b_artists.txt",
        "ground_truth.json",
    ] {
        assert!(tmp.path().join(f).exists(), "{f} missing");
    }
    let events = std::fs::read_to_string(tmp.path().join("LFM-1b_LEs.txt")).unwrap();
    assert_eq!(events.lines().count(), 50_000);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["events_written"], 50_000);
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("job.toml");
    std::fs::write(
        &cfg,
        "[input]\nevents = [\"x\"]\nusers = \"y\"\n[filter]\nmin_trak_les = 3\n",
    )
    .unwrap();
    let o = archetype()
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("job.toml") && err.contains("min_trak_les"),
        "{err}"
    );

    let o = archetype()
        .args(["run", "--config"])
        .arg(tmp.path().join("absent.toml"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("absent.toml"));
}
