//! The big numbers anomaly heuristics and reports need — counts per actor and time bucket, per
//! event name, per flow type and outcome, token sums, first sightings, distinct IPs, a timeline
//! with empty buckets — asked as [`Query`]s and answered as small [`Table`]s, either pushed down
//! into ClickHouse as `GROUP BY` ([`clickhouse`]) or computed locally with polars over any
//! event stream ([`local`]). Both compute over the same [`Fact`]s of each event, so both give
//! the same tables for the same data.

pub mod clickhouse;
pub mod local;

use serde::Serialize;

use crate::model::AuditEvent;
use crate::range::TimeRange;

/// A time bucket, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn micros(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000_000,
            Bucket::Day => 86_400_000_000,
        }
    }

    /// The start of the bucket holding `time_us`.
    pub fn start(self, time_us: i64) -> i64 {
        time_us.div_euclid(self.micros()) * self.micros()
    }

    fn name(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// An attribute of an actor's events whose first sighting matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    Ip,
    Project,
    EventName,
    FlowType,
}

impl Attribute {
    /// The fact column holding it.
    pub fn column(self) -> &'static str {
        match self {
            Attribute::Ip => "ip",
            Attribute::Project => "project",
            Attribute::EventName => "event_name",
            Attribute::FlowType => "flow_type",
        }
    }
}

/// One aggregation. Each answers with fixed columns (see [`Query::columns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// `actor, bucket, count`: events per actor per hour or day.
    CountByActor(Bucket),
    /// `event_name, count`.
    CountByEventName,
    /// `flow_type, outcome, count` over events of a flow.
    CountByFlow,
    /// `actor, input_tokens, output_tokens` over events that report tokens.
    TokensByActor,
    /// `session, input_tokens, output_tokens` over events of a session that report tokens.
    TokensBySession,
    /// `actor, value, first_time`: when each actor first showed each value of the attribute.
    FirstSeen(Attribute),
    /// `actor, distinct_ips`.
    DistinctIpsByActor,
    /// `bucket, count`: every bucket of the range, empty ones with 0.
    Timeline(Bucket),
}

impl Query {
    /// Every query, for listing and tests.
    pub const ALL: [Query; 13] = [
        Query::CountByActor(Bucket::Hour),
        Query::CountByActor(Bucket::Day),
        Query::CountByEventName,
        Query::CountByFlow,
        Query::TokensByActor,
        Query::TokensBySession,
        Query::FirstSeen(Attribute::Ip),
        Query::FirstSeen(Attribute::Project),
        Query::FirstSeen(Attribute::EventName),
        Query::FirstSeen(Attribute::FlowType),
        Query::DistinctIpsByActor,
        Query::Timeline(Bucket::Hour),
        Query::Timeline(Bucket::Day),
    ];

    /// The query's name on the command line (`count-by-actor-hour`, …).
    pub fn name(self) -> String {
        match self {
            Query::CountByActor(b) => format!("count-by-actor-{}", b.name()),
            Query::CountByEventName => "count-by-event".into(),
            Query::CountByFlow => "count-by-flow".into(),
            Query::TokensByActor => "tokens-by-actor".into(),
            Query::TokensBySession => "tokens-by-session".into(),
            Query::FirstSeen(a) => format!("first-seen-{}", a.column().replace('_', "-")),
            Query::DistinctIpsByActor => "distinct-ips-by-actor".into(),
            Query::Timeline(b) => format!("timeline-{}", b.name()),
        }
    }

    pub fn parse(name: &str) -> Result<Query, String> {
        Query::ALL.into_iter().find(|q| q.name() == name).ok_or_else(|| {
            let names: Vec<String> = Query::ALL.iter().map(|q| q.name()).collect();
            format!("unknown aggregation {name:?}; use one of: {}", names.join(", "))
        })
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Query::CountByActor(_) => &["actor", "bucket", "count"],
            Query::CountByEventName => &["event_name", "count"],
            Query::CountByFlow => &["flow_type", "outcome", "count"],
            Query::TokensByActor => &["actor", "input_tokens", "output_tokens"],
            Query::TokensBySession => &["session", "input_tokens", "output_tokens"],
            Query::FirstSeen(_) => &["actor", "value", "first_time"],
            Query::DistinctIpsByActor => &["actor", "distinct_ips"],
            Query::Timeline(_) => &["bucket", "count"],
        }
    }
}

/// What every aggregation reads of an event; the same definition for local and pushed-down
/// computation (the ClickHouse projection of each table mirrors [`Fact::of`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fact {
    /// Microseconds since the epoch.
    pub time: i64,
    /// The actor's id, else its name, else empty.
    pub actor: String,
    pub event_name: String,
    /// As the source recorded it; empty when none.
    pub ip: String,
    pub session: String,
    pub flow_type: String,
    /// `success`, `failure` or `unknown`.
    pub outcome: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The project's id (else path) when the event is scoped to a project; else empty.
    pub project: String,
}

impl Fact {
    /// The actor as facts name it: its id, else its name ("" when neither).
    pub fn actor_of(ev: &AuditEvent) -> &str {
        ev.actor.id.as_deref().or(ev.actor.name.as_deref()).unwrap_or_default()
    }

    /// The project as facts name it: a project scope's id, else its path ("" for other scopes).
    pub fn project_of(ev: &AuditEvent) -> std::borrow::Cow<'_, str> {
        crate::sources::summary::project_of(ev.scope.as_ref())
    }

    pub fn of(ev: &AuditEvent) -> Fact {
        let ai = ev.ai.as_ref();
        Fact {
            time: ev.time.timestamp_micros(),
            actor: Fact::actor_of(ev).to_string(),
            event_name: ev.event_name.clone(),
            ip: ev.ip_address.clone().unwrap_or_default(),
            session: ai.and_then(|a| a.session_id.clone()).unwrap_or_default(),
            flow_type: ai.and_then(|a| a.flow_type.clone()).unwrap_or_default(),
            outcome: ev.outcome.as_str(),
            input_tokens: ai.and_then(|a| a.input_tokens).unwrap_or(0),
            output_tokens: ai.and_then(|a| a.output_tokens).unwrap_or(0),
            project: Fact::project_of(ev).into_owned(),
        }
    }
}

/// A cell of a result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Int(i64),
    Text(String),
}

/// The answer to one query: rows sorted by every column, so equal answers are equal tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub query: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table for `query` from unsorted rows; timelines get their empty buckets within `range`
    /// (or between the first and last bucket seen when the range is open).
    pub fn new(query: Query, mut rows: Vec<Vec<Cell>>, range: &TimeRange) -> Table {
        if let Query::Timeline(b) = query {
            let seen: std::collections::BTreeMap<i64, i64> = rows
                .iter()
                .filter_map(|r| match (&r[0], &r[1]) {
                    (Cell::Int(k), Cell::Int(n)) => Some((*k, *n)),
                    _ => None,
                })
                .collect();
            let first = range.from.map(|t| b.start(t.timestamp_micros())).or(seen.keys().next().copied());
            // The last bucket that holds an instant before `to`.
            let last = range.to.map(|t| b.start(t.timestamp_micros() - 1)).or(seen.keys().last().copied());
            if let (Some(first), Some(last)) = (first, last) {
                rows = (0..)
                    .map(|i| first + i * b.micros())
                    .take_while(|k| *k <= last)
                    .map(|k| vec![Cell::Int(k), Cell::Int(seen.get(&k).copied().unwrap_or(0))])
                    .collect();
            }
        }
        rows.sort();
        Table { query: query.name(), columns: query.columns().iter().map(|c| c.to_string()).collect(), rows }
    }
}

/// Errors of an aggregation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// The events could not be read.
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
    /// The local engine failed.
    #[error("local aggregation failed: {0}")]
    Engine(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for q in Query::ALL {
            assert_eq!(Query::parse(&q.name()), Ok(q));
        }
        assert!(Query::parse("nope").unwrap_err().contains("count-by-actor-hour"));
    }

    #[test]
    fn timelines_fill_empty_buckets_within_the_range() {
        let range = TimeRange::parse("2026-10-01..2026-10-03", chrono_tz::Tz::UTC).unwrap();
        let day = Bucket::Day.micros();
        let start = range.from.unwrap().timestamp_micros();
        let t = Table::new(Query::Timeline(Bucket::Day), vec![vec![Cell::Int(start + day), Cell::Int(5)]], &range);
        assert_eq!(
            t.rows,
            vec![
                vec![Cell::Int(start), Cell::Int(0)],
                vec![Cell::Int(start + day), Cell::Int(5)],
                vec![Cell::Int(start + 2 * day), Cell::Int(0)]
            ]
        );
        assert_eq!(Bucket::Hour.start(3_600_000_001), 3_600_000_000);
    }
}
