//! OCSF output validated against the official OCSF JSON schema (`tests/ocsf/validate.py`,
//! Python packages `ocsf-json-schema` and `jsonschema`; `.ci/run` installs them and sets
//! `OCSF_PYTHON`).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::util::{demo_json, run, run_with_stdin, skip_unless_ci};

/// The Python that has the validator's packages, or `None` (skip) outside CI.
pub fn python() -> Option<String> {
    let python = std::env::var("OCSF_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import ocsf_json_schema, jsonschema"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(python)
    } else {
        skip_unless_ci("python3 with ocsf-json-schema and jsonschema", ".ci/run installs them into a venv");
        None
    }
}

/// Validate NDJSON OCSF events; returns the validator's summary.
pub fn validate(python: &str, events: &[u8]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocsf/validate.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("validator starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = events.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("validator finishes");
    writer.join().unwrap().expect("events written to the validator");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("validator prints a JSON summary");
    assert_eq!(summary["invalid"], json!(0), "OCSF schema violations: {summary:#}");
    assert!(out.status.success(), "validator failed: {summary}");
    summary
}

#[test]
fn a_demo_week_validates_and_uses_every_class() {
    let Some(python) = python() else { return };
    let out = run(&["export", "--format", "ocsf", "--range", "2026-08-03..2026-08-09"]).ok();
    let summary = validate(&python, &out.stdout);
    assert_eq!(summary["events"], json!(out.lines().len()));
    for class in ["3001", "3002", "3004", "6003"] {
        assert!(summary["classes"][class].as_u64().unwrap_or(0) > 0, "no class {class}: {summary}");
    }
    // Flow pause and resume are Entity Management Suspend and Resume.
    for t in ["300412", "300413", "300101", "300299", "600399"] {
        assert!(summary["types"][t].as_u64().unwrap_or(0) > 0, "no type_uid {t}: {summary}");
    }
    // Splunk HEC around OCSF carries exactly the same events.
    let hec = run(&["export", "--format", "hec-ocsf", "--range", "2026-08-03..2026-08-09"]).ok();
    let inner: Vec<Value> =
        hec.lines().iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone()).collect();
    let plain: Vec<Value> = out.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(inner == plain, "hec-ocsf events differ from ocsf events");
}

/// One event of each name in the demo data, then variants that stress the mapping: failures,
/// unknown and rare names, missing actor and target, addresses that are not IPs, model data
/// without a provider.
fn variants() -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    let base: Vec<Value> =
        demo_json().iter().filter(|e| seen.insert(e["event_name"].as_str().unwrap().to_string())).cloned().collect();
    let mut out = base.clone();
    let names = [
        "user_blocked",
        "user_impersonation",
        "user_email_address_updated",
        "authenticated_with_ldap",
        "authenticated_with_group_saml",
        "password_reset_failed",
        "custom_admin_role_assigned_to_user",
        "audit_event_streaming_destination_deleted",
        "gitlab.api.get_issue",
        "gitlab.api.delete_branch",
        "git.fetch",
        "duo_flow_cancelled",
        "a_name_nobody_has_seen",
    ];
    for (i, ev) in base.iter().enumerate() {
        let mut v = ev.clone();
        v["outcome"] = json!("failure");
        v["ip_address"] = json!(if i % 2 == 0 { "unknown" } else { "2001:db8::7" });
        v["event_name"] = json!(names[i % names.len()]);
        v["origin"]["native_id"] = json!(format!("variant-{i}"));
        let o = v.as_object_mut().unwrap();
        match i % 4 {
            0 => {
                o.remove("target");
                o.remove("scope");
            }
            1 => {
                o.insert("actor".into(), json!({"class": "unknown"}));
                o.remove("on_behalf_of");
            }
            2 => {
                o.insert("ai".into(), json!({"model_engine": "m-1", "input_tokens": 3}));
            }
            _ => {
                o.insert("ai".into(), json!({"agent_name": "a", "duration_ms": 1500}));
            }
        }
        out.push(v);
    }
    out
}

#[test]
fn every_event_shape_validates() {
    let Some(python) = python() else { return };
    let input: Vec<u8> = variants().iter().flat_map(|v| format!("{v}\n").into_bytes()).collect();
    let out = run_with_stdin(&["export", "--format", "ocsf", "--source", "-"], &input).ok();
    let summary = validate(&python, &out.stdout);
    assert_eq!(summary["events"], json!(variants().len()));
}
