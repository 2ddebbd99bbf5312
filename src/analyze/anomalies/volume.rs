//! Volume spike: an actor (the human behind an agent, else the actor) whose daily event count
//! in the range far exceeds their own baseline. Robust: the baseline is the median and MAD of
//! the actor's active days; a day is a spike above max(40, median + 8·1.4826·MAD, 4 × median).
//! Consecutive spike days make one finding. Needs 5 active baseline days (new actors have no
//! normal yet). False positives: release days, migrations, an actor's first heavy project.

use std::collections::BTreeMap;

use super::store::{Filter, GroupRef, Having, Key, Store};
use super::{median_mad, Draft, Heuristic, Input, Window};
use crate::analyze::aggregate::Bucket;

pub struct VolumeSpike;

const MIN_COUNT: f64 = 40.0;
const MIN_BASELINE_DAYS: usize = 5;

/// A principal's active days: (day start in microseconds, events).
type Days = Vec<(i64, i64)>;

/// Each principal's days and their counts (from groups by principal and day, one at a time),
/// for the principals `having` keeps given their number of days (and of events): most
/// principals (one per poll cycle, say) never have enough days to matter, and a store in
/// memory leaves them out before it sorts the groups. A store gives a principal's groups one
/// after the other (they are sorted).
fn per_actor_day(data: &dyn Store, window: &Window, having: Having) -> BTreeMap<String, Days> {
    let mut m: BTreeMap<String, Days> = BTreeMap::new();
    let (mut actor, mut days) = (String::new(), Days::new());
    let done = |m: &mut BTreeMap<String, Days>, actor: &str, days: &mut Days| {
        if !days.is_empty() {
            m.entry(actor.to_string()).or_default().append(days);
        }
    };
    data.group_each(&[Key::Principal, Key::Day], &[], window, having, &mut |g: GroupRef| {
        let text = g.text(0);
        if *text != *actor {
            done(&mut m, &actor, &mut days);
            actor.clear();
            actor.push_str(&text);
        }
        days.push((g.int(1), g.count as i64));
    });
    done(&mut m, &actor, &mut days);
    m
}

impl Heuristic for VolumeSpike {
    fn name(&self) -> &'static str {
        "volume_spike"
    }

    fn description(&self) -> &'static str {
        "an actor's daily activity far above their own baseline (median/MAD of active days)"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        // An actor judged has that many days, so as many rows at least.
        let rarest = MIN_BASELINE_DAYS as u64;
        let judged = |_: &str, days, _| days >= MIN_BASELINE_DAYS;
        let base = per_actor_day(input.data, &input.baseline, Having::new(&judged).none_rarer_than(rarest));
        let in_base = |actor: &str, _, _| base.contains_key(actor);
        let now = per_actor_day(input.data, &input.range, Having::new(&in_base).none_rarer_than(rarest));
        let day = Bucket::Day.micros();
        let mut out = Vec::new();
        for (actor, days) in now {
            if actor.is_empty() {
                continue;
            }
            let Some(history) = base.get(&actor).filter(|h| h.len() >= MIN_BASELINE_DAYS) else { continue };
            let mut counts: Vec<f64> = history.iter().map(|(_, n)| *n as f64).collect();
            let (median, mad) = median_mad(&mut counts);
            let threshold = MIN_COUNT.max(median + 8.0 * 1.4826 * mad.max(1.0)).max(4.0 * median);
            let spikes: Vec<(i64, i64)> = days.into_iter().filter(|(_, n)| *n as f64 > threshold).collect();
            // Consecutive days make one finding.
            let mut runs: Vec<Vec<(i64, i64)>> = Vec::new();
            for s in spikes {
                match runs.last_mut() {
                    Some(run) if run.last().is_some_and(|(d, _)| d + day == s.0) => run.push(s),
                    _ => runs.push(vec![s]),
                }
            }
            for run in runs {
                let (from, to) = (run[0].0, run.last().expect("non-empty").0 + day);
                let window = super::Window::from_micros(from, to);
                let rows = input.data.rows(&[Filter::Principal(actor.clone())], &window);
                let peak = run.iter().map(|(_, n)| *n).max().unwrap_or(0);
                out.push(Draft {
                    severity: 6,
                    actor: actor.clone(),
                    window: Some(window),
                    value: format!("{peak} events in a day ({} day(s) above threshold)", run.len()),
                    threshold: format!("baseline median {median:.0}/day, MAD {mad:.1}; threshold {threshold:.0}"),
                    explanation: format!(
                        "This actor did about {:.0} times their usual daily amount of activity.",
                        peak as f64 / median.max(1.0)
                    ),
                    rows,
                    ..Draft::default()
                });
            }
        }
        out
    }
}
