//! Alerts and their transitions, silences, and the event streams' cursors: the queries.

use rusqlite::{params, OptionalExtension};

use super::{alert_row, json, silence_row, AlertFilter, AlertRow, TransitionRow, ALERT_COLUMNS};
use crate::alerts::evaluate::{Change, OpenAlert, Reading};
use crate::alerts::machine::State;
use crate::alerts::rule::Kind;
use crate::alerts::silence::Silence;
use crate::store::{now_secs, rfc3339, Store, StoreError};

/// The most rows one listing returns.
pub const MAX_ROWS: usize = 1000;

/// How many firing alerts there are of each severity.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AlertCounts {
    pub critical: i64,
    pub warning: i64,
    pub info: i64,
    /// Of those, how many are silenced.
    pub silenced: i64,
    pub pending: i64,
}

impl Store {
    /// Stores `change`: the alert's row (made on its first transition) and the
    /// transition. Returns the alert's ID.
    pub fn record_alert_change(
        &self,
        change: &Change,
        rule: &str,
        severity: &str,
        endpoint: &str,
        alert_id: i64,
    ) -> Result<i64, StoreError> {
        let a = &change.alert;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let resolved_at = (change.to == State::Resolved).then_some(change.at);
        let id = if alert_id == 0 {
            tx.execute(
                "INSERT INTO alerts (rule_id, rule, kind, severity, endpoint_id, endpoint, node, key, \
                 subject, state, since, fired_at, resolved_at, silenced, reading, summary, details) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    a.rule_id,
                    rule,
                    a.kind.as_str(),
                    severity,
                    a.endpoint,
                    endpoint,
                    a.node,
                    a.key,
                    a.subject,
                    change.to.as_str(),
                    a.since,
                    a.fired_at,
                    resolved_at,
                    a.silenced,
                    json(&a.reading),
                    a.summary,
                    json(&a.details),
                ],
            )?;
            tx.last_insert_rowid()
        } else if change.to == State::Resolved {
            tx.execute(
                "UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE id = ?1",
                params![alert_id, change.at],
            )?;
            alert_id
        } else {
            tx.execute(
                "UPDATE alerts SET state = ?2, fired_at = ?3, silenced = ?4, reading = ?5, \
                 summary = ?6, details = ?7 WHERE id = ?1",
                params![
                    alert_id,
                    change.to.as_str(),
                    a.fired_at,
                    a.silenced,
                    json(&a.reading),
                    a.summary,
                    json(&a.details),
                ],
            )?;
            alert_id
        };
        tx.execute(
            "INSERT INTO alert_transitions (alert, from_state, to_state, at, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                change.from.as_str(),
                change.to.as_str(),
                change.at,
                change.detail
            ],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The alerts left pending or firing, for the evaluator to go on from.
    pub fn open_alerts(&self) -> Result<Vec<OpenAlert>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, rule_id, kind, endpoint_id, node, key, subject, state, since, fired_at, \
             silenced, reading, summary, details FROM alerts WHERE state IN ('pending', 'firing')",
        )?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(2)?;
            let state: String = r.get(7)?;
            let reading: String = r.get(11)?;
            let details: String = r.get(13)?;
            Ok((
                Kind::parse(&kind),
                State::parse(&state),
                OpenAlert {
                    id: r.get(0)?,
                    rule_id: r.get(1)?,
                    kind: Kind::NodeDown,
                    endpoint: r.get(3)?,
                    node: r.get(4)?,
                    key: r.get(5)?,
                    subject: r.get(6)?,
                    state: State::Pending,
                    since: r.get(8)?,
                    fired_at: r.get(9)?,
                    silenced: r.get(10)?,
                    reading: serde_json::from_str(&reading).unwrap_or(Reading::Holds(true)),
                    summary: r.get(12)?,
                    details: serde_json::from_str(&details).unwrap_or_default(),
                },
            ))
        })?;
        let mut open = Vec::new();
        for row in rows {
            // A row of a kind or state this console does not know is left alone.
            if let (Some(kind), Some(state), alert) = row? {
                open.push(OpenAlert {
                    kind,
                    state,
                    ..alert
                });
            }
        }
        Ok(open)
    }

    pub fn alerts(&self, filter: &AlertFilter, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.states.is_empty() {
            let marks: Vec<String> = filter
                .states
                .iter()
                .map(|s| {
                    args.push(s.as_str().to_owned().into());
                    format!("?{}", args.len())
                })
                .collect();
            sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        }
        if let Some(severity) = filter.severity {
            args.push(severity.as_str().to_owned().into());
            sql.push_str(&format!(" AND severity = ?{}", args.len()));
        }
        if let Some(endpoint) = filter.endpoint {
            args.push(endpoint.into());
            sql.push_str(&format!(" AND endpoint_id = ?{}", args.len()));
        }
        if let Some(kind) = filter.kind {
            args.push(kind.as_str().to_owned().into());
            sql.push_str(&format!(" AND kind = ?{}", args.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.min(MAX_ROWS)));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), alert_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest transitions first; of one alert if `alert` is set.
    pub fn alert_transitions(
        &self,
        alert: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TransitionRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT t.id, t.alert, a.rule, a.severity, a.endpoint, a.node, a.subject, t.from_state, \
             t.to_state, t.at, t.detail, a.silenced FROM alert_transitions t \
             JOIN alerts a ON a.id = t.alert WHERE (?1 IS NULL OR t.alert = ?1) \
             ORDER BY t.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![alert, limit.min(MAX_ROWS) as i64], |r| {
            Ok(TransitionRow {
                id: r.get(0)?,
                alert: r.get(1)?,
                rule: r.get(2)?,
                severity: r.get(3)?,
                endpoint: r.get(4)?,
                node: r.get(5)?,
                subject: r.get(6)?,
                from: r.get(7)?,
                to: r.get(8)?,
                at: rfc3339(r.get(9)?),
                detail: r.get(10)?,
                silenced: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn alert_counts(&self) -> Result<AlertCounts, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT state, severity, silenced, COUNT(*) FROM alerts \
             WHERE state IN ('pending', 'firing') GROUP BY state, severity, silenced",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut counts = AlertCounts::default();
        for row in rows {
            let (state, severity, silenced, n) = row?;
            if state == "pending" {
                counts.pending += n;
                continue;
            }
            match severity.as_str() {
                "critical" => counts.critical += n,
                "warning" => counts.warning += n,
                _ => counts.info += n,
            }
            if silenced {
                counts.silenced += n;
            }
        }
        Ok(counts)
    }

    /// Deletes alerts resolved before `before`, with their transitions; how many.
    pub fn prune_alerts(&self, before: i64) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1",
            [before],
        )?)
    }

    // Silences.

    /// Every silence, the newest first.
    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, rule_id, subject, until, comment, created_by, created FROM silences \
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([MAX_ROWS as i64], silence_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn add_silence(&self, silence: &Silence) -> Result<Silence, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO silences (rule_id, subject, until, comment, created_by, created) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                silence.rule_id,
                silence.subject,
                silence.until,
                silence.comment,
                silence.created_by,
                now_secs(),
            ],
        )?;
        let id = conn.last_insert_rowid();
        Ok(conn.query_row(
            "SELECT id, rule_id, subject, until, comment, created_by, created FROM silences \
             WHERE id = ?1",
            [id],
            silence_row,
        )?)
    }

    /// Ends a silence now; it stays listed.
    pub fn expire_silence(&self, id: i64) -> Result<(), StoreError> {
        let done = self.conn().execute(
            "UPDATE silences SET until = MIN(until, ?2) WHERE id = ?1",
            params![id, now_secs()],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("no silence {id}")));
        }
        Ok(())
    }

    // Where each endpoint's event stream was left.

    pub fn alert_event_cursor(&self, endpoint: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT since FROM alert_event_cursors WHERE endpoint_id = ?1",
                [endpoint],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_alert_event_cursor(&self, endpoint: i64, since: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO alert_event_cursors (endpoint_id, since) VALUES (?1, ?2)",
            params![endpoint, since],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::defaults::default_rules;
    use crate::alerts::evaluate::{Evaluator, Observation};

    fn exited(holds: bool, at: i64) -> Observation {
        Observation {
            kind: Kind::ContainerExited,
            endpoint: 1,
            node: Some("n1".into()),
            labels: None,
            key: "n1/ctr:web".into(),
            subject: "web".into(),
            reading: Reading::Holds(holds),
            summary: "web exited with code 3".into(),
            details: vec!["last line".into()],
            at,
        }
    }

    #[test]
    fn alerts_round_trip_and_old_resolved_ones_are_pruned() {
        let store = Store::in_memory().expect("a store");
        store
            .add_tables(crate::alerts::store::SCHEMA)
            .expect("tables");
        assert!(store
            .make_default_alert_rules(&default_rules())
            .expect("made"));
        assert!(!store
            .make_default_alert_rules(&default_rules())
            .expect("once"));
        let rules = store.alert_rules().expect("rules");
        let mut eval = Evaluator::new(rules.clone(), Vec::new(), Vec::new(), 0, &mut Vec::new());
        let mut changes = Vec::new();
        eval.observe(exited(true, 100), &mut changes);
        let id = store
            .record_alert_change(&changes[0], &changes[0].rule, "warning", "prod", 0)
            .expect("stored");
        let open = store.open_alerts().expect("open");
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].id, open[0].state, open[0].since),
            (id, State::Firing, 100)
        );
        assert_eq!(open[0].details, vec!["last line".to_owned()]);
        let counts = store.alert_counts().expect("counts");
        assert_eq!((counts.warning, counts.critical), (1, 0));

        let mut changes = Vec::new();
        eval.set_id(open[0].rule_id, &open[0].key, id);
        eval.observe(exited(false, 200), &mut changes);
        store
            .record_alert_change(&changes[0], &changes[0].rule, "warning", "prod", id)
            .expect("stored");
        assert!(store.open_alerts().expect("open").is_empty());
        assert_eq!(
            store
                .alert_transitions(Some(id), 10)
                .expect("history")
                .len(),
            2
        );
        assert_eq!(
            store.prune_alerts(200).expect("pruned"),
            0,
            "resolved at 200"
        );
        assert_eq!(store.prune_alerts(201).expect("pruned"), 1);
        assert!(store
            .alert_transitions(None, 10)
            .expect("history")
            .is_empty());
    }

    #[test]
    fn the_checks_rule_is_made_once_beside_rules_made_before_it() {
        use crate::alerts::defaults::check_rule;
        let store = Store::in_memory().expect("a store");
        store
            .add_tables(crate::alerts::store::SCHEMA)
            .expect("tables");
        // A console made before checks: its defaults without the checks' rule.
        let before: Vec<_> = default_rules()
            .into_iter()
            .filter(|r| r.kind != Kind::CheckState)
            .collect();
        assert!(store.make_default_alert_rules(&before).expect("made"));
        assert!(store.make_default_check_rule(&check_rule()).expect("added"));
        let checks = |store: &Store| {
            store
                .alert_rules()
                .expect("rules")
                .into_iter()
                .filter(|r| r.kind == Kind::CheckState)
                .count()
        };
        assert_eq!(checks(&store), 1);
        assert!(!store.make_default_check_rule(&check_rule()).expect("once"));
        assert_eq!(checks(&store), 1);

        // A new console has it among its defaults, and gets no second one.
        let fresh = Store::in_memory().expect("a store");
        fresh
            .add_tables(crate::alerts::store::SCHEMA)
            .expect("tables");
        assert!(fresh
            .make_default_alert_rules(&default_rules())
            .expect("made"));
        assert!(!fresh
            .make_default_check_rule(&check_rule())
            .expect("present"));
        assert_eq!(checks(&fresh), 1);
    }
}
