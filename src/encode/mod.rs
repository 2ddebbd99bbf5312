//! Encoders: one file per output format, all behind [`Encoder`]; [`EncoderConfig::build`] picks one.
//!
//! An encoder turns one event into one record of bytes with no line break in it; sinks add
//! the framing (a newline for files and pipes, octet counting for syslog, …).

pub mod cef;
pub mod ecs;
pub mod findings;
pub mod hec;
pub mod json;
pub mod ocsf;

use crate::chain::{Anchor, Chain};
use crate::model::catalog::SeverityTable;
use crate::model::AuditEvent;

/// Turns events into records.
pub trait Encoder: Send + Sync {
    /// Append the record for `ev` to `out`, without a trailing newline.
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>);

    /// Append the record for `ev` carrying the next link of `chain` (README, "Hash chain"). The
    /// default suits records that are one JSON object: the chain members go before its brace.
    fn encode_chained(&self, ev: &AuditEvent, chain: &mut Chain, out: &mut Vec<u8>) {
        let start = out.len();
        self.encode(ev, out);
        chain.seal_json(out, start, 1);
    }

    /// Append a signed chain anchor record (default: the anchor's JSON object).
    fn encode_anchor(&self, anchor: &Anchor, out: &mut Vec<u8>) {
        anchor.write_json(out);
    }
}

/// Output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ArcSight Common Event Format (rev 25), one event per line.
    Cef,
    /// The canonical record as JSON, one event per line (README, "JSON field reference").
    Json,
    /// Elastic Common Schema documents (the canonical record under `compliance_report`).
    Ecs,
    /// OCSF 1.8.0 events (API Activity, Account Change, Authentication, Entity Management).
    Ocsf,
    /// Splunk HTTP Event Collector envelopes around the canonical record.
    Hec,
    /// Splunk HTTP Event Collector envelopes around OCSF events.
    HecOcsf,
}

impl Format {
    /// The name users write (`--format`, `format =` in job files).
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value().expect("no variant is skipped").get_name().to_string()
    }

    /// Parse a name users write; the error lists the names there are.
    pub fn parse(name: &str) -> Result<Format, String> {
        use clap::ValueEnum;
        Format::from_str(name, false).map_err(|_| format!("{name:?} is not a format; use {}", Format::names()))
    }

    /// Every format name, for messages: `cef, json, … or hec-ocsf`.
    pub fn names() -> String {
        use clap::ValueEnum;
        let names: Vec<String> = Format::value_variants().iter().map(|f| f.name()).collect();
        let (last, rest) = names.split_last().expect("formats exist");
        format!("{} or {last}", rest.join(", "))
    }
}

/// Everything needed to build an encoder.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub format: Format,
    pub cef: cef::CefConfig,
    pub hec: hec::HecConfig,
    pub severity: SeverityTable,
}

impl EncoderConfig {
    pub fn build(&self) -> Box<dyn Encoder> {
        match self.format {
            Format::Cef => Box::new(cef::CefEncoder::new(self.cef.clone(), self.severity.clone())),
            Format::Json => Box::new(json::JsonEncoder),
            Format::Ecs => Box::new(ecs::EcsEncoder { severity: self.severity.clone() }),
            Format::Ocsf => Box::new(ocsf::OcsfEncoder { severity: self.severity.clone() }),
            Format::Hec | Format::HecOcsf => Box::new(hec::HecEncoder {
                config: self.hec.clone(),
                severity: self.severity.clone(),
                ocsf: (self.format == Format::HecOcsf).then(|| ocsf::OcsfEncoder { severity: self.severity.clone() }),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip_and_errors_list_them() {
        assert_eq!(Format::parse("hec-ocsf"), Ok(Format::HecOcsf));
        assert_eq!(Format::HecOcsf.name(), "hec-ocsf");
        assert_eq!(
            Format::parse("xml"),
            Err("\"xml\" is not a format; use cef, json, ecs, ocsf, hec or hec-ocsf".to_string())
        );
    }
}
