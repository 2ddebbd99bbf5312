//! Indexed lookups for `trace` and `sessions show` on database sources. Instead of reading the
//! whole source, ask the session tables (by their indexes) which sessions touched a resource and
//! over which span of time each session ran, then read only those spans — every event table
//! is read by its time index, so a lookup costs a few index probes and the session's own rows,
//! whatever the size of the source. File sources have no index: they are scanned.
//!
//! A span comes from `flow_sessions` (started → completed), the session's rows in
//! `flow_session_resources` and, on GitLab's schema, `duo_workflows_workflows` (created →
//! updated). A session that never completed is read to the end of the range.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::time::Timestamp;
use crate::range::TimeRange;

use super::{ReadOptions, SourceError, SourceSpec};

/// Events of a session may be stamped a little before its start or after its end by the
/// other tables (clock skew between services, late token-usage records).
pub const PAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// When one session ran, as far as the session tables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub session: String,
    pub from: Timestamp,
    /// `None`: still open (no completion recorded).
    pub to: Option<Timestamp>,
}

/// Spans of the same session from several tables, combined: earliest start, latest end, open
/// when any table says it is open.
pub fn combine(parts: impl IntoIterator<Item = Span>) -> Vec<Span> {
    let mut by: BTreeMap<String, Span> = BTreeMap::new();
    for p in parts {
        match by.get_mut(&p.session) {
            None => {
                by.insert(p.session.clone(), p);
            }
            Some(s) => {
                s.from = s.from.min(p.from);
                s.to = match (s.to, p.to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
    }
    by.into_values().collect()
}

/// The time windows to read for `spans`: padded, overlapping ones merged, clipped to `range`,
/// in time order.
pub fn windows(spans: &[Span], range: &TimeRange) -> Vec<TimeRange> {
    let mut padded: Vec<(Timestamp, Option<Timestamp>)> =
        spans.iter().map(|s| (s.from - PAD, s.to.map(|t| t + PAD))).collect();
    padded.sort();
    let mut out: Vec<TimeRange> = Vec::new();
    for (from, to) in padded {
        match out.last_mut() {
            Some(last) if last.to.is_none_or(|end| from <= end) => {
                last.to = match (last.to, to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => out.push(TimeRange { from: Some(from), to }),
        }
    }
    out.into_iter()
        .filter_map(|w| {
            let from = match (w.from, range.from) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let to = match (w.to, range.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let empty = matches!((from, to), (Some(f), Some(t)) if f >= t);
            (!empty).then_some(TimeRange { from, to })
        })
        .collect()
}

/// The spellings a resource type may have in a `resource_type` column: `MergeRequest`,
/// `merge_request`, `mergerequest`.
pub fn type_variants(kind: &str) -> Vec<String> {
    let mut snake = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    let mut out = vec![kind.to_string(), snake, kind.to_ascii_lowercase()];
    out.dedup();
    out.sort();
    out.dedup();
    out
}

/// How a resource id is matched: commits by a prefix of 7 or more hex digits (as people paste
/// abbreviated SHAs), everything else exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMatch {
    Exact(String),
    /// Lower-case prefix, and the smallest string above every id with that prefix (an index
    /// range: the prefix with its last hex digit incremented, `9` → `a`, `f` → `g`).
    Prefix {
        prefix: String,
        upper: String,
    },
}

impl IdMatch {
    pub fn of(kind: &str, id: &str) -> IdMatch {
        if kind != "Commit" || id.len() >= 40 || id.is_empty() {
            return IdMatch::Exact(if kind == "Commit" { id.to_ascii_lowercase() } else { id.to_string() });
        }
        let prefix = id.to_ascii_lowercase();
        let mut upper: Vec<char> = prefix.chars().collect();
        let last = upper.pop().unwrap_or('0');
        upper.push(match last {
            '9' => 'a',
            c => char::from_u32(c as u32 + 1).unwrap_or(c),
        });
        IdMatch::Prefix { prefix, upper: upper.into_iter().collect() }
    }
}

fn run<T>(f: impl std::future::Future<Output = Result<T, SourceError>>) -> Result<T, SourceError> {
    super::postgres::block_on(f).map_err(|source| SourceError::Io { path: "an async runtime".into(), source })?
}

impl SourceSpec {
    /// Sessions the source's session tables link to a resource (type `Commit`,
    /// `MergeRequest`, `Note`, …), by index; `None` for sources without indexes (files).
    pub fn sessions_touching(
        &self,
        read: &ReadOptions,
        kind: &str,
        id: &str,
    ) -> Result<Option<BTreeSet<String>>, SourceError> {
        match self {
            SourceSpec::Postgres(url) => {
                let cfg = super::postgres::PgConfig::of(url, read);
                run(super::postgres::lookup::sessions_touching(&cfg, kind, id)).map(Some)
            }
            SourceSpec::ClickHouse(url) => {
                let cfg = super::clickhouse::ChConfig::of(url, read);
                run(super::clickhouse::lookup::sessions_touching(&cfg, kind, id)).map(Some)
            }
            SourceSpec::Demo | SourceSpec::Files(_) => Ok(None),
        }
    }

    /// When each of `ids` ran, by index; sessions the tables do not know are left out. `None`
    /// for sources without indexes.
    pub fn session_spans(&self, read: &ReadOptions, ids: &BTreeSet<String>) -> Result<Option<Vec<Span>>, SourceError> {
        match self {
            SourceSpec::Postgres(url) => {
                let cfg = super::postgres::PgConfig::of(url, read);
                run(super::postgres::lookup::session_spans(&cfg, ids)).map(Some)
            }
            SourceSpec::ClickHouse(url) => {
                let cfg = super::clickhouse::ChConfig::of(url, read);
                run(super::clickhouse::lookup::session_spans(&cfg, ids)).map(Some)
            }
            SourceSpec::Demo | SourceSpec::Files(_) => Ok(None),
        }
    }
}

impl SourceSpec {
    /// The time of the oldest record the source holds (retention evidence), by each table's
    /// time index; `None` for files, whose reading sees every record anyway.
    pub fn earliest(&self, read: &ReadOptions) -> Result<Option<Timestamp>, SourceError> {
        match self {
            SourceSpec::Postgres(url) => {
                let cfg = super::postgres::PgConfig::of(url, read);
                run(super::postgres::lookup::earliest(&cfg))
            }
            SourceSpec::ClickHouse(url) => {
                let cfg = super::clickhouse::ChConfig::of(url, read);
                run(super::clickhouse::lookup::earliest(&cfg))
            }
            SourceSpec::Demo | SourceSpec::Files(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::parse;

    fn t(s: &str) -> Timestamp {
        parse(s).unwrap()
    }

    fn span(id: &str, from: &str, to: Option<&str>) -> Span {
        Span { session: id.into(), from: t(from), to: to.map(t) }
    }

    #[test]
    fn spans_combine_per_session() {
        let got = combine([
            span("a", "2026-10-01T10:00:00Z", Some("2026-10-01T11:00:00Z")),
            span("b", "2026-10-02T10:00:00Z", None),
            span("a", "2026-10-01T09:00:00Z", Some("2026-10-01T10:30:00Z")),
            span("b", "2026-10-02T09:00:00Z", Some("2026-10-02T09:30:00Z")),
        ]);
        assert_eq!(
            got,
            vec![
                span("a", "2026-10-01T09:00:00Z", Some("2026-10-01T11:00:00Z")),
                span("b", "2026-10-02T09:00:00Z", None)
            ]
        );
    }

    #[test]
    fn windows_pad_merge_and_clip() {
        let spans = [
            span("a", "2026-10-01T10:00:00Z", Some("2026-10-01T11:00:00Z")),
            span("b", "2026-10-01T11:08:00Z", Some("2026-10-01T12:00:00Z")),
            span("c", "2026-10-03T00:00:00Z", Some("2026-10-03T01:00:00Z")),
        ];
        let all = TimeRange::default();
        let w = windows(&spans, &all);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].from, Some(t("2026-10-01T09:55:00Z")));
        assert_eq!(w[0].to, Some(t("2026-10-01T12:05:00Z")));
        let clip = TimeRange { from: Some(t("2026-10-02T00:00:00Z")), to: Some(t("2026-10-03T00:30:00Z")) };
        let w = windows(&spans, &clip);
        assert_eq!(w, vec![TimeRange { from: Some(t("2026-10-02T23:55:00Z")), to: Some(t("2026-10-03T00:30:00Z")) }]);
        let open =
            [span("a", "2026-10-01T10:00:00Z", None), span("b", "2026-10-05T00:00:00Z", Some("2026-10-06T00:00:00Z"))];
        assert_eq!(windows(&open, &all), vec![TimeRange { from: Some(t("2026-10-01T09:55:00Z")), to: None }]);
    }

    #[test]
    fn resource_types_and_ids() {
        assert_eq!(type_variants("MergeRequest"), ["MergeRequest", "merge_request", "mergerequest"]);
        assert_eq!(type_variants("Commit"), ["Commit", "commit"]);
        assert_eq!(
            IdMatch::of("Commit", "ABC1239"),
            IdMatch::Prefix { prefix: "abc1239".into(), upper: "abc123a".into() }
        );
        assert_eq!(
            IdMatch::of("Commit", "abc123f"),
            IdMatch::Prefix { prefix: "abc123f".into(), upper: "abc123g".into() }
        );
        let full = "d6baf73c31519f7f02e150600389be19ef1855ae";
        assert_eq!(IdMatch::of("Commit", full), IdMatch::Exact(full.into()));
        assert_eq!(IdMatch::of("MergeRequest", "42"), IdMatch::Exact("42".into()));
    }
}
