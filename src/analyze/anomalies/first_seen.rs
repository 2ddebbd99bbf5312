//! First seen: an actor with an established baseline (20 events or more) using, in the range,
//! an IP address (by default; also model, flow type, event name or project with
//! `--first-seen`) they never used in the baseline. False positives: new offices or VPN exits,
//! model upgrades rolled out to everyone (those show up for many actors at once).

use std::collections::{BTreeMap, BTreeSet};

use super::dataset::{Row, Text};
use super::store::{Filter, Key};
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
        let mut events: BTreeMap<String, u64> = BTreeMap::new();
        // Only actors with enough history are judged: the others (most of them one poll cycle
        // each) are not kept, nor are their pairs below.
        input.data.group_each(&[Key::Principal], &[], &input.baseline, &mut |g| {
            if g.count >= MIN_BASELINE_EVENTS {
                events.insert(g.text(0).into_owned(), g.count);
            }
        });
        for attr in &input.settings.first_seen {
            let keys = [Key::Principal, Key::Attr(*attr)];
            // The baseline's pairs of the actors judged, their texts copied as they are kept.
            let mut known: BTreeSet<(String, String)> = BTreeSet::new();
            input.data.group_each(&keys, &[], &input.baseline, &mut |g| {
                let actor = g.text(0);
                if events.contains_key(&*actor) {
                    known.insert((actor.into_owned(), g.text(1).into_owned()));
                }
            });
            // The range's pairs one at a time: only those of actors judged are looked at.
            input.data.group_each(&keys, &[], &input.range, &mut |g| {
                let Some(&baseline_events) = events.get(&*g.text(0)) else { return };
                let (actor, value) = (g.text(0).into_owned(), g.text(1).into_owned());
                if actor.is_empty() || value.is_empty() || known.contains(&(actor.clone(), value.clone())) {
                    return;
                }
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
