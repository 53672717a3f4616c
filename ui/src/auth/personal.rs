//! Personal access tokens: a user's own bearer tokens for tools (the docker CLI through the
//! console's Docker API, scripts on the JSON API). Kept as SHA-256 like sessions; each acts
//! as its user with the user's role at the time of each request, so a demotion or removal
//! takes effect at once.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::Role;
use crate::store::{now_secs, Store, StoreError};

/// What every personal token starts with, so that one is told from a session's token (and
/// found by secret scanners) at a glance.
pub const PREFIX: &str = "bosun_pat_";

/// The longest token name.
pub const MAX_NAME: usize = 64;

/// Whether a bearer credential is a personal token.
pub fn is_personal(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A new token: the prefix and 32 random bytes as hex.
pub fn new_token() -> String {
    format!("{PREFIX}{}", super::random_token())
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, Serialize)]
pub struct PersonalToken {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub created: i64,
    /// Seconds since the epoch; `None`: it does not expire.
    pub expires: Option<i64>,
    /// When it was last presented, to the minute.
    pub last_used: Option<i64>,
}

/// Whom a presented token stands for now.
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub token_id: i64,
    pub username: String,
    pub role: Role,
}

const COLUMNS: &str = "id, username, name, created, expires, last_used";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonalToken> {
    Ok(PersonalToken {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        created: r.get(3)?,
        expires: r.get(4)?,
        last_used: r.get(5)?,
    })
}

impl Store {
    pub fn create_personal_token(
        &self,
        token_hash: &str,
        username: &str,
        name: &str,
        expires: Option<i64>,
    ) -> Result<PersonalToken, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO personal_tokens (token_hash, username, name, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, username, name, now_secs(), expires],
        )?;
        let id = conn.last_insert_rowid();
        Ok(conn.query_row(
            &format!("SELECT {COLUMNS} FROM personal_tokens WHERE id = ?1"),
            [id],
            row,
        )?)
    }

    /// One user's tokens, or everybody's (`None`).
    pub fn personal_tokens(
        &self,
        username: Option<&str>,
    ) -> Result<Vec<PersonalToken>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM personal_tokens WHERE ?1 IS NULL OR username = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([username], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes token `id`, only if it is `username`'s when one is named; the token deleted.
    pub fn delete_personal_token(
        &self,
        id: i64,
        username: Option<&str>,
    ) -> Result<Option<PersonalToken>, StoreError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM personal_tokens WHERE id = ?1 AND (?2 IS NULL OR username = ?2)"
                ),
                params![id, username],
                row,
            )
            .optional()?;
        if found.is_some() {
            conn.execute("DELETE FROM personal_tokens WHERE id = ?1", [id])?;
        }
        Ok(found)
    }

    /// The user a presented token stands for, unless it is unknown or expired. Notes when
    /// it was used, at most once a minute.
    pub fn personal_token_user(&self, token_hash: &str) -> Result<Option<TokenUser>, StoreError> {
        let conn = self.conn();
        let now = now_secs();
        let found = conn
            .query_row(
                "SELECT t.id, t.username, u.role, t.last_used FROM personal_tokens t
                 JOIN users u ON u.username = t.username
                 WHERE t.token_hash = ?1 AND (t.expires IS NULL OR t.expires >= ?2)",
                params![token_hash, now],
                |r| {
                    Ok((
                        TokenUser {
                            token_id: r.get(0)?,
                            username: r.get(1)?,
                            role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Viewer),
                        },
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((user, last_used)) = found else {
            return Ok(None);
        };
        if last_used.is_none_or(|t| now - t >= 60) {
            conn.execute(
                "UPDATE personal_tokens SET last_used = ?1 WHERE id = ?2",
                params![now, user.token_id],
            )?;
        }
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_hash;

    fn store() -> Store {
        let store = Store::in_memory().expect("store");
        store.create_user("ann", "x", Role::Operator).expect("ann");
        store.create_user("bob", "x", Role::Viewer).expect("bob");
        store
    }

    #[test]
    fn a_token_stands_for_its_user_with_the_users_role_now() {
        let store = store();
        let token = new_token();
        assert!(is_personal(&token) && token.len() == PREFIX.len() + 64);
        let made = store
            .create_personal_token(&token_hash(&token), "ann", "laptop", None)
            .expect("made");
        let user = store
            .personal_token_user(&token_hash(&token))
            .expect("read")
            .expect("known");
        assert_eq!((user.username.as_str(), user.role), ("ann", Role::Operator));
        assert_eq!(user.token_id, made.id);
        store
            .update_user("ann", Some(Role::Viewer), None)
            .expect("demoted");
        let user = store
            .personal_token_user(&token_hash(&token))
            .unwrap()
            .unwrap();
        assert_eq!(
            user.role,
            Role::Viewer,
            "the role of now, not of when it was made"
        );
        assert!(store.personal_tokens(Some("ann")).unwrap()[0]
            .last_used
            .is_some());
    }

    #[test]
    fn expired_deleted_and_others_tokens_stand_for_nobody() {
        let store = store();
        let old = new_token();
        store
            .create_personal_token(&token_hash(&old), "ann", "old", Some(now_secs() - 1))
            .unwrap();
        assert!(store
            .personal_token_user(&token_hash(&old))
            .unwrap()
            .is_none());
        let bobs = new_token();
        let made = store
            .create_personal_token(&token_hash(&bobs), "bob", "ci", None)
            .unwrap();
        assert!(
            store
                .delete_personal_token(made.id, Some("ann"))
                .unwrap()
                .is_none(),
            "ann cannot delete bob's token"
        );
        assert_eq!(store.personal_tokens(None).unwrap().len(), 2);
        assert_eq!(store.personal_tokens(Some("bob")).unwrap().len(), 1);
        assert!(store
            .delete_personal_token(made.id, Some("bob"))
            .unwrap()
            .is_some());
        assert!(store
            .personal_token_user(&token_hash(&bobs))
            .unwrap()
            .is_none());
        let kept = new_token();
        store
            .create_personal_token(&token_hash(&kept), "bob", "ci", None)
            .unwrap();
        store.delete_user("bob").unwrap();
        assert!(
            store
                .personal_token_user(&token_hash(&kept))
                .unwrap()
                .is_none(),
            "a removed user's tokens go with them"
        );
    }
}
