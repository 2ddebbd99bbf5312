//! Service accounts: provisioning bursts (3 or more service accounts provisioned by one actor
//! within 10 minutes), service accounts that act without ever having been provisioned in the
//! data, and scope widening (an agent session authorized with scopes the initiating user never
//! had in the baseline and fewer than 1% of baseline sessions had). False positives: bulk
//! onboarding, service accounts provisioned before the baseline window (widen `--baseline`),
//! a new flow that legitimately needs more scopes.

use std::collections::{BTreeMap, BTreeSet};

use super::dataset::SCOPE_SEP;
use super::failures::densest;
use super::store::{in_order, Filter, Key};
use super::{Draft, Heuristic, Input, Window};

pub struct ServiceAccounts;

const BURST: usize = 3;
const BURST_WINDOW: i64 = 600_000_000;

/// Whether an event provisions a service account.
pub fn is_provisioning(name: &str) -> bool {
    name.contains("service_account") && (name.ends_with("_provisioned") || name.ends_with("_created"))
}

/// Whether a line of JSON may hold an event that [provisions](is_provisioning) a service
/// account, from its bytes. Without a `\\u` escape (the only way JSON can spell letters other
/// than as themselves), such a name is written as it reads: the line holds `service_account`,
/// and a text ending `_provisioned` or `_created` — the quote that closes it not followed by a
/// colon, as a key's is.
pub fn may_provision(line: &[u8]) -> bool {
    use memchr::memmem::Finder;
    // Built once: building a finder costs more than a search of a line.
    static FINDERS: std::sync::LazyLock<[Finder<'static>; 4]> = std::sync::LazyLock::new(|| {
        [&b"\\u"[..], b"service_account", b"_provisioned\"", b"_created\""].map(Finder::new)
    });
    let [escape, name, provisioned, created] = &*FINDERS;
    let ends_a_text = |end: &Finder| {
        end.find_iter(line).any(|at| {
            let after = &line[at + end.needle().len()..];
            after.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b':')
        })
    };
    escape.find(line).is_some() || name.find(line).is_some() && (ends_a_text(provisioned) || ends_a_text(created))
}

impl Heuristic for ServiceAccounts {
    fn name(&self) -> &'static str {
        "service_accounts"
    }

    fn description(&self) -> &'static str {
        "service-account provisioning bursts, unprovisioned service accounts acting, sessions with widened scopes"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let data = input.data;
        let whole = Window { from: input.baseline.from, to: input.range.to };
        let mut out = Vec::new();
        // Provisioning bursts, and every account ever provisioned.
        let mut provisioned: BTreeSet<String> = BTreeSet::new();
        let mut by_actor: BTreeMap<String, Vec<(i64, usize)>> = BTreeMap::new();
        let rows = in_order(data, data.rows(&[Filter::Provisioning], &whole));
        let targets: BTreeMap<usize, String> = rows.iter().map(|(i, r)| (*i, r.extra().target.to_string())).collect();
        for (i, r) in &rows {
            provisioned.insert(r.extra().target.to_string());
            if input.range.contains_micros(r.time()) {
                by_actor.entry(r.principal().to_string()).or_default().push((r.time(), *i));
            }
        }
        for (actor, times) in by_actor {
            let (n, lo, hi) = densest(&times, BURST_WINDOW);
            if n < BURST {
                continue;
            }
            let rows: Vec<usize> = times[lo..hi].iter().map(|(_, i)| *i).collect();
            out.push(Draft {
                severity: 7,
                actor,
                value: format!("{} service accounts provisioned within 10 minutes", rows.len()),
                threshold: format!("{BURST} or more within 10 minutes"),
                explanation: format!("This actor created {} service accounts in a few minutes.", rows.len()),
                values: rows.iter().map(|i| targets[i].clone()).collect(),
                rows,
                ..Draft::default()
            });
        }
        // Service accounts acting in the range without a provisioning event.
        let known = &input.settings.provisioned;
        if !provisioned.is_empty() || !known.is_empty() {
            for g in data.group(&[Key::Actor], &[Filter::ServiceAccount], &input.range) {
                let sa = g.text(0);
                if sa.is_empty() || provisioned.contains(sa) || known.contains(sa) {
                    continue;
                }
                out.push(Draft {
                    severity: 8,
                    actor: sa.to_string(),
                    value: format!("{} events by an unprovisioned service account", g.count),
                    threshold: "no provisioning event for this account in baseline or range".into(),
                    explanation: "A service account acted for users although nobody is recorded provisioning it."
                        .into(),
                    values: vec![sa.to_string()],
                    rows: data.rows(&[Filter::Actor(sa.to_string()), Filter::ServiceAccount], &input.range),
                    ..Draft::default()
                });
            }
        }
        // Scope widening: scopes of range sessions that the user never had in the baseline and
        // that fewer than 1% of baseline sessions had.
        let base_sessions = data.group(&[], &[Filter::Starts], &input.baseline).first().map_or(0, |g| g.count);
        if base_sessions == 0 {
            return out;
        }
        let global = data.group(&[Key::Scope], &[Filter::Starts], &input.baseline);
        let common: BTreeSet<&str> =
            global.iter().filter(|g| g.count as f64 >= 0.01 * base_sessions as f64).map(|g| g.text(0)).collect();
        let rare: Vec<String> = data
            .group(&[Key::Scope], &[Filter::Starts], &input.range)
            .into_iter()
            .filter(|g| !common.contains(g.text(0)))
            .map(|g| g.text(0).to_string())
            .collect();
        if rare.is_empty() {
            return out;
        }
        let mut own: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for g in data.group(&[Key::Principal, Key::Scope], &[Filter::Starts], &input.baseline) {
            own.entry(g.text(0).to_string()).or_default().insert(g.text(1).to_string());
        }
        let starts = in_order(data, data.rows(&[Filter::Starts, Filter::AnyScope(rare.clone())], &input.range));
        for (start, r) in starts {
            let mine = own.get(r.principal());
            let wider: Vec<String> = r
                .extra()
                .scopes
                .split(SCOPE_SEP)
                .filter(|sc| rare.iter().any(|x| x == sc))
                .filter(|sc| mine.is_none_or(|m| !m.contains(*sc)))
                .map(str::to_string)
                .collect();
            if wider.is_empty() {
                continue;
            }
            out.push(Draft {
                severity: 7,
                actor: r.principal().to_string(),
                value: format!("scopes {}", wider.join(", ")),
                threshold: "scopes this user never had in the baseline and fewer than 1% of baseline sessions had"
                    .into(),
                explanation: format!(
                    "An agent session was authorized with unusual extra permissions: {}.",
                    wider.join(", ")
                ),
                values: wider,
                sessions: vec![r.fact.session.to_string()],
                rows: vec![start],
                ..Draft::default()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line whose event provisions a service account passes the test of its bytes.
    #[test]
    fn lines_that_may_provision() {
        let name = |line: &str| -> String {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["event_name"].as_str().unwrap().to_string()
        };
        for line in [
            r#"{"event_name":"service_account_created"}"#,
            r#"{"event_name":"duo_service_account_provisioned"}"#,
            r#"{"event_name":"service\u005faccount_created"}"#,
            r#"{"event_name":"\u0073ervice_account_created"}"#,
            r#"{"x_created":1,"event_name" : "service_account_created" ,"service_account_created":0}"#,
        ] {
            assert!(is_provisioning(&name(line)), "{line}");
            assert!(may_provision(line.as_bytes()), "{line}");
        }
        for line in [
            r#"{"event_name":"user_created"}"#,
            r#"{"event_name":"service account created"}"#,
            r#"{"event_name":"duo_flow_started","author_user_type":"service_account","resources_created" : 2}"#,
            r#"{"event_name":"service_account_created_by"}"#,
        ] {
            assert!(!is_provisioning(&name(line)), "{line}");
            assert!(!may_provision(line.as_bytes()), "{line}");
        }
    }
}
