//! `demo generate`: deterministic, matches the checked-in copy, realistic, and consistent with
//! the session tables it writes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use compliance_report::model::session::SessionBuilder;
use compliance_report::model::{AuditEvent, FlowSession, FlowSessionResource};
use serde_json::Value;

use crate::util::{demo_json, demo_raw_json, run};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo");

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn generator_is_deterministic_and_matches_the_checked_in_copy() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    run(&["demo", "generate", "--out", a.to_str().unwrap(), "--gzip"]).ok();
    for file in [
        "events/agent_audit.log.gz",
        "events/audit_events_stream.ndjson.gz",
        "events/audit_json.log.gz",
        "tables/flow_sessions.ndjson.gz",
        "tables/flow_session_resources.ndjson.gz",
    ] {
        let fresh = gunzip(&a.join(file));
        let checked_in = gunzip(&Path::new(FIXTURES).join(file));
        assert!(fresh == checked_in, "{file} differs from the checked-in copy: regenerate with `compliance-report demo generate --out fixtures/demo --gzip`");
    }
    assert_eq!(
        std::fs::read(a.join("truth.json")).unwrap(),
        std::fs::read(Path::new(FIXTURES).join("truth.json")).unwrap()
    );
    let b = dir.path().join("b");
    run(&["demo", "generate", "--out", b.to_str().unwrap(), "--seed", "8", "--scale", "0.1"]).ok();
    let other = std::fs::read(b.join("events/audit_json.log")).unwrap();
    assert_ne!(other, gunzip(&a.join("events/audit_json.log.gz")), "another seed gives other data");
}

#[test]
fn demo_organisation_is_realistic() {
    let events = demo_json();
    let mut users = BTreeSet::new();
    let mut service_accounts = BTreeSet::new();
    let mut projects = BTreeSet::new();
    let mut days = BTreeSet::new();
    let mut names = BTreeMap::<&str, usize>::new();
    let mut formats = BTreeSet::new();
    for e in events {
        match e["actor"]["class"].as_str().unwrap() {
            "user" => {
                users.insert(e["actor"]["id"].as_str().unwrap());
            }
            "service_account" => {
                service_accounts.insert(e["actor"]["id"].as_str().unwrap());
            }
            _ => {}
        }
        if e["scope"]["type"] == "Project" {
            projects.insert(e["scope"]["path"].as_str().unwrap_or_default());
        }
        days.insert(&e["time"].as_str().unwrap()[..10]);
        *names.entry(e["event_name"].as_str().unwrap()).or_default() += 1;
        formats.insert(e["origin"]["format"].as_str().unwrap());
    }
    assert!(users.len() >= 100, "{} users", users.len());
    assert!(service_accounts.len() >= 5, "{service_accounts:?}");
    assert!(projects.len() >= 10, "{projects:?}");
    assert_eq!(days.len(), 90);
    assert_eq!(formats, BTreeSet::from(["agent_audit", "gitlab_audit_log", "gitlab_streaming"]));
    for name in [
        "duo_flow_started",
        "duo_flow_plan_generated",
        "duo_flow_paused",
        "duo_flow_resumed",
        "duo_flow_completed",
        "duo_flow_failed",
        "duo_flow_resource_created",
        "duo_flow_token_usage",
        "duo_service_account_provisioned",
        "webhook.hmac_validation",
        "git.push",
        "approval_gate.decision",
        "gitlab.api.post_mr_note",
        "login_failed_with_standard_authentication",
        "repository_git_operation",
    ] {
        assert!(names.get(name).copied().unwrap_or(0) > 0, "no {name} events");
    }
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join("truth.json")).unwrap()).unwrap();
    let kinds: BTreeSet<&str> =
        truth["anomalies"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for kind in
        ["off_hours_burst", "volume_spike", "session_without_authorization", "secret_in_prompt", "audit_stream_gap"]
    {
        assert!(kinds.contains(kind), "ground truth lacks {kind}: {kinds:?}");
    }
    // The planted outage really has no events.
    let gap = truth["anomalies"].as_array().unwrap().iter().find(|a| a["kind"] == "audit_stream_gap").unwrap();
    let (from, to) = (gap["window"][0].as_str().unwrap(), gap["window"][1].as_str().unwrap());
    assert!(!events.iter().any(|e| {
        let t = e["time"].as_str().unwrap();
        t >= from && t < to
    }));
}

fn read_table<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let data = gunzip(&Path::new(FIXTURES).join("tables").join(name));
    data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
}

#[test]
fn sessions_rebuilt_from_events_match_the_session_tables() {
    let mut builder = SessionBuilder::default();
    // The session tables hold the prompts as written.
    for e in demo_raw_json() {
        let ev: AuditEvent = serde_json::from_value(e.clone()).unwrap();
        builder.add(&ev);
    }
    let rebuilt: BTreeMap<String, (FlowSession, Vec<FlowSessionResource>)> =
        builder.finish().into_iter().map(|(s, r)| (s.session_id.clone(), (s, r))).collect();
    let sessions: Vec<FlowSession> = read_table("flow_sessions.ndjson.gz");
    let resources: Vec<FlowSessionResource> = read_table("flow_session_resources.ndjson.gz");
    assert_eq!(rebuilt.len(), sessions.len());
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join("truth.json")).unwrap()).unwrap();
    let no_start: BTreeSet<&str> = truth["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "session_without_start")
        .flat_map(|a| a["session_ids"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()))
        .collect();
    assert_eq!(no_start.len(), 2);
    for want in &sessions {
        let (got, got_resources) = &rebuilt[&want.session_id];
        let mut want_resources: Vec<_> =
            resources.iter().filter(|r| r.flow_session_id == want.session_id).cloned().collect();
        want_resources.sort_by(|a, b| (a.created_at, &a.resource_id).cmp(&(b.created_at, &b.resource_id)));
        assert_eq!(got_resources, &want_resources, "resources of {}", want.session_id);
        if no_start.contains(want.session_id.as_str()) {
            assert!(got.started_at > want.started_at, "a session without a start event starts at its first event");
            assert_eq!(got.authorization_verified_at, None);
            continue;
        }
        let mut expected = want.clone();
        // The tables keep fields the events do not carry.
        expected.input_context = None;
        assert_eq!(got, &expected, "session {}", want.session_id);
    }
}
