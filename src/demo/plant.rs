//! The suspicious patterns planted in the demo data, each recorded in the ground truth.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::json;

use super::{org, ts, Anomaly, Auth, End, Gen, SessionPlan};
use crate::model::time;

/// The first Monday–Friday date on or after `d`.
pub fn weekday_on_or_after(mut d: NaiveDate) -> NaiveDate {
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += Duration::days(1);
    }
    d
}

fn last_sunday_before(d: NaiveDate) -> NaiveDate {
    let mut d = d - Duration::days(1);
    while d.weekday() != Weekday::Sun {
        d -= Duration::days(1);
    }
    d
}

/// Users the anomalies are planted on (indexes into the user list; ids are 1001 + index).
const OFF_HOURS_USER: usize = 41;
const SPIKE_USER: usize = 76;
const FAILING_USER: usize = 12;
const NEW_IP_USER: usize = 19;
const WIDE_SCOPE_USER: usize = 30;
const NEW_IP: &str = "203.0.113.66";
const HMAC_ATTACKER_IP: &str = "198.51.100.23";

fn id(g: &Gen, u: usize) -> String {
    g.users[u].id.to_string()
}

/// Run one session per user in `users` at a usual time of `date`, each plan adjusted by `tweak`;
/// return the session ids and the users' ids.
fn planted_sessions(
    g: &mut Gen,
    date: NaiveDate,
    users: &[usize],
    tweak: impl Fn(usize, &mut SessionPlan),
) -> (Vec<String>, Vec<String>) {
    let mut sessions = Vec::new();
    let mut actors = Vec::new();
    for (i, &u) in users.iter().enumerate() {
        let t = g.user_time(date, u);
        let mut plan = g.natural_plan(u, t);
        plan.end = End::Natural;
        tweak(i, &mut plan);
        sessions.push(g.session(plan));
        actors.push(id(g, u));
    }
    (sessions, actors)
}

/// Plant what belongs on `date` (relative to the end of the period).
pub(crate) fn on_day(g: &mut Gen, date: NaiveDate) {
    let end = g.cfg.end;
    if date == last_sunday_before(end - Duration::days(3)) {
        off_hours_burst(g, date);
    }
    let spike_day = weekday_on_or_after(end - Duration::days(12));
    if date == spike_day || date == weekday_on_or_after(spike_day + Duration::days(1)) {
        volume_spike(g, date, date == spike_day);
    }
    if date == weekday_on_or_after(end - Duration::days(20)) {
        unauthorized_sessions(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(15)) {
        secrets_in_prompts(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(11)) {
        token_outliers(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(18)) {
        shadow_service_account(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(5)) {
        failure_burst(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(4)) {
        hmac_failure_burst(g, date);
    }
    if date == end - Duration::days(2) {
        new_ip(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(6)) {
        scope_widening(g, date);
    }
    if date == end - Duration::days(1) {
        provisioning_burst(g, date);
    }
    if date == weekday_on_or_after(end - Duration::days(8)) {
        broken_lifecycles(g, date);
    }
}

fn off_hours_burst(g: &mut Gen, date: NaiveDate) {
    let u = OFF_HOURS_USER;
    let mut ids = Vec::new();
    let (from, to) = (ts(date, 2 * 3600), ts(date, 3 * 3600 + 1800));
    for i in 0..20 {
        let mut plan = g.natural_plan(u, from + Duration::seconds(i * 240));
        plan.end = End::Natural;
        plan.sa = &org::SERVICE_ACCOUNTS[0];
        ids.push(g.session(plan));
    }
    g.anomalies.push(Anomaly {
        kind: "off_hours_burst",
        description: format!("{} ran 20 agent sessions between 02:00 and 03:30 UTC on a Sunday", g.users[u].username),
        actor_ids: vec![id(g, u)],
        window: Some((time::format(&from), time::format(&to))),
        session_ids: ids,
        ..Anomaly::default()
    });
}

fn volume_spike(g: &mut Gen, date: NaiveDate, first: bool) {
    let u = SPIKE_USER;
    let mut ids = Vec::new();
    for _ in 0..12 {
        let t = g.user_time(date, u);
        let mut plan = g.natural_plan(u, t);
        plan.end = End::Natural;
        ids.push(g.session(plan));
    }
    for _ in 0..60 {
        let t = g.user_time(date, u);
        g.misc_event(t, u);
    }
    let day = (time::format(&ts(date, 0)), time::format(&ts(date + Duration::days(1), 0)));
    if first {
        g.anomalies.push(Anomaly {
            kind: "volume_spike",
            description: format!(
                "{}'s daily activity jumped about tenfold on two consecutive weekdays",
                g.users[u].username
            ),
            actor_ids: vec![id(g, u)],
            window: Some(day),
            session_ids: ids,
            ..Anomaly::default()
        });
    } else if let Some(a) = g.anomalies.iter_mut().rev().find(|a| a.kind == "volume_spike") {
        a.window = a.window.take().map(|(from, _)| (from, day.1));
        a.session_ids.extend(ids);
    }
}

fn unauthorized_sessions(g: &mut Gen, date: NaiveDate) {
    let (mut missing, actors) = planted_sessions(g, date, &[3, 27, 58, 88, 101, 64, 95], |i, plan| {
        plan.auth = if i < 5 { Auth::Missing } else { Auth::Late };
    });
    let late = missing.split_off(5);
    g.anomalies.push(Anomaly {
        kind: "session_without_authorization",
        description: "Agent sessions that started with no authorization record".into(),
        actor_ids: actors[..5].to_vec(),
        session_ids: missing,
        ..Anomaly::default()
    });
    g.anomalies.push(Anomaly {
        kind: "session_authorized_after_start",
        description: "Agent sessions whose authorization was verified only after they started".into(),
        actor_ids: actors[5..].to_vec(),
        session_ids: late,
        ..Anomaly::default()
    });
}

fn secrets_in_prompts(g: &mut Gen, date: NaiveDate) {
    let prompts = [
        ("gitlab_token", "Use token glpat-Xq7vR2mN9pL4kT8wZ3yB to push the release tag for acme/payments/api"),
        ("aws_access_key", "Deploy with AWS key AKIAQ3EGRT7VXKMB2N5P and secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("private_key", "Add this deploy key to the runner: -----BEGIN RSA PRIVATE KEY----- MIIEowIBAAKCAQEA7bq9 -----END RSA PRIVATE KEY-----"),
        ("personal_data", "Customer jane.doe@example.com reports card 4111 1111 1111 1111 was charged twice; fix the ledger entry"),
    ];
    for (i, (kind, prompt)) in prompts.into_iter().enumerate() {
        let u = [7usize, 44, 61, 90][i];
        let (sids, _) = planted_sessions(g, date, &[u], |_, plan| plan.prompt = Some(prompt.to_string()));
        g.anomalies.push(Anomaly {
            kind: "secret_in_prompt",
            description: format!("A {} was pasted into an agent prompt", kind.replace('_', " ")),
            actor_ids: vec![id(g, u)],
            session_ids: sids,
            values: vec![kind.to_string()],
            ..Anomaly::default()
        });
    }
}

fn token_outliers(g: &mut Gen, date: NaiveDate) {
    let (ids, actors) = planted_sessions(g, date, &[22, 83], |_, plan| plan.token_factor = 60);
    g.anomalies.push(Anomaly {
        kind: "token_outlier",
        description: "Agent sessions that used about sixty times the usual number of model tokens".into(),
        actor_ids: actors,
        session_ids: ids,
        ..Anomaly::default()
    });
}

fn shadow_service_account(g: &mut Gen, date: NaiveDate) {
    let (ids, _) = planted_sessions(g, date, &[5, 49, 70], |_, plan| plan.sa = &org::SHADOW_ACCOUNT);
    g.anomalies.push(Anomaly {
        kind: "unprovisioned_service_account",
        description: format!(
            "Service account {} acted for users but was never provisioned",
            org::SHADOW_ACCOUNT.username
        ),
        actor_ids: vec![org::SHADOW_ACCOUNT.id.to_string()],
        session_ids: ids,
        ..Anomaly::default()
    });
}

fn failure_burst(g: &mut Gen, date: NaiveDate) {
    let u = FAILING_USER;
    let from = g.avoid_gap(ts(date, 14 * 3600));
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut plan = g.natural_plan(u, from + Duration::seconds(i * 840));
        plan.sa = &org::SERVICE_ACCOUNTS[2];
        plan.end = End::Fail;
        ids.push(g.session(plan));
    }
    g.anomalies.push(Anomaly {
        kind: "failure_burst",
        description: format!("{} had 12 fix_pipeline sessions fail within three hours", g.users[u].username),
        actor_ids: vec![id(g, u)],
        window: Some((time::format(&from), time::format(&(from + Duration::hours(3))))),
        session_ids: ids,
        values: vec!["fix_pipeline".into()],
    });
}

fn hmac_failure_burst(g: &mut Gen, date: NaiveDate) {
    let from = g.avoid_gap(ts(date, 11 * 3600));
    for i in 0..25 {
        let t = from + Duration::seconds(i * 23);
        let corr = g.hex(32);
        g.agent_event(t, "webhook.hmac_validation", "webhook_event",
            json!({"resource_type": "webhook", "resource_id": "hook-101", "project": "acme/payments/api"}), "failure", &corr,
            json!({"source_ip": HMAC_ATTACKER_IP, "rejection_reason": "signature mismatch", "error": "X-Gitlab-Token HMAC does not match"}));
    }
    g.anomalies.push(Anomaly {
        kind: "hmac_failure_burst",
        description: format!(
            "25 webhook deliveries with invalid signatures from {HMAC_ATTACKER_IP} within ten minutes"
        ),
        window: Some((time::format(&from), time::format(&(from + Duration::minutes(10))))),
        values: vec![HMAC_ATTACKER_IP.into()],
        ..Anomaly::default()
    });
}

fn new_ip(g: &mut Gen, date: NaiveDate) {
    let u = NEW_IP_USER;
    let t = g.avoid_gap(ts(date, 22 * 3600 + 600));
    g.sign_in(t, u, Some(NEW_IP));
    g.anomalies.push(Anomaly {
        kind: "first_seen_ip",
        description: format!("{} signed in from an address never seen before", g.users[u].username),
        actor_ids: vec![id(g, u)],
        window: Some((time::format(&t), time::format(&(t + Duration::seconds(1))))),
        values: vec![NEW_IP.into()],
        ..Anomaly::default()
    });
}

fn scope_widening(g: &mut Gen, date: NaiveDate) {
    let u = WIDE_SCOPE_USER;
    let (ids, _) = planted_sessions(g, date, &[u], |_, plan| plan.extra_scopes = vec!["admin_mode", "sudo"]);
    g.anomalies.push(Anomaly {
        kind: "scope_widening",
        description: "An agent session was authorized with admin_mode and sudo on top of the usual scopes".into(),
        actor_ids: vec![id(g, u)],
        session_ids: ids,
        values: vec!["admin_mode".into(), "sudo".into()],
        ..Anomaly::default()
    });
}

fn provisioning_burst(g: &mut Gen, date: NaiveDate) {
    let admin = 2;
    let t0 = g.avoid_gap(ts(date, 16 * 3600 + 1200));
    let names = ["duo-bulk-sa-1", "duo-bulk-sa-2", "duo-bulk-sa-3", "duo-bulk-sa-4", "duo-bulk-sa-5"];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let sa = org::ServiceAccount {
            id: 5101 + i as i64,
            username: name,
            flow_type: "software_development",
            item_id: 310 + i as i64,
            item_name: "Software Development",
        };
        g.provision(t0 + Duration::seconds(i as i64 * 45), admin, &sa);
        ids.push(sa.id.to_string());
    }
    g.anomalies.push(Anomaly {
        kind: "service_account_provisioning_burst",
        description: format!("{} provisioned five service accounts within four minutes", g.users[admin].name),
        actor_ids: vec![id(g, admin)],
        window: Some((time::format(&t0), time::format(&(t0 + Duration::minutes(4))))),
        values: ids,
        ..Anomaly::default()
    });
}

fn broken_lifecycles(g: &mut Gen, date: NaiveDate) {
    let (stuck, _) = planted_sessions(g, date, &[15, 47, 99], |_, plan| {
        plan.sa = &org::SERVICE_ACCOUNTS[0];
        plan.end = End::Stuck;
    });
    g.anomalies.push(Anomaly {
        kind: "session_without_end",
        description: "Agent sessions that created resources but never completed or failed".into(),
        session_ids: stuck,
        ..Anomaly::default()
    });
    let (orphans, _) = planted_sessions(g, date, &[33, 77], |_, plan| {
        plan.sa = &org::SERVICE_ACCOUNTS[0];
        plan.emit_start = false;
    });
    g.anomalies.push(Anomaly {
        kind: "session_without_start",
        description: "Resources created by agent sessions that have no start event".into(),
        session_ids: orphans,
        ..Anomaly::default()
    });
}
