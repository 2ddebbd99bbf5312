//! Logging with `tracing`, always to stderr (stdout carries only data), and progress display.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// Environment variable holding a `tracing` filter that overrides `-v`/`-q`.
pub const LOG_ENV: &str = "COMPLIANCE_REPORT_LOG";

pub fn init(args: &LogArgs) {
    let default = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// A spinner counting `what` on a terminal; hidden when stderr is not a terminal (cron, CI).
pub fn progress(what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} {{human_pos}} {what} ({{per_sec}}, {{elapsed}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `stream` counting its records on `bar` (updated every 1,024 records and at the end); the
/// bar is cleared when the stream is dropped.
pub fn counted(stream: crate::sources::EventStream, bar: ProgressBar) -> crate::sources::EventStream {
    Box::new(Counted { inner: stream, bar, n: 0 })
}

struct Counted {
    inner: crate::sources::EventStream,
    bar: ProgressBar,
    n: u64,
}

impl Iterator for Counted {
    type Item = <crate::sources::EventStream as Iterator>::Item;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.next();
        match next {
            Some(_) => {
                self.n += 1;
                if self.n.is_multiple_of(1024) {
                    self.bar.set_position(self.n);
                }
            }
            None => self.bar.set_position(self.n),
        }
        next
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{Record, SourceError};

    #[test]
    fn a_counted_stream_passes_every_record_and_counts_them() {
        let records: Vec<Result<Record, SourceError>> = (0..2_500)
            .map(|i| {
                let mut ev = crate::model::AuditEvent::new(
                    chrono::DateTime::from_timestamp(i, 0).unwrap(),
                    "login".into(),
                    crate::model::Actor::default(),
                    crate::model::Origin { format: "test".into(), native_id: None },
                );
                ev.id = i.to_string();
                Ok(Record { event: Box::new(ev), position: None, prepared: None })
            })
            .collect();
        let bar = ProgressBar::hidden();
        let ids: Vec<String> =
            counted(Box::new(records.into_iter()), bar.clone()).map(|r| r.unwrap().event.id).collect();
        assert_eq!(ids.len(), 2_500);
        assert_eq!((ids[0].as_str(), ids[2_499].as_str()), ("0", "2499"));
        assert_eq!(bar.position(), 2_500);
    }
}
