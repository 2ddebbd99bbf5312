//! The evidence a report is computed from, read in one pass over the source: the sessions,
//! statistics and hash chain of the period's audit records, and a [`Store`] the checks ask
//! about single events — the events kept in memory, or, on ClickHouse, questions the server
//! answers (the anomaly heuristics run there while the events stream by, and no event is
//! held here).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::analyze::anomalies::dataset::Row;
use crate::analyze::anomalies::lifecycle::Problems;
use crate::analyze::anomalies::service_accounts::may_provision;
use crate::analyze::anomalies::store::{in_order, Filter, Store};
use crate::analyze::anomalies::{self, Dataset, Finding, Input, Settings, Window};
use crate::analyze::sessions::{Collector, SessionReport};
use crate::chain::{Chain, Head};
use crate::encode::json::JsonEncoder;
use crate::encode::Encoder;
use crate::model::{time, ActorClass, AuditEvent, Outcome, Timestamp};
use crate::pack::{Packer, Unpacker};
use crate::range::TimeRange;
use crate::report::condensed::{Condense, Condensed};
use crate::secrets::redactor::Redactor;
use crate::sources::{EventStream, Prepare, Record, SourceError};

/// At most this many event ids are kept per list of evidence.
pub const MAX_IDS: usize = 20;

/// Event ids, capped, with the total.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ids {
    pub ids: Vec<String>,
    pub count: u64,
}

impl Ids {
    pub fn push(&mut self, id: &str) {
        self.count += 1;
        if self.ids.len() < MAX_IDS {
            self.ids.push(id.to_string());
        }
    }
}

/// How many of the period's records carry each part of an audit record (NIST AU-3).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Content {
    pub who: u64,
    pub what: u64,
    pub when: u64,
    /// Scope (project, group) or source address.
    pub r#where: u64,
    pub outcome: u64,
    /// All five.
    pub complete: u64,
    pub incomplete: Ids,
}

/// How many of the period's agent records carry the agent context (AU-3(1)).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AiContent {
    pub events: u64,
    pub with_session: u64,
    pub with_model: u64,
    pub with_tokens: u64,
    pub without_session: Ids,
}

/// Statistics of the period's records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub events: u64,
    /// UTC day → events.
    pub per_day: BTreeMap<String, u64>,
    /// Event category → events.
    pub categories: BTreeMap<String, u64>,
    pub content: Content,
    pub ai: AiContent,
    /// Records that go back in time within their stream (by more than the tolerance), as read.
    pub out_of_order: Ids,
    /// Distinct streams (origin formats / tables).
    pub streams: BTreeSet<String>,
    /// Actors of class service account that acted in the period.
    pub service_accounts: BTreeSet<String>,
}

/// Sessions per question of [`Evidence::session_rows`] (ClickHouse's default query size limit,
/// 256 KiB, holds about 5,000 quoted ids of 40 characters).
const SESSION_BATCH: usize = 2_000;

/// Time going backwards within a stream by less than this is ordinary jitter between writers.
pub const ORDER_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// Everything the checks look at.
pub struct Evidence {
    pub period: Window,
    pub baseline: Window,
    /// The events of the baseline and the period, as the heuristics and checks ask about them.
    pub store: Box<dyn Store>,
    /// Sessions of the period (see [`Evidence::period_sessions`]) and sessions started before
    /// it that created resources in it; summaries only (no prompt, plan or decisions).
    pub sessions: Vec<SessionReport>,
    /// Findings of every heuristic for the period.
    pub findings: Vec<Finding>,
    pub stats: Stats,
    /// The oldest event the source holds (retention).
    pub earliest: Option<Timestamp>,
    /// The heuristics' settings; `provisioned` holds the service accounts with a provisioning
    /// event in the history read (or, on ClickHouse, in the baseline and the period).
    pub settings: Settings,
    /// Whether the package will be signed.
    pub signed: bool,
    /// The head of the hash chain of the period's events as `export --format json` links them.
    pub chain: Option<Head>,
    /// The period's lifecycle problems, as the lifecycle heuristic found them (see
    /// `checks::lifecycle::exceptions`).
    pub lifecycle: Problems,
}

struct Reader {
    provisioned: BTreeSet<String>,
    sessions: Collector,
    earliest: Option<Timestamp>,
    period: Period,
}

/// What is taken from each event of the period: statistics and the chain head. It runs on a
/// thread of its own beside the reader (hashing every event's record is a good part of the
/// work; the source's threads encode the records, see [`Evidence::prepare`]), which also frees
/// the events.
struct Period {
    stats: Stats,
    /// UTC day → events of the period (`stats.per_day` once read).
    days: BTreeMap<chrono::NaiveDate, u64>,
    last: BTreeMap<String, Timestamp>,
    /// The hash chain `export --range PERIOD --format json` gives the period's events.
    chain: Chain,
}

/// Events of the period handed to its thread at a time (at least).
const PERIOD_BATCH: usize = 1024;

impl Reader {
    /// Take in `stream`, its events condensed by `condense` (on the source's threads, see
    /// [`Evidence::prepare`]; here for records that come whole); the store's rows go to `data`,
    /// when given.
    fn read(
        &mut self,
        stream: EventStream,
        condense: &Condense,
        mut data: Option<&mut Dataset>,
    ) -> Result<(), SourceError> {
        let Reader { provisioned, sessions, earliest, period: stats } = self;
        std::thread::scope(|s| {
            // The records holding the period's events, in order, as the source made them (a file's
            // hold a batch of events each: see `Prepare::bundling`), sent on in batches.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(4);
            let worker = std::thread::Builder::new()
                .name("report-period".into())
                .spawn_scoped(s, move || {
                    for batch in rx {
                        for bytes in batch.iter().flat_map(|bundle| Prepare::frames(bundle)) {
                            if let Some(event) = Condensed::period(bytes) {
                                stats.add(&event);
                            }
                        }
                    }
                })
                .expect("cannot start a thread");
            let (mut batch, mut batched) = (Vec::new(), 0);
            let read = || -> Result<(), SourceError> {
                for rec in stream {
                    let Record { event, prepared, .. } = rec?;
                    *earliest = Some(earliest.map_or(event.time, |e| e.min(event.time)));
                    let bundle = match prepared {
                        Some(bundle) => bundle,
                        None => match condense.bytes(&event) {
                            Some(bytes) => crate::sources::framed(&bytes),
                            None => continue,
                        },
                    };
                    let mut in_period = 0;
                    for bytes in Prepare::frames(&bundle) {
                        let c = Condensed::unpack(bytes).expect("a condensed event reads back");
                        // Provisioning is looked for in all the history read, not only the baseline
                        // (a store is asked instead: see `collect`).
                        if let Some(id) = c.provisioned {
                            provisioned.insert(id.to_string());
                        }
                        if let (Some(data), Some(draft)) = (data.as_deref_mut(), c.draft) {
                            data.push_draft(draft);
                        }
                        if let Some(seen) = &c.seen {
                            sessions.take(seen);
                        }
                        in_period += usize::from(c.period);
                    }
                    if in_period > 0 {
                        batch.push(bundle);
                        batched += in_period;
                        if batched >= PERIOD_BATCH {
                            batched = 0;
                            if tx.send(std::mem::take(&mut batch)).is_err() {
                                break; // the thread failed: joined below
                            }
                        }
                    }
                }
                Ok(())
            };
            let result = read();
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            drop(tx);
            worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            result
        })
    }
}

/// What the period's statistics and chain take from one of its events, read on the source's
/// threads ([`PeriodEvent::pack`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodEvent<'a> {
    pub id: &'a str,
    pub time: Timestamp,
    /// Its category ("other" when it has none).
    pub category: &'a str,
    /// The stream it came from (its origin format).
    pub stream: &'a str,
    /// Which parts of an audit record it carries (AU-3).
    pub who: bool,
    pub what: bool,
    pub r#where: bool,
    pub outcome: bool,
    /// For an agent's `duo_flow_*` record: whether it names its session, model and tokens.
    pub ai: Option<[bool; 3]>,
    /// The actor, when a service account.
    pub service_account: Option<&'a str>,
    /// The record `export --format json` links into the chain (see [`chain_bytes`]).
    pub record: &'a [u8],
}

impl<'a> PeriodEvent<'a> {
    /// What `ev` tells the period's statistics, and its `record`.
    pub fn of(ev: &'a AuditEvent, record: &'a [u8]) -> PeriodEvent<'a> {
        PeriodEvent {
            id: &ev.id,
            time: ev.time,
            category: ev.category.as_deref().unwrap_or("other"),
            stream: &ev.origin.format,
            who: ev.actor.id.is_some() || ev.actor.name.is_some(),
            what: !ev.event_name.is_empty(),
            r#where: ev.scope.is_some() || ev.ip_address.is_some(),
            outcome: ev.outcome != Outcome::Unknown || !ev.event_name.is_empty() && known_outcome(&ev.event_name),
            ai: ev.ai.as_ref().filter(|_| ev.event_name.starts_with("duo_flow_")).map(|ai| {
                [
                    ai.session_id.is_some(),
                    ai.model_engine.is_some() || ai.model_provider.is_some(),
                    ai.input_tokens.is_some() || ai.output_tokens.is_some(),
                ]
            }),
            service_account: ev.actor.id.as_deref().filter(|_| ev.actor.class == ActorClass::ServiceAccount),
            record,
        }
    }

    /// Appends what [`PeriodEvent::unpack`] reads back of `ev`, its record redacted by `redactor`.
    pub fn pack(ev: &AuditEvent, redactor: &Redactor, p: &mut Packer) {
        let e = PeriodEvent::of(ev, &[]);
        p.text(e.id);
        p.time(&e.time);
        p.text(e.category);
        p.text(e.stream);
        let ai = e.ai.unwrap_or_default();
        let bits = [e.who, e.what, e.r#where, e.outcome, e.ai.is_some(), ai[0], ai[1], ai[2]];
        p.u8(bits.iter().enumerate().fold(0, |b, (i, on)| b | (u8::from(*on) << i)));
        p.opt_text(e.service_account);
        p.nested(|p| chain_bytes(redactor, ev, p.out));
    }

    pub fn unpack(r: &mut Unpacker<'a>) -> Option<PeriodEvent<'a>> {
        let (id, time, category, stream) = (r.text()?, r.time()?, r.text()?, r.text()?);
        let bits = r.u8()?;
        let on = |i: u8| bits & (1 << i) != 0;
        let e = PeriodEvent {
            id,
            time,
            category,
            stream,
            who: on(0),
            what: on(1),
            r#where: on(2),
            outcome: on(3),
            ai: on(4).then(|| [on(5), on(6), on(7)]),
            service_account: r.opt_text()?,
            record: r.blob()?,
        };
        r.done().then_some(e)
    }
}

impl Period {
    fn add(&mut self, ev: &PeriodEvent) {
        self.chain.append(ev.record);
        let s = &mut self.stats;
        s.events += 1;
        *self.days.entry(ev.time.date_naive()).or_default() += 1;
        count(&mut s.categories, ev.category);
        let c = &mut s.content;
        c.who += u64::from(ev.who);
        c.what += u64::from(ev.what);
        c.when += 1;
        c.r#where += u64::from(ev.r#where);
        c.outcome += u64::from(ev.outcome);
        if ev.who && ev.what && ev.r#where && ev.outcome {
            c.complete += 1;
        } else {
            c.incomplete.push(ev.id);
        }
        if let Some([session, model, tokens]) = ev.ai {
            s.ai.events += 1;
            if session {
                s.ai.with_session += 1;
            } else {
                s.ai.without_session.push(ev.id);
            }
            s.ai.with_model += u64::from(model);
            s.ai.with_tokens += u64::from(tokens);
        }
        match self.last.get_mut(ev.stream) {
            Some(last) => {
                if ev.time + ORDER_TOLERANCE < *last {
                    s.out_of_order.push(ev.id);
                }
                *last = (*last).max(ev.time);
            }
            None => {
                self.last.insert(ev.stream.to_string(), ev.time);
                s.streams.insert(ev.stream.to_string());
            }
        }
        if let Some(id) = ev.service_account.filter(|id| !s.service_accounts.contains(*id)) {
            s.service_accounts.insert(id.to_string());
        }
    }
}

/// What an event of the period is linked into the chain with: the record `export --format json`
/// writes for it, redacted as export redacts, without the chain fields.
fn chain_bytes(redactor: &Redactor, ev: &AuditEvent, out: &mut Vec<u8>) {
    JsonEncoder.encode(&redactor.apply(ev, &mut Default::default()), out);
}

/// One more of `key`, allocating the key only the first time.
fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// The initiating user and acting identity of `sessions` as `name (id)` from the store's names.
fn name_sessions(store: &dyn Store, sessions: &mut [SessionReport]) {
    let mut ids: Vec<String> = sessions
        .iter()
        .flat_map(|s| [(s.session.user_id != 0).then_some(s.session.user_id), s.session.service_account_id])
        .flatten()
        .map(|id| id.to_string())
        .collect();
    ids.sort();
    ids.dedup();
    store.names_for(&ids);
    let label = |id: i64| {
        let id = id.to_string();
        match store.name_of(&id) {
            name if name.is_empty() => id,
            name => format!("{name} ({id})"),
        }
    };
    for s in sessions {
        s.initiated_by = (s.session.user_id != 0).then(|| label(s.session.user_id));
        s.acted_as = s.session.service_account_id.map(label);
    }
}

/// Events whose name states their outcome (a sign-in, a failure), when the record has no
/// outcome field.
fn known_outcome(name: &str) -> bool {
    name.contains("fail") || name.contains("success") || name.contains("completed") || name.contains("created")
}

impl Evidence {
    /// What the report keeps of each event of `period` and `baseline` (see [`Condense`]); the
    /// chain head will be that of the period's events as an export with `redactor` links them.
    /// The events are kept here unless a `store` is asked (see [`Evidence::collect`]).
    pub fn condense(period: Window, baseline: Window, redactor: Redactor, store: Option<&dyn Store>) -> Condense {
        Condense { period, baseline, redactor, kept: store.is_none() }
    }

    /// Read `stream` (from [`Evidence::read_from`] to the end of the period) once, each event
    /// condensed by `condense` (made for the same `store`). With a `store`
    /// (ClickHouse), the events are not kept: the heuristics ask the store, on a second thread
    /// while the stream is read.
    pub fn collect(
        stream: EventStream,
        condense: &Condense,
        settings: Settings,
        store: Option<Box<dyn Store>>,
    ) -> Result<Evidence, SourceError> {
        assert_eq!(condense.kept, store.is_none(), "events are kept here exactly when no store is asked");
        let (period, baseline) = (condense.period, condense.baseline);
        let mut reader = Reader {
            provisioned: BTreeSet::new(),
            sessions: Collector::summaries(),
            earliest: None,
            period: Period {
                stats: Stats::default(),
                days: BTreeMap::new(),
                last: BTreeMap::new(),
                chain: Chain::start(crate::chain::DEFAULT_ID, None, None).expect("the default id is valid"),
            },
        };
        let mut settings = settings;
        let lifecycle = Problems::default();
        let pushed = store.is_some();
        // Sessions wholly in the baseline are no evidence of the period.
        let summaries = |c: Collector| {
            c.finish_where(|started, resources| {
                period.contains(&started) || resources.iter().any(|r| period.contains(&r.created_at))
            })
        };
        let (store, findings, mut sessions) = match store {
            // A database source reads only the baseline and the period, where the heuristics
            // find the provisioned service accounts themselves: nothing to wait for.
            Some(store) => {
                let (findings, provisioned) = std::thread::scope(|s| {
                    let asked = s.spawn(|| {
                        // The stream may start after the baseline (see `read_from`): the accounts
                        // provisioned in the baseline and the period are the store's.
                        let whole = Window { from: baseline.from, to: period.to };
                        let provisioned: BTreeSet<String> = store
                            .rows(&[Filter::Provisioning], &whole)
                            .into_iter()
                            .map(|i| store.row(i).extra().target.to_string())
                            .filter(|t| !t.is_empty())
                            .collect();
                        let input = Input {
                            data: &*store,
                            range: period,
                            baseline,
                            settings: &settings,
                            lifecycle: &lifecycle,
                        };
                        (anomalies::detect_in(&input, &[]), provisioned)
                    });
                    let read = reader.read(stream, condense, None);
                    let asked = asked.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                    read.map(|()| asked)
                })?;
                settings.provisioned.extend(provisioned);
                let sessions = summaries(std::mem::take(&mut reader.sessions));
                (store, findings, sessions)
            }
            // Files are read whole: accounts provisioned before the baseline count as known too.
            None => {
                let mut data = Dataset::default();
                let started = std::time::Instant::now();
                reader.read(stream, condense, Some(&mut data))?;
                tracing::debug!(rows = data.rows.len(), seconds = started.elapsed().as_secs_f64(), "events read");
                settings.provisioned.extend(std::mem::take(&mut reader.provisioned));
                let input = Input { data: &data, range: period, baseline, settings: &settings, lifecycle: &lifecycle };
                let collected = std::mem::take(&mut reader.sessions);
                // The sessions are summed up while the heuristics run: neither waits for the other.
                let (findings, sessions) = std::thread::scope(|s| {
                    let sessions = std::thread::Builder::new()
                        .name("report-sessions".into())
                        .spawn_scoped(s, move || summaries(collected))
                        .expect("cannot start a thread");
                    let findings = anomalies::detect_in(&input, &[]);
                    (findings, sessions.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                });
                (Box::new(data) as Box<dyn Store>, findings, sessions)
            }
        };
        let mut stats = reader.period.stats;
        stats.per_day = reader.period.days.iter().map(|(d, n)| (d.format("%Y-%m-%d").to_string(), *n)).collect();
        if pushed {
            // The stream began late: the names people go by are the store's (the first each
            // gave in the baseline and the period), not the first the stream happened to show.
            name_sessions(&*store, &mut sessions);
        }
        Ok(Evidence {
            period,
            baseline,
            store,
            sessions,
            findings,
            stats,
            earliest: reader.earliest,
            settings,
            signed: false,
            chain: reader.period.chain.head(),
            lifecycle,
        })
    }

    /// What the heuristics saw: the store, the period against the baseline, the settings.
    pub fn input(&self) -> Input<'_> {
        Input {
            data: &*self.store,
            range: self.period,
            baseline: self.baseline,
            settings: &self.settings,
            lifecycle: &self.lifecycle,
        }
    }

    /// Work for the source's threads ([`ReadOptions::prepare`](crate::sources::ReadOptions)):
    /// each event condensed to what the report keeps of it, so that [`Evidence::collect`] only
    /// unpacks it (records that come whole are condensed there, the same way). Events before the
    /// baseline or after the period are needed only for their time (the oldest event:
    /// retention), unless they may provision a service account; a file source yields them
    /// without building them.
    pub fn prepare(condense: &Condense) -> Prepare {
        let (from, to) = (condense.baseline.from, condense.period.to);
        let condense = condense.clone();
        Prepare::bundling(move |ev, out| condense.bytes_into(ev, out))
            .needing(TimeRange { from: Some(from), to: Some(to) }, may_provision)
    }

    /// Where the stream given to [`Evidence::collect`] must start: the baseline when the events
    /// are kept here; with a store, only what the sessions of the period need — the period,
    /// and before it the events of sessions that were already open (the store answers the
    /// heuristics' questions about the baseline itself).
    pub fn read_from(store: Option<&dyn Store>, period: &Window, baseline: &Window) -> Timestamp {
        match store {
            None => baseline.from,
            Some(store) => {
                let whole = Window { from: baseline.from, to: period.to };
                let from = store.whole_sessions_from(period.from.timestamp_micros(), &whole);
                crate::analyze::anomalies::dataset::ts(from).clamp(baseline.from, period.from)
            }
        }
    }

    /// Every event of the baseline and the period.
    pub fn whole(&self) -> Window {
        Window { from: self.baseline.from, to: self.period.to }
    }

    /// The events of `sessions` in the baseline and the period, each session's in order of
    /// time and id; asked in batches, so that a report with many such sessions stays a few
    /// questions.
    pub fn session_rows(&self, sessions: &[String]) -> BTreeMap<String, Vec<(usize, Row)>> {
        let mut out: BTreeMap<String, Vec<(usize, Row)>> = BTreeMap::new();
        for batch in sessions.chunks(SESSION_BATCH) {
            let rows = self.store.rows(&[Filter::Sessions(batch.to_vec())], &self.whole());
            for (i, r) in in_order(&*self.store, rows) {
                out.entry(r.fact.session.to_string()).or_default().push((i, r));
            }
        }
        out
    }

    /// Sessions of the period: started in it, or (without a start) first seen in it.
    pub fn period_sessions(&self) -> impl Iterator<Item = &SessionReport> {
        self.sessions.iter().filter(|s| self.period.contains(&s.session.started_at))
    }

    /// The period as people read it: `2026-10-01 – 2026-10-31` (whole UTC days) or instants.
    pub fn period_text(&self) -> String {
        period_text(&self.period)
    }
}

pub fn period_text(w: &Window) -> String {
    let whole = |t: &Timestamp| t.format("%H:%M:%S%.f").to_string() == "00:00:00";
    if whole(&w.from) && whole(&w.to) {
        let last = w.to - chrono::TimeDelta::days(1);
        format!("{} to {}", w.from.format("%Y-%m-%d"), last.format("%Y-%m-%d"))
    } else {
        format!("{} to {}", time::format(&w.from), time::format(&w.to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Origin};
    use crate::secrets::redactor::Mode;

    fn at(s: &str) -> Timestamp {
        time::parse(s).unwrap()
    }

    /// Three events, the first before the period; prompts with a token to redact.
    fn events() -> Vec<AuditEvent> {
        ["2026-09-30T23:59:59Z", "2026-10-02T08:00:00Z", "2026-10-03T09:30:00Z"]
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ev = AuditEvent::new(
                    at(t),
                    "duo_flow_started".into(),
                    Actor { id: Some("5001".into()), name: None, class: ActorClass::ServiceAccount },
                    Origin { format: "t".into(), native_id: Some(i.to_string()) },
                );
                ev.details.insert("input_prompt", "deploy with token glpat-abcdefghijklmnopqrst".into());
                ev.assign_id("");
                ev
            })
            .collect()
    }

    /// The head `collect` finds, with the records prepared by the source's threads or not.
    fn head(prepared: bool, period: Window, redactor: &Redactor) -> Head {
        let baseline = Window { from: at("2026-09-01T00:00:00Z"), to: period.from };
        let condense = Evidence::condense(period, baseline, redactor.clone(), None);
        let work = Evidence::prepare(&condense);
        let records: Vec<Result<Record, SourceError>> =
            events().into_iter().map(|ev| Ok(Prepare::record(prepared.then_some(&work), ev, None))).collect();
        if prepared {
            let bytes =
                || records.iter().filter_map(|r| r.as_ref().unwrap().prepared.as_deref()).flat_map(Prepare::frames);
            assert_eq!(bytes().count(), 3, "the baseline's event is condensed too");
            let linked = bytes().filter_map(Condensed::period).count();
            assert_eq!(linked, 2, "only the period's events are encoded");
        }
        let stream = Box::new(records.into_iter());
        let ev = Evidence::collect(stream, &condense, Settings::default(), None).unwrap();
        ev.chain.unwrap()
    }

    /// Prepared or not, the period's events link the chain `export --format json` writes for
    /// them, redacted as export redacts.
    #[test]
    fn prepared_records_link_the_chain_export_writes() {
        let period = Window { from: at("2026-10-01T00:00:00Z"), to: at("2026-11-01T00:00:00Z") };
        let redactor = Redactor::with_key(Mode::Prompts, b"k");
        let mut chain = Chain::start(crate::chain::DEFAULT_ID, None, None).unwrap();
        let mut out = Vec::new();
        for ev in events().iter().filter(|ev| period.contains(&ev.time)) {
            let redacted = redactor.apply(ev, &mut Default::default());
            assert!(matches!(redacted, std::borrow::Cow::Owned(_)), "the prompt is redacted");
            JsonEncoder.encode_chained(&redacted, &mut chain, &mut out);
        }
        let export = chain.head().unwrap();
        assert_eq!(export.seq, 2);
        assert_eq!(head(true, period, &redactor), export);
        assert_eq!(head(false, period, &redactor), export);
    }
}
