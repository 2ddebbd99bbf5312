//! GitLab's `details` column (YAML-serialized Ruby hashes, or JSON): never a panic, bounded work
//! (aliases count their full size), and a parsed hash serializes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (map, why) = compliance_report::sources::details::parse_or_raw(text);
    if why.is_some() {
        assert_eq!(map.len(), 1, "unparseable details are kept verbatim under one key");
    }
    serde_json::to_string(&map).expect("details serialize");
});
