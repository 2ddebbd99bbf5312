//! What the in-memory store keeps of an event, taken from what it says in one place ([`Draft::of`]) —
//! in the source's worker threads when the store reads a stream ([`Dataset::prepare`]).
//!
//! Reading files, events are built on the parser threads. When the thread reading the stream
//! made each event's row and dropped the event, it freed some twenty texts another thread had
//! allocated: mimalloc hands each such free to the owning thread through an atomic list, and at
//! `bench/anomalies.sh`'s scale that was about a tenth of all the CPU time of a run (`perf`:
//! `mi_free` on the reading thread, `_mi_page_free_collect` on the parsers). Now the parser
//! makes the draft, encodes it into one buffer ([`Draft::encode`]) and drops the event itself;
//! the reading thread decodes the buffer ([`Draft::decode`], texts borrowed from it) and keeps
//! the row as before.
//!
//! [`Dataset::prepare`]: super::Dataset::prepare

use std::borrow::Cow;

use super::dataset::{prompt_secrets, RowParts, SCOPE_SEP};
use crate::model::{ActorClass, Outcome};
use crate::pack::Unpacker;
use crate::sources::summary::Summary;

/// An event as the store reads it: its row, the names it tells, what a session start says of
/// its authorization, and the secrets in its prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft<'a> {
    pub row: RowParts<'a>,
    /// `(id, name)` of the actor (unless unauthenticated) and of the human it acted for, when
    /// the event gives both.
    pub names: [Option<(&'a str, &'a str)>; 2],
    pub start: Start,
    /// The kinds of secret found in its prompts, and the keys they were found in.
    pub secrets: Option<(Vec<&'static str>, Vec<String>)>,
}

/// What an event says of a session's authorization (read from session starts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Start {
    /// Whether the record can hold an authorization at all: GitLab's ClickHouse session
    /// aggregate (`agent_platform_sessions`) has no authorization columns.
    pub recorded: bool,
    pub authorized: bool,
    /// When the authorization was verified, if recorded.
    pub authorized_at: Option<i64>,
}

impl Start {
    /// The start as bits of a flags byte (bits 0-2; [`Start::from_bits`] reads them back).
    pub fn bits(&self) -> u8 {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        flag(self.recorded, RECORDED)
            | flag(self.authorized, AUTHORIZED)
            | flag(self.authorized_at.is_some(), AUTHORIZED_AT)
    }

    /// The start whose [`Start::bits`] are among `flags`, verified `at` if it says so.
    pub fn from_bits(flags: u8, at: i64) -> Start {
        let on = |bit: u8| flags & bit != 0;
        Start { recorded: on(RECORDED), authorized: on(AUTHORIZED), authorized_at: on(AUTHORIZED_AT).then_some(at) }
    }
}

/// First byte of an encoded draft (other work's bytes are not drafts).
const TAG: u8 = 0xD7;
/// Bits of the flags byte.
const RECORDED: u8 = 1;
const AUTHORIZED: u8 = 2;
const AUTHORIZED_AT: u8 = 4;
const SECRETS: u8 = 8;
const ACTOR_NAME: u8 = 16;
const HELPER_NAME: u8 = 32;
/// The texts every draft has ([`Draft::texts`]).
const TEXTS: usize = 13;
/// Tag, four numbers, flags and two counts.
const HEADER: usize = 1 + 4 * 8 + 3;

impl<'a> Draft<'a> {
    /// What the store keeps of an event that says `s` ([`Summary::of_event`] for an event).
    pub fn of(s: &'a Summary<'_>) -> Draft<'a> {
        let text = |t: &'a Option<Cow<'_, str>>| t.as_deref().unwrap_or_default();
        let model = match (&s.model_provider, &s.model_engine) {
            (Some(p), Some(e)) => Cow::Owned(format!("{p}/{e}")),
            (_, engine) => Cow::Borrowed(text(engine)),
        };
        let scopes = match &s.authorization {
            Some(a) if a.scopes.len() > 1 => Cow::Owned(a.scopes.join(&SCOPE_SEP.to_string())),
            Some(a) => Cow::Borrowed(a.scopes.first().map_or("", String::as_str)),
            None => Cow::Borrowed(""),
        };
        let actor_name = match (&s.actor_id, &s.actor_name) {
            (Some(id), Some(name)) if s.class != ActorClass::Unauthenticated => Some((&**id, &**name)),
            _ => None,
        };
        let helper = s.on_behalf_of.as_ref();
        let helper_name = helper.and_then(|h| Some((h.id.as_deref()?, h.name.as_deref()?)));
        let prompts = crate::secrets::PROMPT_KEYS.iter().filter_map(|key| Some((*key, s.details.text_ref(key)?)));
        let row = RowParts {
            time: s.time.timestamp_micros(),
            id: &s.id,
            actor: s.actor(),
            event_name: &s.event_name,
            ip: text(&s.ip),
            session: text(&s.session),
            flow_type: text(&s.flow_type),
            outcome: s.outcome,
            input_tokens: s.input_tokens.unwrap_or(0),
            output_tokens: s.output_tokens.unwrap_or(0),
            project: Cow::Borrowed(&s.project),
            class: s.class,
            on_behalf_of: helper.and_then(|h| h.id.as_deref().or(h.name.as_deref())).unwrap_or_default(),
            model,
            target: text(&s.target_id),
            scopes,
        };
        Draft {
            row,
            names: [actor_name, helper_name],
            start: Start {
                recorded: s.authorization_recorded,
                authorized: s.authorization.is_some(),
                authorized_at: s.authorization.as_ref().and_then(|a| a.verified_at).map(|t| t.timestamp_micros()),
            },
            secrets: prompt_secrets(prompts),
        }
    }

    /// The texts in the order [`Draft::encode`] writes them (names and secrets follow).
    fn texts(&self) -> [&str; TEXTS] {
        let r = &self.row;
        [
            r.id,
            r.actor,
            r.event_name,
            r.ip,
            r.session,
            r.flow_type,
            &r.project,
            r.on_behalf_of,
            &r.model,
            r.target,
            &r.scopes,
            r.outcome.as_str(),
            r.class.as_str(),
        ]
    }

    /// One buffer: a tag, the numbers, a flags byte, the counts of secret kinds and keys, each
    /// text's length (4 bytes, little-endian), then the texts back to back (checked as UTF-8
    /// once when decoded, not text by text).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size());
        self.encode_into(&mut out);
        out
    }

    /// Each text [`Draft::encode`] writes, in order: fixed, names, secrets (plain loops: a chain
    /// of iterators cost more than the copying).
    fn each_text(&self, mut f: impl FnMut(&str)) {
        self.texts().into_iter().for_each(&mut f);
        for (id, name) in self.names.iter().flatten() {
            f(id);
            f(name);
        }
        if let Some((kinds, fields)) = &self.secrets {
            kinds.iter().for_each(|k| f(k));
            fields.iter().for_each(|k| f(k));
        }
    }

    /// The length of [`Draft::encode`]'s bytes.
    pub fn size(&self) -> usize {
        let mut size = HEADER;
        self.each_text(|t| size += 4 + t.len());
        size
    }

    /// [`Draft::encode`], appended to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (kinds, fields) = self.secrets.as_ref().map_or((&[][..], &[][..]), |(k, f)| (&k[..], &f[..]));
        out.push(TAG);
        for n in [self.row.time, self.start.authorized_at.unwrap_or(0)] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for n in [self.row.input_tokens, self.row.output_tokens] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        out.push(
            self.start.bits()
                | flag(self.secrets.is_some(), SECRETS)
                | flag(self.names[0].is_some(), ACTOR_NAME)
                | flag(self.names[1].is_some(), HELPER_NAME),
        );
        let counts =
            [kinds.len(), fields.len()].map(|n| u8::try_from(n).expect("fewer than 256 kinds and prompt keys"));
        out.extend_from_slice(&counts);
        self.each_text(|t| out.extend_from_slice(&u32::try_from(t.len()).expect("texts under 4 GiB").to_le_bytes()));
        self.each_text(|t| out.extend_from_slice(t.as_bytes()));
    }

    /// A draft [`Draft::encode`] wrote; `None` for other bytes.
    pub fn decode(bytes: &'a [u8]) -> Option<Draft<'a>> {
        let mut r = Unpacker { bytes: bytes.strip_prefix(&[TAG])? };
        let time = r.i64()?;
        let authorized_at = r.i64()?;
        let input_tokens = r.u64()?;
        let output_tokens = r.u64()?;
        let [flags, kinds, fields] = *r.take(3)? else { return None };
        let on = |bit: u8| flags & bit != 0;
        let names = 2 * (usize::from(on(ACTOR_NAME)) + usize::from(on(HELPER_NAME)));
        let secrets = if on(SECRETS) { usize::from(kinds) + usize::from(fields) } else { 0 };
        let lengths = r.take(4 * (TEXTS + names + secrets))?;
        let all = simdutf8::basic::from_utf8(r.bytes).ok()?;
        let mut at = 0;
        let mut texts = lengths.chunks_exact(4).map(|len| {
            let end = at + usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
            let text = all.get(at..end)?;
            at = end;
            Some(text)
        });
        let mut next = || texts.next().flatten();
        let mut fixed = [""; TEXTS];
        for t in &mut fixed {
            *t = next()?;
        }
        let [id, actor, event_name, ip, session, flow_type, project, on_behalf_of, model, target, scopes, outcome, class] =
            fixed;
        let mut name = |bit: u8| -> Option<Option<(&'a str, &'a str)>> {
            Some(if on(bit) { Some((next()?, next()?)) } else { None })
        };
        let names = [name(ACTOR_NAME)?, name(HELPER_NAME)?];
        let secrets = if on(SECRETS) {
            let kinds = (0..kinds)
                .map(|_| crate::secrets::Kind::parse(next()?).map(crate::secrets::Kind::as_str))
                .collect::<Option<Vec<_>>>()?;
            let fields = (0..fields).map(|_| next().map(str::to_string)).collect::<Option<Vec<_>>>()?;
            Some((kinds, fields))
        } else {
            None
        };
        if at != all.len() {
            return None;
        }
        let row = RowParts {
            time,
            id,
            actor,
            event_name,
            ip,
            session,
            flow_type,
            outcome: Outcome::named(outcome),
            input_tokens,
            output_tokens,
            project: Cow::Borrowed(project),
            class: ActorClass::from_source(class),
            on_behalf_of,
            model: Cow::Borrowed(model),
            target,
            scopes: Cow::Borrowed(scopes),
        };
        Some(Draft { row, names, start: Start::from_bits(flags, authorized_at), secrets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{time, Actor, AuditEvent, Authorization, Origin};

    /// A session start by a service account for a user, with a model, scopes and a token in
    /// its prompt.
    fn start() -> AuditEvent {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-02T08:00:00.000001Z").unwrap(),
            "duo_flow_started".into(),
            Actor { id: Some("5001".into()), name: Some("duo-sa".into()), class: ActorClass::ServiceAccount },
            Origin { format: "gitlab_streaming".into(), native_id: Some("7".into()) },
        );
        ev.assign_id("");
        ev.on_behalf_of = Some(Actor { id: Some("1066".into()), name: Some("priya".into()), class: ActorClass::User });
        ev.ip_address = Some("10.0.0.1".into());
        ev.outcome = Outcome::Success;
        let ai = ev.ai_mut();
        ai.session_id = Some("s-1".into());
        ai.flow_type = Some("fix_pipeline".into());
        ai.model_provider = Some("anthropic".into());
        ai.model_engine = Some("claude".into());
        ai.input_tokens = Some(4665);
        ai.output_tokens = Some(1427);
        ai.authorization = Some(Authorization {
            verified_at: Some(time::parse("2026-10-02T07:59:59Z").unwrap()),
            method: None,
            scopes: vec!["api".into(), "read_repository".into()],
        });
        ev.details.insert("input_prompt", "deploy with glpat-abcdefghijklmnopqrst".into());
        ev
    }

    #[test]
    fn a_draft_says_what_the_store_keeps() {
        let ev = start();
        let s = Summary::of_event(&ev);
        let d = Draft::of(&s);
        let r = &d.row;
        assert_eq!(r.time, 1_790_928_000_000_001);
        assert_eq!(
            (r.actor, r.on_behalf_of, r.session, r.flow_type, r.ip),
            ("5001", "1066", "s-1", "fix_pipeline", "10.0.0.1")
        );
        assert_eq!((&*r.model, &*r.scopes, r.input_tokens), ("anthropic/claude", "api\u{1f}read_repository", 4665));
        assert_eq!(d.names, [Some(("5001", "duo-sa")), Some(("1066", "priya"))]);
        assert_eq!(d.start, Start { recorded: true, authorized: true, authorized_at: Some(1_790_927_999_000_000) });
        assert_eq!(d.secrets, Some((vec!["gitlab_token"], vec!["input_prompt".to_string()])));
    }

    #[test]
    fn drafts_come_back_from_their_bytes_as_they_were() {
        let ev = start();
        let s = Summary::of_event(&ev);
        let d = Draft::of(&s);
        let bytes = d.encode();
        assert_eq!(bytes[0], TAG);
        assert_eq!(Draft::decode(&bytes), Some(d));
        // The plainest event: no names, no secrets, nothing of a session.
        let plain = AuditEvent::new(
            time::parse("2026-10-02T08:00:00Z").unwrap(),
            "user_signed_in".into(),
            Actor { id: None, name: None, class: ActorClass::Unauthenticated },
            Origin::default(),
        );
        let s = Summary::of_event(&plain);
        let d = Draft::of(&s);
        let bytes = d.encode();
        assert_eq!(
            bytes.len(),
            1 + 32 + 3 + 13 * 4 + "user_signed_in".len() + "unknown".len() + "unauthenticated".len()
        );
        assert_eq!(Draft::decode(&bytes), Some(d));
        // Other bytes, and drafts cut short, are not drafts.
        assert_eq!(Draft::decode(b"{\"schema\":1}"), None);
        assert_eq!(Draft::decode(&bytes[..bytes.len() - 1]), None);
    }

    /// A stream read through the drafts' bytes keeps what pushing its events keeps, and skips
    /// the events outside the window.
    #[test]
    fn a_prepared_stream_keeps_what_its_events_keep() {
        use super::super::Dataset;
        use crate::sources::{Prepare, Record, SourceError};
        let mut events = vec![start()];
        let mut end = start();
        end.event_name = "duo_flow_completed".into();
        end.actor = Actor {
            id: Some("-1".into()),
            name: Some("An unauthenticated user".into()),
            class: ActorClass::Unauthenticated,
        };
        end.time = time::parse("2026-10-02T09:00:00Z").unwrap();
        end.assign_id("end");
        events.push(end);
        let mut outside = start();
        outside.time = time::parse("2026-11-02T09:00:00Z").unwrap();
        events.push(outside);
        let within = crate::range::TimeRange { from: None, to: Some(time::parse("2026-11-01T00:00:00Z").unwrap()) };
        let work = Dataset::prepare(within);
        let records: Vec<Result<Record, SourceError>> =
            events.iter().map(|ev| Ok(Prepare::record(Some(&work), ev.clone(), None))).collect();
        for (r, ev) in records.iter().zip(&events) {
            let kept = &r.as_ref().unwrap().event;
            assert_eq!(
                **kept,
                AuditEvent { id: ev.id.clone(), ..AuditEvent::hollow(ev.time) },
                "the events stay in the workers"
            );
        }
        let read = Dataset::read(Box::new(records.into_iter()), &within).unwrap();
        let mut pushed = Dataset::default();
        events.iter().filter(|ev| within.contains(&ev.time)).for_each(|ev| pushed.push(ev));
        let rows = |d: &Dataset| format!("{:?}", d.rows.iter().collect::<Vec<_>>());
        assert_eq!(read.rows.len(), 2);
        assert_eq!(rows(&read), rows(&pushed));
        let sessions = |d: &Dataset| format!("{:?}", d.sessions.iter().collect::<std::collections::BTreeMap<_, _>>());
        assert_eq!(sessions(&read), sessions(&pushed));
        assert!(sessions(&read).contains("ended: true"));
        assert_eq!(format!("{:?}", read.secrets), format!("{:?}", pushed.secrets));
        assert_eq!(read.secrets.len(), 2);
        assert_eq!(
            (read.name_of("5001"), read.name_of("1066"), read.name_of("-1")),
            ("duo-sa".into(), "priya".into(), String::new())
        );
    }

    #[test]
    fn every_class_and_outcome_survives_the_bytes() {
        use ActorClass::*;
        for class in [
            User,
            ServiceAccount,
            DeployKey,
            DeployToken,
            CiRunner,
            ProjectBot,
            Unauthenticated,
            WebhookEvent,
            PollCycle,
            AdminAction,
            System,
            Unknown,
        ] {
            for outcome in [Outcome::Success, Outcome::Failure, Outcome::Unknown] {
                let mut ev = start();
                ev.actor.class = class;
                ev.outcome = outcome;
                let s = Summary::of_event(&ev);
                let d = Draft::of(&s);
                let back = Draft::decode(&d.encode()).map(|d| (d.row.class, d.row.outcome));
                assert_eq!(back, Some((class, outcome)));
            }
        }
    }
}
