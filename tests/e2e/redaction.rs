//! Redaction of secrets and personal data in what leaves the tool: prompt fields by default,
//! every free-text field with --redact-all, nothing (loudly) with --no-redact; replacements
//! keyed, stable across events, different under another key.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{run, write};

const TOKEN: &str = "glpat-Xq7vR2mN9pL4kT8wZ3yB";
const AWS: &str = "AKIAQ3EGRT7VXKMB2N5P";

/// `[REDACTED:KIND:HASH]` computed here, independently of the tool: HMAC-SHA-256 keyed with
/// the SHA-256 of the key file.
fn expected(key_file: &[u8], kind: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&Sha256::digest(key_file)).unwrap();
    mac.update(secret.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("[REDACTED:{kind}:{:02x}{:02x}]", tag[0], tag[1])
}

fn events(dir: &std::path::Path) -> std::path::PathBuf {
    let log = dir.join("audit_json.log");
    let lines = [
        serde_json::json!({"time": "2026-10-01T00:00:00Z", "author_id": 7, "author_name": "jane@example.com",
            "event_name": "duo_flow_started", "custom_message": "call +44 20 7946 0958",
            "input_prompt": format!("deploy with {TOKEN} please"), "plan_summary": format!("rotate {AWS}"),
            "target_details": "owner bob@example.com"}),
        serde_json::json!({"time": "2026-10-01T00:01:00Z", "author_id": 7, "event_name": "duo_flow_started",
            "decisions_log": [{"step": format!("used {TOKEN}")}]}),
    ];
    write(&log, &lines.iter().map(|l| format!("{l}\n")).collect::<String>());
    log
}

fn export(log: &std::path::Path, extra: &[&str]) -> (Vec<Value>, String) {
    let mut args = vec!["export", "--source", log.to_str().unwrap(), "--format", "json", "--no-chain"];
    args.extend_from_slice(extra);
    let r = run(&args).ok();
    (r.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect(), r.stderr)
}

#[test]
fn prompt_fields_by_default_every_field_with_redact_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = events(dir.path());
    let key_path = dir.path().join("redact.key");
    let key = b"a key of thirty-two bytes, fixed";
    std::fs::write(&key_path, key).unwrap();
    let k = key_path.to_str().unwrap();

    let (out, stderr) = export(&log, &["--redact-key", k]);
    let token = expected(key, "gitlab_token", TOKEN);
    assert_eq!(out[0]["details"]["input_prompt"], format!("deploy with {token} please"));
    assert_eq!(out[0]["details"]["plan_summary"], format!("rotate {}", expected(key, "aws_access_key", AWS)));
    assert_eq!(out[1]["details"]["decisions_log"][0]["step"], format!("used {token}"), "same secret, same mark");
    // Not prompt fields: left alone by default.
    assert_eq!(out[0]["message"], "call +44 20 7946 0958");
    assert_eq!(out[0]["actor"]["name"], "jane@example.com");
    assert!(
        stderr.contains("redacted 3 secrets or pieces of personal data (gitlab_token 2, aws_access_key 1)"),
        "{stderr}"
    );

    let (all, _) = export(&log, &["--redact-all", "--redact-key", k]);
    assert_eq!(all[0]["message"], format!("call {}", expected(key, "phone_number", "+44 20 7946 0958")));
    assert_eq!(all[0]["details"]["custom_message"], all[0]["message"]);
    assert_eq!(all[0]["actor"]["name"], expected(key, "email", "jane@example.com"));
    assert_eq!(all[0]["target"]["details"], format!("owner {}", expected(key, "email", "bob@example.com")));
    assert_eq!(all[0]["details"]["input_prompt"], out[0]["details"]["input_prompt"]);

    // Another key, other marks; the default key (STATE_DIR/redact.key) is used when none is given.
    std::fs::write(dir.path().join("other.key"), b"another key of 32 bytes, fixed..").unwrap();
    let (other, _) = export(&log, &["--redact-key", dir.path().join("other.key").to_str().unwrap()]);
    assert_ne!(other[0]["details"]["input_prompt"], out[0]["details"]["input_prompt"]);
    let (default_key, _) = export(&log, &[]);
    let (again, _) = export(&log, &["--redact"]);
    assert_eq!(default_key, again, "the generated key is kept");
    assert!(default_key[0]["details"]["input_prompt"]
        .as_str()
        .unwrap()
        .starts_with("deploy with [REDACTED:gitlab_token:"));

    let (raw, stderr) = export(&log, &["--no-redact"]);
    assert_eq!(raw[0]["details"]["input_prompt"], format!("deploy with {TOKEN} please"));
    assert!(stderr.contains("--no-redact: secrets and personal data"), "{stderr}");
}

#[test]
fn bad_keys_and_conflicting_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = events(dir.path());
    let short = dir.path().join("short.key");
    std::fs::write(&short, b"123").unwrap();
    let with_key = |key: &std::path::Path| {
        run(&["export", "--source", log.to_str().unwrap(), "--format", "json", "--redact-key", key.to_str().unwrap()])
    };
    let r = with_key(&short);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("holds 3 bytes; it needs 16 or more"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing leaves before the key is good");
    let missing = dir.path().join("missing.key");
    let r = with_key(&missing);
    assert!(r.stderr.contains("cannot read the redaction key") && r.stderr.contains("--redact-key"), "{}", r.stderr);
    let r = run(&["export", "--source", log.to_str().unwrap(), "--format", "json", "--redact-all", "--no-redact"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

/// The demo data plants secrets in prompts: none leaves an export, `sessions show` or `trace`
/// in clear; a scan of the output by the detector finds nothing in the prompt fields.
#[test]
fn demo_prompts_leave_redacted_everywhere() {
    let raw = run(&["export", "--format", "json", "--no-chain", "--no-redact"]).ok().lines();
    let red = run(&["export", "--format", "json", "--no-chain"]).ok().lines();
    assert_eq!(raw.len(), red.len());
    let prompts = |line: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(line).unwrap();
        compliance_report::secrets::PROMPT_KEYS
            .iter()
            .filter_map(|k| v["details"].get(*k))
            .map(Value::to_string)
            .collect()
    };
    let mut planted = Vec::new();
    for (r, d) in raw.iter().zip(&red) {
        let hits: Vec<String> = prompts(r)
            .iter()
            .flat_map(|p| {
                let text: String = serde_json::from_str::<Value>(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| p.clone());
                compliance_report::secrets::scan(&text).into_iter().map(move |m| text[m.start..m.end].to_string())
            })
            .collect();
        if hits.is_empty() {
            assert_eq!(r, d, "events without findings are unchanged");
            continue;
        }
        for p in prompts(d) {
            assert!(compliance_report::secrets::scan(&p).is_empty(), "left in {p}");
        }
        for h in &hits {
            assert!(!d.contains(h.as_str()), "{h} left in {d}");
        }
        assert!(d.contains("[REDACTED:"));
        let v: Value = serde_json::from_str(d).unwrap();
        if let Some(s) = v["details"]["session_id"].as_str().or(v["ai"]["session_id"].as_str()) {
            planted.push((s.to_string(), hits));
        }
    }
    assert!(planted.len() >= 3, "the demo plants secrets in prompts: {}", planted.len());
    let (session, hits) = &planted[0];
    for format in ["text", "json", "html"] {
        let shown = run(&["sessions", "show", session, "--format", format]).ok().stdout_text();
        // (The text form cuts the input to one line, which may end before the mark.)
        assert!(format == "text" || shown.contains("[REDACTED:"), "{format}: {shown}");
        for h in hits {
            assert!(!shown.contains(h.as_str()), "{format}: {h} shown in clear");
        }
    }
}
