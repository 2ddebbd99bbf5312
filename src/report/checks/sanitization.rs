//! Agent prompts, plans and decision logs of the period are free of secrets and personal data
//! (the detector of `crate::secrets`; SOC 2 CC6.7, ISO A.8.12, SI-4).

use std::collections::BTreeMap;

use super::{finding_exceptions, Check, CheckResult, Params, Table};
use crate::report::evidence::Evidence;
use crate::secrets::PROMPT_KEYS;

pub struct Sanitization;

impl Check for Sanitization {
    fn name(&self) -> &'static str {
        "sanitization"
    }

    fn rule(&self) -> &'static str {
        "No agent prompt, plan or decision log of the period holds a secret (tokens, keys, passwords) or personal data (e-mail, card, SSN, IBAN)."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
        for hit in &ev.store.secrets(&ev.period) {
            for k in &hit.kinds {
                *kinds.entry(k).or_default() += 1;
            }
        }
        let mut table = Table::new(&["kind found", "events"]);
        for (k, n) in &kinds {
            table.row([k.to_string(), n.to_string()]);
        }
        let exceptions = finding_exceptions(ev, &["sanitization"]);
        let summary = format!(
            "{} events of the period scanned in the fields {}; {} finding(s).",
            ev.stats.events,
            PROMPT_KEYS.join(", "),
            exceptions.len()
        );
        CheckResult::from_exceptions(self, ev.stats.events, summary, table, exceptions)
    }
}
