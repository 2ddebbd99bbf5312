//! Redaction of secrets and personal data in events before they leave the tool (exports,
//! `trace`, `sessions show`). Each finding of the detector ([`super::scan`]) is replaced by
//! `[REDACTED:KIND:HASH]`, where HASH is the first 4 hex digits of HMAC-SHA-256(key, secret):
//! the same secret gives the same replacement in every event and run with the same key (so a
//! leaked token can be followed across events), but it cannot be recovered from it, nor
//! confirmed by hashing guesses without the key.
//!
//! The key is `--redact-key FILE` (any file of 16 bytes or more; its SHA-256 is the key), else
//! `STATE_DIR/redact.key`, created with 32 random bytes (mode 0600) on first use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{scan, Kind, PROMPT_KEYS};
use crate::model::{AuditEvent, Details};

/// Which fields are redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Prompts, inputs, plans and decision logs ([`PROMPT_KEYS`], at any depth of their value).
    #[default]
    Prompts,
    /// Every free-text field: every detail value, the message, the target's details and the
    /// names of actor and user.
    All,
    /// Nothing (`--no-redact`).
    Off,
}

impl Mode {
    /// `prompts`, `all` or `off` (job files).
    pub fn parse(name: &str) -> Option<Mode> {
        Some(match name {
            "prompts" => Mode::Prompts,
            "all" => Mode::All,
            "off" => Mode::Off,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Prompts => "prompts",
            Mode::All => "all",
            Mode::Off => "off",
        }
    }
}

/// How many findings of each kind were replaced.
pub type Counts = BTreeMap<Kind, u64>;

/// Why the redaction key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read the redaction key {path}: {source}; give a readable file with --redact-key")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the redaction key {path} holds {len} bytes; it needs 16 or more (e.g. `head -c 32 /dev/urandom > {path}`)"
    )]
    Short { path: String, len: usize },
    #[error("cannot create the redaction key {path}: {source}; use a writable --state-dir or give --redact-key")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw random bytes for a new redaction key: {0}")]
    Random(String),
}

/// The file name of the generated key in the state directory.
pub const KEY_FILE: &str = "redact.key";

/// Replaces secrets and personal data in events.
#[derive(Clone)]
pub struct Redactor {
    mode: Mode,
    key: [u8; 32],
    /// Where the key came from; None when off.
    key_path: Option<PathBuf>,
    /// Whether that file was named by the user (`--redact-key`) rather than the state directory's.
    key_given: bool,
}

impl std::fmt::Debug for Redactor {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("mode", &self.mode).field("key_path", &self.key_path).finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor with a key given as bytes (tests, callers with their own key store).
    pub fn with_key(mode: Mode, key: &[u8]) -> Redactor {
        Redactor { mode, key: Sha256::digest(key).into(), key_path: None, key_given: false }
    }

    /// A redactor that changes nothing.
    pub fn off() -> Redactor {
        Redactor { mode: Mode::Off, key: [0; 32], key_path: None, key_given: false }
    }

    /// The redactor for `mode` with the key in `file`, else in `state_dir/redact.key` (created
    /// on first use). `Mode::Off` reads no key.
    pub fn open(mode: Mode, file: Option<&Path>, state_dir: &Path) -> Result<Redactor, KeyError> {
        if mode == Mode::Off {
            return Ok(Redactor::off());
        }
        let path = match file {
            Some(f) => f.to_path_buf(),
            None => {
                let path = state_dir.join(KEY_FILE);
                if !path.exists() {
                    create_key(&path)?;
                }
                path
            }
        };
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| KeyError::Read { path: shown.clone(), source })?;
        if bytes.len() < 16 {
            return Err(KeyError::Short { path: shown, len: bytes.len() });
        }
        let mut r = Redactor::with_key(mode, &bytes);
        r.key_path = Some(path);
        r.key_given = file.is_some();
        Ok(r)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The key file in use (None when off or given as bytes).
    pub fn key_path(&self) -> Option<&Path> {
        self.key_path.as_deref()
    }

    /// The key file, as the user named it (None for the state directory's).
    pub fn given_key(&self) -> Option<&Path> {
        self.key_path.as_deref().filter(|_| self.key_given)
    }

    /// `[REDACTED:KIND:HASH]` for one secret.
    pub fn replacement(&self, kind: Kind, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("[REDACTED:{}:{:02x}{:02x}]", kind.as_str(), tag[0], tag[1])
    }

    /// `text` with every finding replaced, or None when there is none (whatever the mode:
    /// callers choose the fields).
    pub fn text(&self, text: &str, counts: &mut Counts) -> Option<String> {
        let found = scan(text);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in found {
            out.push_str(&text[last..m.start]);
            out.push_str(&self.replacement(m.kind, &text[m.start..m.end]));
            *counts.entry(m.kind).or_default() += 1;
            last = m.end;
        }
        out.push_str(&text[last..]);
        Some(out)
    }

    /// Redact the fields of `ev` the mode covers; what was replaced is added to `counts`.
    pub fn event(&self, ev: &mut AuditEvent, counts: &mut Counts) {
        match self.mode {
            Mode::Off => {}
            Mode::Prompts => {
                for key in PROMPT_KEYS {
                    if let Some(mut v) = ev.details.get(key) {
                        let mut found = Counts::new();
                        self.value(&mut v, &mut found);
                        if !found.is_empty() {
                            ev.details.insert(key, v);
                            merge(counts, found);
                        }
                    }
                }
            }
            Mode::All => {
                let mut details = ev.details.to_map();
                let mut found = Counts::new();
                details.values_mut().for_each(|v| self.value(v, &mut found));
                if !found.is_empty() {
                    ev.details = Details::from_map(&details);
                    merge(counts, found);
                }
                let names = [Some(&mut ev.actor.name), ev.on_behalf_of.as_mut().map(|a| &mut a.name)];
                let target = ev.target.as_mut().map(|t| &mut t.details);
                for field in names.into_iter().flatten().chain(target).chain([&mut ev.message]) {
                    if let Some(t) = field.as_deref().and_then(|t| self.text(t, counts)) {
                        *field = Some(t);
                    }
                }
            }
        }
    }

    /// `ev` as redacted: borrowed when nothing in the fields the mode covers needs it.
    pub fn apply<'a>(&self, ev: &'a AuditEvent, counts: &mut Counts) -> std::borrow::Cow<'a, AuditEvent> {
        let mut probe = Counts::new();
        let mut copy = None;
        if self.mode != Mode::Off {
            // Redacting a copy is the only way to know; copies are made only for events with
            // something to replace in their prompt fields (or, with `all`, anywhere).
            let needs = match self.mode {
                Mode::Prompts => PROMPT_KEYS.iter().any(|k| match ev.details.str(k) {
                    Some(text) => !scan(&text).is_empty(),
                    None => ev.details.get(k).is_some_and(|v| self.finds(&v)),
                }),
                _ => true,
            };
            if needs {
                let mut c = ev.clone();
                self.event(&mut c, &mut probe);
                copy = Some(c);
            }
        }
        if probe.is_empty() {
            return std::borrow::Cow::Borrowed(ev);
        }
        merge(counts, probe);
        std::borrow::Cow::Owned(copy.expect("redacted"))
    }

    /// Whether any string within a JSON value holds a finding.
    fn finds(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => !scan(s).is_empty(),
            Value::Array(items) => items.iter().any(|i| self.finds(i)),
            Value::Object(map) => map.values().any(|i| self.finds(i)),
            _ => false,
        }
    }

    /// Redact every string within a JSON value (object keys are left alone).
    pub fn value(&self, v: &mut Value, counts: &mut Counts) {
        match v {
            Value::String(s) => {
                if let Some(t) = self.text(s, counts) {
                    *s = t;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i, counts)),
            Value::Object(map) => map.values_mut().for_each(|i| self.value(i, counts)),
            _ => {}
        }
    }
}

/// Add the counts of `found` to `counts`.
fn merge(counts: &mut Counts, found: Counts) {
    for (k, n) in found {
        *counts.entry(k).or_default() += n;
    }
}

/// Write 32 random bytes to `path` (mode 0600), unless another process just did: written to a
/// temporary file first and linked into place (a link never replaces a file), so a concurrent
/// run never reads a half-written key.
fn create_key(path: &Path) -> Result<(), KeyError> {
    let shown = path.display().to_string();
    let err = |source| KeyError::Create { path: shown.clone(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
    let mut tmp = tempfile::Builder::new().prefix(".redact.key.").tempfile_in(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    use std::io::Write;
    tmp.write_all(&key).and_then(|_| tmp.as_file().sync_all()).map_err(err)?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => {
            tracing::info!("created the redaction key {shown} (keep it: the same key gives the same replacements)");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(details: Value) -> AuditEvent {
        let mut ev: AuditEvent = serde_json::from_value(json!({
            "schema": crate::model::SCHEMA, "id": "1", "time": "2026-10-01T00:00:00Z", "event_name": "duo_flow_started",
            "actor": {"id": "7", "name": "jane@example.com", "class": "user"},
            "origin": {"format": "test"},
            "message": "mail bob@example.com",
        }))
        .unwrap();
        ev.details = Details::from_map(details.as_object().unwrap());
        ev
    }

    #[test]
    fn replacements_are_keyed_and_stable() {
        let r = Redactor::with_key(Mode::Prompts, b"0123456789abcdef");
        let mut counts = Counts::new();
        let a = r.text("token glpat-Xq7vR2mN9pL4kT8wZ3yB and AKIAQ3EGRT7VXKMB2N5P", &mut counts).unwrap();
        assert_eq!(a, "token [REDACTED:gitlab_token:395e] and [REDACTED:aws_access_key:073d]");
        let b = r.text("again: glpat-Xq7vR2mN9pL4kT8wZ3yB", &mut counts).unwrap();
        assert_eq!(b, "again: [REDACTED:gitlab_token:395e]");
        let other = Redactor::with_key(Mode::Prompts, b"another key, 16+");
        assert_ne!(other.text("glpat-Xq7vR2mN9pL4kT8wZ3yB", &mut counts).unwrap(), "[REDACTED:gitlab_token:395e]");
        assert_eq!(counts[&Kind::GitlabToken], 3);
        assert_eq!(r.text("nothing to see", &mut counts), None);
    }

    #[test]
    fn modes_choose_the_fields() {
        let details = json!({
            "input_prompt": "deploy with AKIAQ3EGRT7VXKMB2N5P",
            "input_context": {"files": ["a.rs"], "note": "ask jane.doe@example.com"},
            "custom_message": "call +44 20 7946 0958",
        });
        let mut counts = Counts::new();
        let mut ev = event(details.clone());
        Redactor::with_key(Mode::Prompts, b"0123456789abcdef").event(&mut ev, &mut counts);
        assert_eq!(ev.details.get("input_prompt").unwrap(), "deploy with [REDACTED:aws_access_key:073d]");
        assert!(ev.details.get("input_context").unwrap()["note"].as_str().unwrap().starts_with("ask [REDACTED:email:"));
        assert_eq!(ev.details.get("custom_message").unwrap(), "call +44 20 7946 0958", "not a prompt field");
        assert_eq!(ev.actor.name.as_deref(), Some("jane@example.com"));

        let mut ev = event(details.clone());
        Redactor::with_key(Mode::All, b"0123456789abcdef").event(&mut ev, &mut counts);
        assert!(ev.details.str("custom_message").unwrap().starts_with("call [REDACTED:phone_number:"));
        assert!(ev.actor.name.as_deref().unwrap().starts_with("[REDACTED:email:"));
        assert!(ev.message.as_deref().unwrap().starts_with("mail [REDACTED:email:"));

        let mut ev = event(details.clone());
        Redactor::off().event(&mut ev, &mut counts);
        assert_eq!(Value::Object(ev.details.to_map()), details);
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = Redactor::open(Mode::Prompts, None, dir.path()).unwrap();
        let key = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(key.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Redactor::open(Mode::All, None, dir.path()).unwrap();
        assert_eq!(a.replacement(Kind::Email, "x@y.z"), b.replacement(Kind::Email, "x@y.z"));
        assert_eq!(std::fs::read(dir.path().join(KEY_FILE)).unwrap(), key, "not replaced");
        let short = dir.path().join("short");
        std::fs::write(&short, b"abc").unwrap();
        let e = Redactor::open(Mode::Prompts, Some(&short), dir.path()).unwrap_err().to_string();
        assert!(e.contains("holds 3 bytes; it needs 16 or more"), "{e}");
        assert!(!format!("{a:?}").contains("key:"), "Debug never shows the key");
    }
}
