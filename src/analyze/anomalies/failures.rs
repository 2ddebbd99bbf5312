//! Failure bursts: many failures close together. Two kinds: agent flow failures
//! (`duo_flow_failed`) per actor and flow type within 3 hours, and authentication, signature
//! and HMAC failures per source (IP address, else actor) within 10 minutes. A burst is the
//! densest window of the range holding at least max(minimum, 3 × the densest window of the
//! baseline) failures (minimum 5 flow failures, 10 authentication failures). False positives:
//! an outage of a dependency (many actors at once), a misconfigured webhook secret.

use std::collections::BTreeMap;

use super::dataset::ts;
use super::store::{in_order, is_auth_failure, Filter, NameKind};
use super::{Draft, Heuristic, Input, Window};

pub struct FailureBursts;

/// The densest window of length `width` over sorted `times`: (count, start index, end index).
pub(super) fn densest(times: &[(i64, usize)], width: i64) -> (usize, usize, usize) {
    let (mut best, mut lo) = ((0, 0, 0), 0);
    for hi in 0..times.len() {
        while times[hi].0 - times[lo].0 >= width {
            lo += 1;
        }
        if hi + 1 - lo > best.0 {
            best = (hi + 1 - lo, lo, hi + 1);
        }
    }
    best
}

struct Kind {
    what: &'static str,
    width: i64,
    minimum: usize,
    severity: u8,
}

impl Heuristic for FailureBursts {
    fn name(&self) -> &'static str {
        "failure_burst"
    }

    fn description(&self) -> &'static str {
        "bursts of failed agent flows, or of failed sign-ins / webhook signatures, far above the baseline"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let flows = Kind { what: "failed agent flows", width: 3 * 3_600_000_000, minimum: 5, severity: 6 };
        let auth = Kind { what: "authentication or signature failures", width: 600_000_000, minimum: 10, severity: 7 };
        // (kind, key, flow type) → (time, row) of failures, for baseline and range.
        type Key = (u8, String, String);
        let mut base: BTreeMap<Key, Vec<(i64, usize)>> = BTreeMap::new();
        let mut now: BTreeMap<Key, Vec<(i64, usize)>> = BTreeMap::new();
        let whole = Window { from: input.baseline.from, to: input.range.to };
        let failures = in_order(input.data, input.data.rows(&[Filter::Failures], &whole));
        for (i, r) in &failures {
            let (i, r) = (*i, r);
            let key = if r.fact.name.has(NameKind::FLOW_FAILED) {
                (0, r.principal().to_string(), r.fact.flow_type.to_string())
            } else if is_auth_failure(r) {
                (1, if r.fact.ip.is_empty() { r.principal().to_string() } else { r.fact.ip.to_string() }, String::new())
            } else {
                continue;
            };
            let t = ts(r.time());
            if input.baseline.contains(&t) {
                base.entry(key).or_default().push((r.time(), i));
            } else if input.range.contains(&t) {
                now.entry(key).or_default().push((r.time(), i));
            }
        }
        let mut out = Vec::new();
        for (key, times) in now {
            let kind = if key.0 == 0 { &flows } else { &auth };
            let before = base.get(&key).cloned().unwrap_or_default();
            let normal = densest(&before, kind.width).0;
            let threshold = kind.minimum.max(3 * normal);
            let (n, lo, hi) = densest(&times, kind.width);
            if n < threshold {
                continue;
            }
            let rows: Vec<usize> = times[lo..hi].iter().map(|(_, i)| *i).collect();
            let hours = kind.width as f64 / 3_600_000_000.0;
            let span = if hours >= 1.0 { format!("{hours:.0} hours") } else { format!("{:.0} minutes", hours * 60.0) };
            let (actor, values) = if key.0 == 0 {
                (key.1.clone(), vec![key.2.to_string()])
            } else if *input.data.row(rows[0]).fact.ip == *key.1 {
                (String::new(), vec![key.1.clone()])
            } else {
                (key.1.clone(), Vec::new())
            };
            let subject = if key.0 == 0 {
                format!("this actor's {} flows", key.2)
            } else if actor.is_empty() {
                format!("address {}", key.1)
            } else {
                "this actor".to_string()
            };
            out.push(Draft {
                severity: kind.severity,
                actor,
                value: format!("{n} {} within {span}", kind.what),
                threshold: format!("baseline at most {normal} within {span}; threshold {threshold}"),
                explanation: format!("There were {n} {} for {subject} within {span}, far more than usual.", kind.what),
                values,
                rows,
                ..Draft::default()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn densest_window() {
        let t: Vec<(i64, usize)> = [0, 5, 6, 7, 20, 21].iter().enumerate().map(|(i, t)| (*t, i)).collect();
        assert_eq!(super::densest(&t, 3), (3, 1, 4));
        assert_eq!(super::densest(&[], 3), (0, 0, 0));
    }
}
