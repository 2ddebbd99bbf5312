//! Anomaly heuristics: each compares the range against a baseline window before it and reports
//! explained [`Finding`]s tied to the events behind them. One module per heuristic, all behind
//! [`Heuristic`]; [`HEURISTICS`] lists them in the order findings are reported.
//!
//! The heuristics ask a [`Store`]: either the events of the baseline and the range read once
//! into a [`Dataset`] (one compact row per event — its aggregation facts, id and a few
//! attributes — plus per-session summaries and the secrets found in prompts), or ClickHouse,
//! which answers the same questions with SQL ([`clickhouse`]).

pub mod cache;
pub mod clickhouse;
pub mod dataset;
pub mod draft;
pub mod failures;
pub mod first_seen;
pub mod gaps;
pub mod lifecycle;
pub mod off_hours;
pub mod sanitization;
pub mod service_accounts;
pub mod store;
pub mod tokens;
pub mod volume;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use dataset::Dataset;
pub use store::Store;

use crate::model::time::{self, Timestamp};

/// A half-open time window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Window {
    #[serde(with = "time::serde_ts")]
    pub from: Timestamp,
    #[serde(with = "time::serde_ts")]
    pub to: Timestamp,
}

impl Window {
    pub fn contains(&self, t: &Timestamp) -> bool {
        *t >= self.from && *t < self.to
    }

    /// [`Window::contains`] for a time in microseconds, without building a timestamp (the
    /// in-memory store asks it of every row for every question).
    pub fn contains_micros(&self, t: i64) -> bool {
        let (from, to) = self.micros();
        from <= t && t < to
    }

    /// The bounds in whole microseconds, rounded up: `from <= t < to` in microseconds says
    /// what [`Window::contains`] says of `t` as a timestamp, even for bounds with nanoseconds.
    pub fn micros(&self) -> (i64, i64) {
        let up = |t: &Timestamp| t.timestamp_micros() + i64::from(!t.timestamp_subsec_nanos().is_multiple_of(1_000));
        (up(&self.from), up(&self.to))
    }

    pub fn from_micros(from: i64, to: i64) -> Window {
        let t = |us| chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
        Window { from: t(from), to: t(to) }
    }
}

/// Knobs of the heuristics (`anomalies --help` lists the flags that set them).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Business hours `[start, end)` in `tz`, Monday to Friday.
    pub business_hours: (u32, u32),
    pub tz: chrono_tz::Tz,
    /// First-seen attributes to watch.
    pub first_seen: Vec<first_seen::Attr>,
    /// A session running or paused longer than this without an end is stuck.
    pub stuck_after: chrono::Duration,
    /// At most this many event ids per finding (the total is always given).
    pub max_event_ids: usize,
    /// Service accounts known to be provisioned before the data read (e.g. from earlier
    /// history, or listed by the user).
    pub provisioned: std::collections::BTreeSet<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            business_hours: (7, 20),
            tz: chrono_tz::Tz::UTC,
            first_seen: vec![first_seen::Attr::Ip],
            stuck_after: chrono::Duration::hours(24),
            max_event_ids: 20,
            provisioned: Default::default(),
        }
    }
}

/// What a heuristic sees.
pub struct Input<'a> {
    pub data: &'a dyn Store,
    /// The window under review.
    pub range: Window,
    /// The window before it that defines normal.
    pub baseline: Window,
    pub settings: &'a Settings,
    /// The sessions' lifecycle problems in `range`, found once for the heuristic and whoever
    /// else asks with the same input (the report's checks).
    pub lifecycle: &'a lifecycle::Problems,
}

/// One explained anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id: a hash of heuristic, subject and window.
    pub id: String,
    pub heuristic: &'static str,
    /// 0–10, as event severities.
    pub severity: u8,
    /// The actor the finding is about (empty when it is about the stream, an IP, …).
    pub actor: String,
    /// The actor's name where known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actor_name: String,
    /// Humans the actor acted for (composite identity).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_behalf_of: Vec<String>,
    pub window: Window,
    /// What was measured, e.g. `412 events` or `glpat token`.
    pub value: String,
    /// What it crossed, e.g. `baseline median 31/day, threshold 120`.
    pub threshold: String,
    /// One sentence for a non-specialist.
    pub explanation: String,
    /// Sessions involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// Values involved (IPs, scopes, kinds of secret, service accounts, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Ids of the events behind the finding (at most `max_event_ids`), and how many there are.
    pub event_ids: Vec<String>,
    pub event_count: usize,
}

/// The fields a heuristic fills; [`Draft::finish`] adds the id and caps the evidence.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    pub severity: u8,
    pub actor: String,
    pub window: Option<Window>,
    pub value: String,
    pub threshold: String,
    pub explanation: String,
    /// Sessions involved beyond those of `rows` (which [`Draft::finish`] adds).
    pub sessions: Vec<String>,
    pub values: Vec<String>,
    /// Row indexes of the events behind the finding.
    pub rows: Vec<usize>,
}

impl Draft {
    pub fn finish(mut self, heuristic: &'static str, data: &dyn Store, max_ids: usize) -> Finding {
        let mut rows = store::in_order(data, self.rows.iter().copied());
        rows.dedup_by(|a, b| a.1.id == b.1.id);
        let from_rows = rows.iter().map(|(_, r)| &r.fact.session).filter(|s| !s.is_empty());
        self.sessions.extend(from_rows.map(|s| s.to_string()));
        self.sessions.sort();
        self.sessions.dedup();
        self.values.sort();
        self.values.dedup();
        let window = self.window.unwrap_or_else(|| {
            let first = rows.first().map_or(0, |(_, r)| r.time());
            let last = rows.last().map_or(0, |(_, r)| r.time());
            Window::from_micros(first, last + 1)
        });
        let mut on_behalf_of: Vec<String> =
            rows.iter().map(|(_, r)| r.on_behalf_of.to_string()).filter(|s| !s.is_empty()).collect();
        on_behalf_of.sort();
        on_behalf_of.dedup();
        let mut h = Sha256::new();
        for part in
            [heuristic, &self.actor, &time::format(&window.from), &self.sessions.join(","), &self.values.join(",")]
        {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let id: String = h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let actor_name = data.name_of(&self.actor);
        Finding {
            id,
            heuristic,
            severity: self.severity,
            actor_name,
            actor: self.actor,
            on_behalf_of,
            window,
            value: self.value,
            threshold: self.threshold,
            explanation: self.explanation,
            sessions: self.sessions,
            values: self.values,
            event_count: rows.len(),
            event_ids: rows.iter().take(max_ids).map(|(_, r)| r.id.to_string()).collect(),
        }
    }
}

/// One heuristic.
pub trait Heuristic: Sync {
    /// Its name in findings and on the command line.
    fn name(&self) -> &'static str;
    /// What it catches, for `--help`, README and reports.
    fn description(&self) -> &'static str;
    fn run(&self, input: &Input) -> Vec<Draft>;
}

/// Every heuristic, in reporting order.
pub const HEURISTICS: &[&dyn Heuristic] = &[
    &volume::VolumeSpike,
    &off_hours::OffHours,
    &first_seen::FirstSeen,
    &failures::FailureBursts,
    &tokens::TokenOutliers,
    &service_accounts::ServiceAccounts,
    &lifecycle::Lifecycle,
    &gaps::StreamGaps,
    &sanitization::Sanitization,
];

/// Run the heuristics named in `only` (all when empty); findings sorted by window start,
/// heuristic and id.
pub fn detect(data: &dyn Store, range: Window, baseline: Window, settings: &Settings, only: &[String]) -> Vec<Finding> {
    detect_in(&Input { data, range, baseline, settings, lifecycle: &Default::default() }, only)
}

/// [`detect`] with `input`, whose answers shared between heuristics stay there for later
/// questions.
pub fn detect_in(input: &Input, only: &[String]) -> Vec<Finding> {
    let Input { data, settings, .. } = *input;
    let chosen: Vec<&dyn Heuristic> =
        HEURISTICS.iter().copied().filter(|h| only.is_empty() || only.iter().any(|o| o == h.name())).collect();
    let drafts: Vec<(&'static str, Draft)> = run_all(&chosen, input, data.workers())
        .into_iter()
        .zip(&chosen)
        .flat_map(|(drafts, h)| drafts.into_iter().map(|d| (h.name(), d)))
        .collect();
    let mut actors: Vec<String> = drafts.iter().map(|(_, d)| d.actor.clone()).filter(|a| !a.is_empty()).collect();
    actors.sort();
    actors.dedup();
    data.names_for(&actors);
    let mut out: Vec<Finding> =
        drafts.into_iter().map(|(name, d)| d.finish(name, data, settings.max_event_ids)).collect();
    out.sort_by(|a, b| (a.window.from, a.heuristic, &a.id).cmp(&(b.window.from, b.heuristic, &b.id)));
    out
}

/// The drafts of each heuristic, in the order given, computed by up to `workers` threads: each
/// takes the next heuristic not yet taken (the list starts with the heaviest), the calling thread
/// too. A thread that cannot start leaves its share to the others.
fn run_all(heuristics: &[&dyn Heuristic], input: &Input, workers: usize) -> Vec<Vec<Draft>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(h) = heuristics.get(i) else { return done };
            let started = std::time::Instant::now();
            let drafts = h.run(input);
            tracing::debug!(
                heuristic = h.name(),
                drafts = drafts.len(),
                seconds = started.elapsed().as_secs_f64(),
                "ran"
            );
            done.push((i, drafts));
        }
    };
    let mut done: Vec<(usize, Vec<Draft>)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers.min(heuristics.len()))
            .filter_map(|n| std::thread::Builder::new().name(format!("heuristics-{n}")).spawn_scoped(s, work).ok())
            .collect();
        let mut done = work();
        for h in helpers {
            // A heuristic that panicked panics here, as it would have on this thread.
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, d)| d).collect()
}

/// Median and median absolute deviation of `values` (0, 0 for none).
pub fn median_mad(values: &mut [f64]) -> (f64, f64) {
    fn median(v: &mut [f64]) -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    let m = median(values);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    (m, median(&mut dev))
}

/// The `q` quantile (0–1) of `values`, nearest rank.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsecond_containment_agrees_with_timestamps_even_for_bounds_with_nanoseconds() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        let w = Window { from: t("2026-10-01T00:00:00.000001500Z"), to: t("2026-10-02T00:00:00Z") };
        let from_us = t("2026-10-01T00:00:00.000001Z").timestamp_micros();
        for us in [from_us - 1, from_us, from_us + 1, w.to.timestamp_micros() - 1, w.to.timestamp_micros()] {
            let ts = chrono::DateTime::from_timestamp_micros(us).unwrap();
            assert_eq!(w.contains_micros(us), w.contains(&ts), "{us}");
        }
        assert_eq!(w.micros(), (from_us + 1, w.to.timestamp_micros()));
    }

    /// Sleeps, then reports its name and the thread that ran it.
    struct Named(&'static str, u64);

    impl Heuristic for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            ""
        }
        fn run(&self, _: &Input) -> Vec<Draft> {
            std::thread::sleep(std::time::Duration::from_millis(self.1));
            let thread = std::thread::current().name().unwrap_or_default().to_string();
            vec![Draft { value: self.0.into(), threshold: thread, ..Draft::default() }]
        }
    }

    #[test]
    fn heuristics_on_threads_come_back_in_their_order() {
        let data = Dataset::default();
        let settings = Settings::default();
        let w = Window::from_micros(0, 1);
        let input = Input { data: &data, range: w, baseline: w, settings: &settings, lifecycle: &Default::default() };
        // The first is slow: the others finish before it, on the other thread.
        let list: [&dyn Heuristic; 4] = [&Named("a", 300), &Named("b", 0), &Named("c", 0), &Named("d", 0)];
        for workers in [1, 2, 8] {
            let out = run_all(&list, &input, workers);
            let names: Vec<&str> = out.iter().map(|d| d[0].value.as_str()).collect();
            assert_eq!(names, ["a", "b", "c", "d"], "{workers} workers");
            let helped = out.iter().filter(|d| d[0].threshold.starts_with("heuristics-")).count();
            assert_eq!(helped > 0, workers > 1, "{workers} workers");
        }
        assert!(run_all(&[], &input, 2).is_empty());
    }
}
