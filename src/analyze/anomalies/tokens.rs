//! Token outliers: sessions whose model token use (input + output) is far above the baseline's
//! sessions — above max(3 × the baseline 99th percentile, 20 × the baseline median) — and
//! actors whose token use in the range is above 8 × their own baseline daily rate over the same
//! number of days and above twice the peers' 99th percentile. False positives: legitimately large
//! tasks (a repository-wide refactoring), a new model with different token accounting.

use std::collections::BTreeMap;

use super::store::{in_order, Filter, Key};
use super::{quantile, Draft, Heuristic, Input};

pub struct TokenOutliers;

impl Heuristic for TokenOutliers {
    fn name(&self) -> &'static str {
        "token_outlier"
    }

    fn description(&self) -> &'static str {
        "sessions and actors using far more model tokens than the baseline's sessions and peers"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let data = input.data;
        let per_actor = |window: &super::Window| -> BTreeMap<String, u64> {
            let groups = data.group(&[Key::Principal], &[Filter::Tokens], window);
            groups.into_iter().map(|g| (g.text(0).to_string(), g.tokens)).collect()
        };
        let base_actors = per_actor(&input.baseline);
        let now_actors = per_actor(&input.range);
        // The rows of a session's or actor's token use, earliest first.
        let evidence = |subject: Filter| in_order(data, data.rows(&[subject, Filter::Tokens], &input.range));
        let mut out = Vec::new();
        // Sessions are many: only their sizes cross, and only the range's outliers.
        let mut sizes: Vec<f64> =
            data.tokens(Key::Session, &[Filter::Tokens], &input.baseline).into_iter().map(|n| n as f64).collect();
        if sizes.len() >= 20 {
            let p99 = quantile(&mut sizes, 0.99);
            let median = quantile(&mut sizes, 0.5);
            let threshold = (3.0 * p99).max(20.0 * median);
            // Sessions whose tokens exceed the threshold (`threshold` as a whole number of tokens).
            let outliers = data.group_above(&[Key::Session], &[Filter::Tokens], &input.range, threshold.floor() as u64);
            for g in outliers.into_iter().filter(|g| !g.text(0).is_empty()) {
                let (session, n) = (g.text(0).to_string(), g.tokens);
                if (n as f64) <= threshold {
                    continue;
                }
                let rows = evidence(Filter::Sessions(vec![session.clone()]));
                let actor = rows.first().map(|(_, r)| r.principal().to_string()).unwrap_or_default();
                let rows = rows.into_iter().map(|(i, _)| i).collect();
                out.push(Draft {
                    severity: 5,
                    actor,
                    value: format!("{n} tokens in one session"),
                    threshold: format!("baseline sessions: median {median:.0}, p99 {p99:.0}; threshold {threshold:.0}"),
                    explanation: format!(
                        "This agent session used about {:.0} times the tokens of a typical session.",
                        n as f64 / median.max(1.0)
                    ),
                    sessions: vec![session],
                    rows,
                    ..Draft::default()
                });
            }
        }
        let base_days = ((input.baseline.to - input.baseline.from).num_seconds() as f64 / 86_400.0).max(1.0);
        let range_days = ((input.range.to - input.range.from).num_seconds() as f64 / 86_400.0).max(1.0);
        let mut peers: Vec<f64> = base_actors.values().map(|n| *n as f64 / base_days * range_days).collect();
        if peers.len() >= 5 {
            let p99 = quantile(&mut peers, 0.99);
            for (actor, n) in now_actors {
                let own = base_actors.get(&actor).map_or(0.0, |b| *b as f64 / base_days * range_days);
                let threshold = (8.0 * own).max(2.0 * p99);
                if own == 0.0 || (n as f64) <= threshold {
                    continue;
                }
                let rows = evidence(Filter::Principal(actor.clone())).into_iter().map(|(i, _)| i).collect();
                out.push(Draft {
                    severity: 4,
                    actor,
                    value: format!("{n} tokens in the range"),
                    threshold: format!(
                        "own baseline rate {own:.0} per range; peers' p99 {p99:.0}; threshold {threshold:.0}"
                    ),
                    explanation: "This actor's agents used several times their usual amount of model tokens.".into(),
                    rows,
                    ..Draft::default()
                });
            }
        }
        out
    }
}
