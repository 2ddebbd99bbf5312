//! First seen: an actor with an established baseline (20 events or more) using, in the range,
//! an IP address (by default; also model, flow type, event name or project with
//! `--first-seen`) they never used in the baseline. False positives: new offices or VPN exits,
//! model upgrades rolled out to everyone (those show up for many actors at once).

use std::collections::{BTreeMap, BTreeSet};

use super::dataset::{ts, Row};
use super::{Draft, Heuristic, Input};

pub struct FirstSeen;

/// An attribute watched for first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attr {
    Ip,
    Model,
    FlowType,
    EventName,
    Project,
}

impl Attr {
    pub fn parse(name: &str) -> Option<Attr> {
        Some(match name {
            "ip" => Attr::Ip,
            "model" => Attr::Model,
            "flow_type" | "flow-type" => Attr::FlowType,
            "event_name" | "event-name" | "event" => Attr::EventName,
            "project" => Attr::Project,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Attr::Ip => "IP address",
            Attr::Model => "model",
            Attr::FlowType => "flow type",
            Attr::EventName => "kind of event",
            Attr::Project => "project",
        }
    }

    fn of(self, r: &Row) -> &str {
        match self {
            Attr::Ip => &r.fact.ip,
            Attr::Model => &r.model,
            Attr::FlowType => &r.fact.flow_type,
            Attr::EventName => &r.fact.event_name,
            Attr::Project => &r.fact.project,
        }
    }
}

const MIN_BASELINE_EVENTS: usize = 20;

impl Heuristic for FirstSeen {
    fn name(&self) -> &'static str {
        "first_seen"
    }

    fn description(&self) -> &'static str {
        "an established actor using an IP address or model (or flow type, event, project) never seen in the baseline"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let mut out = Vec::new();
        let mut events: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &input.data.rows {
            if input.baseline.contains(&ts(r.time())) {
                *events.entry(r.principal()).or_default() += 1;
            }
        }
        for attr in &input.settings.first_seen {
            let mut known: BTreeSet<(&str, &str)> = BTreeSet::new();
            let mut new: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
            for (i, r) in input.data.rows.iter().enumerate() {
                let v = attr.of(r);
                if v.is_empty() {
                    continue;
                }
                let t = ts(r.time());
                if input.baseline.contains(&t) {
                    known.insert((r.principal(), v));
                } else if input.range.contains(&t) {
                    new.entry((r.principal(), v)).or_default().push(i);
                }
            }
            for ((actor, value), rows) in new {
                if actor.is_empty()
                    || known.contains(&(actor, value))
                    || events.get(actor).copied().unwrap_or(0) < MIN_BASELINE_EVENTS
                {
                    continue;
                }
                out.push(Draft {
                    severity: if *attr == Attr::Ip { 6 } else { 4 },
                    actor: actor.to_string(),
                    value: format!("{} {value} ({} events)", attr.name(), rows.len()),
                    threshold: format!("not used by this actor in the baseline ({} events)", events[actor]),
                    explanation: format!("This actor used a {} they had never used before: {value}.", attr.name()),
                    values: vec![value.to_string()],
                    rows,
                    ..Draft::default()
                });
            }
        }
        out
    }
}
