//! The checks' tables, and their queries on [`crate::store::Store`]: each endpoint's
//! checks, its policy version and concurrency; each node's cursor into its agent's
//! results (with the agent's epoch), its policy status and what it lost; each (node,
//! check)'s current state; and every result as history, kept 30 days.

use bosun_serve::checks::{NodeChecks, Refusal, Status};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::def::{CheckDef, CheckInput};
use crate::store::{now_secs, Store, StoreError};

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS check_settings (
    endpoint INTEGER PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,
    version INTEGER NOT NULL DEFAULT 0,
    concurrency INTEGER NOT NULL DEFAULT 10,
    next_id INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS check_defs (
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    def TEXT NOT NULL,
    PRIMARY KEY (endpoint, id)
);
CREATE TABLE IF NOT EXISTS check_nodes (
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    epoch TEXT NOT NULL DEFAULT '',
    cursor INTEGER NOT NULL DEFAULT 0,
    policy_version INTEGER NOT NULL DEFAULT 0,
    applied_at INTEGER,
    refused TEXT,
    agent_lost INTEGER NOT NULL DEFAULT 0,
    gap_lost INTEGER NOT NULL DEFAULT 0,
    past_lost INTEGER NOT NULL DEFAULT 0,
    last_pull_at INTEGER,
    error TEXT,
    PRIMARY KEY (endpoint, node)
);
CREATE TABLE IF NOT EXISTS check_states (
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    check_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT,
    since_ms INTEGER NOT NULL,
    at_ms INTEGER,
    output TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER,
    PRIMARY KEY (endpoint, node, check_id)
);
CREATE TABLE IF NOT EXISTS check_results (
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    check_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS check_results_by_check ON check_results (endpoint, check_id, node, at_ms);
CREATE INDEX IF NOT EXISTS check_results_by_time ON check_results (at_ms);
";

/// How long results are kept as history.
pub const HISTORY_MS: u64 = 30 * 24 * 3600 * 1000;

/// An endpoint's policy version and concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckConfig {
    /// 0: no check was ever written for this endpoint.
    pub version: u64,
    pub concurrency: usize,
}

/// What the console knows of one node's checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    pub node: String,
    pub agent_id: String,
    pub epoch: String,
    /// The last result the console has.
    pub cursor: u64,
    pub policy_version: u64,
    /// Seconds since the epoch.
    pub applied_at: Option<u64>,
    pub refused: Option<Refusal>,
    /// Results the node dropped before the console had them, over all its agent's runs:
    /// the gaps in what the console received.
    pub lost: u64,
    /// What the node's agent counts as lost in its current run: results it dropped
    /// before any reader acknowledged them (a result the console received but had not
    /// acknowledged yet counts there too).
    pub agent_lost: u64,
    /// Seconds since the epoch.
    pub last_pull_at: Option<u64>,
    pub error: Option<String>,
}

/// One check's state on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateRow {
    pub node: String,
    pub check: String,
    pub name: String,
    pub state: Status,
    /// The last run's status.
    pub status: Option<Status>,
    pub since_ms: u64,
    pub at_ms: Option<u64>,
    pub output: String,
    pub duration_ms: Option<u64>,
}

/// One result in a check's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub node: String,
    pub seq: u64,
    pub at_ms: u64,
    pub status: Status,
    pub state: Status,
    pub duration_ms: u64,
}

/// What became of one node's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// Stored; `more`: the agent holds results after the last one it sent.
    Stored { more: bool },
    /// The agent started again since the last pull and the answer was for the old
    /// cursor: the cursor is back at 0, and the node is to be asked again.
    NewEpoch { reask: bool },
}

fn status(text: &str) -> Status {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap_or(Status::Unknown)
}

fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Endpoint `endpoint`'s version and concurrency (0 and the default before any check).
    pub fn check_config(&self, endpoint: i64) -> Result<CheckConfig, StoreError> {
        let row: Option<(i64, i64)> = self
            .conn()
            .query_row(
                "SELECT version, concurrency FROM check_settings WHERE endpoint = ?1",
                [endpoint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (version, concurrency) =
            row.unwrap_or((0, bosun_serve::checks::DEFAULT_CONCURRENCY as i64));
        Ok(CheckConfig {
            version: version.max(0) as u64,
            concurrency: concurrency.max(1) as usize,
        })
    }

    /// Endpoint `endpoint`'s checks, by id.
    pub fn check_defs(&self, endpoint: i64) -> Result<Vec<CheckDef>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT def FROM check_defs WHERE endpoint = ?1")?;
        let rows = stmt.query_map([endpoint], |r| r.get::<_, String>(0))?;
        let mut defs = Vec::new();
        for text in rows {
            let text = text?;
            // A check this console wrote; one it cannot read any more is reported, not
            // silently dropped from the policies.
            let def: CheckDef = serde_json::from_str(&text)
                .map_err(|e| StoreError::Conflict(format!("a stored check cannot be read: {e}")))?;
            defs.push(def);
        }
        defs.sort_by_key(|d| (d.id.len(), d.id.clone()));
        Ok(defs)
    }

    /// Endpoints that have had checks: the ones whose results are pulled.
    pub fn endpoints_with_checks(&self) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT endpoint FROM check_settings WHERE version > 0 ORDER BY endpoint")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A new check on endpoint `endpoint`, with the next id; the new version.
    pub fn create_check(
        &self,
        endpoint: i64,
        input: CheckInput,
    ) -> Result<(CheckDef, u64), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        ensure_settings(&tx, endpoint)?;
        let n: i64 = tx.query_row(
            "UPDATE check_settings SET next_id = next_id + 1 WHERE endpoint = ?1 RETURNING next_id - 1",
            [endpoint],
            |r| r.get(0),
        )?;
        let def = input.with_id(&format!("c{n}"));
        tx.execute(
            "INSERT INTO check_defs (endpoint, id, def) VALUES (?1, ?2, ?3)",
            params![endpoint, def.id, to_text(&def)?],
        )?;
        let version = bump(&tx, endpoint)?;
        tx.commit()?;
        Ok((def, version))
    }

    /// Replaces check `id` of endpoint `endpoint`; the new version.
    pub fn update_check(
        &self,
        endpoint: i64,
        id: &str,
        input: CheckInput,
    ) -> Result<(CheckDef, u64), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let def = input.with_id(id);
        let done = tx.execute(
            "UPDATE check_defs SET def = ?3 WHERE endpoint = ?1 AND id = ?2",
            params![endpoint, id, to_text(&def)?],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound(format!(
                "no check {id:?} on this endpoint"
            )));
        }
        // A renamed check shows its new name before the agents report it.
        tx.execute(
            "UPDATE check_states SET name = ?3 WHERE endpoint = ?1 AND check_id = ?2",
            params![endpoint, id, def.name],
        )?;
        let version = bump(&tx, endpoint)?;
        tx.commit()?;
        Ok((def, version))
    }

    /// Deletes check `id` of endpoint `endpoint`, its states and its history; what it
    /// was, and the new version.
    pub fn delete_check(&self, endpoint: i64, id: &str) -> Result<(CheckDef, u64), StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let text: String = tx
            .query_row(
                "SELECT def FROM check_defs WHERE endpoint = ?1 AND id = ?2",
                params![endpoint, id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no check {id:?} on this endpoint")))?;
        let def: CheckDef = serde_json::from_str(&text)
            .map_err(|e| StoreError::Conflict(format!("check {id:?} cannot be read: {e}")))?;
        for table in ["check_defs", "check_states", "check_results"] {
            let column = if table == "check_defs" {
                "id"
            } else {
                "check_id"
            };
            tx.execute(
                &format!("DELETE FROM {table} WHERE endpoint = ?1 AND {column} = ?2"),
                params![endpoint, id],
            )?;
        }
        let version = bump(&tx, endpoint)?;
        tx.commit()?;
        Ok((def, version))
    }

    /// Sets how many checks each agent of endpoint `endpoint` runs at once; the new
    /// version.
    pub fn set_check_concurrency(&self, endpoint: i64, n: usize) -> Result<u64, StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        ensure_settings(&tx, endpoint)?;
        tx.execute(
            "UPDATE check_settings SET concurrency = ?2 WHERE endpoint = ?1",
            params![endpoint, n as i64],
        )?;
        let version = bump(&tx, endpoint)?;
        tx.commit()?;
        Ok(version)
    }

    /// What the console knows of endpoint `endpoint`'s nodes, by name.
    pub fn check_nodes(&self, endpoint: i64) -> Result<Vec<NodeRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT node, agent_id, epoch, cursor, policy_version, applied_at, refused,
                    agent_lost, gap_lost, past_lost, last_pull_at, error
             FROM check_nodes WHERE endpoint = ?1 ORDER BY node",
        )?;
        let rows = stmt.query_map([endpoint], |r| {
            let refused: Option<String> = r.get(6)?;
            let (agent_lost, gap_lost, past_lost): (i64, i64, i64) =
                (r.get(7)?, r.get(8)?, r.get(9)?);
            Ok(NodeRow {
                node: r.get(0)?,
                agent_id: r.get(1)?,
                epoch: r.get(2)?,
                cursor: r.get::<_, i64>(3)?.max(0) as u64,
                policy_version: r.get::<_, i64>(4)?.max(0) as u64,
                applied_at: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
                refused: refused.and_then(|t| serde_json::from_str(&t).ok()),
                lost: (past_lost + gap_lost).max(0) as u64,
                agent_lost: agent_lost.max(0) as u64,
                last_pull_at: r.get::<_, Option<i64>>(10)?.map(|v| v.max(0) as u64),
                error: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores one node's answer to a pull that sent `cursor`: its results as history,
    /// its states, its policy status, the cursor moved on. A new epoch (the agent started
    /// again) puts the cursor back at 0 and keeps what the old run lost. What is lost is
    /// what the console never received: results older than the oldest the agent still
    /// holds, yet newer than the cursor.
    pub fn ingest_checks(
        &self,
        endpoint: i64,
        node: &NodeChecks,
        cursor: u64,
    ) -> Result<Ingest, StoreError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO check_nodes (endpoint, node) VALUES (?1, ?2)",
            params![endpoint, node.node],
        )?;
        let (epoch, stored_cursor): (String, i64) = tx.query_row(
            "SELECT epoch, cursor FROM check_nodes WHERE endpoint = ?1 AND node = ?2",
            params![endpoint, node.node],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !epoch.is_empty() && epoch != node.epoch {
            tx.execute(
                "UPDATE check_nodes SET past_lost = past_lost + gap_lost,
                     agent_lost = 0, gap_lost = 0, cursor = 0, epoch = ?3
                 WHERE endpoint = ?1 AND node = ?2",
                params![endpoint, node.node, node.epoch],
            )?;
            if cursor > 0 {
                tx.commit()?;
                return Ok(Ingest::NewEpoch { reask: true });
            }
        }
        let stored_cursor = if epoch == node.epoch {
            stored_cursor
        } else {
            0
        };
        // The cursor sent is the one stored, unless another pull moved it meanwhile.
        let cursor = cursor.max(stored_cursor.max(0) as u64);
        let gap = if node.first_seq > cursor + 1 {
            node.first_seq - cursor - 1
        } else {
            0
        };
        // Results and states of a check deleted meanwhile are not kept: the agent ran it
        // before its new policy came.
        let known: std::collections::HashSet<String> = {
            let mut stmt = tx.prepare("SELECT id FROM check_defs WHERE endpoint = ?1")?;
            let ids = stmt.query_map([endpoint], |r| r.get(0))?;
            ids.collect::<Result<_, _>>()?
        };
        let mut last = cursor;
        {
            let mut insert = tx.prepare(
                "INSERT INTO check_results (endpoint, node, check_id, seq, at_ms, status, state, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in node.results.iter().filter(|r| r.seq > cursor) {
                last = last.max(r.seq);
                if !known.contains(&r.check) {
                    continue;
                }
                insert.execute(params![
                    endpoint,
                    node.node,
                    r.check,
                    sql_u64(r.seq),
                    sql_u64(r.at_ms),
                    r.status.as_str(),
                    r.state.as_str(),
                    sql_u64(r.duration_ms),
                ])?;
            }
        }
        tx.execute(
            "DELETE FROM check_states WHERE endpoint = ?1 AND node = ?2",
            params![endpoint, node.node],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO check_states
                     (endpoint, node, check_id, name, state, status, since_ms, at_ms, output, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for s in node.states.iter().filter(|s| known.contains(&s.check)) {
                let last = s.last.as_ref();
                insert.execute(params![
                    endpoint,
                    node.node,
                    s.check,
                    s.name,
                    s.state.as_str(),
                    last.map(|l| l.status.as_str()),
                    sql_u64(s.since_ms),
                    last.map(|l| sql_u64(l.at_ms)),
                    last.map(|l| l.output.as_str()).unwrap_or_default(),
                    last.map(|l| sql_u64(l.duration_ms)),
                ])?;
            }
        }
        let refused = node
            .policy
            .refused
            .as_ref()
            .map(|r| serde_json::to_string(r).unwrap_or_default());
        tx.execute(
            "UPDATE check_nodes SET agent_id = ?3, epoch = ?4, cursor = ?5,
                 policy_version = ?6, applied_at = ?7, refused = ?8, agent_lost = ?9,
                 gap_lost = gap_lost + ?10, last_pull_at = ?11, error = NULL
             WHERE endpoint = ?1 AND node = ?2",
            params![
                endpoint,
                node.node,
                node.agent_id,
                node.epoch,
                sql_u64(last),
                sql_u64(node.policy.version),
                node.policy.applied_at.map(sql_u64),
                refused,
                sql_u64(node.lost),
                sql_u64(gap),
                now_secs(),
            ],
        )?;
        tx.commit()?;
        Ok(Ingest::Stored {
            more: last > cursor && last + 1 < node.next_seq,
        })
    }

    /// Records why node `node` of endpoint `endpoint` could not be pulled or sent its
    /// policy.
    pub fn set_check_node_error(
        &self,
        endpoint: i64,
        node: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO check_nodes (endpoint, node, error) VALUES (?1, ?2, ?3)
             ON CONFLICT (endpoint, node) DO UPDATE SET error = ?3",
            params![endpoint, node, error],
        )?;
        Ok(())
    }

    /// Records what a push did on node `node`: the version it runs, or its refusal.
    pub fn set_check_node_pushed(
        &self,
        endpoint: i64,
        node: &str,
        version: Option<u64>,
        refused: Option<&Refusal>,
    ) -> Result<(), StoreError> {
        let refused = refused.map(|r| serde_json::to_string(r).unwrap_or_default());
        self.conn().execute(
            "INSERT INTO check_nodes (endpoint, node, policy_version, refused) VALUES (?1, ?2, COALESCE(?3, 0), ?4)
             ON CONFLICT (endpoint, node) DO UPDATE SET
                 policy_version = COALESCE(?3, policy_version), refused = COALESCE(?4, refused)",
            params![endpoint, node, version.map(sql_u64), refused],
        )?;
        Ok(())
    }

    /// Every check's state on every node of endpoint `endpoint`.
    pub fn check_states(&self, endpoint: i64) -> Result<Vec<StateRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT node, check_id, name, state, status, since_ms, at_ms, output, duration_ms
             FROM check_states WHERE endpoint = ?1 ORDER BY check_id, node",
        )?;
        let rows = stmt.query_map([endpoint], |r| {
            Ok(StateRow {
                node: r.get(0)?,
                check: r.get(1)?,
                name: r.get(2)?,
                state: status(&r.get::<_, String>(3)?),
                status: r.get::<_, Option<String>>(4)?.map(|s| status(&s)),
                since_ms: r.get::<_, i64>(5)?.max(0) as u64,
                at_ms: r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64),
                output: r.get(7)?,
                duration_ms: r.get::<_, Option<i64>>(8)?.map(|v| v.max(0) as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Check `check`'s results on endpoint `endpoint` since `since_ms`, on one node or
    /// all, oldest first.
    pub fn check_history(
        &self,
        endpoint: i64,
        check: &str,
        node: Option<&str>,
        since_ms: u64,
    ) -> Result<Vec<Point>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT node, seq, at_ms, status, state, duration_ms FROM check_results
             WHERE endpoint = ?1 AND check_id = ?2 AND (?3 IS NULL OR node = ?3) AND at_ms >= ?4
             ORDER BY at_ms, node, seq",
        )?;
        let rows = stmt.query_map(params![endpoint, check, node, sql_u64(since_ms)], |r| {
            Ok(Point {
                node: r.get(0)?,
                seq: r.get::<_, i64>(1)?.max(0) as u64,
                at_ms: r.get::<_, i64>(2)?.max(0) as u64,
                status: status(&r.get::<_, String>(3)?),
                state: status(&r.get::<_, String>(4)?),
                duration_ms: r.get::<_, i64>(5)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Drops results older than `before_ms`; how many.
    pub fn prune_check_history(&self, before_ms: u64) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM check_results WHERE at_ms < ?1",
            [sql_u64(before_ms)],
        )?)
    }
}

fn to_text(def: &CheckDef) -> Result<String, StoreError> {
    serde_json::to_string(def).map_err(|e| StoreError::Conflict(format!("the check: {e}")))
}

fn ensure_settings(tx: &rusqlite::Transaction<'_>, endpoint: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO check_settings (endpoint) VALUES (?1)",
        [endpoint],
    )?;
    Ok(())
}

/// The next version of endpoint `endpoint`'s policies: above every one before, and the
/// time in milliseconds where that is higher, so that a version survives a lost database
/// only as long as clocks do.
fn bump(tx: &rusqlite::Transaction<'_>, endpoint: i64) -> Result<u64, StoreError> {
    ensure_settings(tx, endpoint)?;
    let now = sql_u64(super::now_ms());
    let version: i64 = tx.query_row(
        "UPDATE check_settings SET version = MAX(version + 1, ?2) WHERE endpoint = ?1 RETURNING version",
        params![endpoint, now],
        |r| r.get(0),
    )?;
    Ok(version.max(0) as u64)
}

#[cfg(test)]
mod tests;
