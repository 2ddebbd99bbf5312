//! End-to-end tests: they run the `compliance-report` binary.

mod anomalies;
mod bad_input;
mod cef_parser;
mod chain;
mod clickhouse;
mod demo_data;
mod export;
mod faults;
mod http;
mod http_server;
mod jobs;
mod ocsf;
mod pg;
mod postgres;
mod properties;
mod redaction;
mod report;
mod rsyslog;
mod security;
mod sessions;
mod syslog;
mod util;
