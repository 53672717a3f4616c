//! The console's database: users, sessions, endpoints, the audit log and settings, in one
//! SQLite file in the data directory. Write-ahead logging with full sync: a committed
//! write survives a crash. [`Store`] is synchronous; async code goes through [`Db`], which
//! runs each call on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::auth::Role;
use crate::profiles::ProfileMap;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The runtime stopped before the database call ran.
    #[error("database: the console is stopping")]
    Stopping,
}

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub created: String,
    /// How the user signs in: `password`, or `oidc` (through the OpenID provider, whose
    /// groups set the role at each sign-in).
    pub source: &'static str,
}

const PASSWORD: &str = "password";
const OIDC: &str = "oidc";

#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub csrf: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub name: String,
    pub url: String,
    #[serde(skip)]
    pub ca_pem: String,
    pub auth: String,
    #[serde(skip)]
    pub secret: Option<String>,
    /// Which agent profile each user and role acts under here; shown to admins only.
    #[serde(skip)]
    pub profiles: ProfileMap,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub time: String,
    pub user: String,
    /// The client's address; empty in rows from before it was recorded.
    pub address: String,
    pub endpoint: String,
    pub node: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: String,
}

/// What to record: who did what, where, and how it went.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub user: String,
    pub address: String,
    pub endpoint: String,
    pub node: String,
    pub action: String,
    pub target: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub endpoint: Option<String>,
    pub result: Option<String>,
    pub since: Option<i64>,
    pub limit: usize,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created INTEGER NOT NULL,
    oidc_subject TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS personal_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER,
    last_used INTEGER
);
CREATE TABLE IF NOT EXISTS endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    ca_pem TEXT NOT NULL,
    auth TEXT NOT NULL,
    secret TEXT,
    profiles TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    user TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    node TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seconds since the epoch as RFC 3339, UTC.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Creates the tables another module keeps (`CREATE TABLE IF NOT EXISTS`): the
    /// updates, the alerts and the notification channels keep their schemas beside their
    /// queries, and the console adds them when it opens the database.
    pub fn add_tables(&self, schema: &str) -> Result<(), StoreError> {
        Ok(self.conn().execute_batch(schema)?)
    }

    /// Adds the columns `(table, column, type)` that another module's tables gained since
    /// a database was made.
    pub fn add_columns(&self, added: &[(&str, &str, &str)]) -> Result<(), StoreError> {
        Ok(add_columns(&self.conn(), added)?)
    }

    /// The connection, for the tables other modules keep (`updates`, `alerts`, `notify`).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // Users.

    pub fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(admins(&self.conn())? > 0)
    }

    /// Whether any user exists: set-up through the API is only for a console with none.
    pub fn has_users(&self) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok(n > 0)
    }

    pub fn create_user(&self, username: &str, hash: &str, role: Role) -> Result<User, StoreError> {
        let now = now_secs();
        let done = self.conn().execute(
            "INSERT OR IGNORE INTO users (username, password_hash, role, created) VALUES (?1, ?2, ?3, ?4)",
            params![username, hash, role.as_str(), now],
        )?;
        if done == 0 {
            return Err(StoreError::Conflict(format!("user {username:?} exists")));
        }
        Ok(User {
            username: username.to_owned(),
            role,
            created: rfc3339(now),
            source: PASSWORD,
        })
    }

    /// Creates the first admin, unless an admin exists (checked in the same transaction).
    pub fn create_first_admin(&self, username: &str, hash: &str) -> Result<User, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if admins(&tx)? > 0 {
            return Err(StoreError::Conflict("an admin exists already".into()));
        }
        let now = now_secs();
        tx.execute(
            "INSERT OR REPLACE INTO users (username, password_hash, role, created) VALUES (?1, ?2, 'admin', ?3)",
            params![username, hash, now],
        )?;
        tx.commit()?;
        Ok(User {
            username: username.to_owned(),
            role: Role::Admin,
            created: rfc3339(now),
            source: PASSWORD,
        })
    }

    /// The password hash and role of a user.
    pub fn credentials(&self, username: &str) -> Result<Option<(String, Role)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT password_hash, role FROM users WHERE username = ?1",
                [username],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(h, r)| (h, Role::parse(&r).unwrap_or(Role::Viewer))))
    }

    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT username, role, created, oidc_subject FROM users ORDER BY username")?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn user(&self, username: &str) -> Result<User, StoreError> {
        self.conn()
            .query_row(
                "SELECT username, role, created, oidc_subject FROM users WHERE username = ?1",
                [username],
                user_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no user {username:?}")))
    }

    /// Changes a user's role and/or password; the last admin keeps the role.
    pub fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        hash: Option<&str>,
    ) -> Result<User, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current = role_of(&tx, username)?;
        let Some(current) = current else {
            return Err(StoreError::NotFound(format!("no user {username:?}")));
        };
        if let Some(role) = role {
            if current == "admin" && role != Role::Admin && admins(&tx)? <= 1 {
                return Err(StoreError::Conflict(
                    "the last admin cannot be demoted".into(),
                ));
            }
            tx.execute(
                "UPDATE users SET role = ?2 WHERE username = ?1",
                params![username, role.as_str()],
            )?;
        }
        if let Some(hash) = hash {
            if oidc_subject(&tx, username)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{username} signs in through the OpenID provider and has no password"
                )));
            }
            tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE username = ?1",
                params![username, hash],
            )?;
            // A new password ends the user's sessions.
            tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
            tx.execute(
                "DELETE FROM personal_tokens WHERE username = ?1",
                [username],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.user(username)
    }

    /// Creates or updates the user an OpenID provider vouched for, with the role its
    /// groups map to; returns the user and whether the role changed. A user of that name
    /// who signs in with a password, or came from another subject, is never taken over.
    pub fn oidc_user(
        &self,
        username: &str,
        subject: &str,
        role: Role,
    ) -> Result<(User, bool), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = match role_of(&tx, username)? {
            None => {
                tx.execute(
                    "INSERT INTO users (username, password_hash, role, created, oidc_subject)
                     VALUES (?1, '', ?2, ?3, ?4)",
                    params![username, role.as_str(), now_secs(), subject],
                )?;
                false
            }
            Some(current) => {
                if oidc_subject(&tx, username)?.as_deref() != Some(subject) {
                    return Err(StoreError::Conflict(format!(
                        "a console user named {username} exists who does not sign in through this provider"
                    )));
                }
                if current == Role::Admin.as_str() && role != Role::Admin && admins(&tx)? <= 1 {
                    // The provider no longer says admin, but a console without an admin
                    // could not be run: the last admin stays one until another is made.
                    tracing::warn!(
                        user = username,
                        mapped = role.as_str(),
                        "the provider's groups no longer map this user to admin, but they are the console's last admin: kept as admin"
                    );
                    tx.commit()?;
                    drop(conn);
                    return Ok((self.user(username)?, false));
                }
                tx.execute(
                    "UPDATE users SET role = ?2 WHERE username = ?1",
                    params![username, role.as_str()],
                )?;
                current != role.as_str()
            }
        };
        tx.commit()?;
        drop(conn);
        Ok((self.user(username)?, changed))
    }

    pub fn delete_user(&self, username: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current = role_of(&tx, username)?;
        match current.as_deref() {
            None => return Err(StoreError::NotFound(format!("no user {username:?}"))),
            Some("admin") if admins(&tx)? <= 1 => {
                return Err(StoreError::Conflict(
                    "the last admin cannot be removed".into(),
                ))
            }
            _ => {}
        }
        tx.execute("DELETE FROM users WHERE username = ?1", [username])?;
        // Sessions name their user: one of the same name made later must not inherit them.
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(())
    }

    // Sessions.

    pub fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        csrf: &str,
        expires: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("DELETE FROM sessions WHERE expires < ?1", [now_secs()])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, username, csrf, expires) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, username, csrf, expires],
        )?;
        Ok(())
    }

    pub fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.username, u.role, s.csrf FROM sessions s JOIN users u ON u.username = s.username
                 WHERE s.token_hash = ?1 AND s.expires >= ?2",
                params![token_hash, now_secs()],
                |r| {
                    Ok(Session {
                        username: r.get(0)?,
                        role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Viewer),
                        csrf: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    // Endpoints.

    pub fn create_endpoint(
        &self,
        name: &str,
        url: &str,
        ca_pem: &str,
        auth: &str,
        secret: Option<&str>,
        profiles: &ProfileMap,
    ) -> Result<Endpoint, StoreError> {
        let conn = self.conn();
        let done = conn.execute(
            "INSERT OR IGNORE INTO endpoints (name, url, ca_pem, auth, secret, profiles) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, url, ca_pem, auth, secret, profiles.to_text()],
        )?;
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "an endpoint named {name:?} exists"
            )));
        }
        Ok(Endpoint {
            id: conn.last_insert_rowid(),
            name: name.to_owned(),
            url: url.to_owned(),
            ca_pem: ca_pem.to_owned(),
            auth: auth.to_owned(),
            secret: secret.map(str::to_owned),
            profiles: profiles.clone(),
        })
    }

    pub fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, url, ca_pem, auth, secret, profiles FROM endpoints ORDER BY name",
        )?;
        let rows = stmt.query_map([], endpoint_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One endpoint: read on every request to its cluster.
    pub fn endpoint(&self, id: i64) -> Result<Endpoint, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, name, url, ca_pem, auth, secret, profiles FROM endpoints WHERE id = ?1",
                [id],
                endpoint_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no endpoint {id}")))
    }

    /// Replaces an endpoint's profile mapping.
    pub fn set_endpoint_profiles(
        &self,
        id: i64,
        profiles: &ProfileMap,
    ) -> Result<Endpoint, StoreError> {
        let done = self.conn().execute(
            "UPDATE endpoints SET profiles = ?2 WHERE id = ?1",
            params![id, profiles.to_text()],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("no endpoint {id}")));
        }
        self.endpoint(id)
    }

    pub fn delete_endpoint(&self, id: i64) -> Result<Endpoint, StoreError> {
        let endpoint = self.endpoint(id)?;
        self.conn()
            .execute("DELETE FROM endpoints WHERE id = ?1", [id])?;
        Ok(endpoint)
    }

    // The audit log.

    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO audit (time, user, endpoint, node, action, target, result, detail, address)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                now_secs(),
                entry.user,
                entry.endpoint,
                entry.node,
                entry.action,
                entry.target,
                if entry.error.is_some() { "error" } else { "ok" },
                entry.error.as_deref().unwrap_or_default(),
                entry.address,
            ],
        )?;
        Ok(())
    }

    pub fn audit_rows(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, time, user, endpoint, node, action, target, result, detail, address FROM audit
             WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR action = ?2)
               AND (?3 IS NULL OR endpoint = ?3) AND (?4 IS NULL OR result = ?4)
               AND (?5 IS NULL OR time >= ?5)
             ORDER BY id DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                filter.user,
                filter.action,
                filter.endpoint,
                filter.result,
                filter.since,
                filter.limit as i64
            ],
            |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    time: rfc3339(r.get(1)?),
                    user: r.get(2)?,
                    endpoint: r.get(3)?,
                    node: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    result: r.get(7)?,
                    detail: r.get(8)?,
                    address: r.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // Settings.

    /// Stores `value` unless the key has one; returns the value kept.
    pub fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(
            conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })?,
        )
    }
}

/// A database for async code: each call runs on tokio's blocking pool, so that no runtime
/// worker waits on SQLite, its lock or its fsync. `Db` is the console's own database;
/// `Db<UsageStore>` the usage history's.
pub struct Db<S = Store>(Arc<S>);

impl<S> Clone for Db<S> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S: Send + Sync + 'static> Db<S> {
    pub fn new(store: S) -> Self {
        Self(Arc::new(store))
    }

    /// Runs `work` on the store, off the runtime's workers.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.0);
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(StoreError::Stopping),
            },
        }
    }
}

impl Db<Store> {
    /// Records one audit row; a failure is logged, never the request's.
    pub async fn audit(&self, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.run(move |s| s.audit(&entry)).await {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
    }
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        username: r.get(0)?,
        role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Viewer),
        created: rfc3339(r.get(2)?),
        source: match r.get::<_, Option<String>>(3)? {
            Some(_) => OIDC,
            None => PASSWORD,
        },
    })
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        ca_pem: r.get(3)?,
        auth: r.get(4)?,
        secret: r.get(5)?,
        // A mapping that does not read back fails the endpoint rather than falling back
        // to the role's wider scope.
        profiles: ProfileMap::from_text(&r.get::<_, String>(6)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

/// Brings a database made by an older console up to the schema: columns added since.
/// Checked and changed in one write transaction, so that two consoles opening the file at
/// once do not both add a column.
fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    add_columns(
        conn,
        &[
            ("endpoints", "profiles", "TEXT NOT NULL DEFAULT '{}'"),
            ("audit", "address", "TEXT NOT NULL DEFAULT ''"),
            ("users", "oidc_subject", "TEXT"),
        ],
    )
}

/// Adds each `(table, column, type)` a table lacks, in one write transaction.
fn add_columns(conn: &Connection, added: &[(&str, &str, &str)]) -> Result<(), rusqlite::Error> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    for &(table, column, kind) in added {
        let has = tx
            .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
            .exists([table, column])?;
        if !has {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    tx.commit()
}

/// A user's role as stored, or `None` when there is no such user.
fn role_of(conn: &Connection, username: &str) -> Result<Option<String>, rusqlite::Error> {
    conn.query_row(
        "SELECT role FROM users WHERE username = ?1",
        [username],
        |r| r.get(0),
    )
    .optional()
}

/// The OpenID subject a user came from; `None` for a password user or no user.
fn oidc_subject(conn: &Connection, username: &str) -> Result<Option<String>, rusqlite::Error> {
    Ok(conn
        .query_row(
            "SELECT oidc_subject FROM users WHERE username = ?1",
            [username],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

fn admins(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
        r.get(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_admin_stays_and_a_second_first_admin_is_refused() {
        let store = Store::in_memory().expect("store");
        assert!(!store.has_admin().expect("query"));
        store.create_first_admin("root", "h").expect("first admin");
        assert!(matches!(
            store.create_first_admin("other", "h"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.update_user("root", Some(Role::Viewer), None),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.delete_user("root"),
            Err(StoreError::Conflict(_))
        ));
        store
            .create_user("second", "h", Role::Admin)
            .expect("second admin");
        store.delete_user("root").expect("no longer the last");
    }

    #[test]
    fn a_provider_never_demotes_the_last_admin_and_a_removed_users_sessions_go() {
        let store = Store::in_memory().expect("store");
        let (carol, _) = store
            .oidc_user("carol", "sub-carol", Role::Admin)
            .expect("a provider user");
        assert_eq!(carol.role, Role::Admin);
        assert!(store.has_users().expect("query"));
        let (carol, changed) = store
            .oidc_user("carol", "sub-carol", Role::Operator)
            .expect("signs in again");
        assert_eq!(
            (carol.role, changed),
            (Role::Admin, false),
            "the last admin stays one"
        );
        store.create_user("root", "h", Role::Admin).expect("admin");
        let (carol, changed) = store
            .oidc_user("carol", "sub-carol", Role::Operator)
            .expect("signs in again");
        assert_eq!((carol.role, changed), (Role::Operator, true));

        let far = now_secs() + 3600;
        store
            .create_session("token-1", "carol", "csrf", far)
            .expect("session");
        store.delete_user("carol").expect("removed");
        store
            .oidc_user("carol", "sub-carol", Role::Viewer)
            .expect("back through the provider");
        assert!(
            store.session("token-1").expect("query").is_none(),
            "the removed user's session does not come back with the name"
        );
    }

    #[test]
    fn audit_rows_filter_and_come_newest_first() {
        let store = Store::in_memory().expect("store");
        for (user, action, error) in [
            ("a", "login", None),
            ("b", "login_failed", Some("bad password")),
            ("a", "container.stop", None),
        ] {
            store
                .audit(&AuditEntry {
                    user: user.into(),
                    action: action.into(),
                    error: error.map(str::to_owned),
                    ..Default::default()
                })
                .expect("audit");
        }
        let all = store
            .audit_rows(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .expect("rows");
        let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["container.stop", "login_failed", "login"]);
        let errors = store
            .audit_rows(&AuditFilter {
                result: Some("error".into()),
                limit: 10,
                ..Default::default()
            })
            .expect("rows");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].detail, "bad password");
    }

    #[test]
    fn an_older_database_gains_the_columns_added_since() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.db");
        {
            let old = Connection::open(&path).expect("open");
            old.execute_batch(
                "CREATE TABLE endpoints (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    url TEXT NOT NULL,
                    ca_pem TEXT NOT NULL,
                    auth TEXT NOT NULL,
                    secret TEXT
                );
                INSERT INTO endpoints (name, url, ca_pem, auth, secret)
                    VALUES ('old', 'https://a:9001', 'pem', 'key', NULL);",
            )
            .expect("an old schema");
            old.execute_batch(
                "CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,
                    user TEXT NOT NULL, endpoint TEXT NOT NULL, node TEXT NOT NULL,
                    action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL,
                    detail TEXT NOT NULL
                );
                INSERT INTO audit (time, user, endpoint, node, action, target, result, detail)
                    VALUES (1, 'old', '', '', 'login', 'old', 'ok', '');
                CREATE TABLE users (
                    username TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
                    role TEXT NOT NULL, created INTEGER NOT NULL
                );",
            )
            .expect("an old audit log and users");
        }
        let store = Store::open(&path).expect("migrates");
        let rows = store
            .audit_rows(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .expect("rows");
        assert_eq!(rows[0].address, "", "an old row has no address");
        assert!(store.users().expect("users").is_empty());
        let old = &store.endpoints().expect("list")[0];
        assert_eq!(old.name, "old");
        assert!(old.profiles.is_empty());
        let map = ProfileMap::from_json(&serde_json::json!({"roles": {"operator": "watcher"}}))
            .expect("valid");
        store.set_endpoint_profiles(old.id, &map).expect("update");
        drop(store);
        let store = Store::open(&path).expect("opens again, nothing to migrate");
        assert_eq!(store.endpoint(old.id).expect("endpoint").profiles, map);
        assert!(matches!(
            store.set_endpoint_profiles(old.id + 1, &map),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn a_mapping_that_does_not_read_back_fails_the_endpoint() {
        let store = Store::in_memory().expect("store");
        let e = store
            .create_endpoint(
                "e",
                "https://a:9001",
                "pem",
                "key",
                None,
                &ProfileMap::default(),
            )
            .expect("endpoint");
        store
            .conn()
            .execute(
                "UPDATE endpoints SET profiles = '[1]' WHERE id = ?1",
                [e.id],
            )
            .expect("corrupt it");
        assert!(matches!(store.endpoint(e.id), Err(StoreError::Sql(_))));
    }

    #[test]
    fn committed_rows_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.db");
        {
            let store = Store::open(&path).expect("open");
            store.create_user("u", "h", Role::Operator).expect("user");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.user("u").expect("user").role, Role::Operator);
    }
}
