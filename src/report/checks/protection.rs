//! The evidence is protected: the package's manifest holds the SHA-256 of every file and of
//! the canonical evidence, and a signature with `--sign-key` (NIST AU-9, ISO A.5.28/A.8.15).
//! Unsigned, hashes detect accidental change but not a deliberate one (whoever changes a file
//! can recompute its hash): insufficient evidence, not an exception.

use super::{Check, CheckResult, Params, Status, Table};
use crate::report::evidence::Evidence;

pub struct Protection;

impl Check for Protection {
    fn name(&self) -> &'static str {
        "protection"
    }

    fn rule(&self) -> &'static str {
        "The evidence package is hashed (manifest.json) and signed, so any change after generation is detectable by `compliance-report verify`."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let mut table = Table::new(&["protection", "state"]);
        table.row(["SHA-256 of every file and of the evidence", "manifest.json"]);
        table.row(["Ed25519 signature", if ev.signed { "signed (--sign-key)" } else { "not signed" }]);
        let mut r = CheckResult::from_exceptions(self, 1, String::new(), table, Vec::new());
        if ev.signed {
            r.summary = "The manifest lists the SHA-256 of every file and of the evidence, and is signed.".into();
        } else {
            r.status = Status::InsufficientEvidence;
            r.summary = "The manifest lists the SHA-256 of every file and of the evidence but is not signed; sign with --sign-key.".into();
        }
        r
    }
}
