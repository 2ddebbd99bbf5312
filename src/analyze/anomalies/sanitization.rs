//! Sanitization failures: secrets or personal data in what people or agents wrote into a
//! session (prompts, input summaries and context, plans, decision logs) — GitLab and cloud
//! tokens, private keys, JWTs, passwords in URLs, e-mail addresses, card numbers, SSNs, IBANs
//! ([`crate::secrets`]). One finding per session (or per event outside sessions). False
//! positives: example values in documentation prompts, test card numbers.

use std::collections::BTreeMap;

use super::{Draft, Heuristic, Input};

pub struct Sanitization;

/// The hits of one session (or one event outside sessions).
#[derive(Default)]
struct Group {
    rows: Vec<usize>,
    kinds: Vec<&'static str>,
    fields: Vec<String>,
}

impl Heuristic for Sanitization {
    fn name(&self) -> &'static str {
        "sanitization"
    }

    fn description(&self) -> &'static str {
        "secrets or personal data in prompts, plans and decision logs"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let data = input.data;
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let mut hits: Vec<(super::dataset::SecretHit, super::dataset::Row)> =
            data.secrets(&input.range).into_iter().map(|h| (h.clone(), data.row(h.row))).collect();
        hits.sort_by(|a, b| (a.1.time(), &a.1.id).cmp(&(b.1.time(), &b.1.id)));
        for (hit, r) in &hits {
            let key = if r.fact.session.is_empty() { format!("event:{}", r.id) } else { r.fact.session.to_string() };
            let g = groups.entry(key).or_default();
            g.rows.push(hit.row);
            g.kinds.extend(&hit.kinds);
            g.fields.extend(hit.fields.iter().cloned());
        }
        groups
            .into_iter()
            .map(|(key, Group { rows, mut kinds, mut fields })| {
                kinds.sort();
                kinds.dedup();
                fields.sort();
                fields.dedup();
                let credential = kinds.iter().any(|k| !matches!(*k, "email" | "card_number" | "us_ssn" | "iban"));
                let r = data.row(rows[0]);
                Draft {
                    severity: if credential { 8 } else { 6 },
                    actor: r.principal().to_string(),
                    value: format!("{} in {}", kinds.join(", "), fields.join(", ")),
                    threshold: "none may appear".into(),
                    explanation: format!(
                        "Someone put {} into an agent's instructions, where it is stored and may be sent to the model.",
                        if credential { "a secret credential" } else { "personal data" }
                    ),
                    sessions: if key.starts_with("event:") { Vec::new() } else { vec![key] },
                    values: kinds.iter().map(|k| k.to_string()).collect(),
                    rows,
                    ..Draft::default()
                }
            })
            .collect()
    }
}
