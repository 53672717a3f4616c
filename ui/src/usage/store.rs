//! Usage history in SQLite, in its own file (`usage.db`) beside the console's database:
//! the history is large and can be rebuilt from nothing, so it neither slows down nor
//! bloats the file that holds users and the audit log, and it is written with a lighter
//! sync (a sample lost to a crash is fetched again from the agent's hour).
//!
//! Each kind of series ([`Kind`]) has three tables: `_raw` (every sample), `_minute` and
//! `_hour` (per bucket: the number of samples, and each figure's rounded average and
//! peak, or the largest capacity). All are `WITHOUT ROWID` tables keyed by (series, time),
//! so a row costs its figures and little else, and ranges of one series read and delete
//! along the key. Buckets are computed from raw samples, again whenever samples in them
//! arrive, so they are exact and late samples (a backfill) land in them too.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Value};

use super::range::Plan;
use super::sample::{ClusterAnswer, Container, NodeAnswer};
use super::series::{self, Fold, Kind, Retention, Tier, Values};
use crate::store::StoreError;

/// The longest gap between a container's two samples over which its block counters still
/// give a rate: the agent's ring holds an hour.
const MAX_RATE_GAP: i64 = 3600;

/// What one ingest stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// New samples (one per node and time).
    pub samples: usize,
    /// The oldest and newest new sample's time.
    pub span: Option<(i64, i64)>,
}

/// What one prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: usize,
    pub series: usize,
}

/// One figure's points: the value (an average, or the sample itself), and in buckets the
/// peak.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub value: Vec<Option<f64>>,
    pub peak: Option<Vec<Option<f64>>>,
}

/// A series' points over a plan's range: the times, and one [`Line`] per figure of its
/// kind, in the kind's order. A gap (missing samples) is a time with every figure `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    pub kind: Kind,
    pub times: Vec<i64>,
    pub lines: Vec<Line>,
}

impl Points {
    /// `{"times": [...], "FIGURE": {"value": [...], "peak": [...] | null}, ...}`.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("times".into(), json!(self.times));
        for (figure, line) in self.kind.figures().iter().zip(&self.lines) {
            out.insert(
                figure.name.into(),
                json!({"value": line.value, "peak": line.peak}),
            );
        }
        Value::Object(out)
    }

    /// Puts a `None` point after every point followed by a silence of more than two and a
    /// half times `spacing`, so that a chart breaks its line there instead of drawing
    /// across. Samples stamped in whole seconds drift by one now and then: that is no gap.
    fn mark_gaps(&mut self, spacing: i64) {
        let limit = (spacing * 5 + 1) / 2;
        let mut at = 1;
        while at < self.times.len() {
            let (before, after) = (self.times[at - 1], self.times[at]);
            if after - before > limit {
                self.times.insert(at, before + spacing);
                for line in &mut self.lines {
                    line.value.insert(at, None);
                    if let Some(peak) = &mut line.peak {
                        peak.insert(at, None);
                    }
                }
                at += 1;
            }
            at += 1;
        }
    }
}

/// A series as the `series` table describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub id: i64,
    pub node: String,
    /// The mount point or the container ID; empty for a host.
    pub key: String,
    /// The container's name, or the filesystem's device.
    pub name: String,
    /// Host: `cores`, `interval`; filesystem: `fstype`; container: `image`, `project`,
    /// `service`, `state`.
    pub info: Value,
    /// The newest sample's time.
    pub last_time: i64,
}

impl SeriesInfo {
    /// Seconds between the node's samples, as the agent said.
    pub fn interval(&self) -> Option<i64> {
        self.info["interval"].as_i64().filter(|s| *s > 0)
    }
}

/// A node's newest sample: the host's figures and its filesystems'.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeNow {
    pub host: SeriesInfo,
    /// In [`Kind::Host`]'s order, in their own units.
    pub figures: Vec<Option<f64>>,
    pub filesystems: Vec<(SeriesInfo, Vec<Option<f64>>)>,
}

/// A container in its node's newest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerNow {
    pub series: SeriesInfo,
    /// In [`Kind::Container`]'s order, in their own units.
    pub figures: Vec<Option<f64>>,
}

/// The usage database. Synchronous; async code reaches it through
/// [`crate::store::Db`].
pub struct UsageStore {
    conn: Mutex<Connection>,
}

/// A table's name: `host_raw`.
fn table(kind: Kind, tier: Tier) -> String {
    format!("{}_{}", kind.table(), tier.suffix())
}

/// A tier table's figure columns: `cpu_avg, cpu_max, mem_total, ...`.
fn tier_columns(kind: Kind) -> Vec<String> {
    kind.figures()
        .iter()
        .flat_map(|f| match f.fold {
            Fold::AvgMax => vec![format!("{}_avg", f.name), format!("{}_max", f.name)],
            Fold::Max => vec![f.name.to_owned()],
        })
        .collect()
}

fn schema() -> String {
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS series (
            id INTEGER PRIMARY KEY,
            endpoint INTEGER NOT NULL,
            node TEXT NOT NULL,
            kind INTEGER NOT NULL,
            key TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            info TEXT NOT NULL DEFAULT '{}',
            last_time INTEGER NOT NULL DEFAULT 0,
            last_read INTEGER,
            last_write INTEGER,
            UNIQUE (endpoint, node, kind, key)
        );
        CREATE INDEX IF NOT EXISTS series_key ON series(endpoint, kind, key);\n",
    );
    for kind in Kind::ALL {
        let raw: Vec<String> = kind
            .figures()
            .iter()
            .map(|f| format!("{} INTEGER", f.name))
            .collect();
        let _ = writeln!(
            sql,
            "CREATE TABLE IF NOT EXISTS {} (series INTEGER NOT NULL, time INTEGER NOT NULL, {}, \
             PRIMARY KEY (series, time)) WITHOUT ROWID;",
            table(kind, Tier::Raw),
            raw.join(", ")
        );
        let folded: Vec<String> = tier_columns(kind)
            .iter()
            .map(|c| format!("{c} INTEGER"))
            .collect();
        for tier in [Tier::Minute, Tier::Hour] {
            let _ = writeln!(
                sql,
                "CREATE TABLE IF NOT EXISTS {} (series INTEGER NOT NULL, time INTEGER NOT NULL, \
                 n INTEGER NOT NULL, {}, PRIMARY KEY (series, time)) WITHOUT ROWID;",
                table(kind, tier),
                folded.join(", ")
            );
        }
    }
    sql
}

/// Recomputes the `tier` buckets of an endpoint's `kind` series that lie in
/// `[from, to)` (bucket-aligned) from the raw samples.
fn roll_sql(kind: Kind, tier: Tier) -> String {
    let aggregates: Vec<String> = kind
        .figures()
        .iter()
        .flat_map(|f| match f.fold {
            Fold::AvgMax => vec![
                format!("CAST(ROUND(AVG({0})) AS INTEGER)", f.name),
                format!("MAX({0})", f.name),
            ],
            Fold::Max => vec![format!("MAX({0})", f.name)],
        })
        .collect();
    let bucket = tier.bucket();
    format!(
        "INSERT OR REPLACE INTO {target} (series, time, n, {columns})
         SELECT series, time / {bucket} * {bucket} AS b, COUNT(*), {aggregates}
         FROM {raw}
         WHERE series IN (SELECT id FROM series WHERE endpoint = ?1 AND kind = {code})
           AND time >= ?2 AND time < ?3
         GROUP BY series, b",
        target = table(kind, tier),
        columns = tier_columns(kind).join(", "),
        aggregates = aggregates.join(", "),
        raw = table(kind, Tier::Raw),
        code = kind.code(),
    )
}

/// What a query selects for each figure: its value, and its peak where there is one.
fn point_exprs(kind: Kind, tier: Tier, bucketed: bool) -> Vec<(String, Option<String>)> {
    kind.figures()
        .iter()
        .map(|f| {
            let n = f.name;
            match (tier, bucketed, f.fold) {
                (Tier::Raw, false, _) => (n.to_owned(), None),
                (Tier::Raw, true, Fold::AvgMax) => (format!("AVG({n})"), Some(format!("MAX({n})"))),
                (Tier::Raw, true, Fold::Max) => (format!("MAX({n})"), None),
                (_, false, Fold::AvgMax) => (format!("{n}_avg"), Some(format!("{n}_max"))),
                (_, false, Fold::Max) => (n.to_owned(), None),
                // Each bucket's average weighs by its samples, so that a half-empty
                // minute counts for half.
                (_, true, Fold::AvgMax) => (
                    format!(
                        "SUM({n}_avg * n) * 1.0 / NULLIF(SUM(CASE WHEN {n}_avg IS NULL THEN 0 ELSE n END), 0)"
                    ),
                    Some(format!("MAX({n}_max)")),
                ),
                (_, true, Fold::Max) => (format!("MAX({n})"), None),
            }
        })
        .collect()
}

/// A series' block counters where its newest stored sample left them.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    id: i64,
    last_time: i64,
    last_read: Option<i64>,
    last_write: Option<i64>,
    /// Whether a newer sample changed it in this ingest.
    touched: bool,
}

/// What an ingest writes back into a touched series row.
#[derive(Debug, Clone, Default)]
struct Latest {
    name: String,
    info: Value,
}

fn as_i64(v: Option<u64>) -> Option<i64> {
    v.and_then(|v| i64::try_from(v).ok())
}

impl UsageStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A crash may lose the last commit; the agents' hour of samples has it again.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(&schema())?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores an agent's answer for endpoint `endpoint`: samples not stored yet, each
    /// series' newest name and details, and the minute buckets the new samples fall in.
    pub fn ingest(&self, endpoint: i64, answer: &ClusterAnswer) -> Result<Ingested, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut known: HashMap<(Kind, String, String), (Known, Latest)> = HashMap::new();
        let mut done = Ingested::default();
        for node in &answer.nodes {
            if node.node.is_empty() {
                continue;
            }
            let mut samples: Vec<_> = node.samples.iter().collect();
            samples.sort_by_key(|s| s.time);
            for sample in samples {
                if store_sample(&tx, endpoint, node, sample, &mut known)? {
                    done.samples += 1;
                    done.span = Some(match done.span {
                        None => (sample.time, sample.time),
                        Some((lo, hi)) => (lo.min(sample.time), hi.max(sample.time)),
                    });
                }
            }
        }
        {
            let mut update = tx.prepare_cached(
                "UPDATE series SET last_time = ?2, last_read = ?3, last_write = ?4, name = ?5, info = ?6
                 WHERE id = ?1",
            )?;
            for (k, latest) in known.values().filter(|(k, _)| k.touched) {
                update.execute(params![
                    k.id,
                    k.last_time,
                    k.last_read,
                    k.last_write,
                    latest.name,
                    latest.info.to_string()
                ])?;
            }
        }
        if let Some((lo, hi)) = done.span {
            roll(&tx, endpoint, Tier::Minute, lo, hi)?;
        }
        tx.commit()?;
        Ok(done)
    }

    /// Recomputes an endpoint's `tier` buckets that hold samples taken from `from` to
    /// `to` (both included).
    pub fn roll_up(&self, endpoint: i64, tier: Tier, from: i64, to: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        roll(&tx, endpoint, tier, from, to)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes what is older than its tier's retention at `now`, series with nothing left
    /// in any tier, and every series of an endpoint not in `endpoints`.
    pub fn prune(
        &self,
        now: i64,
        keep: &Retention,
        endpoints: &[i64],
    ) -> Result<Pruned, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut pruned = Pruned::default();
        let all: Vec<(i64, i64, i64, i64)> = {
            let mut stmt = tx.prepare("SELECT id, endpoint, kind, last_time FROM series")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, endpoint, code, last_time) in all {
            let Some(kind) = Kind::ALL.into_iter().find(|k| k.code() == code) else {
                continue;
            };
            let gone = !endpoints.contains(&endpoint) || last_time < now - keep.longest();
            for tier in Tier::ALL {
                let before = if gone { i64::MAX } else { now - keep.of(tier) };
                pruned.rows += tx
                    .prepare_cached(&format!(
                        "DELETE FROM {} WHERE series = ?1 AND time < ?2",
                        table(kind, tier)
                    ))?
                    .execute(params![id, before])?;
            }
            if gone {
                tx.execute("DELETE FROM series WHERE id = ?1", [id])?;
                pruned.series += 1;
            }
        }
        tx.commit()?;
        Ok(pruned)
    }

    /// Where the next pull for `endpoint` starts: the oldest of the nodes' newest samples,
    /// among the nodes no more than `grace` seconds behind the newest. A node a little
    /// behind (its clock, or an answer it missed) is caught up; one that has been gone
    /// longer does not hold every other node's pull back to the agents' whole hour.
    /// `None` before anything is stored.
    pub fn since(&self, endpoint: i64, grace: i64) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT last_time FROM series WHERE endpoint = ?1 AND kind = ?2 AND last_time > 0",
        )?;
        let times: Vec<i64> = stmt
            .query_map(params![endpoint, Kind::Host.code()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let Some(newest) = times.iter().copied().max() else {
            return Ok(None);
        };
        Ok(times.into_iter().filter(|t| *t >= newest - grace).min())
    }

    /// Every series of `kind` of an endpoint (on `node` if given), newest first.
    pub fn series(
        &self,
        endpoint: i64,
        kind: Kind,
        node: Option<&str>,
    ) -> Result<Vec<SeriesInfo>, StoreError> {
        let conn = self.conn();
        series_of(&conn, endpoint, kind, node)
    }

    /// A container's series by its ID or a prefix of it (hex only): the newest if several.
    pub fn container(&self, endpoint: i64, id: &str) -> Result<SeriesInfo, StoreError> {
        let missing = || StoreError::NotFound(format!("no usage stored for a container {id:?}"));
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing());
        }
        let conn = self.conn();
        conn.query_row(
            &format!(
                "{SERIES_COLUMNS} WHERE endpoint = ?1 AND kind = ?2 AND key >= ?3 AND key < ?3 || 'g'
                 ORDER BY last_time DESC LIMIT 1"
            ),
            params![endpoint, Kind::Container.code(), id.to_ascii_lowercase()],
            series_row,
        )
        .optional()?
        .ok_or_else(missing)
    }

    /// A series' points under `plan`, with gaps marked.
    pub fn points(&self, kind: Kind, series: i64, plan: &Plan) -> Result<Points, StoreError> {
        let conn = self.conn();
        let exprs = point_exprs(kind, plan.tier, plan.bucket.is_some());
        let mut select = Vec::new();
        for (value, peak) in &exprs {
            select.push(value.clone());
            select.push(peak.clone().unwrap_or_else(|| "NULL".into()));
        }
        let source = table(kind, plan.tier);
        let sql = match plan.bucket {
            None => format!(
                "SELECT time, {} FROM {source} WHERE series = ?1 AND time >= ?2 AND time <= ?3 ORDER BY time",
                select.join(", ")
            ),
            Some(_) => format!(
                "SELECT time / ?4 * ?4 AS b, {} FROM {source} WHERE series = ?1 AND time >= ?2 AND time <= ?3
                 GROUP BY b ORDER BY b",
                select.join(", ")
            ),
        };
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut points = Points {
            kind,
            times: Vec::new(),
            lines: exprs
                .iter()
                .map(|(_, peak)| Line {
                    value: Vec::new(),
                    peak: peak.as_ref().map(|_| Vec::new()),
                })
                .collect(),
        };
        let mut rows = match plan.bucket {
            None => stmt.query(params![series, plan.from, plan.to])?,
            Some(step) => stmt.query(params![series, plan.from, plan.to, step])?,
        };
        while let Some(row) = rows.next()? {
            points.times.push(row.get(0)?);
            for (i, line) in points.lines.iter_mut().enumerate() {
                let value: Option<f64> = row.get(1 + 2 * i)?;
                line.value.push(value.map(|v| series::unscale(kind, i, v)));
                if let Some(peak) = &mut line.peak {
                    let p: Option<f64> = row.get(2 + 2 * i)?;
                    peak.push(p.map(|v| series::unscale(kind, i, v)));
                }
            }
        }
        drop(rows);
        points.mark_gaps(plan.spacing);
        Ok(points)
    }

    /// Each node's newest sample, for nodes heard from at `fresh_after` or later.
    pub fn nodes_now(&self, endpoint: i64, fresh_after: i64) -> Result<Vec<NodeNow>, StoreError> {
        let conn = self.conn();
        let hosts = series_of(&conn, endpoint, Kind::Host, None)?;
        let mut out = Vec::new();
        for host in hosts.into_iter().filter(|h| h.last_time >= fresh_after) {
            let Some(figures) = row_at(&conn, Kind::Host, host.id, host.last_time)? else {
                continue;
            };
            let mut filesystems = Vec::new();
            for fs in series_of(&conn, endpoint, Kind::Filesystem, Some(&host.node))? {
                if fs.last_time != host.last_time {
                    continue;
                }
                if let Some(values) = row_at(&conn, Kind::Filesystem, fs.id, fs.last_time)? {
                    filesystems.push((fs, values));
                }
            }
            filesystems.sort_by(|a, b| a.0.key.cmp(&b.0.key));
            out.push(NodeNow {
                host,
                figures,
                filesystems,
            });
        }
        out.sort_by(|a, b| a.host.node.cmp(&b.host.node));
        Ok(out)
    }

    /// The containers in each node's newest sample, for nodes heard from at
    /// `fresh_after` or later.
    pub fn containers_now(
        &self,
        endpoint: i64,
        fresh_after: i64,
    ) -> Result<Vec<ContainerNow>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::new();
        for host in series_of(&conn, endpoint, Kind::Host, None)? {
            if host.last_time < fresh_after {
                continue;
            }
            for ct in series_of(&conn, endpoint, Kind::Container, Some(&host.node))? {
                // Newest first: the rest were not in the node's newest sample.
                if ct.last_time < host.last_time {
                    break;
                }
                if let Some(figures) = row_at(&conn, Kind::Container, ct.id, ct.last_time)? {
                    out.push(ContainerNow {
                        series: ct,
                        figures,
                    });
                }
            }
        }
        Ok(out)
    }
}

const SERIES_COLUMNS: &str = "SELECT id, node, key, name, info, last_time FROM series";

fn series_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SeriesInfo> {
    Ok(SeriesInfo {
        id: r.get(0)?,
        node: r.get(1)?,
        key: r.get(2)?,
        name: r.get(3)?,
        info: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or(Value::Null),
        last_time: r.get(5)?,
    })
}

fn series_of(
    conn: &Connection,
    endpoint: i64,
    kind: Kind,
    node: Option<&str>,
) -> Result<Vec<SeriesInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SERIES_COLUMNS} WHERE endpoint = ?1 AND kind = ?2 AND (?3 IS NULL OR node = ?3)
         ORDER BY last_time DESC, node, key"
    ))?;
    let rows = stmt.query_map(params![endpoint, kind.code(), node], series_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A raw row's figures in their own units.
fn row_at(
    conn: &Connection,
    kind: Kind,
    series: i64,
    time: i64,
) -> Result<Option<Vec<Option<f64>>>, StoreError> {
    let names: Vec<&str> = kind.figures().iter().map(|f| f.name).collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM {} WHERE series = ?1 AND time = ?2",
        names.join(", "),
        table(kind, Tier::Raw)
    ))?;
    Ok(stmt
        .query_row(params![series, time], |r| {
            (0..names.len())
                .map(|i| {
                    r.get::<_, Option<f64>>(i)
                        .map(|v| v.map(|v| series::unscale(kind, i, v)))
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .optional()?)
}

fn roll(
    tx: &Transaction<'_>,
    endpoint: i64,
    tier: Tier,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    let bucket = tier.bucket();
    let lo = from - from.rem_euclid(bucket);
    let hi = to - to.rem_euclid(bucket) + bucket;
    for kind in Kind::ALL {
        tx.prepare_cached(&roll_sql(kind, tier))?
            .execute(params![endpoint, lo, hi])?;
    }
    Ok(())
}

/// Finds or makes a series, and remembers it for the rest of the ingest.
fn series_id<'k>(
    tx: &Transaction<'_>,
    endpoint: i64,
    kind: Kind,
    node: &str,
    key: &str,
    known: &'k mut HashMap<(Kind, String, String), (Known, Latest)>,
) -> Result<&'k mut (Known, Latest), StoreError> {
    let map_key = (kind, node.to_owned(), key.to_owned());
    if !known.contains_key(&map_key) {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO series (endpoint, node, kind, key) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![endpoint, node, kind.code(), key])?;
        let found = tx
            .prepare_cached(
                "SELECT id, last_time, last_read, last_write FROM series
                 WHERE endpoint = ?1 AND node = ?2 AND kind = ?3 AND key = ?4",
            )?
            .query_row(params![endpoint, node, kind.code(), key], |r| {
                Ok(Known {
                    id: r.get(0)?,
                    last_time: r.get(1)?,
                    last_read: r.get(2)?,
                    last_write: r.get(3)?,
                    touched: false,
                })
            })?;
        known.insert(map_key.clone(), (found, Latest::default()));
    }
    Ok(known
        .get_mut(&map_key)
        .expect("inserted above when it was missing"))
}

fn insert_raw(
    tx: &Transaction<'_>,
    kind: Kind,
    series: i64,
    time: i64,
    values: &Values,
) -> Result<(), StoreError> {
    let names: Vec<&str> = kind.figures().iter().map(|f| f.name).collect();
    let marks: Vec<String> = (0..names.len()).map(|i| format!("?{}", i + 3)).collect();
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {} (series, time, {}) VALUES (?1, ?2, {})",
        table(kind, Tier::Raw),
        names.join(", "),
        marks.join(", ")
    ))?;
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&series, &time];
    bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
    stmt.execute(bound.as_slice())?;
    Ok(())
}

/// Stores one node's sample: the host, its filesystems and its containers, each only if
/// newer than what its series holds. True when the host's sample was new.
fn store_sample(
    tx: &Transaction<'_>,
    endpoint: i64,
    node: &NodeAnswer,
    sample: &super::sample::Sample,
    known: &mut HashMap<(Kind, String, String), (Known, Latest)>,
) -> Result<bool, StoreError> {
    let time = sample.time;
    let (host, latest) = series_id(tx, endpoint, Kind::Host, &node.node, "", known)?;
    if time <= host.last_time {
        return Ok(false);
    }
    let id = host.id;
    host.last_time = time;
    host.touched = true;
    latest.info = json!({
        "cores": sample.host.cpu.cores,
        "interval": node.interval_secs,
    });
    insert_raw(tx, Kind::Host, id, time, &series::host_values(&sample.host))?;

    for fs in &sample.host.filesystems {
        if fs.mount.is_empty() {
            continue;
        }
        let (k, latest) = series_id(tx, endpoint, Kind::Filesystem, &node.node, &fs.mount, known)?;
        if time <= k.last_time {
            continue;
        }
        k.last_time = time;
        k.touched = true;
        latest.name.clone_from(&fs.device);
        latest.info = json!({"fstype": fs.fstype});
        let id = k.id;
        insert_raw(
            tx,
            Kind::Filesystem,
            id,
            time,
            &series::filesystem_values(fs),
        )?;
    }

    for c in &sample.containers {
        if c.id.is_empty() {
            continue;
        }
        let (k, latest) = series_id(tx, endpoint, Kind::Container, &node.node, &c.id, known)?;
        if time <= k.last_time {
            continue;
        }
        let block = block_rates(k, c, time);
        k.last_time = time;
        k.last_read = as_i64(c.block_read_bytes);
        k.last_write = as_i64(c.block_write_bytes);
        k.touched = true;
        latest.name = c.name.trim_start_matches('/').to_owned();
        latest.info = json!({
            "image": c.image,
            "project": c.project,
            "service": c.service,
            "state": c.state,
        });
        let id = k.id;
        insert_raw(
            tx,
            Kind::Container,
            id,
            time,
            &series::container_values(c, block),
        )?;
    }
    Ok(true)
}

/// A container's block read and write rates since its previous stored sample.
fn block_rates(before: &Known, c: &Container, time: i64) -> (Option<f64>, Option<f64>) {
    let secs = time - before.last_time;
    if before.last_time <= 0 || secs <= 0 || secs > MAX_RATE_GAP {
        return (None, None);
    }
    let rate = |then: Option<i64>, now: Option<u64>| {
        let (then, now) = (then?, as_i64(now)?);
        // A counter that went back is a restarted container: no rate over the restart.
        (now >= then).then(|| (now - then) as f64 / secs as f64)
    };
    (
        rate(before.last_read, c.block_read_bytes),
        rate(before.last_write, c.block_write_bytes),
    )
}

#[cfg(test)]
mod tests;
