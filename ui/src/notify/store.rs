//! The notify tables, and their queries on [`crate::store::Store`]: the channels, whose
//! settings are stored sealed (context `channels.settings`), and the delivery log.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::channel::{Channel, Filter, Grouping};
use super::settings::Settings;
use crate::sealed::Sealer;
use crate::store::{now_secs, Store, StoreError};

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    settings TEXT NOT NULL,
    filter TEXT NOT NULL,
    grouping TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    delivery TEXT NOT NULL,
    alert_ids TEXT NOT NULL,
    notices INTEGER NOT NULL,
    test INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_channel ON deliveries(channel_id, id);
";

/// The sealing context of the settings column.
const SEALED: &str = "channels.settings";
/// Attempts kept per channel in the delivery log.
const KEPT_ATTEMPTS: i64 = 1000;

/// One attempt, as the delivery log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub id: i64,
    pub channel_id: i64,
    /// The delivery its attempts share.
    pub delivery: String,
    pub alert_ids: Vec<i64>,
    /// How many notices the message listed.
    pub notices: i64,
    pub test: bool,
    /// 1 for the first, 2 for the first retry.
    pub attempt: u32,
    /// When it started, in Unix milliseconds.
    pub at_ms: i64,
    pub ok: bool,
    /// The service's answer (`HTTP 200`) or why it failed.
    pub outcome: String,
    pub duration_ms: i64,
}

/// A channel to store: everything but its ID.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub name: String,
    pub enabled: bool,
    pub settings: Settings,
    pub filter: Filter,
    pub grouping: Grouping,
}

fn conflict(name: &str, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!("a channel named \"{name}\" exists"))
        }
        e => StoreError::Sql(e),
    }
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("no channel {id}"))
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

impl Store {
    pub fn channels(&self, sealer: &Sealer) -> Result<Vec<Channel>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, enabled, settings, filter, grouping FROM channels ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, enabled, settings, filter, grouping) = row?;
            match open_channel(sealer, id, name, enabled, &settings, &filter, &grouping) {
                Ok(channel) => out.push(channel),
                // One unreadable row (a lost sealing key) must not hide the others.
                Err(reason) => {
                    tracing::error!(channel = id, reason, "a stored channel cannot be read")
                }
            }
        }
        Ok(out)
    }

    pub fn channel(&self, sealer: &Sealer, id: i64) -> Result<Channel, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT name, enabled, settings, filter, grouping FROM channels WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| not_found(id))?;
        let (name, enabled, settings, filter, grouping) = row;
        open_channel(sealer, id, name, enabled, &settings, &filter, &grouping).map_err(|reason| {
            StoreError::Conflict(format!("channel {id} cannot be read: {reason}"))
        })
    }

    pub fn create_channel(&self, sealer: &Sealer, spec: &ChannelSpec) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO channels (name, kind, enabled, settings, filter, grouping, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                spec.name,
                spec.settings.kind(),
                spec.enabled,
                sealer.seal(SEALED, &json_text(&spec.settings)),
                json_text(&spec.filter),
                json_text(&spec.grouping),
                now_secs()
            ],
        )
        .map_err(|e| conflict(&spec.name, e))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn update_channel(
        &self,
        sealer: &Sealer,
        id: i64,
        spec: &ChannelSpec,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE channels SET name = ?2, enabled = ?3, settings = ?4, filter = ?5,
                 grouping = ?6 WHERE id = ?1",
                params![
                    id,
                    spec.name,
                    spec.enabled,
                    sealer.seal(SEALED, &json_text(&spec.settings)),
                    json_text(&spec.filter),
                    json_text(&spec.grouping)
                ],
            )
            .map_err(|e| conflict(&spec.name, e))?;
        if changed == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    pub fn delete_channel(&self, id: i64) -> Result<String, StoreError> {
        let conn = self.conn();
        let name: String = conn
            .query_row("SELECT name FROM channels WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| not_found(id))?;
        conn.execute("DELETE FROM deliveries WHERE channel_id = ?1", [id])?;
        conn.execute("DELETE FROM channels WHERE id = ?1", [id])?;
        Ok(name)
    }

    /// Records one attempt, and forgets the channel's oldest beyond what is kept.
    pub fn record_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO deliveries (channel_id, delivery, alert_ids, notices, test, attempt,
             at_ms, ok, outcome, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                attempt.channel_id,
                attempt.delivery,
                json_text(&attempt.alert_ids),
                attempt.notices,
                attempt.test,
                attempt.attempt,
                attempt.at_ms,
                attempt.ok,
                attempt.outcome,
                attempt.duration_ms
            ],
        )?;
        conn.execute(
            "DELETE FROM deliveries WHERE channel_id = ?1 AND id < (SELECT MIN(id) FROM
             (SELECT id FROM deliveries WHERE channel_id = ?1 ORDER BY id DESC LIMIT ?2))",
            params![attempt.channel_id, KEPT_ATTEMPTS],
        )?;
        Ok(())
    }

    /// A channel's latest attempts, newest first.
    pub fn attempts(&self, channel_id: i64, limit: usize) -> Result<Vec<Attempt>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, channel_id, delivery, alert_ids, notices, test, attempt, at_ms, ok,
             outcome, duration_ms FROM deliveries WHERE channel_id = ?1 ORDER BY id DESC
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![channel_id, limit as i64], |r| {
            Ok(Attempt {
                id: r.get(0)?,
                channel_id: r.get(1)?,
                delivery: r.get(2)?,
                alert_ids: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                notices: r.get(4)?,
                test: r.get(5)?,
                attempt: r.get(6)?,
                at_ms: r.get(7)?,
                ok: r.get(8)?,
                outcome: r.get(9)?,
                duration_ms: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn open_channel(
    sealer: &Sealer,
    id: i64,
    name: String,
    enabled: bool,
    settings: &str,
    filter: &str,
    grouping: &str,
) -> Result<Channel, String> {
    let plain = sealer.open(SEALED, settings).map_err(|e| e.to_string())?;
    Ok(Channel {
        id,
        name,
        enabled,
        settings: serde_json::from_str(&plain).map_err(|e| format!("settings: {e}"))?,
        filter: serde_json::from_str(filter).map_err(|e| format!("filter: {e}"))?,
        grouping: serde_json::from_str(grouping).map_err(|e| format!("grouping: {e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_sealed_in_the_table_and_attempts_are_logged() {
        let store = Store::in_memory().unwrap();
        store.add_tables(SCHEMA).expect("tables");
        let sealer = Sealer::ephemeral();
        let spec = ChannelSpec {
            name: "ops".into(),
            enabled: true,
            settings: Settings::parse(
                "gotify",
                &serde_json::json!({"server": "https://g.example", "token": "app-token-xyz"}),
            )
            .unwrap(),
            filter: Filter::default(),
            grouping: Grouping::default(),
        };
        let id = store.create_channel(&sealer, &spec).unwrap();
        let raw: String = store
            .conn()
            .query_row("SELECT settings FROM channels WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!raw.contains("app-token-xyz"), "{raw}");
        assert_eq!(store.channel(&sealer, id).unwrap().settings, spec.settings);
        assert!(matches!(
            store.create_channel(&sealer, &spec),
            Err(StoreError::Conflict(_))
        ));

        for n in 1..=3 {
            let attempt = Attempt {
                id: 0,
                channel_id: id,
                delivery: "d1".into(),
                alert_ids: vec![7, 8],
                notices: 2,
                test: false,
                attempt: n,
                at_ms: 1,
                ok: n == 3,
                outcome: "HTTP 500".into(),
                duration_ms: 3,
            };
            store.record_attempt(&attempt).unwrap();
        }
        let log = store.attempts(id, 10).unwrap();
        assert_eq!(
            log.iter().map(|a| a.attempt).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(log[0].alert_ids, vec![7, 8]);
        assert_eq!(store.delete_channel(id).unwrap(), "ops");
        assert!(store.attempts(id, 10).unwrap().is_empty());
    }
}
