//! One NDJSON line, as the file source reads it: never a panic; a recognized event encodes in
//! every format, and the tool's own JSON export of it reads back to the same bytes.
#![no_main]

use compliance_report::encode::cef::{CefConfig, CefEncoder};
use compliance_report::encode::json::JsonEncoder;
use compliance_report::encode::Encoder;
use compliance_report::model::catalog::SeverityTable;
use compliance_report::sources::shapes::recognize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(ev) = recognize(obj) else { return };
    let mut cef = Vec::new();
    CefEncoder::new(CefConfig::default(), SeverityTable::default()).encode(&ev, &mut cef);
    assert!(!cef.contains(&b'\n') && !cef.contains(&b'\r'), "a CEF record is one line");
    let mut json = Vec::new();
    JsonEncoder.encode(&ev, &mut json);
    assert!(!json.contains(&b'\n'), "a JSON record is one line");
    let serde_json::Value::Object(back) = serde_json::from_slice(&json).expect("our JSON parses") else {
        panic!("our JSON is an object")
    };
    let again = recognize(back).expect("our export is recognized");
    let mut json2 = Vec::new();
    JsonEncoder.encode(&again, &mut json2);
    assert_eq!(json, json2, "an export reads back losslessly");
});
