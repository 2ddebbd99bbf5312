//! First seen: an actor with an established baseline (20 events or more) using, in the range,
//! an IP address (by default; also model, flow type, event name or project with
//! `--first-seen`) they never used in the baseline. False positives: new offices or VPN exits,
//! model upgrades rolled out to everyone (those show up for many actors at once).

use super::dataset::{Row, Text};
use super::store::{Filter, Having, Key};
use super::{Draft, Heuristic, Input};
use crate::collections::{FastMap, FastSet};

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

    pub fn of(self, r: &Row) -> &str {
        self.text_of(r)
    }

    /// [`Attr::of`] as the row's text.
    pub fn text_of(self, r: &Row) -> &Text {
        match self {
            Attr::Ip => &r.fact.ip,
            Attr::Model => &r.extra().model,
            Attr::FlowType => &r.fact.flow_type,
            Attr::EventName => &r.fact.event_name,
            Attr::Project => &r.fact.project,
        }
    }
}

const MIN_BASELINE_EVENTS: u64 = 20;

impl Heuristic for FirstSeen {
    fn name(&self) -> &'static str {
        "first_seen"
    }

    fn description(&self) -> &'static str {
        "an established actor using an IP address or model (or flow type, event, project) never seen in the baseline"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let mut out = Vec::new();
        // The baseline events of each actor judged (those with enough history), counted from
        // the first attribute's pairs below; most actors (one poll cycle each) are left out
        // by the store.
        let mut events: Option<FastMap<String, u64>> = None;
        for attr in &input.settings.first_seen {
            let keys = [Key::Principal, Key::Attr(*attr)];
            let judged = |actor: &str, _, rows| match &events {
                Some(events) => events.contains_key(actor),
                None => rows >= MIN_BASELINE_EVENTS,
            };
            // The baseline's values and events of each actor judged, copied as they are kept.
            // The pairs come sorted by actor: an actor's are gathered until the next begins.
            let mut known: FastMap<String, FastSet<String>> = FastMap::default();
            let mut counted: FastMap<String, u64> = FastMap::default();
            let (mut actor, mut values, mut total) = (String::new(), FastSet::default(), 0u64);
            let mut settle = |actor: &mut String, values: &mut FastSet<String>, total: u64| {
                if total > 0 {
                    counted.insert(actor.clone(), total);
                    known.insert(std::mem::take(actor), std::mem::take(values));
                }
            };
            // An actor judged has had that many events in the baseline.
            let having = Having::new(&judged).none_rarer_than(MIN_BASELINE_EVENTS);
            input.data.group_each(&keys, &[], &input.baseline, having, &mut |g| {
                if total == 0 || *g.text(0) != *actor {
                    settle(&mut actor, &mut values, total);
                    (actor, total) = (g.text(0).into_owned(), 0);
                }
                total += g.count;
                values.insert(g.text(1).into_owned());
            });
            settle(&mut actor, &mut values, total);
            let events = events.get_or_insert(counted);
            // The range's pairs one at a time: only those of actors judged are looked at.
            let judged = |actor: &str, _, _| events.contains_key(actor);
            let having = Having::new(&judged).none_rarer_than(MIN_BASELINE_EVENTS);
            input.data.group_each(&keys, &[], &input.range, having, &mut |g| {
                let (actor, value) = (g.text(0), g.text(1));
                let Some(&baseline_events) = events.get(&*actor) else { return };
                if actor.is_empty() || value.is_empty() || known.get(&*actor).is_some_and(|k| k.contains(&*value)) {
                    return;
                }
                let (actor, value) = (actor.into_owned(), value.into_owned());
                let filters = [Filter::Principal(actor.clone()), Filter::Attr(*attr, value.clone())];
                out.push(Draft {
                    severity: if *attr == Attr::Ip { 6 } else { 4 },
                    value: format!("{} {value} ({} events)", attr.name(), g.count),
                    threshold: format!("not used by this actor in the baseline ({baseline_events} events)"),
                    explanation: format!("This actor used a {} they had never used before: {value}.", attr.name()),
                    values: vec![value],
                    rows: input.data.rows(&filters, &input.range),
                    actor,
                    ..Draft::default()
                });
            });
        }
        out
    }
}
