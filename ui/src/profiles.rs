//! Which agent profile a console user acts under on one endpoint: the user's own entry,
//! else the role's, else none (the token then carries only the role's scope).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::{self, Role};

/// The longest profile name the console accepts.
pub const MAX_PROFILE_NAME: usize = 64;

/// An endpoint's mapping of console users and roles to the profiles of its agents'
/// policy. Stored as JSON; the API shows it as `{"roles": {...}, "users": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileMap {
    pub roles: BTreeMap<Role, String>,
    pub users: BTreeMap<String, String>,
}

/// Why a mapping was refused; each message names the place in the JSON that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileMapError {
    #[error("profiles must be an object: {{\"roles\": {{\"ROLE\": \"PROFILE\"}}, \"users\": {{\"USER\": \"PROFILE\"}}}}")]
    NotAnObject,
    #[error("profiles has {0:?}; it takes only \"roles\" and \"users\"")]
    UnknownKey(String),
    #[error("profiles.{0} must be an object of names to profile names")]
    NotAMap(&'static str),
    #[error("profiles.roles: {0:?} is not a role (viewer, operator or admin)")]
    UnknownRole(String),
    #[error(
        "profiles.users: {0:?} is not a user name (1 to 64 letters, digits, '.', '_', '-' or '@')"
    )]
    BadUser(String),
    #[error("profiles.{section}.{key}: the profile name must be a string")]
    NotAString { section: &'static str, key: String },
    #[error("profiles.{section}.{key}: {name:?} is not a profile name (1 to {MAX_PROFILE_NAME} characters, no whitespace)")]
    BadName {
        section: &'static str,
        key: String,
        name: String,
    },
}

/// A profile name as the console passes it to agents: 1 to 64 characters, no whitespace
/// or control characters. Whether the agents' policy defines it is theirs to say.
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_PROFILE_NAME
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl ProfileMap {
    /// Reads and checks a mapping; `null` is the empty one.
    pub fn from_json(value: &Value) -> Result<Self, ProfileMapError> {
        let object = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(object) => object,
            _ => return Err(ProfileMapError::NotAnObject),
        };
        if let Some(key) = object.keys().find(|k| *k != "roles" && *k != "users") {
            return Err(ProfileMapError::UnknownKey(key.clone()));
        }
        let mut map = Self::default();
        for (key, value) in section(object, "roles")?.into_iter().flatten() {
            let role = Role::parse(key).ok_or_else(|| ProfileMapError::UnknownRole(key.clone()))?;
            map.roles.insert(role, profile_name("roles", key, value)?);
        }
        for (key, value) in section(object, "users")?.into_iter().flatten() {
            if !auth::valid_username(key) {
                return Err(ProfileMapError::BadUser(key.clone()));
            }
            map.users
                .insert(key.clone(), profile_name("users", key, value)?);
        }
        Ok(map)
    }

    /// Reads a mapping as the database holds it.
    pub fn from_text(text: &str) -> Result<Self, ProfileMapError> {
        let value = serde_json::from_str(text).map_err(|_| ProfileMapError::NotAnObject)?;
        Self::from_json(&value)
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.users.is_empty()
    }

    /// The profile for `user` with `role`: the user's entry first, then the role's.
    pub fn pick(&self, user: &str, role: Role) -> Option<&str> {
        self.users
            .get(user)
            .or_else(|| self.roles.get(&role))
            .map(String::as_str)
    }

    /// One line for the audit log: `operator=watcher, user alice=payments`, or `none`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .roles
            .iter()
            .map(|(role, p)| format!("{}={p}", role.as_str()))
            .chain(self.users.iter().map(|(u, p)| format!("user {u}={p}")))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One of the two sections: absent or `null` is empty.
fn section<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a Map<String, Value>>, ProfileMapError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(entries)) => Ok(Some(entries)),
        Some(_) => Err(ProfileMapError::NotAMap(name)),
    }
}

fn profile_name(
    section: &'static str,
    key: &str,
    value: &Value,
) -> Result<String, ProfileMapError> {
    let Some(name) = value.as_str() else {
        return Err(ProfileMapError::NotAString {
            section,
            key: key.to_owned(),
        });
    };
    if !valid_profile_name(name) {
        return Err(ProfileMapError::BadName {
            section,
            key: key.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_entry_wins_over_the_role_and_no_entry_picks_nothing() {
        let map = ProfileMap::from_json(&json!({
            "roles": {"operator": "watcher", "viewer": "read"},
            "users": {"alice": "payments"},
        }))
        .expect("valid");
        assert_eq!(map.pick("alice", Role::Operator), Some("payments"));
        assert_eq!(map.pick("alice", Role::Admin), Some("payments"));
        assert_eq!(map.pick("olga", Role::Operator), Some("watcher"));
        assert_eq!(map.pick("olga", Role::Admin), None);
        assert_eq!(
            map.describe(),
            "viewer=read, operator=watcher, user alice=payments"
        );
        assert_eq!(ProfileMap::default().describe(), "none");
    }

    #[test]
    fn the_stored_text_reads_back_the_same() {
        let map = ProfileMap::from_json(&json!({"roles": {"admin": "ops"}, "users": {"b@x": "p"}}))
            .expect("valid");
        assert_eq!(
            map.to_text(),
            r#"{"roles":{"admin":"ops"},"users":{"b@x":"p"}}"#
        );
        assert_eq!(ProfileMap::from_text(&map.to_text()), Ok(map));
        assert_eq!(ProfileMap::from_text("{}"), Ok(ProfileMap::default()));
        assert_eq!(
            ProfileMap::from_json(&Value::Null),
            Ok(ProfileMap::default())
        );
        assert!(ProfileMap::from_json(&json!({"roles": null}))
            .expect("null section")
            .is_empty());
    }

    #[test]
    fn bad_mappings_are_refused_with_where_they_are_wrong() {
        let err = |v: Value| ProfileMap::from_json(&v).expect_err("refused").to_string();
        assert!(err(json!([])).contains("must be an object"));
        assert!(err(json!({"groups": {}})).contains("\"groups\""));
        assert!(err(json!({"roles": ["viewer"]})).contains("profiles.roles must be an object"));
        assert!(err(json!({"roles": {"root": "x"}})).contains("\"root\" is not a role"));
        assert!(err(json!({"users": {"bad name": "x"}})).contains("not a user name"));
        assert!(err(json!({"users": {"": "x"}})).contains("not a user name"));
        assert!(err(json!({"roles": {"viewer": 3}})).contains("profiles.roles.viewer"));
        assert!(err(json!({"roles": {"viewer": ""}})).contains("not a profile name"));
        assert!(err(json!({"users": {"a": "two words"}})).contains("profiles.users.a"));
        assert!(err(json!({"users": {"a": "tab\there"}})).contains("not a profile name"));
        let long = "p".repeat(MAX_PROFILE_NAME + 1);
        assert!(err(json!({"roles": {"admin": long}})).contains("not a profile name"));
        let longest = "p".repeat(MAX_PROFILE_NAME);
        assert!(ProfileMap::from_json(&json!({"roles": {"admin": longest}})).is_ok());
    }
}
