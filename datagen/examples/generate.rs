//! Writes a data set from the command line, for inspection and timing:
//!
//! ```text
//! cargo run --release -p archetype-datagen --example generate -- OUT_DIR EVENTS [SEED] [ENCODING] [THREADS]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use archetype_datagen::{generate, GeneratorConfig, OutputEncoding};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        eprintln!("usage: generate OUT_DIR [EVENTS] [SEED] [ENCODING] [THREADS]");
        return ExitCode::from(2);
    };
    let num = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let encoding = match args.get(3).map(|s| s.parse::<OutputEncoding>()) {
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        None => OutputEncoding::Plain,
    };
    let cfg = GeneratorConfig {
        events: num(1, 1_000_000),
        seed: num(2, 42),
        encoding,
        threads: num(4, 0) as usize,
        ..GeneratorConfig::default()
    };
    let started = Instant::now();
    match generate(&cfg, &out, true) {
        Ok(summary) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{} events, {} users, {} tracks in {secs:.2}s",
                summary.events_written, summary.users, summary.tracks
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generation failed: {e}");
            ExitCode::FAILURE
        }
    }
}
