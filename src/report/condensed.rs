//! What the report keeps of an event, made on the source's worker threads and packed into one
//! buffer ([`Condense::bytes`]); the event itself is dropped there (see
//! [`Prepare::condensing`](crate::sources::Prepare::condensing)).
//!
//! Reading files, every event is built on a parser thread. When the report's reader took its
//! row, session facts and statistics from the event and the period's thread dropped it, each
//! of an event's twenty-odd texts was freed on a thread other than the one that allocated it
//! (mimalloc's cross-thread list, paid by both), and every field read was a cache miss on the
//! reading core. Now the parser reads what the report needs while the event is in its cache:
//! - for the period, the [statistics](crate::report::evidence::PeriodEvent) and the record the
//!   hash chain links (first in the buffer: the period's thread reads only that);
//! - the service account it provisions, if it does (history before the period);
//! - the anomalies store's [row](Draft) (baseline and period, when the events are kept here);
//! - what the session summaries [see](Seen) of it (baseline and period).

use crate::analyze::anomalies::draft::Draft;
use crate::analyze::anomalies::service_accounts::is_provisioning;
use crate::analyze::anomalies::Window;
use crate::analyze::sessions::Seen;
use crate::model::AuditEvent;
use crate::pack::{Packer, Unpacker};
use crate::report::evidence::PeriodEvent;
use crate::secrets::redactor::Redactor;
use crate::sources::summary::Summary;

/// What to keep of each event.
#[derive(Clone)]
pub struct Condense {
    pub period: Window,
    pub baseline: Window,
    /// The redaction export applies before linking (the chain's records).
    pub redactor: Redactor,
    /// Whether the events are kept here (the store's rows and provisioning), not asked of a
    /// database.
    pub kept: bool,
}

/// Bits of the first byte.
const PERIOD: u8 = 1;
const DRAFT: u8 = 2;
const SEEN: u8 = 4;

/// An event as [`Condense::bytes`] packed it.
pub struct Condensed<'a> {
    /// The service account the event provisioned (before the end of the period).
    pub provisioned: Option<&'a str>,
    pub draft: Option<Draft<'a>>,
    pub seen: Option<Seen<'a>>,
    /// Whether it is of the period ([`PeriodEvent::unpack`] reads it).
    pub period: bool,
}

impl Condense {
    /// What the report keeps of `ev`; `None` when that is its time alone.
    pub fn bytes(&self, ev: &AuditEvent) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.bytes_into(ev, &mut out).then_some(out)
    }

    /// [`Condense::bytes`], appended to `out`; whether there were any.
    pub fn bytes_into(&self, ev: &AuditEvent, out: &mut Vec<u8>) -> bool {
        let whole = self.baseline.from <= ev.time && ev.time < self.period.to;
        let in_period = self.period.contains(&ev.time);
        let provisioned = (self.kept && ev.time < self.period.to && is_provisioning(&ev.event_name))
            .then(|| ev.target.as_ref().and_then(|t| t.id.as_deref()))
            .flatten();
        if !whole && provisioned.is_none() {
            return false;
        }
        let summary = (whole && self.kept).then(|| Summary::of_event(ev));
        let draft = summary.as_ref().map(Draft::of);
        // Room for the record too: growing the buffer once more costs a copy.
        let record = if in_period { 1024 + ev.details.as_json().len() } else { 0 };
        out.reserve(record + draft.as_ref().map_or(0, Draft::size) + 256);
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        out.push(flag(in_period, PERIOD) | flag(draft.is_some(), DRAFT) | flag(whole, SEEN));
        let mut p = Packer { out };
        if in_period {
            p.nested(|p| PeriodEvent::pack(ev, &self.redactor, p));
        }
        p.opt_text(provisioned);
        if let Some(draft) = draft {
            p.nested(|p| draft.encode_into(p.out));
        }
        if whole {
            Seen::of(ev).pack(&mut p);
        }
        true
    }
}

impl<'a> Condensed<'a> {
    /// What [`Condense::bytes`] wrote; `None` for other bytes.
    pub fn unpack(bytes: &'a [u8]) -> Option<Condensed<'a>> {
        let (&flags, rest) = bytes.split_first()?;
        let on = |bit: u8| flags & bit != 0;
        let mut r = Unpacker { bytes: rest };
        if on(PERIOD) {
            r.blob()?;
        }
        let provisioned = r.opt_text()?;
        let draft = if on(DRAFT) { Some(Draft::decode(r.blob()?)?) } else { None };
        let seen = if on(SEEN) { Some(Seen::unpack(&mut r)?) } else { None };
        r.done().then_some(Condensed { provisioned, draft, seen, period: on(PERIOD) })
    }

    /// The period's part of what [`Condense::bytes`] wrote, if any.
    pub fn period(bytes: &'a [u8]) -> Option<PeriodEvent<'a>> {
        let (&flags, rest) = bytes.split_first()?;
        if flags & PERIOD == 0 {
            return None;
        }
        PeriodEvent::unpack(&mut Unpacker { bytes: Unpacker { bytes: rest }.blob()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::json::JsonEncoder;
    use crate::encode::Encoder;
    use crate::model::time;
    use crate::secrets::redactor::Mode;
    use crate::sources::ndjson::NdjsonSource;

    fn at(s: &str) -> crate::model::Timestamp {
        time::parse(s).unwrap()
    }

    /// Every event of the bundled demo data, condensed and read back, tells what it tells read
    /// directly: the store's row, what the session summaries see, the period's statistics and
    /// the record the chain links, and the account it provisions.
    #[test]
    fn condensed_events_read_back_as_the_events_read() {
        let events: Vec<AuditEvent> =
            NdjsonSource::new(crate::sources::demo::inputs()).map(|r| *r.unwrap().event).collect();
        let period = Window { from: at("2026-10-12T00:00:00Z"), to: at("2026-10-19T00:00:00Z") };
        let baseline = Window { from: at("2026-10-01T00:00:00Z"), to: period.from };
        let redactor = Redactor::with_key(Mode::Prompts, b"k");
        let mut seen = [0; 5];
        for kept in [true, false] {
            let condense = Condense { period, baseline, redactor: redactor.clone(), kept };
            for ev in &events {
                let whole = baseline.from <= ev.time && ev.time < period.to;
                let provisions = kept && ev.time < period.to && is_provisioning(&ev.event_name);
                let Some(bytes) = condense.bytes(ev) else {
                    assert!(!whole && !provisions, "{} is needed", ev.id);
                    continue;
                };
                let c = Condensed::unpack(&bytes).expect("reads back");
                let summary = Summary::of_event(ev);
                assert_eq!(c.draft, (whole && kept).then(|| Draft::of(&summary)));
                assert_eq!(c.seen, whole.then(|| Seen::of(ev)));
                assert_eq!(c.provisioned, ev.target.as_ref().and_then(|t| t.id.as_deref()).filter(|_| provisions));
                let mut record = Vec::new();
                JsonEncoder.encode(&redactor.apply(ev, &mut Default::default()), &mut record);
                let expected = period.contains(&ev.time).then(|| PeriodEvent::of(ev, &record));
                assert_eq!(Condensed::period(&bytes), expected);
                assert_eq!(c.period, expected.is_some());
                // Each kind of fact was met.
                let facts = [c.draft.is_some(), c.seen.is_some(), c.period, c.provisioned.is_some()];
                let session = c.seen.is_some_and(|s| s.session.is_some_and(|s| s.resource.is_some()));
                for (n, on) in seen.iter_mut().zip(facts.into_iter().chain([session])) {
                    *n += usize::from(on);
                }
            }
        }
        assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
    }

    /// Bytes that are not a condensed event are told apart, not misread.
    #[test]
    fn other_bytes_do_not_read_back() {
        assert!(Condensed::unpack(&[]).is_none());
        assert!(Condensed::unpack(&[PERIOD | SEEN, 9, 0, 0, 0]).is_none());
        assert!(Condensed::period(&[DRAFT]).is_none());
        // A whole condensed event with a byte too many.
        let ev = AuditEvent::new(
            at("2026-10-13T00:00:00Z"),
            "x".into(),
            crate::model::Actor::default(),
            crate::model::Origin::default(),
        );
        let condense = Condense {
            period: Window { from: at("2026-10-12T00:00:00Z"), to: at("2026-10-19T00:00:00Z") },
            baseline: Window { from: at("2026-10-01T00:00:00Z"), to: at("2026-10-12T00:00:00Z") },
            redactor: Redactor::with_key(Mode::Prompts, b"k"),
            kept: true,
        };
        let mut bytes = condense.bytes(&ev).unwrap();
        assert!(Condensed::unpack(&bytes).is_some());
        bytes.push(0);
        assert!(Condensed::unpack(&bytes).is_none());
    }
}
