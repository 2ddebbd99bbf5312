//! The heuristics' [`Store`] inside ClickHouse: counts run as `GROUP BY`, rows are selected
//! with `WHERE`, session summaries are a `GROUP BY … HAVING` that keeps the candidates of a
//! lifecycle rule, and only prompts are scanned here (for secrets). `db facts` writes the
//! projection once ([`build_facts`]), with a summary of each session in it; questions read that
//! snapshot while it is fresh (lifecycle candidates and the baseline's tokens per session from
//! the summaries, reading rows only for the sessions that cross the window's edges). Each table's rows are
//! projected to what [`Dataset::push`](super::Dataset::push) keeps of an event — id, principal,
//! actor class, model, target, authorization, prompt text — with the same rules as the sources
//! ([`crate::sources::tables`], [`crate::sources::normalize`]), so the heuristics find the same.
//!
//! Details are read with `JSONExtract*` from 20.x on; on 18.16 with `visitParamExtract*`, which
//! finds the first field of that name at any depth (GitLab's details keep these keys at the top).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::dataset::{prompt_secrets, Dataset, Row, RowParts, SecretHit};
use super::first_seen::Attr;
use super::store::{in_order, Filter, Group, Key, SessionSummary, Store};
use super::Window;
use crate::analyze::aggregate::clickhouse::{json, ClickHouseAggregator, Parts};
use crate::analyze::aggregate::{AggregateError, Bucket, Cell};
use crate::model::{ActorClass, Outcome};
use crate::sources::clickhouse::sql::{ident, string, TimeType};
use crate::sources::clickhouse::{ChConfig, Connection, TsvRow};
use crate::sources::tables::{Mapping, TableSpec, AGENT_SESSION_EVENTS};
use crate::sources::SourceError;

/// The columns added to the fact projection (after its ten), in order.
pub const ROW_COLUMNS: [&str; 18] = [
    "id",
    "principal",
    "class",
    "obo",
    "obo_name",
    "name",
    "model",
    "target",
    "scopes",
    "auth_at",
    "auth_state",
    "p_input_prompt",
    "p_input_summary",
    "p_input_context",
    "p_goal",
    "p_prompt",
    "p_plan_summary",
    "p_decisions_log",
];

/// `auth_state` bits.
const AUTHORIZED: u8 = 1;
const HAS_AT: u8 = 2;
const RECORDED: u8 = 4;
/// An event's kind for a session's lifecycle, a bit each: a session's kinds are their OR.
const START: u8 = 1;
const END: u8 = 2;
const RESOURCE: u8 = 4;
const PAUSE: u8 = 8;

/// Sub-expressions named once and reused (`(expr AS _name)`, then `_name`): the projection
/// reads the same details many times, and ClickHouse limits the query's size.
struct Aliases {
    major: u32,
    seen: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl Aliases {
    fn new(major: u32) -> Aliases {
        Aliases { major, seen: Default::default() }
    }

    /// The expression the first time `name` is asked for, its alias after.
    fn named(&self, name: &str, expr: impl FnOnce() -> String) -> String {
        if self.seen.borrow_mut().insert(name.to_string()) {
            format!("({} AS {name})", expr())
        } else {
            name.to_string()
        }
    }

    /// The raw JSON of `key` in `doc` (named `_r_<tag>`).
    fn raw(&self, doc: &str, tag: &str, key: &str) -> String {
        self.named(&format!("_r_{tag}"), || json(self.major, "Raw", doc, key))
    }

    /// A detail as text the way [`crate::model::value_text`] renders it: strings unquoted,
    /// other values as written, `null` or absent as ''.
    fn detail(&self, doc: &str, tag: &str, key: &str) -> String {
        let name = format!("_t_{tag}");
        if self.seen.borrow().contains(&name) {
            return name;
        }
        let first = self.raw(doc, tag, key);
        let raw = format!("_r_{tag}");
        let s = json(self.major, "String", doc, key);
        self.named(&name, || format!("multiIf(substring({first}, 1, 1) = '\"', {s}, {raw} = 'null', '', {raw})"))
    }
}

/// The human an event was done for, from details (`on_behalf_of` or `user`: an object's id
/// else username/name, a number, a name; else `scoped_user_id`/`user_id`), as
/// `(id-or-name, name)`, as [`crate::sources::normalize`] reads it.
fn on_behalf_of(a: &Aliases, d: &str) -> (String, String) {
    // An id (a number, or a number in a string) from raw JSON: `first` the raw value's first
    // mention, `r` its alias, `name` the result's alias.
    let int = |first: &str, r: &str, name: &str| {
        a.named(name, || {
            format!("multiIf(match({first}, '^-?[0-9]+$'), {r}, match({r}, '^\"-?[0-9]+\"$'), replaceAll({r}, '\"', ''), '')")
        })
    };
    let of = |key: &str| {
        let raw_first = a.raw(d, key, key);
        let raw = format!("_r_{key}");
        let id_raw = a.raw(&raw, &format!("{key}_id"), "id");
        let id = int(&id_raw, &format!("_r_{key}_id"), &format!("_i_{key}_id"));
        let name = a.named(&format!("_n_{key}"), || {
            format!(
                "if({u} != '', _t_{key}_username, {n})",
                u = a.detail(&raw, &format!("{key}_username"), "username"),
                n = a.detail(&raw, &format!("{key}_name"), "name")
            )
        });
        let s = a.detail(d, &format!("{key}_s"), key);
        let who = a.named(&format!("_w_{key}"), || {
            format!(
                "multiIf(substring({raw_first}, 1, 1) = '{{', if({id} != '', _i_{key}_id, {name}), match({raw}, '^-?[0-9]+$'), {raw}, \
                 substring({raw}, 1, 1) = '\"', {s}, '')"
            )
        });
        let name = a.named(&format!("_wn_{key}"), || {
            format!("multiIf(substring({raw}, 1, 1) = '{{', _n_{key}, substring({raw}, 1, 1) = '\"', _t_{key}_s, '')")
        });
        (who, name)
    };
    let (wa, na) = of("on_behalf_of");
    let (wb, nb) = of("user");
    let sid = a.raw(d, "scoped_user_id", "scoped_user_id");
    let sid = int(&sid, "_r_scoped_user_id", "_i_scoped_user_id");
    let uid = a.raw(d, "user_id", "user_id");
    let uid = int(&uid, "_r_user_id", "_i_user_id");
    let ids = a.named("_ids", || format!("if({sid} != '', _i_scoped_user_id, {uid})"));
    let username = a.detail(d, "username", "username");
    let who = a.named("_obo", || format!("multiIf({wa} != '', _w_on_behalf_of, {wb} != '', _w_user, {ids})"));
    let name = format!("multiIf(_w_on_behalf_of != '', {na}, _w_user != '', {nb}, _ids != '', {username}, '')");
    (who, name)
}

/// The actor class of a GitLab envelope with details, as `user`, `service_account`,
/// `unauthenticated`, `webhook_event`, `poll_cycle` or `other` ([`ActorClass::from_source`], then `enrich`).
fn class(a: &Aliases, d: &str, author_id: &str, obo: &str) -> String {
    let ac_first = a.detail(d, "author_class", "author_class");
    let ac = "_t_author_class";
    let other = [
        "DeployKey",
        "Gitlab::Audit::DeployKeyAuthor",
        "deploy_key",
        "DeployToken",
        "Gitlab::Audit::DeployTokenAuthor",
        "deploy_token",
        "Gitlab::Audit::CiRunnerTokenAuthor",
        "ci_runner",
        "project_bot",
        "admin_action",
        "system",
    ]
    .map(string)
    .join(", ");
    let base = a.named("_base_class", || {
        format!(
            "multiIf({ac_first} IN ('User', 'user'), 'user', {ac} IN ('ServiceAccount', 'service_account'), 'service_account', \
             {ac} IN ('Gitlab::Audit::UnauthenticatedAuthor', 'unauthenticated'), 'unauthenticated', {ac} IN ('webhook_event', 'poll_cycle'), {ac}, {ac} IN ({other}), 'other', \
             {author_id} = -1, 'unauthenticated', {author_id} IN (-2, -3, -4), 'other', 'user')"
        )
    });
    let sa = format!(
        "({t} = 'service_account' OR ({c} = 'true' AND {obo} != ''))",
        t = a.detail(d, "author_user_type", "author_user_type"),
        c = a.raw(d, "composite_identity", "composite_identity")
    );
    a.named("_class", || format!("if({base} = 'user' AND {sa}, 'service_account', _base_class)"))
}

/// Microseconds of an ISO 8601 text (0 when unreadable).
fn parse_micros(text: &str) -> String {
    format!(
        "toInt64(toUInt32(parseDateTimeBestEffortOrZero({text}))) * 1000000 + \
         toInt64OrZero(substring(concat(extract({text}, '\\\\.([0-9]+)'), '000000'), 1, 6))"
    )
}

/// The event id: as [`AuditEvent::assign_id`] hashes the origin format and native id.
fn event_id(format: &str, native: &str) -> String {
    format!("lower(hex(substring(SHA256(concat({}, '\\0', {native})), 1, 16)))", string(format))
}

/// The [`ROW_COLUMNS`] of one table's rows. `actor` is the fact column expression of the actor;
/// `session_user` the user of a resource's session.
pub fn row_columns(
    spec: &TableSpec,
    have: &HashMap<String, String>,
    major: u32,
    actor: &str,
    session_user: &str,
) -> Option<Vec<String>> {
    let format = spec.origin_format();
    let empty = || "''".to_string();
    let none_prompts = || vec![empty(); 7];
    let principal =
        |obo: &str, class: &str| format!("multiIf({obo} != '', _obo, {class} = 'unauthenticated', '', {actor})");
    let cols: Vec<String> = match spec.mapping {
        Mapping::AiAudit | Mapping::SplitAudit { .. } => {
            let al = Aliases::new(major);
            let d = "ifNull(details, '')";
            let (obo, obo_name) = on_behalf_of(&al, d);
            let class = class(&al, d, "author_id", "_obo");
            let principal = principal(&obo, &class);
            let provider = al.detail(d, "model_provider", "model_provider");
            let engine = al.named("_engine", || {
                format!(
                    "if({e} != '', _t_model_engine, {n})",
                    e = al.detail(d, "model_engine", "model_engine"),
                    n = al.detail(d, "model_name", "model_name")
                )
            });
            let scopes_raw = al.raw(d, "authorized_scopes", "authorized_scopes");
            let scopes = al.named("_scopes", || {
                format!(
                    "if(substring({scopes_raw}, 1, 1) = '[', extractAll(_r_authorized_scopes, '\"([^\"]*)\"'), \
                     arrayFilter(x -> x != '', splitByChar(',', replaceRegexpAll({s}, '\\\\s', ','))))",
                    s = al.detail(d, "authorized_scopes", "authorized_scopes")
                )
            });
            let verified = al.detail(d, "authorization_verified_at", "authorization_verified_at");
            let at = al.named("_at", || parse_micros("_t_authorization_verified_at"));
            let state = format!(
                "toUInt8(if({verified} != '' AND {at} > 0, {HAS_AT}, 0) + \
                 if((_t_authorization_verified_at != '' AND _at > 0) OR {m} != '' OR notEmpty(_scopes), {AUTHORIZED}, 0) + {RECORDED})",
                m = al.detail(d, "authorization_method", "authorization_method")
            );
            let split = matches!(spec.mapping, Mapping::SplitAudit { .. });
            let name = if split && have.contains_key("author_name") {
                format!("if(author_name != '', author_name, {})", al.detail(d, "author_name", "author_name"))
            } else {
                al.detail(d, "author_name", "author_name")
            };
            let target = if split && have.contains_key("target_id") {
                format!("if(target_id != 0, toString(target_id), {})", al.detail(d, "target_id", "target_id"))
            } else {
                al.detail(d, "target_id", "target_id")
            };
            let mut v = vec![
                event_id(&format, "toString(id)"),
                principal,
                "_class".into(),
                "_obo".into(),
                obo_name,
                name,
                format!(
                    "multiIf({provider} != '' AND {engine} != '', concat(_t_model_provider, '/', _engine), _engine)"
                ),
                target,
                scopes,
                "if(_t_authorization_verified_at != '', _at, 0)".into(),
                state,
            ];
            v.extend(crate::secrets::PROMPT_KEYS.iter().map(|k| al.detail(d, k, k)));
            v
        }
        Mapping::FlowStart | Mapping::FlowEnd => {
            let start = spec.mapping == Mapping::FlowStart;
            let opt = |c: &str| {
                if have.contains_key(c) {
                    format!("ifNull(toString({c}), '')")
                } else {
                    empty()
                }
            };
            let sa = if have.contains_key("service_account_id") { "isNotNull(service_account_id)" } else { "0" };
            let (provider, engine) = (opt("model_provider"), opt("model_engine"));
            let at = have
                .get("authorization_verified_at")
                .and_then(|t| TimeType::of(t))
                .map(|t| t.micros("authorization_verified_at"));
            let mut v = vec![
                event_id(
                    &format,
                    &format!("concat(toString(session_id), '/{}')", if start { "started" } else { "ended" }),
                ),
                "toString(user_id)".into(),
                format!("if({sa}, 'service_account', 'user')"),
                "toString(user_id)".into(),
                empty(),
                empty(),
                format!("multiIf({provider} != '' AND {engine} != '', concat({provider}, '/', {engine}), {engine})"),
                empty(),
            ];
            if start {
                let at = at?;
                let scopes = "authorized_scopes";
                v.extend([
                    scopes.to_string(),
                    format!("ifNull({at}, 0)"),
                    format!(
                        "toUInt8(if(isNotNull({at}), {HAS_AT}, 0) + if(isNotNull({at}) OR ifNull(authorization_method, '') != '' \
                         OR notEmpty({scopes}), {AUTHORIZED}, 0) + {RECORDED})"
                    ),
                    "ifNull(input_prompt, '')".into(),
                    empty(),
                    "ifNull(input_context, '')".into(),
                    empty(),
                    empty(),
                    "ifNull(plan_summary, '')".into(),
                    "ifNull(decisions_log, '')".into(),
                ]);
            } else {
                v.extend(["emptyArrayString()".to_string(), "toInt64(0)".into(), "toUInt8(0)".into()]);
                v.extend(none_prompts());
            }
            v
        }
        Mapping::FlowResource => {
            let native = "concat(toString(flow_session_id), '/', resource_type, '/', resource_id, '/', action)";
            let mut v = vec![
                event_id(&format, native),
                session_user.into(),
                "'other'".into(),
                session_user.into(),
                empty(),
                empty(),
                empty(),
                "resource_id".into(),
                "emptyArrayString()".into(),
                "toInt64(0)".into(),
                "toUInt8(0)".into(),
            ];
            v.extend(none_prompts());
            v
        }
        Mapping::AgentSession { code } => {
            AGENT_SESSION_EVENTS.iter().find(|(c, ..)| *c == code)?;
            let mut v = vec![
                event_id(&format, &format!("concat(toString(session_id), '/{code}')")),
                "toString(user_id)".into(),
                "'user'".into(),
                empty(),
                empty(),
                empty(),
                empty(),
                empty(),
                "emptyArrayString()".into(),
                "toInt64(0)".into(),
                "toUInt8(0)".into(),
            ];
            v.extend(none_prompts());
            v
        }
        _ => return None,
    };
    Some(cols)
}

/// The columns [`Row`]s are read from, in order.
const ROW_SELECT: &str = "time, id, actor, event_name, ip, session, flow_type, outcome, input_tokens, output_tokens, \
     project, class, obo, model, target, arrayStringConcat(scopes, '\\x1f')";

/// Actor names looked up so far.
#[derive(Default)]
struct Names {
    known: HashMap<String, String>,
    /// Actors asked about (with a name or without).
    asked: HashSet<String>,
    /// Every name is known.
    all: bool,
}

impl Names {
    fn knows(&self, actor: &str) -> bool {
        self.all || self.asked.contains(actor)
    }
}

/// A ClickHouse database as the heuristics' store. Rows it returns are kept in memory (only
/// those: evidence and the few rows heuristics look at one by one).
pub struct ClickHouseStore {
    conn: Connection,
    /// What questions read `FROM`: `(projection)` or the snapshot table.
    rows: String,
    /// The snapshot's session summaries and actor names, when `rows` is the snapshot table.
    summaries: Option<Summaries>,
    runtime: tokio::runtime::Runtime,
    arena: Mutex<(Dataset, HashMap<Box<str>, usize>)>,
    names: Mutex<Names>,
    /// The first failed query: later questions get empty answers, and [`ClickHouseStore::failure`]
    /// turns the run into an error.
    failed: Mutex<Option<SourceError>>,
    /// The last answer of [`Store::secrets`] (the report's check asks what the heuristic asked).
    secrets: Mutex<Option<(Window, Vec<SecretHit>)>>,
}

/// Tables `db facts` writes beside the snapshot's rows, read instead of grouping every row.
struct Summaries {
    /// A summary of each session ([`SUMMARY`]): lifecycle candidates, tokens per session.
    sessions: String,
    /// Each actor's name ([`names_sql`]).
    names: String,
}

/// The snapshot of the projected rows that `db facts` writes, a summary of each session in it,
/// the actors' names, and its state (the source tables' row counts when it was written).
pub const FACTS_TABLE: &str = "compliance_report_facts";
const SESSIONS_TABLE: &str = "compliance_report_facts_sessions";
const NAMES_TABLE: &str = "compliance_report_facts_names";
const FACTS_STATE: &str = "compliance_report_facts_state";

/// The source tables' row counts: any insert (a new version of a replacing table's row too)
/// changes them.
async fn signature(conn: &Connection, tables: &[String]) -> Result<String, SourceError> {
    let db = ident(&conn.database);
    let parts: Vec<String> =
        tables.iter().map(|t| format!("SELECT {} AS t, count() AS n FROM {db}.{}", string(t), ident(t))).collect();
    let rows = conn.rows(&format!("SELECT t, n FROM ({}) ORDER BY t", parts.join(" UNION ALL "))).await?;
    Ok(rows
        .iter()
        .map(|r| format!("{}={}", r.get(0).unwrap_or_default(), r.get(1).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(","))
}

/// Write the snapshot (`db facts`): every table's rows projected once, so the heuristics read
/// plain columns instead of parsing details on every question. Returns the rows written.
pub async fn build_facts(cfg: &ChConfig) -> Result<u64, SourceError> {
    let Parts { conn, facts: rows, tables, .. } = ClickHouseAggregator::open_rows(cfg).await?.into_parts();
    if tables.is_empty() {
        return Err(SourceError::Database {
            source_url: crate::redact::mask_url(&cfg.url),
            message: format!("database {} holds none of the audit or session tables", conn.database),
        });
    }
    // Taken first: rows inserted while the snapshot is written make it stale, never wrong.
    let sig = signature(&conn, &tables).await?;
    let db = ident(&conn.database);
    let (facts, new, state) = (ident(FACTS_TABLE), ident(&format!("{FACTS_TABLE}_new")), ident(FACTS_STATE));
    let (sessions, new_sessions) = (ident(SESSIONS_TABLE), ident(&format!("{SESSIONS_TABLE}_new")));
    let (names, new_names) = (ident(NAMES_TABLE), ident(&format!("{NAMES_TABLE}_new")));
    for t in [&new, &new_sessions, &new_names] {
        conn.execute(&format!("DROP TABLE IF EXISTS {db}.{t}")).await?;
    }
    conn.execute(&format!("CREATE TABLE {db}.{new} ENGINE = MergeTree ORDER BY time AS SELECT * FROM ({rows})"))
        .await?;
    conn.execute(&format!(
        "CREATE TABLE {db}.{new_names} ENGINE = MergeTree ORDER BY who AS {}",
        names_sql(&format!("{db}.{new}"), None)
    ))
    .await?;
    conn.execute(&format!(
        "CREATE TABLE {db}.{new_sessions} ENGINE = MergeTree ORDER BY h AS SELECT cityHash64(session) AS h, \
         any(session) AS sid, {}, groupBitOr({}) AS kinds, sum(input_tokens + output_tokens) AS tokens \
         FROM {db}.{new} WHERE session != '' GROUP BY h",
        summary_columns(),
        kind_sql()
    ))
    .await?;
    for (old, new) in [(&facts, &new), (&sessions, &new_sessions), (&names, &new_names)] {
        conn.execute(&format!("DROP TABLE IF EXISTS {db}.{old}")).await?;
        conn.execute(&format!("RENAME TABLE {db}.{new} TO {db}.{old}")).await?;
    }
    conn.execute(&format!("DROP TABLE IF EXISTS {db}.{state}")).await?;
    conn.execute(&format!("CREATE TABLE {db}.{state} ENGINE = TinyLog AS SELECT {} AS signature", string(&sig)))
        .await?;
    let n = conn.rows(&format!("SELECT count() FROM {db}.{facts}")).await?;
    Ok(n.first().and_then(|r| r.get(0)).and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The snapshot's rows and summaries when they exist, have the columns of this version and the
/// tables did not change since they were written.
async fn fresh_facts(
    conn: &Connection,
    tables: &[String],
    cols: &HashMap<String, HashMap<String, String>>,
) -> Result<Option<(String, Summaries)>, SourceError> {
    let (Some(have), Some(_)) = (cols.get(FACTS_TABLE), cols.get(FACTS_STATE)) else { return Ok(None) };
    let expected = crate::analyze::aggregate::clickhouse::FACT_COLUMNS.iter().chain(ROW_COLUMNS.iter());
    let db = ident(&conn.database);
    let hint = "run `compliance-report db facts` to refresh it";
    let has = |table: &str, names: &[&str]| cols.get(table).is_some_and(|c| names.iter().all(|k| c.contains_key(*k)));
    let summaries = has(SESSIONS_TABLE, &SUMMARY) && has(NAMES_TABLE, &["who", "name"]);
    if have.len() != 28 || expected.clone().any(|c| !have.contains_key(*c)) || !summaries {
        tracing::warn!("the fact snapshot {FACTS_TABLE} was written by another version; reading the tables ({hint})");
        return Ok(None);
    }
    let stored = conn.rows(&format!("SELECT signature FROM {db}.{}", ident(FACTS_STATE))).await?;
    let now = signature(conn, tables).await?;
    if stored.first().and_then(|r| r.get(0)).as_deref() != Some(now.as_str()) {
        tracing::warn!("the fact snapshot {FACTS_TABLE} is older than the tables; reading the tables, slower ({hint})");
        return Ok(None);
    }
    let table = |t: &str| format!("{db}.{}", ident(t));
    Ok(Some((table(FACTS_TABLE), Summaries { sessions: table(SESSIONS_TABLE), names: table(NAMES_TABLE) })))
}

impl ClickHouseStore {
    pub fn open(cfg: &ChConfig) -> Result<ClickHouseStore, AggregateError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AggregateError::Source(SourceError::Io { path: "an async runtime".into(), source: e }))?;
        let agg = runtime.block_on(ClickHouseAggregator::open_rows(cfg))?;
        let Parts { conn, facts: projection, tables, columns } = agg.into_parts();
        // What questions read `FROM`: the snapshot table (so ClickHouse can move conditions to
        // PREWHERE), else the projection as a subquery.
        let mut rows = format!("({projection})");
        let mut summaries = None;
        if let Some((facts, tables)) = runtime.block_on(fresh_facts(&conn, &tables, &columns))? {
            tracing::info!("reading the fact snapshot {FACTS_TABLE}");
            rows = facts;
            summaries = Some(tables);
        }
        Ok(ClickHouseStore {
            conn,
            rows,
            summaries,
            runtime,
            arena: Default::default(),
            names: Mutex::default(),
            failed: Mutex::new(None),
            secrets: Mutex::new(None),
        })
    }

    /// Whether questions read the snapshot table.
    fn snapshot(&self) -> bool {
        self.summaries.is_some()
    }

    fn query(&self, sql: &str) -> Vec<TsvRow> {
        let mut out = Vec::new();
        self.stream(sql, |r| out.push(r));
        out
    }

    /// Each row of `sql`'s answer; nothing once a query failed.
    fn stream(&self, sql: &str, each: impl FnMut(TsvRow)) {
        let mut failed = self.failed.lock().expect("not poisoned");
        if failed.is_some() {
            return;
        }
        tracing::debug!(sql, "anomaly push-down");
        if let Err(e) = self.runtime.block_on(self.conn.for_each_row(sql, each)) {
            *failed = Some(e);
        }
    }

    /// A question: `what` of the rows within `window` passing every filter, then `tail`.
    fn select(&self, what: &str, filters: &[Filter], window: &Window, tail: &str) -> String {
        select_sql(&self.rows, self.snapshot(), what, filters, window, tail)
    }

    /// Actor id → name, from actors and the humans they acted for (`only`: a list of ids).
    fn names_query(&self, only: Option<String>) -> HashMap<String, String> {
        let sql = match &self.summaries {
            Some(Summaries { names, .. }) => {
                let only = only.map(|list| format!(" WHERE who IN ({list})")).unwrap_or_default();
                format!("SELECT who, name FROM {names}{only}")
            }
            // The projection.
            None => names_sql(&self.rows, only.as_deref()),
        };
        self.query(&sql).into_iter().map(|r| (r.get(0).unwrap_or_default(), r.get(1).unwrap_or_default())).collect()
    }

    /// Counts grouped by `keys`, streamed in; `having` restricts the groups.
    fn grouped(&self, keys: &[Key], filters: &[Filter], window: &Window, having: &str) -> Vec<Group> {
        let width = keys.len();
        let names: Vec<String> = (0..width).map(|i| format!("k{i}")).collect();
        let mut what: Vec<String> = keys.iter().zip(&names).map(|(k, n)| format!("{} AS {n}", key_sql(k))).collect();
        what.push("count()".into());
        what.push("sum(input_tokens + output_tokens)".into());
        let tail = if keys.is_empty() { String::new() } else { format!(" GROUP BY {}{having}", names.join(", ")) };
        let mut out: Vec<Group> = Vec::new();
        self.stream(&self.select(&what.join(", "), filters, window, &tail), |r| {
            out.push({
                let keys = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let v = r.get(i).unwrap_or_default();
                        match k {
                            Key::Day | Key::Hour => Cell::Int(v.parse().unwrap_or(0)),
                            _ => Cell::Text(v),
                        }
                    })
                    .collect();
                let n = |i: usize| r.get(width + i).and_then(|v| v.parse().ok()).unwrap_or(0);
                Group { keys, count: n(0), tokens: n(1) }
            })
        });
        out.retain(|g| g.count > 0);
        out.sort();
        out
    }

    /// The tokens of each session within `window` that has some, from the snapshot: a session
    /// wholly inside has its summary's; only the rows of those that cross an edge of the window
    /// are summed, and only around that edge (the snapshot is ordered by time).
    fn session_tokens(&self, summaries: &str, window: &Window) -> Vec<u64> {
        let (from, to) = (window.from.timestamp_micros(), window.to.timestamp_micros());
        let inside = format!("first >= {from} AND last < {to}");
        let sql = format!(
            "SELECT tokens FROM {summaries} WHERE {inside} AND tokens > 0 UNION ALL \
             SELECT sum(input_tokens + output_tokens) FROM {rows} \
             PREWHERE time >= {from} AND time < {to} \
             AND (time <= (SELECT if(count() = 0, toInt64({from} - 1), max(last)) FROM {summaries} WHERE first < {from} AND last >= {from}) \
             OR time >= (SELECT if(count() = 0, toInt64({to}), min(first)) FROM {summaries} WHERE first < {to} AND last >= {to})) \
             WHERE input_tokens + output_tokens > 0 AND session != '' AND cityHash64(session) IN \
             (SELECT h FROM {summaries} WHERE first < {to} AND last >= {from} AND NOT ({inside})) \
             GROUP BY cityHash64(session)",
            rows = self.rows
        );
        let mut out = Vec::new();
        self.stream(&sql, |r| out.push(r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0)));
        out
    }

    /// [`Store::secrets`], asked.
    fn secrets_query(&self, window: &Window) -> Vec<SecretHit> {
        let prompts: Vec<String> = crate::secrets::PROMPT_KEYS.iter().map(|k| format!("p_{k}")).collect();
        let any: Vec<String> = prompts.iter().map(|p| format!("{p} != ''")).collect();
        let what = format!("{ROW_SELECT}, {}", prompts.join(", "));
        let sql = self.select(&what, &[], window, &format!(" AND ({})", any.join(" OR ")));
        let mut hits = Vec::new();
        let mut candidates = Vec::new();
        let scan = |r: &TsvRow| {
            let texts = crate::secrets::PROMPT_KEYS
                .iter()
                .enumerate()
                .map(|(j, key)| (*key, std::borrow::Cow::<str>::Owned(r.get(16 + j).unwrap_or_default())));
            prompt_secrets(texts.filter(|(_, t)| !t.is_empty()))
        };
        // Streamed: prompts are the one text read in bulk.
        self.stream(&sql, |r| {
            if let Some(found) = scan(&r) {
                candidates.push((r, found));
            }
        });
        let (rows, found): (Vec<TsvRow>, Vec<_>) = candidates.into_iter().unzip();
        let kept = self.keep(rows);
        for (row, (kinds, fields)) in kept.into_iter().zip(found) {
            hits.push(SecretHit { row, kinds, fields });
        }
        hits
    }

    /// Keep rows read with [`ROW_SELECT`] (plus `extra` columns), returning their indexes.
    fn keep(&self, rows: Vec<TsvRow>) -> Vec<usize> {
        let mut arena = self.arena.lock().expect("not poisoned");
        let (data, ids) = &mut *arena;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = r.get(1).unwrap_or_default();
            let i = match ids.get(id.as_str()) {
                Some(i) => *i,
                None => {
                    let cols: Vec<String> = (0..16).map(|i| r.get(i).unwrap_or_default()).collect();
                    let i = data.push_row(&row_of(&cols));
                    ids.insert(id.into(), i);
                    i
                }
            };
            out.push(i);
        }
        out
    }
}

/// A row from the text of the first 16 columns of [`ROW_SELECT`].
fn row_of(cols: &[String]) -> RowParts<'_> {
    let text = |i: usize| cols[i].as_str();
    let int = |i: usize| text(i).parse::<i64>().unwrap_or(0);
    RowParts {
        time: int(0),
        id: text(1),
        actor: text(2),
        event_name: text(3),
        ip: text(4),
        session: text(5),
        flow_type: text(6),
        outcome: Outcome::named(text(7)),
        input_tokens: int(8) as u64,
        output_tokens: int(9) as u64,
        project: text(10).into(),
        class: ActorClass::from_source(text(11)),
        on_behalf_of: text(12),
        model: text(13).into(),
        target: text(14),
        scopes: text(15).into(),
    }
}

fn key_sql(k: &Key) -> String {
    match k {
        Key::Principal => "principal".into(),
        Key::Actor => "actor".into(),
        Key::Day => format!("intDiv(time, {m}) * {m}", m = Bucket::Day.micros()),
        Key::Hour => format!("intDiv(time, {m}) * {m}", m = Bucket::Hour.micros()),
        Key::LocalDay(tz) => format!("toString(toDate(toDateTime(intDiv(time, 1000000)), {}))", string(tz.name())),
        Key::Session => "session".into(),
        Key::Attr(a) => attr_column(*a).into(),
        Key::Scope => "arrayJoin(scopes)".into(),
    }
}

fn attr_column(a: Attr) -> &'static str {
    match a {
        Attr::Ip => "ip",
        Attr::Model => "model",
        Attr::FlowType => "flow_type",
        Attr::EventName => "event_name",
        Attr::Project => "project",
    }
}

/// [`ClickHouseStore::select`] over `rows` (a table, or a subquery when not `snapshot`).
fn select_sql(rows: &str, snapshot: bool, what: &str, filters: &[Filter], window: &Window, tail: &str) -> String {
    let time = format!("time >= {} AND time < {}", window.from.timestamp_micros(), window.to.timestamp_micros());
    let conds: Vec<Cond> = filters.iter().map(filter_sql).collect();
    let first = conds.iter().map(|c| c.first.as_str());
    let then = conds.iter().filter_map(|c| c.then);
    if snapshot && !conds.is_empty() {
        // The filters first: the snapshot's other columns are read only for rows passing
        // them (ClickHouse would otherwise pick the time range, which passes nearly all);
        // their costly parts only on those rows (ClickHouse 18.16 evaluates every operand of
        // AND on every row: no short-circuit before 21.x).
        let first = first.collect::<Vec<_>>().join(" AND ");
        let rest = std::iter::once(time.as_str()).chain(then).collect::<Vec<_>>().join(" AND ");
        format!("SELECT {what} FROM {rows} PREWHERE {first} WHERE {rest}{tail}")
    } else {
        let all = std::iter::once(time.as_str()).chain(first).chain(then).collect::<Vec<_>>().join(" AND ");
        format!("SELECT {what} FROM {rows} WHERE {all}{tail}")
    }
}

/// A filter in SQL: `first AND then`, where `first` is cheap and selective and `then`, when
/// there is one, costly (a regular expression) and only needed on the rows passing `first`.
struct Cond {
    first: String,
    then: Option<&'static str>,
}

impl From<String> for Cond {
    fn from(first: String) -> Cond {
        Cond { first, then: None }
    }
}

impl From<&str> for Cond {
    fn from(first: &str) -> Cond {
        first.to_string().into()
    }
}

fn filter_sql(f: &Filter) -> Cond {
    let local = |tz: &chrono_tz::Tz| format!("toDateTime(intDiv(time, 1000000)), {}", string(tz.name()));
    match f {
        Filter::Principal(p) => format!("principal = {}", string(p)).into(),
        Filter::Actor(a) => format!("actor = {}", string(a)).into(),
        Filter::Sessions(list) => {
            let list: Vec<String> = list.iter().map(|s| string(s)).collect();
            format!("session IN ({})", list.join(", ")).into()
        }
        Filter::ServiceAccount => "class = 'service_account'".into(),
        Filter::OffHours(tz, start, end) => {
            format!("(toDayOfWeek({l}) >= 6 OR toHour({l}) < {start} OR toHour({l}) >= {end})", l = local(tz)).into()
        }
        Filter::LocalDay(tz, day) => format!("toString(toDate({})) = {}", local(tz), string(day)).into(),
        Filter::Attr(a, v) => format!("{} = {}", attr_column(*a), string(v)).into(),
        Filter::Tokens => "input_tokens + output_tokens > 0".into(),
        Filter::Failures => Cond {
            // The failed flows and the authentication events; of those, the failures.
            first: "(event_name = 'duo_flow_failed' OR position(event_name, 'login') > 0 \
                 OR position(event_name, 'authenticat') > 0 OR position(event_name, 'hmac') > 0 \
                 OR position(event_name, 'signature') > 0)"
                .into(),
            then: Some("(event_name = 'duo_flow_failed' OR outcome = 'failure' OR position(event_name, 'failed') > 0)"),
        },
        Filter::Provisioning => Cond {
            first: "position(event_name, 'service_account') > 0".into(),
            then: Some("match(event_name, '(_provisioned|_created)$')"),
        },
        Filter::Starts => "event_name = 'duo_flow_started'".into(),
        Filter::Acting => "class NOT IN ('webhook_event', 'poll_cycle')".into(),
        Filter::AnyScope(set) => {
            let list: Vec<String> = set.iter().map(|s| string(s)).collect();
            format!("arrayExists(x -> x IN ({}), scopes)", list.join(", ")).into()
        }
        Filter::Resources => "position(event_name, 'duo_flow_resource_') = 1".into(),
    }
}

/// Actor id → name (`who`, `name`) over `rows`, from actors and the humans they acted for (the
/// name of the earliest row giving one); `only` a list of ids.
fn names_sql(rows: &str, only: Option<&str>) -> String {
    let by_ids = |col: &str| only.map(|list| format!(" AND {col} IN ({list})")).unwrap_or_default();
    let (a, o) = (by_ids("actor"), by_ids("obo"));
    format!(
        "SELECT who, argMin(n, time) AS name FROM (SELECT actor AS who, name AS n, time FROM {rows} \
         WHERE actor != '' AND name != '' AND class != 'unauthenticated'{a} UNION ALL \
         SELECT obo AS who, obo_name AS n, time FROM {rows} WHERE obo != '' AND obo_name != '' \
         AND match(obo, '^-?[0-9]+$'){o}) GROUP BY who"
    )
}

const ENDS: &str = "event_name IN ('duo_flow_completed', 'duo_flow_failed', 'duo_flow_stopped', 'duo_flow_dropped')";

/// The columns of the snapshot's session summaries, in order: the session's hash, its id, what
/// the lifecycle rules need of it ([`summary_columns`]; [`LIFECYCLE`] of these), the kinds of
/// its events and its tokens.
const SUMMARY: [&str; 19] = [
    "h",
    "sid",
    "first",
    "last",
    "starts",
    "started",
    "recorded",
    "authorized",
    "at",
    "has_at",
    "ends",
    "resources",
    "paused",
    "pauses",
    "start_id",
    "resource_id",
    "resource_at",
    "kinds",
    "tokens",
];

/// The columns of [`SUMMARY`] the lifecycle question asks for (`sid` … `resource_at`).
const LIFECYCLE: std::ops::Range<usize> = 1..17;

/// What the lifecycle rules need of a session, as aggregates over its rows (`first` …
/// `resource_at` of [`SUMMARY`]).
fn summary_columns() -> String {
    format!(
        "min(time) AS first, max(time) AS last, countIf(event_name = 'duo_flow_started') AS starts, \
         minIf(time, event_name = 'duo_flow_started') AS started, max(bitAnd(auth_state, {RECORDED}) * (event_name = 'duo_flow_started')) AS recorded, \
         max(bitAnd(auth_state, {AUTHORIZED}) * (event_name = 'duo_flow_started')) AS authorized, \
         argMaxIf(auth_at, time, event_name = 'duo_flow_started' AND bitAnd(auth_state, {AUTHORIZED}) > 0) AS at, \
         argMaxIf(bitAnd(auth_state, {HAS_AT}), time, event_name = 'duo_flow_started' AND bitAnd(auth_state, {AUTHORIZED}) > 0) AS has_at, \
         countIf({ENDS}) AS ends, countIf(position(event_name, 'duo_flow_resource_') = 1) AS resources, \
         maxIf(time, event_name = 'duo_flow_paused') > maxIf(time, event_name = 'duo_flow_resumed') AS paused, \
         countIf(event_name = 'duo_flow_paused') AS pauses, \
         argMinIf(id, (time, id), event_name = 'duo_flow_started') AS start_id, \
         argMinIf(id, (time, id), position(event_name, 'duo_flow_resource_') = 1) AS resource_id, \
         minIf(time, position(event_name, 'duo_flow_resource_') = 1) AS resource_at"
    )
}

/// An event's kind for a session's lifecycle (a bit: [`START`], [`END`], [`RESOURCE`], [`PAUSE`]).
fn kind_sql() -> String {
    format!(
        "multiIf(event_name = 'duo_flow_started', {START}, {ENDS}, {END}, \
         position(event_name, 'duo_flow_resource_') = 1, {RESOURCE}, event_name = 'duo_flow_paused', {PAUSE}, 0)"
    )
}

impl Store for ClickHouseStore {
    fn row(&self, i: usize) -> Row {
        self.arena.lock().expect("not poisoned").0.rows[i].clone()
    }

    fn rows(&self, filters: &[Filter], window: &Window) -> Vec<usize> {
        let rows = self.query(&self.select(ROW_SELECT, filters, window, ""));
        self.keep(rows)
    }

    fn first_rows(&self, filters: &[Filter], window: &Window, n: usize) -> Vec<(usize, Row)> {
        // Ids are lowercase hex: ClickHouse orders them bytewise, as Rust does.
        let sql = self.select(ROW_SELECT, filters, window, &format!(" ORDER BY time, id LIMIT {n}"));
        in_order(self, self.keep(self.query(&sql)))
    }

    fn group(&self, keys: &[Key], filters: &[Filter], window: &Window) -> Vec<Group> {
        self.grouped(keys, filters, window, "")
    }

    fn group_above(&self, keys: &[Key], filters: &[Filter], window: &Window, min_tokens: u64) -> Vec<Group> {
        self.grouped(keys, filters, window, &format!(" HAVING sum(input_tokens + output_tokens) > {min_tokens}"))
    }

    fn tokens(&self, key: Key, filters: &[Filter], window: &Window) -> Vec<u64> {
        if let (Key::Session, [Filter::Tokens], Some(summaries)) = (&key, filters, &self.summaries) {
            return self.session_tokens(&summaries.sessions, window);
        }
        let k = key_sql(&key);
        // Only the sums cross: grouping by a hash of the key is enough, and faster.
        let tail = format!(" AND {k} != '' GROUP BY cityHash64({k})");
        let sql = self.select("sum(input_tokens + output_tokens)", filters, window, &tail);
        let mut out = Vec::new();
        self.stream(&sql, |r| out.push(r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0)));
        out
    }

    fn sessions(&self, window: &Window) -> Vec<SessionSummary> {
        let (from, to) = (window.from.timestamp_micros(), window.to.timestamp_micros());
        let inside = |e: &str| format!("({e} >= {from} AND {e} < {to})");
        // The sessions that can break a rule: without a start or an end, from the kinds of
        // their events (a bit each) and their span; started in `window` without a timely
        // authorization. A superset: the summaries below are checked again.
        let unfinished = format!(
            "(bitAnd(kinds, {START}) = 0 AND bitAnd(kinds, {RESOURCE}) > 0 AND {}) \
             OR (bitAnd(kinds, {END}) = 0 AND bitAnd(kinds, {RESOURCE} + {PAUSE}) > 0 AND {}) OR starts > 1",
            inside("first"),
            inside("last"),
        );
        let sql = if let Some(Summaries { sessions: summaries, .. }) = &self.summaries {
            // The snapshot's summaries: a session with one start breaks the authorization rule
            // exactly when its start does.
            format!(
                "SELECT {} FROM {summaries} WHERE {unfinished} OR (starts = 1 AND {} AND recorded > 0 \
                 AND (authorized = 0 OR has_at = 0 OR at > started)) ORDER BY sid",
                SUMMARY[LIFECYCLE].join(", "),
                inside("started"),
            )
        } else {
            // Grouped by a 64-bit hash of the id (fixed-size keys group several times faster
            // than strings; a collision among a million sessions has a probability of about
            // 10^-8), the candidates asked cheaply first: the unfinished from the kinds and
            // spans; the unauthorized from the start events alone, with no grouping (the few
            // sessions with more starts are all taken).
            let candidates = format!(
                "SELECT cityHash64(session) AS h, min(time) AS first, max(time) AS last, groupBitOr({}) AS kinds, \
                 countIf(event_name = 'duo_flow_started') AS starts FROM {} WHERE session != '' GROUP BY h \
                 HAVING {unfinished}",
                kind_sql(),
                self.rows,
            );
            let unauthorized = format!(
                "SELECT cityHash64(session) AS h FROM {} WHERE event_name = 'duo_flow_started' AND session != '' \
                 AND {} AND bitAnd(auth_state, {RECORDED}) > 0 AND (bitAnd(auth_state, {AUTHORIZED}) = 0 \
                 OR bitAnd(auth_state, {HAS_AT}) = 0 OR auth_at > time)",
                self.rows,
                inside("time"),
            );
            // … and for those only, their summaries.
            format!(
                "SELECT any(session) AS sid, {} FROM {} WHERE session != '' AND cityHash64(session) IN \
                 (SELECT h FROM ({candidates}) UNION ALL {unauthorized}) GROUP BY cityHash64(session) ORDER BY sid",
                summary_columns(),
                self.rows
            )
        };
        let found = self.query(&sql);
        if found.is_empty() {
            return Vec::new();
        }
        // The start and first resource rows of these sessions, in one more query: by their ids
        // (as a list while it stays well within the server's query size, else by the summary
        // query again as a subquery).
        let ids: Vec<String> = found
            .iter()
            .flat_map(|r| [r.get(13), r.get(14)])
            .flatten()
            .filter(|id| !id.is_empty())
            .map(|id| string(&id))
            .collect();
        let wanted = if ids.len() <= 4_000 {
            // Their times too, on the snapshot: ordered by time, it reads only their parts.
            let times: Vec<String> = found
                .iter()
                .flat_map(|r| [(r.get(13), r.get(4)), (r.get(14), r.get(15))])
                .filter(|(id, _)| id.as_ref().is_some_and(|id| !id.is_empty()))
                .filter_map(|(_, t)| t.filter(|t| t.parse::<i64>().is_ok()))
                .collect();
            let list = if ids.is_empty() { "''".to_string() } else { ids.join(", ") };
            if self.snapshot() && !ids.is_empty() && times.len() == ids.len() {
                format!("time IN ({}) AND id IN ({list})", times.join(", "))
            } else {
                format!("id IN ({list})")
            }
        } else {
            format!("id IN (SELECT arrayJoin([start_id, resource_id]) FROM ({sql}))")
        };
        let filter = if self.snapshot() { "PREWHERE" } else { "WHERE" };
        let rows = self.query(&format!("SELECT {ROW_SELECT} FROM {} {filter} {wanted}", self.rows));
        let kept: HashMap<String, usize> =
            self.keep(rows).into_iter().map(|i| (self.row(i).id.to_string(), i)).collect();
        found
            .into_iter()
            .map(|r| {
                let text = |i: usize| r.get(i).unwrap_or_default();
                let int = |i: usize| text(i).parse::<i64>().unwrap_or(0);
                let id = text(0);
                SessionSummary {
                    start: kept.get(&text(13)).copied(),
                    first_resource: kept.get(&text(14)).copied(),
                    authorization_recorded: int(5) > 0,
                    authorized: int(6) > 0,
                    authorized_at: (int(6) > 0 && int(8) > 0).then(|| int(7)),
                    ended: int(9) > 0,
                    resources: int(10) as usize,
                    paused: int(11) > 0,
                    first: int(1),
                    last: int(2),
                    id,
                }
            })
            .collect()
    }

    fn whole_sessions_from(&self, at: i64, window: &Window) -> i64 {
        // Grouped by a hash of the id (as `sessions`): two sessions sharing one only widen the
        // span, which starts the reading earlier, never later.
        let spans = self.select(
            "min(time) AS first, max(time) AS last",
            &[],
            window,
            &format!(" AND session != '' GROUP BY cityHash64(session) HAVING first < {at} AND last >= {at}"),
        );
        let found = self.query(&format!("SELECT count(), min(first) FROM ({spans})"));
        let int = |i: usize| found.first().and_then(|r| r.get(i)).and_then(|v| v.parse::<i64>().ok());
        match (int(0), int(1)) {
            (Some(0), _) => at,
            (Some(_), Some(first)) => first,
            // The question failed (the run reports it): read everything.
            _ => window.from.timestamp_micros(),
        }
    }

    fn secrets(&self, window: &Window) -> Vec<SecretHit> {
        let mut last = self.secrets.lock().expect("not poisoned");
        if let Some((w, hits)) = last.as_ref().filter(|(w, _)| w == window) {
            tracing::debug!(from = %w.from, "secrets in prompts: answered before");
            return hits.clone();
        }
        let hits = self.secrets_query(window);
        *last = Some((*window, hits.clone()));
        hits
    }

    fn name_of(&self, actor: &str) -> String {
        if !self.names.lock().expect("not poisoned").knows(actor) {
            self.names_for(&[actor.to_string()]);
        }
        self.names.lock().expect("not poisoned").known.get(actor).cloned().unwrap_or_default()
    }

    fn failure(&self) -> Option<SourceError> {
        self.failed.lock().expect("not poisoned").take()
    }

    fn names_for(&self, actors: &[String]) {
        // An empty id has no name.
        let missing: Vec<&String> = {
            let names = self.names.lock().expect("not poisoned");
            actors.iter().filter(|a| !a.is_empty() && !names.knows(a)).collect()
        };
        if missing.is_empty() {
            return;
        }
        // A list while it is short; otherwise every name.
        let only = (missing.len() <= 4_000).then(|| missing.iter().map(|a| string(a)).collect::<Vec<_>>().join(", "));
        let found = self.names_query(only.clone());
        let mut names = self.names.lock().expect("not poisoned");
        names.all |= only.is_none();
        names.asked.extend(missing.into_iter().cloned());
        names.known.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costly_conditions_run_only_on_the_rows_passing_the_cheap_ones() {
        let w = Window::from_micros(10, 20);
        let filters = [Filter::Actor("7".into()), Filter::Provisioning];
        assert_eq!(
            select_sql("t", true, "count()", &filters, &w, " GROUP BY k"),
            "SELECT count() FROM t PREWHERE actor = '7' AND position(event_name, 'service_account') > 0 \
             WHERE time >= 10 AND time < 20 AND match(event_name, '(_provisioned|_created)$') GROUP BY k"
        );
        // Without the snapshot (a subquery: no PREWHERE), everything in WHERE, in the same order.
        assert_eq!(
            select_sql("(q)", false, "count()", &filters, &w, ""),
            "SELECT count() FROM (q) WHERE time >= 10 AND time < 20 AND actor = '7' AND \
             position(event_name, 'service_account') > 0 AND match(event_name, '(_provisioned|_created)$')"
        );
        assert_eq!(select_sql("t", true, "x", &[], &w, ""), "SELECT x FROM t WHERE time >= 10 AND time < 20");
    }

    #[test]
    fn names_are_asked_of_actors_and_of_the_humans_they_acted_for() {
        assert_eq!(
            names_sql("db.f", Some("'7', '8'")),
            "SELECT who, argMin(n, time) AS name FROM (SELECT actor AS who, name AS n, time FROM db.f \
             WHERE actor != '' AND name != '' AND class != 'unauthenticated' AND actor IN ('7', '8') UNION ALL \
             SELECT obo AS who, obo_name AS n, time FROM db.f WHERE obo != '' AND obo_name != '' \
             AND match(obo, '^-?[0-9]+$') AND obo IN ('7', '8')) GROUP BY who"
        );
        assert!(!names_sql("db.f", None).contains(" IN ("));
    }
}
