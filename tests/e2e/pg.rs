//! A fresh PostgreSQL database per test, through `psql`. The server comes from
//! `TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Without a server the
//! tests are skipped, except under `CI=true`, where they fail.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

pub fn admin_url() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl TestDb {
    /// A new empty database, or `None` (skip) when no server answers outside CI.
    pub fn new(tag: &str) -> Option<TestDb> {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = admin_url();
        if let Err(e) = psql(&admin, "SELECT 1") {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required under CI=true but is not reachable at {admin}: {e}");
            }
            eprintln!("skipping: no PostgreSQL at {admin}: {e}");
            return None;
        }
        let name = format!("cr_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        psql(&admin, &format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        Some(TestDb { url: format!("{base}/{name}"), admin, name })
    }

    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.url, sql)
    }

    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql).unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
    }
}

impl TestDb {
    /// A plain `ai_audit_events` table (GitLab's columns) holding `rows` token-usage rows with
    /// ids 1..=rows, one second apart from 2026-10-01.
    pub fn token_usage_rows(&self, rows: u32) {
        self.sql(&format!(
            "CREATE TABLE ai_audit_events (id bigint NOT NULL, created_at timestamptz NOT NULL, cloud_event_id uuid NOT NULL, \
             author_id bigint NOT NULL, project_id bigint, namespace_id bigint, event_name text NOT NULL, ip_address inet, \
             workflow_id bigint, details text); \
             INSERT INTO ai_audit_events SELECT i, '2026-10-01Z'::timestamptz + i * interval '1 second', gen_random_uuid(), i % 50, 7, NULL, \
             'duo_flow_token_usage', '10.0.0.1', NULL, '{{\"input_tokens\":' || i || '}}' FROM generate_series(1, {rows}) i"
        ));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// Whether the role `cr_pw_test` must log in with a password (`.ci/run` configures it);
/// required under CI=true.
pub fn password_role_configured() -> bool {
    let base = admin_url();
    let host = base.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let wrong = format!("postgres://cr_pw_test:definitely-wrong@{host}/postgres");
    let configured = psql(&wrong, "SELECT 1").is_err_and(|e| e.contains("password authentication failed"));
    if !configured && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("under CI=true the role cr_pw_test must require a password (see .ci/run)");
    }
    configured
}
