//! Agent records of the period name their session, and report the model used and the tokens
//! consumed (NIST AU-3(1)); the session id is required (parameter `min_share`, default 0.99),
//! model and tokens are reported.

use super::{param_f64, percent, Check, CheckResult, Exception, Params, Status, Table};
use crate::report::evidence::Evidence;

pub struct AiRecordContent;

impl Check for AiRecordContent {
    fn name(&self) -> &'static str {
        "ai_record_content"
    }

    fn rule(&self) -> &'static str {
        "At least the required share of the period's agent-lifecycle records name their session; the share naming the model and the tokens is reported."
    }

    fn params(&self) -> &'static [&'static str] {
        &["min_share"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let min = param_f64(params, "min_share", 0.99);
        let a = &ev.stats.ai;
        let n = a.events;
        let mut table = Table::new(&["agent context", "records with it", "share"]);
        table.row(["session id".to_string(), a.with_session.to_string(), percent(a.with_session, n)]);
        table.row(["model (provider or engine)".to_string(), a.with_model.to_string(), percent(a.with_model, n)]);
        table.row(["token counts".to_string(), a.with_tokens.to_string(), percent(a.with_tokens, n)]);
        let mut exceptions = Vec::new();
        if n > 0 && (a.with_session as f64) < min * n as f64 {
            exceptions.push(Exception {
                subject: "agent records".into(),
                reason: format!("{} of {n} agent records name no session", a.without_session.count),
                time: None,
                sessions: Vec::new(),
                event_ids: a.without_session.ids.clone(),
                event_count: a.without_session.count,
            });
        }
        let summary = format!(
            "{n} agent-lifecycle records: {} name their session, {} the model, {} the tokens.",
            percent(a.with_session, n),
            percent(a.with_model, n),
            percent(a.with_tokens, n)
        );
        let mut r = CheckResult::from_exceptions(self, n, summary, table, exceptions);
        if n == 0 {
            r.status = Status::InsufficientEvidence;
            r.summary = "No agent-lifecycle records (duo_flow_*) in the period.".into();
        }
        r
    }
}
