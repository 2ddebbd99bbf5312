//! HTTP collectors: each batch is POSTed as NDJSON (also Splunk HEC: send `--format hec`
//! records to `/services/collector/event`) or as an Elastic `_bulk` body. A 2xx is the
//! acknowledgement. 429, 5xx, timeouts and connection resets are retried with exponential
//! backoff and jitter, honouring `Retry-After`; any other 4xx is a permanent failure reported with
//! the start of the response body. A `_bulk` response with failed items re-sends only those.

use std::io::Write;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::{Batch, Sink, SinkError};
use crate::redact::mask_url;

/// How the body is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFormat {
    /// One record per line (NDJSON, or concatenated HEC envelopes).
    Lines,
    /// Elastic `_bulk`: `{"create":{"_index":INDEX}}` before each record.
    Bulk { index: String },
}

/// HTTP sink settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub url: String,
    pub body: BodyFormat,
    /// Extra headers (`Authorization`, verification token, custom), at most 20; values are
    /// never logged.
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    /// Attempts per batch before giving up.
    pub attempts: u32,
    pub timeout: Duration,
    /// First retry delay (doubled each time, capped at `max_backoff`, with ±50 % jitter).
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub tls: crate::tls::TlsOptions,
}

impl HttpConfig {
    pub fn new(url: &str) -> HttpConfig {
        HttpConfig {
            url: url.to_string(),
            body: BodyFormat::Lines,
            headers: Vec::new(),
            gzip: false,
            attempts: 6,
            timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            tls: crate::tls::TlsOptions::default(),
        }
    }
}

pub struct HttpSink {
    cfg: HttpConfig,
    agent: ureq::Agent,
    rng: rand_chacha::ChaCha8Rng,
    retries: u64,
}

/// What one POST achieved.
enum Outcome {
    Done,
    /// Retry these record indexes (all, or the failed `_bulk` items), after at least this long.
    Retry(Vec<usize>, Option<Duration>, String),
}

fn truncate_body(text: &str) -> String {
    let mut end = text.len().min(512);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl HttpSink {
    pub fn new(cfg: HttpConfig) -> Result<HttpSink, String> {
        if cfg.headers.len() > 20 {
            return Err(format!("at most 20 HTTP headers (got {})", cfg.headers.len()));
        }
        let tls = crate::tls::tls_config(&cfg.tls)?;
        let agent = ureq::AgentBuilder::new().timeout(cfg.timeout).tls_config(tls).build();
        let seed = std::process::id() as u64 ^ chrono::Utc::now().timestamp_micros() as u64;
        Ok(HttpSink { cfg, agent, rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed), retries: 0 })
    }

    fn body(&self, batch: &Batch, which: &[usize]) -> Vec<u8> {
        let records: Vec<&[u8]> = batch.records().collect();
        let mut raw = Vec::with_capacity(batch.bytes() + which.len() * 48);
        for &i in which {
            if let BodyFormat::Bulk { index } = &self.cfg.body {
                raw.extend_from_slice(b"{\"create\":{\"_index\":");
                serde_json::to_writer(&mut raw, index).expect("string");
                raw.extend_from_slice(b"}}\n");
            }
            raw.extend_from_slice(records[i]);
            raw.push(b'\n');
        }
        if !self.cfg.gzip {
            return raw;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 4), flate2::Compression::fast());
        gz.write_all(&raw).expect("Vec write");
        gz.finish().expect("Vec write")
    }

    fn post(&mut self, batch: &Batch, which: &[usize]) -> Result<Outcome, SinkError> {
        let body = self.body(batch, which);
        let content_type = match self.cfg.body {
            BodyFormat::Lines => "application/x-ndjson",
            BodyFormat::Bulk { .. } => "application/x-ndjson",
        };
        let mut req = self.agent.post(&self.cfg.url).set("Content-Type", content_type);
        if self.cfg.gzip {
            req = req.set("Content-Encoding", "gzip");
        }
        for (k, v) in &self.cfg.headers {
            req = req.set(k, v);
        }
        match req.send_bytes(&body) {
            Ok(resp) => {
                if let BodyFormat::Bulk { .. } = self.cfg.body {
                    let text = resp.into_string().unwrap_or_default();
                    return self.bulk_outcome(&text, which);
                }
                Ok(Outcome::Done)
            }
            Err(ureq::Error::Status(code, resp)) => {
                let retry_after =
                    resp.header("Retry-After").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
                let text = resp.into_string().unwrap_or_default();
                if code == 429 || code >= 500 {
                    Ok(Outcome::Retry(which.to_vec(), retry_after, format!("HTTP {code}")))
                } else {
                    Err(SinkError::Rejected { sink: self.name(), status: code, body: truncate_body(&text) })
                }
            }
            Err(ureq::Error::Transport(t)) => Ok(Outcome::Retry(which.to_vec(), None, t.to_string())),
        }
    }

    /// Items of a `_bulk` response that failed transiently are retried; others fail the batch.
    fn bulk_outcome(&self, text: &str, which: &[usize]) -> Result<Outcome, SinkError> {
        let v: Value = serde_json::from_str(text).map_err(|e| SinkError::Rejected {
            sink: self.name(),
            status: 200,
            body: format!("not a _bulk response ({e}): {}", truncate_body(text)),
        })?;
        if v["errors"] != Value::Bool(true) {
            return Ok(Outcome::Done);
        }
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let mut retry = Vec::new();
        for (pos, item) in items.iter().enumerate() {
            let result = item.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
            let status = result["status"].as_u64().unwrap_or(0);
            if status == 429 || status >= 500 {
                retry.push(which[pos]);
            } else if status >= 300 {
                return Err(SinkError::Rejected {
                    sink: self.name(),
                    status: status as u16,
                    body: truncate_body(&result["error"].to_string()),
                });
            }
        }
        if retry.is_empty() {
            Ok(Outcome::Done)
        } else {
            let n = retry.len();
            Ok(Outcome::Retry(retry, None, format!("{n} _bulk items failed transiently")))
        }
    }
}

impl Sink for HttpSink {
    fn name(&self) -> String {
        mask_url(&self.cfg.url)
    }

    fn retries(&self) -> u64 {
        self.retries
    }

    fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut wait = self.cfg.backoff;
        for attempt in 1..=self.cfg.attempts {
            match self.post(batch, &pending)? {
                Outcome::Done => return Ok(()),
                Outcome::Retry(which, retry_after, why) => {
                    pending = which;
                    if attempt == self.cfg.attempts {
                        return Err(SinkError::Exhausted { sink: self.name(), attempts: attempt, last: why });
                    }
                    let jittered = wait.mul_f64(self.rng.gen_range(0.5..1.5));
                    let delay = retry_after.map_or(jittered, |r| r.max(jittered)).min(Duration::from_secs(300));
                    tracing::warn!(
                        "{}: {why}; retrying {} records in {delay:?} ({attempt}/{})",
                        self.name(),
                        pending.len(),
                        self.cfg.attempts
                    );
                    std::thread::sleep(delay);
                    self.retries += 1;
                    wait = (wait * 2).min(self.cfg.max_backoff);
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}
