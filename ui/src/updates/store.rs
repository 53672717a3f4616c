//! The updates tables, and their queries on [`crate::store::Store`]: each endpoint's latest
//! update report (so the page has data after a console restart) and its registry
//! credentials (the password sealed).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::report::ClusterReport;
use crate::store::{now_secs, rfc3339, Store, StoreError};

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS update_reports (
    endpoint INTEGER PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,
    pulled_at INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    registry TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (endpoint, registry)
);
";

/// The sealing context of a registry password.
pub const PASSWORD_CONTEXT: &str = "registries.password";

/// An endpoint's stored report and when it was pulled.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub pulled_at: i64,
    pub report: ClusterReport,
}

/// A registry's credentials as they are listed: never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryEntry {
    pub id: i64,
    pub registry: String,
    pub username: String,
    pub created: String,
}

/// A registry's credentials with the password still sealed.
#[derive(Debug, Clone)]
pub struct SealedCredential {
    pub registry: String,
    pub username: String,
    pub sealed_password: String,
}

impl Store {
    /// Keeps `report` as endpoint `endpoint`'s latest.
    pub fn put_update_report(
        &self,
        endpoint: i64,
        report: &ClusterReport,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(report)
            .map_err(|e| StoreError::Conflict(format!("the update report: {e}")))?;
        self.conn().execute(
            "INSERT INTO update_reports (endpoint, pulled_at, report) VALUES (?1, ?2, ?3)
             ON CONFLICT (endpoint) DO UPDATE SET pulled_at = ?2, report = ?3",
            params![endpoint, now_secs(), text],
        )?;
        Ok(())
    }

    /// Endpoint `endpoint`'s latest report, if one was pulled.
    pub fn update_report(&self, endpoint: i64) -> Result<Option<StoredReport>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT pulled_at, report FROM update_reports WHERE endpoint = ?1",
                [endpoint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(pulled_at, text)| StoredReport {
            pulled_at,
            // A report this console wrote; one it cannot read is as good as none.
            report: serde_json::from_str(&text).unwrap_or_default(),
        }))
    }

    /// Adds or replaces the credentials for `registry` on endpoint `endpoint`.
    pub fn put_registry(
        &self,
        endpoint: i64,
        registry: &str,
        username: &str,
        sealed_password: &str,
    ) -> Result<RegistryEntry, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO registries (endpoint, registry, username, password, created)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (endpoint, registry) DO UPDATE SET username = ?3, password = ?4",
            params![endpoint, registry, username, sealed_password, now_secs()],
        )?;
        conn.query_row(
            "SELECT id, registry, username, created FROM registries
             WHERE endpoint = ?1 AND registry = ?2",
            params![endpoint, registry],
            entry_row,
        )
        .map_err(Into::into)
    }

    /// Endpoint `endpoint`'s registries, without their passwords.
    pub fn registries(&self, endpoint: i64) -> Result<Vec<RegistryEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, registry, username, created FROM registries
             WHERE endpoint = ?1 ORDER BY registry",
        )?;
        let rows = stmt.query_map([endpoint], entry_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Endpoint `endpoint`'s registry credentials, the passwords sealed.
    pub fn registry_credentials(&self, endpoint: i64) -> Result<Vec<SealedCredential>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT registry, username, password FROM registries
             WHERE endpoint = ?1 ORDER BY registry",
        )?;
        let rows = stmt.query_map([endpoint], |r| {
            Ok(SealedCredential {
                registry: r.get(0)?,
                username: r.get(1)?,
                sealed_password: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes registry `id` of endpoint `endpoint`; what it was.
    pub fn delete_registry(&self, endpoint: i64, id: i64) -> Result<RegistryEntry, StoreError> {
        let conn = self.conn();
        let entry = conn
            .query_row(
                "SELECT id, registry, username, created FROM registries
                 WHERE endpoint = ?1 AND id = ?2",
                params![endpoint, id],
                entry_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no registry {id} on this endpoint")))?;
        conn.execute("DELETE FROM registries WHERE id = ?1", [id])?;
        Ok(entry)
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegistryEntry> {
    Ok(RegistryEntry {
        id: r.get(0)?,
        registry: r.get(1)?,
        username: r.get(2)?,
        created: rfc3339(r.get(3)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::Sealer;

    fn store_with_endpoint() -> (Store, i64) {
        let store = Store::in_memory().expect("store");
        store.add_tables(SCHEMA).expect("tables");
        let (ca, _) = bosun_serve::pki::Ca::generate("test CA").expect("CA");
        let endpoint = store
            .create_endpoint(
                "e",
                "https://localhost:9001",
                ca.cert_pem(),
                "key",
                None,
                &crate::profiles::ProfileMap::default(),
            )
            .expect("endpoint");
        (store, endpoint.id)
    }

    #[test]
    fn registry_passwords_are_sealed_in_the_database_and_never_listed() {
        let (store, e) = store_with_endpoint();
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal(PASSWORD_CONTEXT, "hunter2-secret");
        let made = store
            .put_registry(e, "127.0.0.1:5000", "ci", &sealed)
            .expect("stored");
        assert_eq!(made.registry, "127.0.0.1:5000");
        let raw: String = store
            .conn()
            .query_row("SELECT password FROM registries", [], |r| r.get(0))
            .expect("row");
        assert!(!raw.contains("hunter2-secret"), "sealed at rest: {raw}");
        assert_eq!(
            sealer.open(PASSWORD_CONTEXT, &raw).expect("opens"),
            "hunter2-secret"
        );
        let listed = store.registries(e).expect("list");
        let text = serde_json::to_string(&listed).expect("json");
        assert!(
            !text.contains("hunter2") && !text.contains("sealed:"),
            "{text}"
        );
        assert!(!text.contains("password"), "{text}");

        // The same registry again replaces its credentials.
        let resealed = sealer.seal(PASSWORD_CONTEXT, "other");
        store
            .put_registry(e, "127.0.0.1:5000", "ci2", &resealed)
            .expect("replaced");
        let creds = store.registry_credentials(e).expect("creds");
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].username, "ci2");
        assert_eq!(
            sealer
                .open(PASSWORD_CONTEXT, &creds[0].sealed_password)
                .expect("opens"),
            "other"
        );
        let gone = store.delete_registry(e, made.id).expect("deleted");
        assert_eq!(gone.username, "ci2");
        assert!(store.registries(e).expect("list").is_empty());
        assert!(matches!(
            store.delete_registry(e, made.id),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn the_latest_report_is_kept_per_endpoint_and_goes_with_it() {
        let (store, e) = store_with_endpoint();
        assert!(store.update_report(e).expect("read").is_none());
        let report: ClusterReport = serde_json::from_value(serde_json::json!({
            "nodes": [{"node": "n1", "checked_at": 5, "items": []}], "missing": []
        }))
        .expect("parses");
        store.put_update_report(e, &report).expect("stored");
        let mut newer = report.clone();
        newer.nodes[0].checked_at = Some(9);
        store.put_update_report(e, &newer).expect("replaced");
        let kept = store.update_report(e).expect("read").expect("kept");
        assert_eq!(kept.report, newer);
        store.delete_endpoint(e).expect("deleted");
        assert!(store.update_report(e).expect("read").is_none());
    }
}
