//! The edge tables, and their queries on [`crate::store::Store`]: enrol tokens (kept as a
//! hash, with their expiry, uses and the endpoint they enrol into) and the enrolled agents
//! (each one's pinned public key, endpoint, and when it was last seen).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::store::{now_secs, Store, StoreError};

/// Created with the console's other tables when the database is opened.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS enrol_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    endpoint_name TEXT NOT NULL,
    expires INTEGER NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS edge_agents (
    agent_id TEXT PRIMARY KEY,
    endpoint INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    public_key TEXT NOT NULL,
    enrolled INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    revoked INTEGER NOT NULL DEFAULT 0,
    previous_key TEXT
);
";

/// Columns added since the tables were first made, added when the database is opened.
pub const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("edge_agents", "previous_key", "TEXT")];

/// An enrol token as listed: never the token itself.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolToken {
    pub id: i64,
    pub endpoint: String,
    pub expires: u64,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
    pub created_by: String,
    pub created: u64,
}

/// An enrolled agent.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeAgent {
    pub agent_id: String,
    pub endpoint: i64,
    pub node: String,
    /// base64 of the 32-byte Ed25519 key.
    pub public_key: String,
    pub enrolled: u64,
    pub last_seen: u64,
    pub address: String,
    pub version: String,
    pub revoked: bool,
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrolToken> {
    Ok(EnrolToken {
        id: r.get(0)?,
        endpoint: r.get(1)?,
        expires: r.get(2)?,
        max_uses: r.get(3)?,
        uses: r.get(4)?,
        revoked: r.get(5)?,
        created_by: r.get(6)?,
        created: r.get(7)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, endpoint_name, expires, max_uses, uses, revoked, created_by, created";

fn agent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EdgeAgent> {
    Ok(EdgeAgent {
        agent_id: r.get(0)?,
        endpoint: r.get(1)?,
        node: r.get(2)?,
        public_key: r.get(3)?,
        enrolled: r.get(4)?,
        last_seen: r.get(5)?,
        address: r.get(6)?,
        version: r.get(7)?,
        revoked: r.get(8)?,
    })
}

const AGENT_COLUMNS: &str =
    "agent_id, endpoint, node, public_key, enrolled, last_seen, address, version, revoked";

impl Store {
    pub fn create_enrol_token(
        &self,
        token_hash: &str,
        endpoint: &str,
        expires: u64,
        max_uses: u32,
        created_by: &str,
    ) -> Result<EnrolToken, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO enrol_tokens (token_hash, endpoint_name, expires, max_uses, created_by, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token_hash, endpoint, expires, max_uses, created_by, now_secs()],
        )?;
        let id = conn.last_insert_rowid();
        Ok(conn.query_row(
            &format!("SELECT {TOKEN_COLUMNS} FROM enrol_tokens WHERE id = ?1"),
            [id],
            token_row,
        )?)
    }

    pub fn enrol_tokens(&self) -> Result<Vec<EnrolToken>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM enrol_tokens ORDER BY id"
        ))?;
        let rows = stmt.query_map([], token_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a token; whether it existed.
    pub fn revoke_enrol_token(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("UPDATE enrol_tokens SET revoked = 1 WHERE id = ?1", [id])?
            > 0)
    }

    pub fn enrol_token_by_hash(&self, token_hash: &str) -> Result<Option<EnrolToken>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM enrol_tokens WHERE token_hash = ?1"),
                [token_hash],
                token_row,
            )
            .optional()?)
    }

    /// Counts a use of a token, unless it has none left: whether it could be used.
    pub fn use_enrol_token(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE enrol_tokens SET uses = uses + 1 WHERE id = ?1 AND uses < max_uses AND revoked = 0",
            [id],
        )? > 0)
    }

    pub fn edge_agent(&self, agent_id: &str) -> Result<Option<EdgeAgent>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {AGENT_COLUMNS} FROM edge_agents WHERE agent_id = ?1"),
                [agent_id],
                agent_row,
            )
            .optional()?)
    }

    pub fn edge_agents(&self) -> Result<Vec<EdgeAgent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {AGENT_COLUMNS} FROM edge_agents ORDER BY endpoint, node"
        ))?;
        let rows = stmt.query_map([], agent_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an enrolled agent with its pinned key.
    pub fn enrol_agent(&self, agent: &EdgeAgent) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO edge_agents (agent_id, endpoint, node, public_key, enrolled, last_seen, address, version) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
            params![
                agent.agent_id,
                agent.endpoint,
                agent.node,
                agent.public_key,
                agent.enrolled,
                agent.address,
                agent.version
            ],
        )?;
        Ok(())
    }

    /// An agent connected or left: when, from where, and which version.
    pub fn edge_agent_seen(
        &self,
        agent_id: &str,
        node: &str,
        address: &str,
        version: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE edge_agents SET last_seen = ?2, node = ?3, address = ?4, version = ?5 WHERE agent_id = ?1",
            params![agent_id, now_secs(), node, address, version],
        )?;
        Ok(())
    }

    /// Pins `key` as the agent's, keeping `holds`, the key the agent holds now, as its
    /// previous key until it has taken the new one ([`Store::forget_previous_key`]).
    /// `false` when the agent is unknown or revoked.
    pub fn rotate_edge_key(
        &self,
        agent_id: &str,
        key: &str,
        holds: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE edge_agents SET previous_key = ?3, public_key = ?2 WHERE agent_id = ?1 AND revoked = 0",
            params![agent_id, key, holds],
        )? > 0)
    }

    /// The agent has its new key: the previous one opens nothing any more.
    pub fn forget_previous_key(&self, agent_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE edge_agents SET previous_key = NULL WHERE agent_id = ?1",
            [agent_id],
        )?;
        Ok(())
    }

    /// The key pinned before the last rotation, while the agent may not have taken the new.
    pub fn previous_key(&self, agent_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT previous_key FROM edge_agents WHERE agent_id = ?1",
                [agent_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Revokes an agent's key; whether it was enrolled.
    pub fn revoke_edge_agent(&self, agent_id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE edge_agents SET revoked = 1 WHERE agent_id = ?1",
            [agent_id],
        )? > 0)
    }

    /// The edge endpoint named `name`, made when it does not exist yet.
    pub fn edge_endpoint(&self, name: &str) -> Result<crate::store::Endpoint, StoreError> {
        if let Some(found) = self.endpoints()?.into_iter().find(|e| e.name == name) {
            return match super::is_edge(&found.url) {
                true => Ok(found),
                false => Err(StoreError::Conflict(format!(
                    "the endpoint {name:?} is not an edge endpoint"
                ))),
            };
        }
        self.create_endpoint(
            name,
            &format!("{}{name}", super::SCHEME),
            "",
            "key",
            None,
            &Default::default(),
        )
    }
}
