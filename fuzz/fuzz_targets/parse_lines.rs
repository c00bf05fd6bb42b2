//! Every line of any input goes through every LFM-1b row parser: none may panic, and an
//! accepted listening event, written back in the file's layout, parses to the same event.
#![no_main]

use archetype_lfm::parse::{
    is_users_header, parse_artist, parse_event, parse_track, parse_user, TimeWindow,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let _ = is_users_header(line);
        let _ = parse_user(line);
        let _ = parse_track(line);
        let _ = parse_artist(line);
        for window in [TimeWindow::default(), TimeWindow { min: 0, max: u32::MAX }] {
            if let Ok(e) = parse_event(line, window) {
                let again = format!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.user, e.artist, e.album, e.track, e.timestamp
                );
                assert_eq!(parse_event(again.as_bytes(), window), Ok(e));
                assert!(e.timestamp >= window.min && e.timestamp <= window.max);
            }
        }
    }
});
