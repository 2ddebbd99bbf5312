//! Any record bytes in an RFC 5424 message with octet-counting framing: the frame reads back as
//! exactly one message ending with the record; with LF framing, one line. A RELP frame of it
//! reads back to the same data.
#![no_main]

use compliance_report::sinks::relp::{read_frame, write_frame};
use compliance_report::sinks::syslog::{format_message, SyslogConfig};
use compliance_report::sinks::RecordMeta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = SyslogConfig::parse("syslog+tcp://127.0.0.1:514?hostname=fuzz").unwrap();
    let t = compliance_report::model::time::parse("2026-10-01T00:00:00Z").unwrap();
    let name = String::from_utf8_lossy(&data[..data.len().min(40)]).into_owned();
    let meta = RecordMeta::new(t, data.first().map_or(0, |b| b % 11), &name);
    let mut msg = Vec::new();
    format_message(&mut msg, &cfg, &meta, data);
    assert!(msg.ends_with(data));
    assert!(msg.starts_with(b"<"));
    // Octet counting: LEN SP MSG, one message whatever MSG holds.
    let frame = [format!("{} ", msg.len()).into_bytes(), msg.clone()].concat();
    let sp = frame.iter().position(|b| *b == b' ').unwrap();
    let len: usize = std::str::from_utf8(&frame[..sp]).unwrap().parse().unwrap();
    assert_eq!(&frame[sp + 1..sp + 1 + len], &msg[..]);
    assert_eq!(sp + 1 + len, frame.len(), "nothing after the one message");
    // The header before MSG holds no line break (the fields are sanitized).
    let header = &msg[..msg.len() - data.len()];
    assert!(!header.contains(&b'\n'), "header {:?}", String::from_utf8_lossy(header));
    // RELP.
    let mut out = Vec::new();
    write_frame(&mut out, 7, "syslog", &msg);
    let f = read_frame(&mut std::io::Cursor::new(out)).unwrap();
    assert_eq!((f.txnr, f.command.as_str(), f.data), (7, "syslog", msg));
});
