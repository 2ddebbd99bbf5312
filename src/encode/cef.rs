//! ArcSight Common Event Format (CEF rev 25):
//! `CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension`.
//!
//! Header fields escape only `\` and `|` and never contain a line break (replaced by a space).
//! Extension values escape `\`, `=`, CR (`\r`) and LF (`\n`), never `|`. Every value is cut to
//! the spec's length for its key, in bytes, never inside a UTF-8 character. Keys are written in
//! a fixed order, so the same event always gives the same bytes. README has the key table.

use std::borrow::Cow;
use std::net::IpAddr;

use super::Encoder;
use crate::chain::{self, Anchor, Chain};
use crate::model::catalog::{display_name, SeverityTable};
use crate::model::{time, ActorClass, AuditEvent};

/// Vendor, product and version in the CEF header (`--cef-vendor`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefConfig {
    pub vendor: String,
    pub product: String,
    pub version: String,
}

impl Default for CefConfig {
    fn default() -> Self {
        CefConfig {
            vendor: "GitLab".to_string(),
            product: "compliance-report".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A labelled custom key: the key, its label key, the label, and the spec's length limit.
#[derive(Debug, Clone, Copy)]
pub struct Custom {
    pub key: &'static str,
    pub label_key: &'static str,
    pub label: &'static str,
    pub limit: usize,
}

pub(crate) const fn custom(key: &'static str, label_key: &'static str, label: &'static str, limit: usize) -> Custom {
    Custom { key, label_key, label, limit }
}

pub const SESSION_ID: Custom = custom("cs1", "cs1Label", "sessionId", 4000);
pub const FLOW_TYPE: Custom = custom("cs2", "cs2Label", "flowType", 4000);
pub const CORRELATION_ID: Custom = custom("cs3", "cs3Label", "correlationId", 4000);
pub const SCOPE_PATH: Custom = custom("cs4", "cs4Label", "scopePath", 4000);
pub const AUTHORIZATION_METHOD: Custom = custom("cs5", "cs5Label", "authorizationMethod", 4000);
pub const ON_BEHALF_OF: Custom = custom("cs6", "cs6Label", "onBehalfOfUserId", 4000);
pub const INPUT_TOKENS: Custom = custom("cn1", "cn1Label", "inputTokens", 0);
pub const OUTPUT_TOKENS: Custom = custom("cn2", "cn2Label", "outputTokens", 0);
pub const DURATION_MS: Custom = custom("cn3", "cn3Label", "durationMs", 0);
pub const ACTOR_CLASS: Custom = custom("flexString1", "flexString1Label", "actorClass", 1023);
pub const TARGET: Custom = custom("flexString2", "flexString2Label", "target", 1023);
pub const SOURCE_IPV6: Custom = custom("c6a2", "c6a2Label", "Source IPv6 Address", 1023);

/// Every labelled key this encoder writes (README's table is checked against it).
pub const LABELS: &[Custom] = &[
    SESSION_ID,
    FLOW_TYPE,
    CORRELATION_ID,
    SCOPE_PATH,
    AUTHORIZATION_METHOD,
    ON_BEHALF_OF,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    DURATION_MS,
    ACTOR_CLASS,
    TARGET,
    SOURCE_IPV6,
];

/// Spec length limits (bytes) of the standard extension keys used here.
const ACT_MAX: usize = 63;
const OUTCOME_MAX: usize = 63;
const EXTERNAL_ID_MAX: usize = 40;
pub(crate) const STRING_MAX: usize = 1023;

/// Spec length limits (bytes) for the header fields.
const VENDOR_MAX: usize = 63;
const PRODUCT_MAX: usize = 63;
const VERSION_MAX: usize = 31;
const SIGNATURE_MAX: usize = 1023;
const NAME_MAX: usize = 512;

/// Cut `s` to at most `max` bytes without splitting a character.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Copy `value`, replacing each byte for which `escape` returns a replacement. Every special
/// character is ASCII, so runs between them are copied whole and UTF-8 stays intact.
fn push_escaped(out: &mut Vec<u8>, value: &str, escape: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = escape(b) {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(rep);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Write a header field: `\` → `\\`, `|` → `\|`, CR/LF → space.
fn push_header(out: &mut Vec<u8>, value: &str, max: usize) {
    push_escaped(out, truncate(value, max), |b| match b {
        b'\\' => Some(b"\\\\"),
        b'|' => Some(b"\\|"),
        b'\r' | b'\n' => Some(b" "),
        _ => None,
    });
    out.push(b'|');
}

/// Write an extension value: `\` → `\\`, `=` → `\=`, CR → `\r`, LF → `\n`.
fn push_value(out: &mut Vec<u8>, value: &str) {
    push_escaped(out, value, |b| match b {
        b'\\' => Some(b"\\\\"),
        b'=' => Some(b"\\="),
        b'\r' => Some(b"\\r"),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Collects `key=value` pairs, skipping empty values.
pub(crate) struct Extension<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Extension<'a> {
    /// Pairs appended to `out`, after the header.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Extension<'a> {
        Extension { out, first: true }
    }
}

impl Extension<'_> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'=');
    }

    /// `key=value`, the value cut to `max` bytes and escaped; empty values are left out.
    pub(crate) fn pair(&mut self, key: &str, max: usize, value: &str) {
        if value.is_empty() {
            return;
        }
        self.key(key);
        push_value(self.out, truncate(value, max));
    }

    pub(crate) fn opt(&mut self, key: &str, max: usize, value: Option<&str>) {
        if let Some(v) = value {
            self.pair(key, max, v);
        }
    }

    /// A custom field and its label, only when there is a value.
    pub(crate) fn labelled(&mut self, c: Custom, value: Option<&str>) {
        let Some(v) = value.filter(|v| !v.is_empty()) else { return };
        self.pair(c.key, c.limit, v);
        self.pair(c.label_key, STRING_MAX, c.label);
    }

    /// A number (no escaping needed).
    pub(crate) fn number(&mut self, key: &str, n: impl std::fmt::Display) {
        use std::io::Write;
        self.key(key);
        write!(self.out, "{n}").expect("writing to a Vec cannot fail");
    }

    /// A numeric custom field and its label.
    pub(crate) fn labelled_number(&mut self, c: Custom, n: Option<u64>) {
        if let Some(n) = n {
            self.number(c.key, n);
            self.pair(c.label_key, STRING_MAX, c.label);
        }
    }
}

/// The CEF encoder.
#[derive(Debug, Clone)]
pub struct CefEncoder {
    config: CefConfig,
    severity: SeverityTable,
}

impl CefEncoder {
    pub fn new(config: CefConfig, severity: SeverityTable) -> CefEncoder {
        CefEncoder { config, severity }
    }
}

/// Write the CEF header `CEF:0|vendor|product|version|signature|name|severity|`, each field
/// escaped and cut to its limit.
pub(crate) fn header(out: &mut Vec<u8>, config: &CefConfig, signature: &str, name: &str, severity: u8) {
    out.extend_from_slice(b"CEF:0|");
    push_header(out, &config.vendor, VENDOR_MAX);
    push_header(out, &config.product, PRODUCT_MAX);
    push_header(out, &config.version, VERSION_MAX);
    push_header(out, signature, SIGNATURE_MAX);
    push_header(out, name, NAME_MAX);
    let severity = severity.min(10);
    if severity == 10 {
        out.extend_from_slice(b"10");
    } else {
        out.push(b'0' + severity);
    }
    out.push(b'|');
}

impl Encoder for CefEncoder {
    fn encode_chained(&self, ev: &AuditEvent, chain: &mut Chain, out: &mut Vec<u8>) {
        let start = out.len();
        self.encode(ev, out);
        chain.seal_cef(out, start);
    }

    fn encode_anchor(&self, anchor: &Anchor, out: &mut Vec<u8>) {
        header(out, &self.config, chain::CEF_ANCHOR_NAME, "Audit chain anchor", 1);
        anchor.write_cef_extension(out);
    }

    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        header(out, &self.config, &ev.event_name, &display_name(&ev.event_name), self.severity.severity(ev));

        let ai = ev.ai.as_ref();
        let mut x = Extension { out, first: true };
        let rt = time::epoch_millis(&ev.time);
        x.number("rt", rt);
        if let Some(ms) = ai.and_then(|a| a.duration_ms).and_then(|d| i64::try_from(d).ok()) {
            x.number("start", rt - ms);
            x.number("end", rt);
        }
        x.pair("externalId", EXTERNAL_ID_MAX, &ev.id);
        x.opt("cat", STRING_MAX, ev.category.as_deref());
        x.pair("act", ACT_MAX, &ev.event_name);
        x.pair("outcome", OUTCOME_MAX, ev.outcome.as_str());
        x.opt("suser", STRING_MAX, ev.actor.name.as_deref());
        x.opt("suid", STRING_MAX, ev.actor.id.as_deref());
        if ev.actor.class != ActorClass::Unknown {
            x.labelled(ACTOR_CLASS, Some(ev.actor.class.as_str()));
        }
        match ev.ip_address.as_deref().map(|ip| (ip, ip.parse::<IpAddr>())) {
            Some((ip, Ok(IpAddr::V4(_)))) => x.pair("src", STRING_MAX, ip),
            Some((ip, Ok(IpAddr::V6(_)))) => x.labelled(SOURCE_IPV6, Some(ip)),
            _ => {}
        }
        x.opt("msg", STRING_MAX, ev.message.as_deref());
        x.opt("reason", STRING_MAX, failure_reason(ev).as_deref());
        if let Some(t) = &ev.target {
            if t.kind.as_deref() == Some("User") {
                x.opt("duser", STRING_MAX, t.details.as_deref());
                x.opt("duid", STRING_MAX, t.id.as_deref());
            } else {
                let target = match (&t.kind, &t.id) {
                    (Some(k), Some(i)) => Some(format!("{k}:{i}")),
                    (Some(k), None) => Some(k.clone()),
                    (None, Some(i)) => Some(i.clone()),
                    (None, None) => None,
                };
                x.labelled(TARGET, target.as_deref());
            }
        }
        x.labelled(SESSION_ID, ai.and_then(|a| a.session_id.as_deref()));
        x.labelled(FLOW_TYPE, ai.and_then(|a| a.flow_type.as_deref()));
        x.labelled(CORRELATION_ID, ev.correlation_id.as_deref());
        x.labelled(SCOPE_PATH, ev.scope.as_ref().and_then(|s| s.path.as_deref()));
        x.labelled(AUTHORIZATION_METHOD, ai.and_then(|a| a.authorization.as_ref()).and_then(|a| a.method.as_deref()));
        x.labelled(ON_BEHALF_OF, ev.on_behalf_of.as_ref().and_then(|u| u.id.as_deref()));
        x.labelled_number(INPUT_TOKENS, ai.and_then(|a| a.input_tokens));
        x.labelled_number(OUTPUT_TOKENS, ai.and_then(|a| a.output_tokens));
        x.labelled_number(DURATION_MS, ai.and_then(|a| a.duration_ms));
    }
}

/// Why a failed event failed, from the details agent platforms record.
fn failure_reason(ev: &AuditEvent) -> Option<Cow<'_, str>> {
    ["error_message", "rejection_reason", "error"]
        .iter()
        .find_map(|k| ev.details.str(k))
        .filter(|s| Some(&**s) != ev.message.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, AiContext, Authorization, Origin, Outcome, Scope, Target};

    fn event() -> AuditEvent {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T12:00:00.123456Z").unwrap(),
            "duo_flow_completed".into(),
            Actor { id: Some("9001".into()), name: Some("duo|sa=bot\\x".into()), class: ActorClass::ServiceAccount },
            Origin { format: "ai_audit_events".into(), native_id: Some("7".into()) },
        );
        ev.assign_id("");
        ev.outcome = Outcome::Success;
        ev.message = Some("line1\r\nline2 a=b | c".into());
        ev.ip_address = Some("2001:db8::1".into());
        ev.scope = Some(Scope { kind: "Project".into(), id: Some(3), path: Some("acme/ünïcode".into()) });
        ev.target = Some(Target { kind: Some("MergeRequest".into()), id: Some("12".into()), details: None });
        ev.correlation_id = Some("corr-1".into());
        ev.on_behalf_of = Some(Actor { id: Some("42".into()), name: Some("alice".into()), class: ActorClass::User });
        ev.ai = Some(AiContext {
            session_id: Some("s-1".into()),
            flow_type: Some("code_review".into()),
            input_tokens: Some(1200),
            output_tokens: Some(80),
            duration_ms: Some(1500),
            authorization: Some(Authorization { verified_at: None, method: Some("oauth".into()), scopes: vec![] }),
            ..Default::default()
        });
        ev
    }

    fn encode(ev: &AuditEvent) -> String {
        let enc = CefEncoder::new(
            CefConfig { vendor: "Ven|dor".into(), product: "Pro\\duct".into(), version: "1\n2".into() },
            SeverityTable::default(),
        );
        let mut out = Vec::new();
        enc.encode(ev, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn exact_bytes_with_escaping() {
        let ev = event();
        assert_eq!(
            encode(&ev),
            format!(
                "CEF:0|Ven\\|dor|Pro\\\\duct|1 2|duo_flow_completed|An AI agent flow session completed|3|\
                 rt=1790856000123 start=1790855998623 end=1790856000123 externalId={} cat=duo_agent_platform \
                 act=duo_flow_completed outcome=success suser=duo|sa\\=bot\\\\x suid=9001 \
                 flexString1=service_account flexString1Label=actorClass \
                 c6a2=2001:db8::1 c6a2Label=Source IPv6 Address msg=line1\\r\\nline2 a\\=b | c \
                 flexString2=MergeRequest:12 flexString2Label=target cs1=s-1 cs1Label=sessionId \
                 cs2=code_review cs2Label=flowType cs3=corr-1 cs3Label=correlationId \
                 cs4=acme/ünïcode cs4Label=scopePath cs5=oauth cs5Label=authorizationMethod \
                 cs6=42 cs6Label=onBehalfOfUserId cn1=1200 cn1Label=inputTokens cn2=80 cn2Label=outputTokens \
                 cn3=1500 cn3Label=durationMs",
                ev.id
            )
        );
    }

    #[test]
    fn ipv4_goes_to_src_and_invalid_ips_are_left_out() {
        let mut ev = event();
        ev.ip_address = Some("192.0.2.7".into());
        assert!(encode(&ev).contains(" src=192.0.2.7 "));
        ev.ip_address = Some("not-an-ip".into());
        let text = encode(&ev);
        assert!(!text.contains("src=") && !text.contains("c6a2="));
    }

    #[test]
    fn truncates_on_character_boundaries() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
        let mut ev = event();
        ev.event_name = format!("{}é", "x".repeat(62));
        let text = encode(&ev);
        assert!(text.contains(&format!(" act={} ", "x".repeat(62))), "act is cut to 63 bytes before the é");
    }

    #[test]
    fn same_event_same_bytes() {
        assert_eq!(encode(&event()), encode(&event()));
    }
}
