//! Lifecycle integrity of agent sessions (SOC 2 CC6.1, CC8.1): sessions started in the range
//! with no authorization record, or authorized only after they started; sessions that created
//! resources but never completed or failed (or stayed paused) for longer than the stuck limit
//! (`--stuck-after`, default 24 h) before the end of the range; and resources of sessions that
//! have no start event at all. False positives: sessions that started before the baseline
//! window (widen `--baseline`), sessions still legitimately running at the range end.

use super::store::{in_order, Filter};
use super::{Draft, Heuristic, Input, Window};

pub struct Lifecycle;

/// What is wrong with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NoAuthorization,
    AuthorizedLate,
    NoStart,
    NoEnd,
}

impl Heuristic for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn description(&self) -> &'static str {
        "sessions without authorization, authorized after starting, never ending, or with resources but no start"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        input.lifecycle.of(input).iter().map(|(_, d)| d.clone()).collect()
    }
}

/// The lifecycle problems of one [`Input`], found by whoever asks first: the heuristic, or one
/// of the report's checks that turn them into exceptions (on ClickHouse a heavy question; here
/// a pass over every session).
#[derive(Debug, Default)]
pub struct Problems(std::sync::OnceLock<Vec<(Problem, Draft)>>);

impl Problems {
    /// The problems of `input`, which must be the input this was first asked with.
    pub fn of(&self, input: &Input) -> &[(Problem, Draft)] {
        self.0.get_or_init(|| problems(input))
    }
}

/// Every lifecycle problem of the sessions in the range, with its finding.
pub fn problems(input: &Input) -> Vec<(Problem, Draft)> {
    let data = input.data;
    let stuck = input.settings.stuck_after.num_microseconds().unwrap_or(i64::MAX);
    let range_end = input.range.to.timestamp_micros();
    let whole = Window { from: input.baseline.from, to: input.range.to };
    let mut out = Vec::new();
    for s in data.sessions(&input.range) {
        let (first, last) = (s.first, s.last);
        let principal = |i: usize| data.row(i).principal().to_string();
        let draft =
            |severity, actor: String, value: String, threshold: &str, explanation: &str, rows: Vec<usize>| Draft {
                severity,
                actor,
                value,
                threshold: threshold.into(),
                explanation: explanation.into(),
                sessions: vec![s.id.to_string()],
                rows,
                ..Draft::default()
            };
        match s.start.map(|i| (i, data.row(i).time())) {
            Some((start, started)) if input.range.contains_micros(started) => {
                if !s.authorization_recorded {
                    // The source cannot say (GitLab's session aggregate): no finding.
                } else if !s.authorized || s.authorized_at.is_none() {
                    out.push((
                        Problem::NoAuthorization,
                        draft(
                            8,
                            principal(start),
                            "no authorization record".into(),
                            "every session needs authorization_verified_at",
                            "An agent session started without any record of who authorized it.",
                            vec![start],
                        ),
                    ));
                } else if let Some(at) = s.authorized_at.filter(|at| *at > started) {
                    out.push((
                        Problem::AuthorizedLate,
                        draft(
                            7,
                            principal(start),
                            format!("authorized {:.0} s after the start", (at - started) as f64 / 1e6),
                            "authorization must precede the start",
                            "An agent session began working before its authorization was verified.",
                            vec![start],
                        ),
                    ));
                }
            }
            Some(_) => {}
            None if s.resources > 0 && input.range.contains_micros(first) => {
                let rows = data.rows(&[Filter::Sessions(vec![s.id.clone()]), Filter::Resources], &whole);
                out.push((
                    Problem::NoStart,
                    draft(
                        6,
                        s.first_resource.map(principal).unwrap_or_default(),
                        format!("{} resources, no start event", s.resources),
                        "resources must belong to a started session",
                        "Changes were recorded for an agent session that has no start record.",
                        rows,
                    ),
                ));
                continue;
            }
            None => continue,
        }
        let open = !s.ended && (s.resources > 0 || s.paused);
        if open && input.range.contains_micros(last) && range_end - last > stuck {
            let rows = data.rows(&[Filter::Sessions(vec![s.id.clone()])], &whole);
            let state = if s.paused { "paused" } else { "running" };
            let actor = match s.start {
                Some(i) => principal(i),
                None => in_order(data, rows.iter().copied())
                    .first()
                    .map(|(_, r)| r.principal().to_string())
                    .unwrap_or_default(),
            };
            out.push((
                Problem::NoEnd,
                draft(
                    4,
                    actor,
                    format!(
                        "{} resources, {state}, no end {:.0} h after the last event",
                        s.resources,
                        (range_end - last) as f64 / 3.6e9
                    ),
                    "a session must complete or fail within the stuck limit",
                    "An agent session made changes but never recorded finishing or failing.",
                    rows,
                ),
            ));
        }
    }
    out
}
