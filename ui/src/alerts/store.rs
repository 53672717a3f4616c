//! The alerts tables, and their queries on [`crate::store::Store`]: rules, alerts with
//! every transition, silences, and where each endpoint's event stream was left.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::machine::State;
use super::rule::{Kind, Rule, Scope};
use super::silence::Silence;
use crate::store::{now_secs, rfc3339, Store, StoreError};
use crate::watch::Severity;

pub use history::{AlertCounts, MAX_ROWS};

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '{}',
    for_secs INTEGER NOT NULL,
    threshold REAL,
    window_secs INTEGER,
    enabled INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER NOT NULL,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    endpoint_id INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    node TEXT,
    key TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    since INTEGER NOT NULL,
    fired_at INTEGER,
    resolved_at INTEGER,
    silenced INTEGER NOT NULL DEFAULT 0,
    reading TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state);
CREATE TABLE IF NOT EXISTS alert_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_transitions_at ON alert_transitions(at);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER,
    subject TEXT,
    until INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_event_cursors (
    endpoint_id INTEGER PRIMARY KEY,
    since TEXT NOT NULL
);
";

/// The settings key set once the default rules were made.
const DEFAULTS_MADE: &str = "alerts.defaults_made";

/// The settings key set once the checks' default rule was made (or found made).
const CHECK_RULE_MADE: &str = "alerts.check_rule_made";

/// An alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub rule_id: i64,
    pub rule: String,
    pub kind: String,
    pub severity: String,
    pub endpoint_id: i64,
    pub endpoint: String,
    pub node: Option<String>,
    pub subject: String,
    pub state: String,
    pub since: String,
    pub fired_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Covered by a silence: stored, not notified.
    pub silenced: bool,
    pub summary: String,
    pub details: Vec<String>,
}

/// One transition as the history shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TransitionRow {
    pub id: i64,
    pub alert: i64,
    pub rule: String,
    pub severity: String,
    pub endpoint: String,
    pub node: Option<String>,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub at: String,
    pub detail: String,
    pub silenced: bool,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub states: Vec<State>,
    pub severity: Option<Severity>,
    pub endpoint: Option<i64>,
    pub kind: Option<Kind>,
}

const ALERT_COLUMNS: &str = "id, rule_id, rule, kind, severity, endpoint_id, endpoint, node, \
     subject, state, since, fired_at, resolved_at, silenced, summary, details";

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    let details: String = r.get(15)?;
    Ok(AlertRow {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        rule: r.get(2)?,
        kind: r.get(3)?,
        severity: r.get(4)?,
        endpoint_id: r.get(5)?,
        endpoint: r.get(6)?,
        node: r.get(7)?,
        subject: r.get(8)?,
        state: r.get(9)?,
        since: rfc3339(r.get(10)?),
        fired_at: r.get::<_, Option<i64>>(11)?.map(rfc3339),
        resolved_at: r.get::<_, Option<i64>>(12)?.map(rfc3339),
        silenced: r.get(13)?,
        summary: r.get(14)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
    })
}

fn rule_row(r: &Row<'_>) -> rusqlite::Result<Rule> {
    let kind: String = r.get(2)?;
    let severity: String = r.get(3)?;
    let scope: String = r.get(4)?;
    Ok(Rule {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::NodeDown),
        severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
        scope: serde_json::from_str::<Scope>(&scope).unwrap_or_default(),
        for_secs: r.get(5)?,
        threshold: r.get(6)?,
        window: r.get(7)?,
        enabled: r.get(8)?,
    })
}

fn silence_row(r: &Row<'_>) -> rusqlite::Result<Silence> {
    Ok(Silence {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        subject: r.get(2)?,
        until: r.get(3)?,
        comment: r.get(4)?,
        created_by: r.get(5)?,
        created: r.get(6)?,
    })
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

impl Store {
    // Rules.

    pub fn alert_rules(&self) -> Result<Vec<Rule>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, kind, severity, scope, for_secs, threshold, window_secs, enabled \
             FROM alert_rules ORDER BY id",
        )?;
        let rows = stmt.query_map([], rule_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn alert_rule(&self, id: i64) -> Result<Rule, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, name, kind, severity, scope, for_secs, threshold, window_secs, enabled \
                 FROM alert_rules WHERE id = ?1",
                [id],
                rule_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no alert rule {id}")))
    }

    /// Stores a new rule (`rule.id` is ignored) or changes one.
    pub fn save_alert_rule(&self, rule: &Rule, new: bool) -> Result<Rule, StoreError> {
        let scope = json(&rule.scope);
        let args = params![
            rule.name,
            rule.kind.as_str(),
            rule.severity.as_str(),
            scope,
            rule.for_secs,
            rule.threshold,
            rule.window,
            rule.enabled,
            rule.id,
        ];
        let conn = self.conn();
        let taken = |e: rusqlite::Error| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(format!("a rule named {:?} exists", rule.name))
            }
            e => StoreError::Sql(e),
        };
        let id = if new {
            conn.execute(
                "INSERT INTO alert_rules (name, kind, severity, scope, for_secs, threshold, \
                 window_secs, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &args[..8],
            )
            .map_err(taken)?;
            conn.last_insert_rowid()
        } else {
            let done = conn
                .execute(
                    "UPDATE alert_rules SET name = ?1, kind = ?2, severity = ?3, scope = ?4, \
                     for_secs = ?5, threshold = ?6, window_secs = ?7, enabled = ?8 WHERE id = ?9",
                    args,
                )
                .map_err(taken)?;
            if done == 0 {
                return Err(StoreError::NotFound(format!("no alert rule {}", rule.id)));
            }
            rule.id
        };
        drop(conn);
        self.alert_rule(id)
    }

    pub fn delete_alert_rule(&self, id: i64) -> Result<(), StoreError> {
        let done = self
            .conn()
            .execute("DELETE FROM alert_rules WHERE id = ?1", [id])?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("no alert rule {id}")));
        }
        Ok(())
    }

    /// Makes `defaults` once, on a table that has never had rules made by it.
    pub fn make_default_alert_rules(&self, defaults: &[Rule]) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let made: Option<String> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [DEFAULTS_MADE],
                |r| r.get(0),
            )
            .optional()?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM alert_rules", [], |r| r.get(0))?;
        if made.is_some() || count > 0 {
            return Ok(false);
        }
        for rule in defaults {
            insert_rule(&tx, rule)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
            params![DEFAULTS_MADE, now_secs().to_string()],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Makes `rule` once, on a table whose defaults were made before it was one of them;
    /// not again once an admin deleted it, nor when a rule of its kind exists already.
    pub fn make_default_check_rule(&self, rule: &Rule) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let made: Option<String> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [CHECK_RULE_MADE],
                |r| r.get(0),
            )
            .optional()?;
        if made.is_some() {
            return Ok(false);
        }
        let present: i64 = tx.query_row(
            "SELECT COUNT(*) FROM alert_rules WHERE kind = ?1 OR name = ?2",
            params![rule.kind.as_str(), rule.name],
            |r| r.get(0),
        )?;
        if present == 0 {
            insert_rule(&tx, rule)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
            params![CHECK_RULE_MADE, now_secs().to_string()],
        )?;
        tx.commit()?;
        Ok(present == 0)
    }
}

mod history;

/// Adds `rule` to the rules table, in `tx`.
fn insert_rule(tx: &rusqlite::Transaction<'_>, rule: &Rule) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO alert_rules (name, kind, severity, scope, for_secs, threshold, \
         window_secs, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            rule.name,
            rule.kind.as_str(),
            rule.severity.as_str(),
            json(&rule.scope),
            rule.for_secs,
            rule.threshold,
            rule.window,
            rule.enabled,
        ],
    )?;
    Ok(())
}
