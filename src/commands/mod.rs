//! The command-line edge: turns parsed arguments into library calls, errors into messages
//! (`anyhow` with context lives here and nowhere else).

pub mod aggregate;
pub mod anomalies;
pub mod chain;
pub mod db;
pub mod demo;
pub mod export;
pub mod jobs;
pub mod report;
pub mod schedule;
pub mod sessions;

/// A problem with the command line found after parsing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Wrap a value-validation error as a usage error.
pub fn usage(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(err.to_string()))
}
