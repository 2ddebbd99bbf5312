//! The evidence manifest (`manifest.json`): the SHA-256 of every file of a report package and
//! of the canonical evidence, with what produced them; and its verification (`verify DIR`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "compliance-report.manifest.v1";
pub const FILE: &str = "manifest.json";
/// The raw 64-byte Ed25519 signature of `manifest.json`'s exact bytes (checkable with
/// `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile manifest.sig`).
pub const SIGNATURE_FILE: &str = "manifest.sig";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileHash {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub framework: String,
    pub period: String,
    pub generated_at: String,
    pub tool_version: String,
    /// Where the evidence came from (password masked).
    pub source: String,
    /// What was read and how it was judged: range, baseline, heuristics' settings, template
    /// directory, formats, sample seed.
    pub options: BTreeMap<String, String>,
    /// SHA-256 of the canonical evidence: `report.json` as written (keys in a fixed order,
    /// pretty-printed, UTF-8).
    pub evidence_sha256: String,
    pub files: Vec<FileHash>,
    /// The hash chain over the period's events (README, "Hash chain").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainHead>,
}

/// The head of the hash chain `export` gives the period's events: a SIEM copy of that export
/// ends with this link, and re-running the command reproduces it from the source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainHead {
    pub chain_id: String,
    /// Events in the period (the last `chain_seq`).
    pub chain_seq: u64,
    pub chain_hash: String,
    /// The command that gives the same chain.
    pub reproduce: String,
}

pub fn sha256(bytes: &[u8]) -> String {
    crate::signing::hex(&Sha256::digest(bytes))
}

/// A writer that hashes and counts what passes through it, for files written as a stream.
pub struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: std::io::Write> Hashing<W> {
    pub fn new(inner: W) -> Hashing<W> {
        Hashing { inner, hash: Sha256::new(), bytes: 0 }
    }

    /// The file's entry in the manifest.
    pub fn finish(mut self, name: &str) -> std::io::Result<FileHash> {
        self.inner.flush()?;
        Ok(FileHash { name: name.into(), bytes: self.bytes, sha256: crate::signing::hex(&self.hash.finalize()) })
    }
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What `verify` found wrong with a package.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a compliance-report manifest: {message}")]
    Invalid { path: String, message: String },
}

/// What the signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    Unsigned,
    /// Present, but no public key was given to check it against.
    NotChecked,
    Valid,
}

/// The result of checking a package: one line per problem (empty: intact), and the signature.
pub fn verify(
    dir: &Path,
    pubkey: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<(Manifest, Vec<String>, Signature), VerifyError> {
    let path = dir.join(FILE);
    let text = std::fs::read(&path).map_err(|source| VerifyError::Io { path: path.display().to_string(), source })?;
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| VerifyError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
    if m.schema != SCHEMA {
        return Err(VerifyError::Invalid {
            path: path.display().to_string(),
            message: format!("schema {:?}, expected {SCHEMA:?}", m.schema),
        });
    }
    let mut problems = Vec::new();
    for f in &m.files {
        if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
            problems.push(format!("{}: not a plain file name", f.name));
            continue;
        }
        match std::fs::read(dir.join(&f.name)) {
            Ok(bytes) => {
                let got = sha256(&bytes);
                if got != f.sha256 {
                    problems.push(format!("{}: SHA-256 {got} differs from the manifest's {}", f.name, f.sha256));
                }
                if name_is_evidence(&f.name) && got != m.evidence_sha256 {
                    problems.push(format!("{}: differs from the evidence hash {}", f.name, m.evidence_sha256));
                }
            }
            Err(e) => problems.push(format!("{}: {e}", f.name)),
        }
    }
    let sig_path = dir.join(SIGNATURE_FILE);
    let signature = match (std::fs::read(&sig_path), pubkey) {
        (Err(_), None) => Signature::Unsigned,
        (Err(_), Some(_)) => {
            problems.push(format!("{SIGNATURE_FILE}: missing, but a public key was given: the package is not signed"));
            Signature::Unsigned
        }
        (Ok(_), None) => Signature::NotChecked,
        (Ok(sig), Some(key)) => {
            if !crate::signing::verify(key, &text, &sig) {
                problems.push(format!("{SIGNATURE_FILE}: not a valid signature of {FILE} by this public key"));
            }
            Signature::Valid
        }
    };
    Ok((m, problems, signature))
}

fn name_is_evidence(name: &str) -> bool {
    name == "report.json"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_streamed_file_hashes_as_if_whole() {
        use std::io::Write;
        let mut out = Vec::new();
        let mut w = Hashing::new(&mut out);
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        let entry = w.finish("x.csv").unwrap();
        assert_eq!(entry, FileHash { name: "x.csv".into(), bytes: 3, sha256: sha256(b"abc") });
        assert_eq!(out, b"abc");
    }
}
