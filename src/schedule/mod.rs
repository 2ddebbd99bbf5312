//! Scheduled jobs: crontab schedules in a time zone, and one-run-at-a-time locking.

pub mod cron;
pub mod lock;
