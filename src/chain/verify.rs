//! `verify-chain`: check exported records (CEF or JSON lines, as a SIEM received them: any
//! order, duplicates allowed, syslog headers or HEC envelopes around them) against their hash
//! chains, in bounded memory whatever the number of records.
//!
//! Two passes over the files. The first notes each record's chain, seq and hash in a spill file
//! and then places them in one dense slot file per chain (seq → hash, first location): that finds
//! missing seqs and seqs claimed by two different records. The second recomputes every link
//! from the record's canonical bytes and the hash of the seq before it. Anchors are checked
//! against their signatures and the chain.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{genesis, link, Anchor, Head, ANCHOR_SCHEMA, CEF_HASH, CEF_ID, CEF_KEY, CEF_SEQ, CEF_SIGNATURE};
use crate::model::time;
use crate::signing;

/// At most this many findings of one kind are listed (all are counted).
pub const MAX_LISTED: usize = 1000;
/// Mismatching records kept to recognise reordering (the rest are reported as altered).
const MAX_KEPT: usize = 1000;
/// Slots a chain may span beyond four per record seen (sparse files; a forged seq far away
/// must not make the slot file unbounded).
const SLACK: u64 = 1 << 27;

/// Why files could not be verified at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("temporary files for the check: {0}")]
    Temp(#[source] std::io::Error),
    #[error("chain {chain:?}: seq numbers {min}..{max} for {records} records are too sparse to check ({path}:{line} has seq {max}); check files holding a contiguous part of the chain")]
    TooSparse { chain: String, min: u64, max: u64, records: u64, path: String, line: u64 },
}

/// Where a record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Kinds of findings, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Seqs `seq..=to` are missing between records that are present.
    Removed,
    /// Seqs `seq..=to` are missing after the last record, up to a signed anchor.
    Truncated,
    /// The record does not match its `chain_hash` and the hash of the seq before it.
    Altered,
    /// The record verifies at another seq (`other`): events were moved.
    Reordered,
    /// Two different records claim one seq.
    Conflict,
    /// Chain fields that cannot be read.
    Malformed,
    /// An anchor whose signature is missing or invalid, or made with another key.
    AnchorSignature,
    /// An anchor whose hash is not the chain's hash at its seq.
    AnchorMismatch,
    /// `--pubkey` was given but a chain has no anchor.
    NoAnchor,
}

impl Kind {
    /// The name findings are reported under (`removed`, `anchor_signature`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Removed => "removed",
            Kind::Truncated => "truncated",
            Kind::Altered => "altered",
            Kind::Reordered => "reordered",
            Kind::Conflict => "conflict",
            Kind::Malformed => "malformed",
            Kind::AnchorSignature => "anchor_signature",
            Kind::AnchorMismatch => "anchor_mismatch",
            Kind::NoAnchor => "no_anchor",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub chain: String,
    /// The seq concerned (the first of a range).
    pub seq: u64,
    /// The last seq of a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// The seq a reordered record belongs at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Location>,
    pub message: String,
}

/// What was seen of one chain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainSummary {
    pub chain: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Records read (duplicates included).
    pub records: u64,
    /// Records that repeat one already seen (at-least-once delivery).
    pub duplicates: u64,
    pub verified: u64,
    pub anchors: u64,
    /// Whether the first record's link could be checked (the chain starts at seq 1, or the
    /// record before it is present).
    pub from_genesis: bool,
}

/// The result of a check.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub chains: Vec<ChainSummary>,
    /// Lines with no chain fields (other records, or exports made with `--no-chain`).
    pub unchained_lines: u64,
    /// Findings, at most [`MAX_LISTED`] per kind, in order.
    pub findings: Vec<Finding>,
    /// Findings per kind, listed or not.
    pub counts: BTreeMap<String, u64>,
    /// Whether anchor signatures were checked against a given public key.
    pub pubkey: bool,
}

impl Finding {
    fn new(kind: Kind, chain: &str, seq: u64, at: Option<Location>, message: String) -> Finding {
        Finding { kind, chain: chain.to_string(), seq, to: None, other: None, at, message }
    }

    fn to(self, to: u64) -> Finding {
        Finding { to: Some(to), ..self }
    }
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.counts.is_empty()
    }

    fn add(&mut self, f: Finding) {
        let n = self.counts.entry(f.kind.name().to_string()).or_default();
        *n += 1;
        if *n as usize <= MAX_LISTED {
            self.findings.push(f);
        }
    }
}

/// What one line holds.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    None,
    Event(Record<'a>),
    Anchor(Anchor),
    Malformed(String),
}

#[derive(Debug, PartialEq)]
struct Record<'a> {
    chain: &'a str,
    seq: u64,
    hash: [u8; 32],
    /// The canonical bytes: the record with the chain fields taken out.
    before: &'a [u8],
    after: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn hash32(hex: &str) -> Option<[u8; 32]> {
    signing::unhex(hex).and_then(|b| b.try_into().ok())
}

/// Read a line as exported, wherever its record starts (after a syslog header, inside a HEC
/// envelope).
fn parse(line: &[u8]) -> Line<'_> {
    let cef = find(line, b"CEF:0|");
    let json = line.iter().position(|&b| b == b'{');
    match (cef, json) {
        (Some(c), j) if j.is_none_or(|j| c < j) => parse_cef(&line[c..]),
        (_, Some(j)) => parse_json(&line[j..]),
        _ => Line::None,
    }
}

fn parse_cef(rec: &[u8]) -> Line<'_> {
    let Some(p) = rfind(rec, format!(" {CEF_SEQ}=").as_bytes()) else { return Line::None };
    let Ok(suffix) = std::str::from_utf8(&rec[p + 1..]) else {
        return Line::Malformed("chain keys are not UTF-8".into());
    };
    let pairs: Vec<(&str, &str)> = suffix.split(' ').filter_map(|kv| kv.split_once('=')).collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let label = format!("{CEF_SEQ}Label");
    let event_keys = [CEF_SEQ, label.as_str(), CEF_ID, CEF_HASH];
    let anchor_keys = [CEF_SEQ, label.as_str(), CEF_ID, CEF_HASH, CEF_KEY, CEF_SIGNATURE];
    if keys != event_keys && keys != anchor_keys || suffix.split(' ').count() != keys.len() {
        return Line::Malformed(format!("CEF chain keys are not `{}`", event_keys.join("=… ")));
    }
    let (Ok(seq), Some(hash)) = (pairs[0].1.parse::<u64>(), hash32(pairs[3].1)) else {
        return Line::Malformed("CEF chain seq or hash is not valid".into());
    };
    let chain = pairs[2].1;
    if !super::valid_id(chain) {
        return Line::Malformed(format!("chain id {chain:?} is not valid"));
    }
    if keys.len() == anchor_keys.len() {
        // `rt=MILLIS` is the extension's only other key.
        let rt = std::str::from_utf8(&rec[..p]).ok().and_then(|h| h.rsplit_once("|rt=")).map(|(_, ms)| ms);
        let Some(time) = rt.and_then(|ms| ms.parse::<i64>().ok()).and_then(chrono::DateTime::from_timestamp_millis)
        else {
            return Line::Malformed("CEF anchor has no rt".into());
        };
        let head = Head { id: chain.into(), seq, hash: signing::hex(&hash) };
        return Line::Anchor(Anchor { head, time, key: pairs[4].1.into(), signature: pairs[5].1.into() });
    }
    Line::Event(Record { chain, seq, hash, before: &rec[..p], after: &[] })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

#[derive(Deserialize)]
struct AnchorJson {
    schema: String,
    time: String,
    chain_id: String,
    chain_seq: u64,
    chain_hash: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    signature: String,
}

fn parse_json(rec: &[u8]) -> Line<'_> {
    let rec = rec.trim_ascii_end();
    if rec.starts_with(b"{\"time\":") {
        if let Ok(env) = serde_json::from_slice::<Envelope>(rec) {
            return parse_json(env.event.get().as_bytes());
        }
    }
    if rec.starts_with(format!("{{\"schema\":\"{ANCHOR_SCHEMA}\"").as_bytes()) {
        let a: AnchorJson = match serde_json::from_slice(rec) {
            Ok(a) => a,
            Err(e) => return Line::Malformed(format!("anchor: {e}")),
        };
        let Some(time) = time::parse(&a.time).filter(|_| a.schema == ANCHOR_SCHEMA) else {
            return Line::Malformed("anchor time is not valid".into());
        };
        let head = Head { id: a.chain_id, seq: a.chain_seq, hash: a.chain_hash };
        return Line::Anchor(Anchor { head, time, key: a.key, signature: a.signature });
    }
    let Some(q) = rfind(rec, b"\"chain_id\":\"") else { return Line::None };
    let start = if q > 0 && rec[q - 1] == b',' { q - 1 } else { q };
    let malformed = || {
        Line::Malformed(
            "JSON chain members are not `\"chain_id\":…,\"chain_seq\":…,\"chain_hash\":…` at the end of the record"
                .into(),
        )
    };
    let Ok(rest) = std::str::from_utf8(&rec[q + 12..]) else { return malformed() };
    let Some((chain, rest)) = rest.split_once("\",\"chain_seq\":") else { return malformed() };
    let Some((seq, rest)) = rest.split_once(",\"chain_hash\":\"") else { return malformed() };
    let (Some(hash), Some(tail)) = (rest.get(..64).and_then(hash32), rest.get(64..)) else { return malformed() };
    if !matches!(tail, "\"}" | "\"}}") || !super::valid_id(chain) {
        return malformed();
    }
    let Ok(seq) = seq.parse::<u64>() else { return malformed() };
    let end = rec.len() - (tail.len() - 1);
    Line::Event(Record { chain, seq, hash, before: &rec[..start], after: &rec[end..] })
}

/// Lines of every file, with their location.
fn each_line(files: &[PathBuf], mut f: impl FnMut(usize, u64, &[u8])) -> Result<(), VerifyError> {
    let mut buf = Vec::with_capacity(1 << 16);
    for (i, path) in files.iter().enumerate() {
        let err = |source| VerifyError::Read { path: path.display().to_string(), source };
        let file = File::open(path).map_err(err)?;
        let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut n = 0u64;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(err)? == 0 {
                break;
            }
            n += 1;
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            f(i, n, line.strip_suffix(b"\r").unwrap_or(line));
        }
    }
    Ok(())
}

/// One chain's slots: seq → present flag, hash, first location (file index, line).
struct Slots {
    file: File,
    min: u64,
}

const SLOT: usize = 1 + 32 + 4 + 8;

impl Slots {
    fn read(&self, seq: u64) -> std::io::Result<Option<([u8; 32], u32, u64)>> {
        let mut b = [0u8; SLOT];
        self.file.read_exact_at(&mut b, (seq - self.min) * SLOT as u64)?;
        Ok((b[0] == 1).then(|| {
            let hash: [u8; 32] = b[1..33].try_into().expect("32");
            (
                hash,
                u32::from_le_bytes(b[33..37].try_into().expect("4")),
                u64::from_le_bytes(b[37..].try_into().expect("8")),
            )
        }))
    }

    /// The hash a record at `seq` of chain `id` links from: the genesis for seq 1, else the
    /// hash at `seq - 1`; `None` when that is not present (before these files, or in a gap).
    fn prev(&self, id: &str, seq: u64) -> std::io::Result<Option<[u8; 32]>> {
        if seq == 1 {
            return Ok(Some(genesis(id)));
        }
        if seq - 1 < self.min {
            return Ok(None);
        }
        Ok(self.read(seq - 1)?.map(|(h, _, _)| h))
    }

    fn write(&self, seq: u64, hash: &[u8; 32], file: u32, line: u64) -> std::io::Result<()> {
        let mut b = [0u8; SLOT];
        b[0] = 1;
        b[1..33].copy_from_slice(hash);
        b[33..37].copy_from_slice(&file.to_le_bytes());
        b[37..].copy_from_slice(&line.to_le_bytes());
        self.file.write_all_at(&b, (seq - self.min) * SLOT as u64)
    }
}

#[derive(Default)]
struct Seen {
    min: u64,
    max: u64,
    max_at: (usize, u64),
    records: u64,
}

/// A record whose link did not verify, kept to recognise reordering.
struct Mismatch {
    chain: usize,
    seq: u64,
    canonical: Vec<u8>,
    at: Location,
}

/// Check `files` (in any order; duplicates allowed).
pub fn verify(files: &[PathBuf], pubkey: Option<&ed25519_dalek::VerifyingKey>) -> Result<Outcome, VerifyError> {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let loc = |file: usize, line: u64| Location { file: names[file].clone(), line };
    let tmp = tempfile::tempdir().map_err(VerifyError::Temp)?;
    let mut out = Outcome { pubkey: pubkey.is_some(), ..Default::default() };

    // Pass 1: chains, seqs and hashes to a spill file; anchors and malformed lines noted.
    let mut ids: Vec<String> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut anchors: Vec<(Anchor, Location)> = Vec::new();
    let mut spill = BufWriter::new(File::create(tmp.path().join("spill")).map_err(VerifyError::Temp)?);
    let mut spill_err = None;
    each_line(files, |file, line, bytes| match parse(bytes) {
        Line::None => out.unchained_lines += 1,
        Line::Malformed(why) => out.add(Finding::new(Kind::Malformed, "", 0, Some(loc(file, line)), why)),
        Line::Anchor(a) => {
            if anchors.len() < 100_000 {
                anchors.push((a, loc(file, line)));
            }
        }
        Line::Event(r) => {
            let c = ids.iter().position(|i| i == r.chain).unwrap_or_else(|| {
                ids.push(r.chain.to_string());
                seen.push(Seen { min: u64::MAX, ..Default::default() });
                ids.len() - 1
            });
            let s = &mut seen[c];
            s.records += 1;
            s.min = s.min.min(r.seq);
            if r.seq >= s.max {
                s.max = r.seq;
                s.max_at = (file, line);
            }
            let mut entry = [0u8; 4 + 8 + 32 + 4 + 8];
            entry[..4].copy_from_slice(&(c as u32).to_le_bytes());
            entry[4..12].copy_from_slice(&r.seq.to_le_bytes());
            entry[12..44].copy_from_slice(&r.hash);
            entry[44..48].copy_from_slice(&(file as u32).to_le_bytes());
            entry[48..].copy_from_slice(&line.to_le_bytes());
            if let Err(e) = spill.write_all(&entry) {
                spill_err.get_or_insert(e);
            }
        }
    })?;
    if let Some(e) = spill_err {
        return Err(VerifyError::Temp(e));
    }
    spill.flush().map_err(VerifyError::Temp)?;
    drop(spill);

    // Slots: one sparse file per chain.
    let mut slots = Vec::new();
    let mut summaries: Vec<ChainSummary> = Vec::new();
    for (c, s) in seen.iter().enumerate() {
        let span = s.max - s.min + 1;
        if span > s.records.saturating_mul(4).saturating_add(SLACK) {
            return Err(VerifyError::TooSparse {
                chain: ids[c].clone(),
                min: s.min,
                max: s.max,
                records: s.records,
                path: names[s.max_at.0].clone(),
                line: s.max_at.1,
            });
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(tmp.path().join(format!("slots{c}")))
            .map_err(VerifyError::Temp)?;
        file.set_len(span * SLOT as u64).map_err(VerifyError::Temp)?;
        slots.push(Slots { file, min: s.min });
        summaries.push(ChainSummary {
            chain: ids[c].clone(),
            first_seq: s.min,
            last_seq: s.max,
            records: s.records,
            from_genesis: s.min == 1,
            ..Default::default()
        });
    }
    let mut spill = BufReader::new(File::open(tmp.path().join("spill")).map_err(VerifyError::Temp)?);
    let mut entry = [0u8; 56];
    loop {
        match spill.read_exact(&mut entry) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(VerifyError::Temp(e)),
        }
        let c = u32::from_le_bytes(entry[..4].try_into().expect("4")) as usize;
        let seq = u64::from_le_bytes(entry[4..12].try_into().expect("8"));
        let hash: [u8; 32] = entry[12..44].try_into().expect("32");
        let file = u32::from_le_bytes(entry[44..48].try_into().expect("4"));
        let line = u64::from_le_bytes(entry[48..].try_into().expect("8"));
        match slots[c].read(seq).map_err(VerifyError::Temp)? {
            None => slots[c].write(seq, &hash, file, line).map_err(VerifyError::Temp)?,
            Some((h, _, _)) if h == hash => summaries[c].duplicates += 1,
            Some((_, f0, l0)) => {
                let (first, at) = (loc(f0 as usize, l0), loc(file as usize, line));
                let message =
                    format!("chain {} seq {seq}: {first} and {at} are different records with the same seq", ids[c]);
                out.add(Finding::new(Kind::Conflict, &ids[c], seq, Some(at), message))
            }
        }
    }

    // Missing seqs between the first and the last present.
    for (c, s) in seen.iter().enumerate() {
        let mut gap_from = None;
        let mut reader = BufReader::with_capacity(1 << 20, &slots[c].file);
        let mut b = [0u8; SLOT];
        for seq in s.min..=s.max {
            reader.read_exact(&mut b).map_err(VerifyError::Temp)?;
            match (b[0] == 1, gap_from) {
                (false, None) => gap_from = Some(seq),
                (true, Some(from)) => {
                    gap_from = None;
                    let n = seq - from;
                    let events = if n == 1 { "event is" } else { "events are" };
                    let message = format!("chain {} seq {from}..{}: {n} {events} missing", ids[c], seq - 1);
                    out.add(Finding::new(Kind::Removed, &ids[c], from, None, message).to(seq - 1));
                }
                _ => {}
            }
        }
    }

    // Pass 2: every link, from the record's canonical bytes and the hash before it.
    let mut kept: Vec<Mismatch> = Vec::new();
    let mut altered: Vec<(usize, u64, Location)> = Vec::new();
    let mut io_err = None;
    let mut canonical = Vec::new();
    each_line(files, |file, line, bytes| {
        let Line::Event(r) = parse(bytes) else { return };
        let c = ids.iter().position(|i| i == r.chain).expect("seen in pass 1");
        let prev = slots[c].prev(r.chain, r.seq).unwrap_or_else(|e| {
            io_err.get_or_insert(e);
            None
        });
        // No previous link to check against: the chain starts before these files, or a gap
        // (reported) precedes this record.
        let Some(prev) = prev else { return };
        canonical.clear();
        canonical.extend_from_slice(r.before);
        canonical.extend_from_slice(r.after);
        if link(&prev, &canonical) == r.hash {
            summaries[c].verified += 1;
            return;
        }
        if kept.len() < MAX_KEPT {
            kept.push(Mismatch { chain: c, seq: r.seq, canonical: canonical.clone(), at: loc(file, line) });
        } else {
            altered.push((c, r.seq, loc(file, line)));
        }
    })?;
    if let Some(e) = io_err {
        return Err(VerifyError::Temp(e));
    }
    // A record that verifies at another mismatching seq was moved there from here.
    for m in &kept {
        let mut moved_to = None;
        for other in kept.iter().filter(|o| o.chain == m.chain && o.seq != m.seq) {
            let prev = slots[m.chain].prev(&ids[m.chain], other.seq).map_err(VerifyError::Temp)?;
            let want = slots[m.chain].read(other.seq).map_err(VerifyError::Temp)?.map(|(h, _, _)| h);
            if prev.is_some_and(|p| Some(link(&p, &m.canonical)) == want) {
                moved_to = Some(other.seq);
                break;
            }
        }
        let chain = ids[m.chain].clone();
        out.add(match moved_to {
            Some(o) => {
                let message =
                    format!("chain {chain} seq {} ({}) holds the event of seq {o}: events were reordered", m.seq, m.at);
                Finding { other: Some(o), ..Finding::new(Kind::Reordered, &chain, m.seq, Some(m.at.clone()), message) }
            }
            None => altered_finding(chain, m.seq, m.at.clone()),
        });
    }
    for (c, seq, at) in altered {
        out.add(altered_finding(ids[c].clone(), seq, at));
    }

    // Anchors: signatures, agreement with the chain, and the head they vouch for.
    let mut last_anchor: BTreeMap<usize, (u64, Location)> = BTreeMap::new();
    for (a, at) in &anchors {
        let chain = a.head.id.clone();
        let finding = |kind, message: String| Finding::new(kind, &chain, a.head.seq, Some(at.clone()), message);
        let key = signing::unhex(&a.key)
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok());
        let sig = signing::unhex(&a.signature).unwrap_or_default();
        let problem = match (key, pubkey) {
            _ if a.signature.is_empty() => Some("has no signature".to_string()),
            (None, _) => Some("names no valid public key".to_string()),
            (Some(k), Some(p)) if k != *p => Some("is signed with another key than --pubkey".to_string()),
            (Some(k), _) if !signing::verify(&k, &Anchor::message(&a.head, &a.time), &sig) => {
                Some("has an invalid signature (its fields were changed, or it was forged)".to_string())
            }
            _ => None,
        };
        if let Some(p) = problem {
            out.add(finding(Kind::AnchorSignature, format!("anchor for chain {chain} seq {} ({at}) {p}", a.head.seq)));
            continue;
        }
        let Some(c) = ids.iter().position(|i| *i == chain) else {
            out.add(finding(
                Kind::Truncated,
                format!("anchor for chain {chain} seq {} ({at}), but no event of that chain is present", a.head.seq),
            ));
            continue;
        };
        summaries[c].anchors += 1;
        if a.head.seq >= slots[c].min && a.head.seq <= seen[c].max {
            let got = slots[c].read(a.head.seq).map_err(VerifyError::Temp)?;
            if let Some((h, _, _)) = got.filter(|(h, _, _)| signing::hex(h) != a.head.hash) {
                out.add(finding(
                    Kind::AnchorMismatch,
                    format!(
                        "anchor for chain {chain} seq {} ({at}) vouches for hash {}, but the chain has {}",
                        a.head.seq,
                        a.head.hash,
                        signing::hex(&h)
                    ),
                ));
            }
        }
        if last_anchor.get(&c).is_none_or(|(s, _)| a.head.seq > *s) {
            last_anchor.insert(c, (a.head.seq, at.clone()));
        }
    }
    for (c, (seq, at)) in &last_anchor {
        let max = seen[*c].max;
        if *seq > max {
            let chain = ids[*c].clone();
            let message = format!(
                "chain {chain} seq {}..{seq}: missing after the last event present (the anchor at {at} vouches for seq {seq})",
                max + 1
            );
            out.add(Finding::new(Kind::Truncated, &chain, max + 1, Some(at.clone()), message).to(*seq));
        }
    }
    if pubkey.is_some() {
        for (c, id) in ids.iter().enumerate() {
            if !last_anchor.contains_key(&c) {
                let message = format!("chain {id}: no signed anchor, so a removed tail cannot be detected");
                out.add(Finding::new(Kind::NoAnchor, id, seen[c].max, None, message));
            }
        }
    }
    out.findings.sort_by(|a, b| (&a.chain, a.seq, a.kind).cmp(&(&b.chain, b.seq, b.kind)));
    summaries.sort_by(|a, b| a.chain.cmp(&b.chain));
    out.chains = summaries;
    Ok(out)
}

fn altered_finding(chain: String, seq: u64, at: Location) -> Finding {
    let message = format!(
        "chain {chain} seq {seq} ({at}) does not match its chain_hash: the event (or the one at seq {}) was altered",
        seq.saturating_sub(1)
    );
    Finding::new(Kind::Altered, &chain, seq, Some(at), message)
}

/// The result as people read it.
pub fn text(o: &Outcome) -> String {
    let mut s = String::new();
    for c in &o.chains {
        s += &format!(
            "chain {}: seq {}..{}, {} records ({} duplicates), {} links verified{}, {} anchors\n",
            c.chain,
            c.first_seq,
            c.last_seq,
            c.records,
            c.duplicates,
            c.verified,
            if c.from_genesis { "" } else { " (the first link precedes these files)" },
            c.anchors
        );
    }
    if o.chains.is_empty() {
        s += "no chained records found\n";
    }
    if o.unchained_lines > 0 {
        s += &format!("{} lines carry no chain\n", o.unchained_lines);
    }
    for f in &o.findings {
        s += &format!("{}: {}\n", f.kind.name(), f.message);
    }
    for (kind, n) in &o.counts {
        if *n as usize > MAX_LISTED {
            s += &format!("{kind}: {n} in all ({MAX_LISTED} listed)\n");
        }
    }
    s += if o.ok() {
        "OK: no gap, alteration, reordering, conflict or anchor problem\n"
    } else {
        "TAMPERING OR LOSS DETECTED\n"
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Chain, Signer};

    #[test]
    fn lines_parse_in_every_framing() {
        let mut c = Chain::start("x", None, None).unwrap();
        let mut json = b"{\"a\":\"\\\"chain_id\\\":\\\"\"}".to_vec();
        c.seal_json(&mut json, 0, 1);
        let Line::Event(r) = parse(&json) else { panic!() };
        assert_eq!((r.chain, r.seq, r.before, r.after), ("x", 1, &b"{\"a\":\"\\\"chain_id\\\":\\\"\""[..], &b"}"[..]));
        let mut ocsf = b"<134>1 - h app - - - {\"b\":1,\"unmapped\":{\"c\":2}}".to_vec();
        c.seal_json(&mut ocsf, 22, 2);
        let Line::Event(r) = parse(&ocsf) else { panic!() };
        assert_eq!((r.seq, r.before, r.after), (2, &b"{\"b\":1,\"unmapped\":{\"c\":2"[..], &b"}}"[..]));
        let mut cef = b"<134>1 - h app - - - CEF:0|v|p|1|a flexNumber1=9|A|3|rt=1 msg=x flexNumber1\\=2".to_vec();
        c.seal_cef(&mut cef, 22);
        let Line::Event(r) = parse(&cef) else { panic!() };
        assert_eq!((r.seq, r.before), (3, &b"CEF:0|v|p|1|a flexNumber1=9|A|3|rt=1 msg=x flexNumber1\\=2"[..]));
        assert_eq!(parse(b"plain text"), Line::None);
        assert!(matches!(parse(b"{\"chain_id\":\"x\",\"chain_seq\":1}"), Line::Malformed(_)));
        let hec = format!(
            "{{\"time\":1.000000,\"host\":\"h\",\"event\":{},\"fields\":{{}}}}",
            String::from_utf8(json.clone()).unwrap()
        );
        let Line::Event(r) = parse(hec.as_bytes()) else { panic!() };
        assert_eq!(r.seq, 1);
    }

    #[test]
    fn anchors_parse_from_json_and_cef() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let mut c = Chain::start("x", None, Some(Signer { key: key.clone(), every: 0, log: None })).unwrap();
        let mut r = b"{}".to_vec();
        c.seal_json(&mut r, 0, 1);
        let a = c.anchor(true).unwrap().unwrap();
        let mut json = Vec::new();
        a.write_json(&mut json);
        assert_eq!(parse(&json), Line::Anchor(a.clone()));
        let mut cef = b"CEF:0|v|p|1|chain_anchor|Audit chain anchor|1|".to_vec();
        a.write_cef_extension(&mut cef);
        assert_eq!(parse(&cef), Line::Anchor(a));
    }
}
