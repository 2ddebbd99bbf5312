//! Tamper-evident exports: every exported event carries `chain_seq` (1, 2, 3, … per chain, no
//! gaps, continued across runs through the checkpoint) and
//! `chain_hash = SHA-256(previous chain_hash ‖ canonical bytes of the record)`; signed anchors
//! vouch for the chain head. README, "Hash chain", defines the canonical bytes; [`verify`]
//! checks exported files.
//!
//! The canonical bytes of a record are the bytes the encoder wrote for the event, before the
//! chain fields were added: so a record is checked exactly as the SIEM received it, in any
//! format, by removing the chain fields again. They are added in one place each format keeps for
//! them (the end of the record), as one contiguous run:
//! - JSON, ECS (and the event of a HEC envelope): `,"chain_id":"ID","chain_seq":N,"chain_hash":"HEX"`
//!   before the object's closing brace;
//! - OCSF: the same run at the end of `unmapped` (OCSF classes allow no other extra attribute);
//! - CEF: ` flexNumber1=N flexNumber1Label=chainSeq ComplianceReportChainId=ID ComplianceReportChainHash=HEX`
//!   at the end of the extension.

pub mod verify;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use chrono::SubsecRound;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::time::{self, Timestamp};
use crate::signing;

/// Prefix of the genesis hash: the `chain_hash` before seq 1 is SHA-256(this ‖ chain id).
pub const GENESIS_PREFIX: &str = "compliance-report.chain.v1\n";
/// Prefix of the message an anchor signs (see [`Anchor::message`]).
pub const ANCHOR_PREFIX: &str = "compliance-report.chain-anchor.v1\n";
/// The `schema` of an anchor written as JSON.
pub const ANCHOR_SCHEMA: &str = "compliance-report.chain-anchor.v1";
/// The chain of an export without a checkpoint (and without `--chain-id`).
pub const DEFAULT_ID: &str = "export";

/// CEF keys of the chain fields (flexNumber1 is labelled `chainSeq`; the rest are custom
/// dictionary extensions: every labelled string key is taken by event fields).
pub const CEF_SEQ: &str = "flexNumber1";
pub const CEF_ID: &str = "ComplianceReportChainId";
pub const CEF_HASH: &str = "ComplianceReportChainHash";
pub const CEF_SIGNATURE: &str = "ComplianceReportChainSignature";
pub const CEF_KEY: &str = "ComplianceReportChainKey";
/// The CEF signature id (event class) of anchors.
pub const CEF_ANCHOR_NAME: &str = "chain_anchor";

/// The last link of a chain: what the checkpoint stores and anchors sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub id: String,
    pub seq: u64,
    /// Lower-case hex SHA-256.
    pub hash: String,
}

/// Why a chain could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("chain id {0:?} must be 1 to 64 letters, digits, '-', '_' or '.'")]
    BadId(String),
    #[error(
        "the stored chain head of {id:?} has an invalid hash {hash:?}; move the checkpoint away to start a new chain"
    )]
    BadHead { id: String, hash: String },
}

/// Whether `id` can name a chain (it is written unescaped in every format).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The hash before the first link of chain `id`.
pub fn genesis(id: &str) -> [u8; 32] {
    Sha256::new().chain_update(GENESIS_PREFIX).chain_update(id).finalize().into()
}

/// `SHA-256(prev ‖ canonical)`.
pub fn link(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(prev).chain_update(canonical).finalize().into()
}

/// Signs anchors.
pub struct Signer {
    pub key: ed25519_dalek::SigningKey,
    /// Emit an anchor after every this many events (0: only at the end of a run).
    pub every: u64,
    /// Where anchors are also written locally (JSON lines, appended).
    pub log: Option<PathBuf>,
}

/// A signed statement of the chain head at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub head: Head,
    pub time: Timestamp,
    /// Hex of the raw 32-byte Ed25519 public key.
    pub key: String,
    /// Hex of the raw 64-byte Ed25519 signature of [`Anchor::message`].
    pub signature: String,
}

impl Anchor {
    /// The signed bytes: `compliance-report.chain-anchor.v1\n` ID `\n` SEQ `\n` HASH `\n` TIME
    /// (RFC 3339 UTC with microseconds, as written in the anchor).
    pub fn message(head: &Head, time: &Timestamp) -> Vec<u8> {
        format!("{ANCHOR_PREFIX}{}\n{}\n{}\n{}", head.id, head.seq, head.hash, time::format(time)).into_bytes()
    }

    /// The anchor as one JSON object (every JSON-based format; HEC wraps it in an envelope).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Every value is hex, digits, a checked id or a timestamp: nothing to escape.
        write!(
            out,
            "{{\"schema\":\"{ANCHOR_SCHEMA}\",\"time\":\"{}\",\"chain_id\":\"{}\",\"chain_seq\":{},\"chain_hash\":\"{}\",\"key\":\"{}\",\"signature\":\"{}\"}}",
            time::format(&self.time),
            self.head.id,
            self.head.seq,
            self.head.hash,
            self.key,
            self.signature
        )
        .expect("Vec write");
    }

    /// The CEF extension of an anchor (after the header).
    pub fn write_cef_extension(&self, out: &mut Vec<u8>) {
        write!(
            out,
            "rt={} {CEF_SEQ}={} {CEF_SEQ}Label=chainSeq {CEF_ID}={} {CEF_HASH}={} {CEF_KEY}={} {CEF_SIGNATURE}={}",
            time::epoch_millis(&self.time),
            self.head.seq,
            self.head.id,
            self.head.hash,
            self.key,
            self.signature
        )
        .expect("Vec write");
    }
}

/// The state of one chain during an export.
pub struct Chain {
    id: String,
    seq: u64,
    hash: [u8; 32],
    signer: Option<Signer>,
}

impl Chain {
    /// Continue from `head` (the checkpoint's) when it belongs to chain `id`, else start anew.
    pub fn start(id: &str, head: Option<&Head>, signer: Option<Signer>) -> Result<Chain, ChainError> {
        if !valid_id(id) {
            return Err(ChainError::BadId(id.to_string()));
        }
        let (seq, hash) = match head.filter(|h| h.id == id) {
            Some(h) => {
                let bad = || ChainError::BadHead { id: h.id.clone(), hash: h.hash.clone() };
                let bytes = signing::unhex(&h.hash).ok_or_else(bad)?;
                (h.seq, <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?)
            }
            None => {
                if let Some(h) = head {
                    tracing::warn!("the checkpoint holds chain {:?}; starting chain {id:?} at seq 1", h.id);
                }
                (0, genesis(id))
            }
        };
        Ok(Chain { id: id.to_string(), seq, hash, signer })
    }

    /// The last link written (`None` before the first).
    pub fn head(&self) -> Option<Head> {
        (self.seq > 0).then(|| Head { id: self.id.clone(), seq: self.seq, hash: signing::hex(&self.hash) })
    }

    /// Link the record in `out[start..]` (its canonical bytes): the next seq and hash.
    fn next(&mut self, out: &[u8], start: usize) -> (u64, String) {
        self.append(&out[start..]);
        (self.seq, signing::hex(&self.hash))
    }

    /// Link a record given by its canonical bytes (encoded elsewhere) without writing the chain
    /// fields: for a head alone, as the report's manifest states it.
    pub fn append(&mut self, canonical: &[u8]) {
        self.hash = link(&self.hash, canonical);
        self.seq += 1;
    }

    /// Add the chain members to the JSON object just written at `out[start..]`, before its
    /// last `depth` closing braces (1: top level; 2: the object that ends the record).
    pub fn seal_json(&mut self, out: &mut Vec<u8>, start: usize, depth: usize) {
        let (seq, hash) = self.next(out, start);
        let at = out.len() - depth;
        debug_assert!(out[at..].iter().all(|&b| b == b'}'), "a JSON object ends the record");
        let comma = if out[at - 1] == b'{' { "" } else { "," };
        let run = format!("{comma}\"chain_id\":\"{}\",\"chain_seq\":{seq},\"chain_hash\":\"{hash}\"", self.id);
        out.splice(at..at, run.into_bytes());
    }

    /// Add the chain keys to the CEF record just written at `out[start..]`.
    pub fn seal_cef(&mut self, out: &mut Vec<u8>, start: usize) {
        let (seq, hash) = self.next(out, start);
        write!(out, " {CEF_SEQ}={seq} {CEF_SEQ}Label=chainSeq {CEF_ID}={} {CEF_HASH}={hash}", self.id)
            .expect("Vec write");
    }

    /// An anchor for the current head, if anchors are signed and `due` (every N events, or
    /// `at_end` of a run); also appended to the local anchor log.
    pub fn anchor(&self, at_end: bool) -> std::io::Result<Option<Anchor>> {
        let (Some(signer), Some(head)) = (&self.signer, self.head()) else { return Ok(None) };
        if !at_end && (signer.every == 0 || !self.seq.is_multiple_of(signer.every)) {
            return Ok(None);
        }
        // Milliseconds: CEF's `rt` carries no more, and the signed message must be rebuilt from it.
        let now = time::to_micros(chrono::Utc::now()).trunc_subsecs(3);
        let signature = signing::hex(&signing::sign(&signer.key, &Anchor::message(&head, &now)));
        let key = signing::hex(signer.key.verifying_key().as_bytes());
        let anchor = Anchor { head, time: now, key, signature };
        if let Some(path) = &signer.log {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut line = Vec::new();
            anchor.write_json(&mut line);
            line.push(b'\n');
            let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o640).open(path)?;
            f.write_all(&line)?;
            f.sync_data()?;
        }
        Ok(Some(anchor))
    }

    /// Whether anchors are signed.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_cef_seals_are_exact_and_chain() {
        let mut c = Chain::start("siem", None, None).unwrap();
        let mut out = b"xx{\"a\":1}".to_vec();
        c.seal_json(&mut out, 2, 1);
        let h1 = signing::hex(&link(&genesis("siem"), b"{\"a\":1}"));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            format!("xx{{\"a\":1,\"chain_id\":\"siem\",\"chain_seq\":1,\"chain_hash\":\"{h1}\"}}")
        );
        let mut ocsf = b"{\"b\":2,\"unmapped\":{}}".to_vec();
        c.seal_json(&mut ocsf, 0, 2);
        let prev: [u8; 32] = signing::unhex(&h1).unwrap().try_into().unwrap();
        let h2 = signing::hex(&link(&prev, b"{\"b\":2,\"unmapped\":{}}"));
        assert_eq!(
            String::from_utf8(ocsf).unwrap(),
            format!("{{\"b\":2,\"unmapped\":{{\"chain_id\":\"siem\",\"chain_seq\":2,\"chain_hash\":\"{h2}\"}}}}")
        );
        let mut cef = b"CEF:0|v|p|1|x|X|3|rt=1".to_vec();
        c.seal_cef(&mut cef, 0);
        let prev: [u8; 32] = signing::unhex(&h2).unwrap().try_into().unwrap();
        let h3 = signing::hex(&link(&prev, b"CEF:0|v|p|1|x|X|3|rt=1"));
        assert_eq!(
            String::from_utf8(cef).unwrap(),
            format!("CEF:0|v|p|1|x|X|3|rt=1 flexNumber1=3 flexNumber1Label=chainSeq ComplianceReportChainId=siem ComplianceReportChainHash={h3}")
        );
        // Continuing from the head gives the same next link as not stopping.
        let head = c.head().unwrap();
        assert_eq!((head.seq, head.hash.as_str()), (3, h3.as_str()));
        let mut resumed = Chain::start("siem", Some(&head), None).unwrap();
        let (mut a, mut b) = (b"{}".to_vec(), b"{}".to_vec());
        c.seal_json(&mut a, 0, 1);
        resumed.seal_json(&mut b, 0, 1);
        assert_eq!(a, b);
        assert!(String::from_utf8(a).unwrap().starts_with("{\"chain_id\":\"siem\",\"chain_seq\":4,"));
        // Another chain's head is not continued.
        assert_eq!(Chain::start("other", Some(&head), None).unwrap().head(), None);
        assert!(Chain::start("a b", None, None).is_err());
    }

    #[test]
    fn genesis_is_bound_to_the_id() {
        assert_eq!(
            signing::hex(&genesis("export")),
            signing::hex(&Sha256::digest(b"compliance-report.chain.v1\nexport"))
        );
        assert_ne!(genesis("a"), genesis("b"));
    }

    #[test]
    fn anchors_are_signed_and_logged() {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let log = dir.path().join("anchors/siem.ndjson");
        let signer = Signer { key: key.clone(), every: 2, log: Some(log.clone()) };
        let mut c = Chain::start("siem", None, Some(signer)).unwrap();
        assert_eq!(c.anchor(true).unwrap(), None, "no head yet");
        let mut out = b"{}".to_vec();
        c.seal_json(&mut out, 0, 1);
        assert_eq!(c.anchor(false).unwrap(), None, "not due at seq 1");
        let mut out2 = b"{}".to_vec();
        c.seal_json(&mut out2, 0, 1);
        let a = c.anchor(false).unwrap().expect("due at seq 2");
        assert_eq!(a.head.seq, 2);
        let sig = signing::unhex(&a.signature).unwrap();
        assert!(signing::verify(&key.verifying_key(), &Anchor::message(&a.head, &a.time), &sig));
        let logged = std::fs::read_to_string(&log).unwrap();
        let mut json = Vec::new();
        a.write_json(&mut json);
        assert_eq!(logged, format!("{}\n", String::from_utf8(json).unwrap()));
    }
}
