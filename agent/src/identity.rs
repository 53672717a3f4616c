//! The agent's own identity: an ID that stays the same across restarts and upgrades, so
//! that the console and the checks can tell this agent from a clone of its machine.
//!
//! It is the one the operator gives (`--agent-id`, `AGENT_ID`: images made by cloud-init
//! or Terraform), else the one kept in `<data dir>/agent-id`, else a new UUID v4 written
//! there on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in the data directory that keeps the agent's ID.
pub const ID_FILE: &str = "agent-id";

/// The longest ID accepted.
pub const MAX_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("--agent-id {value:?}: {reason}")]
    Invalid { value: String, reason: String },
    #[error("--data-dir {path}: cannot read the agent ID kept there: {source} (give a data directory the agent can use, or --agent-id)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--data-dir {path}: the kept agent ID {value:?} is not valid ({reason}); remove the file to have a new one made, or give --agent-id")]
    Kept {
        path: PathBuf,
        value: String,
        reason: String,
    },
    #[error("--data-dir {path}: cannot keep the new agent ID there: {source} (make the directory writable, or give --agent-id)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why `id` cannot be an agent ID, if it cannot: 1 to 64 ASCII letters, digits, `-`, `_`
/// and `.`, so that it fits in container names, labels and log lines as it is.
pub fn check(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_LEN {
        return Err(format!("{} characters, at most {MAX_LEN}", id.len()));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{bad:?} is not allowed: only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The agent's ID: `explicit` when given (checked), else the one kept in `data_dir`, else
/// a new UUID v4 kept there from now on.
pub fn load_or_create(data_dir: &Path, explicit: Option<&str>) -> Result<String, IdentityError> {
    if let Some(id) = explicit {
        check(id).map_err(|reason| IdentityError::Invalid {
            value: id.to_owned(),
            reason,
        })?;
        return Ok(id.to_owned());
    }
    let path = data_dir.join(ID_FILE);
    if let Some(id) = read_kept(&path)? {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let write = |source| IdentityError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(write)?;
    // Written aside and linked into place: a reader never sees half an ID, and of two
    // agents starting at once on one directory, the second takes the first one's ID.
    let aside = data_dir.join(format!(".{ID_FILE}.{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&aside);
        return Err(write(e));
    }
    let linked = std::fs::hard_link(&aside, &path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => {
            tracing::info!(agent_id = %id, file = %path.display(), "made this agent's ID");
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_kept(&path)? {
            Some(id) => Ok(id),
            None => Err(write(e)),
        },
        Err(e) => Err(write(e)),
    }
}

/// The ID kept at `path`; `None` when there is none yet.
fn read_kept(path: &Path) -> Result<Option<String>, IdentityError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IdentityError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let id = text.trim();
    check(id).map_err(|reason| IdentityError::Kept {
        path: path.to_owned(),
        value: id.chars().take(80).collect(),
        reason,
    })?;
    Ok(Some(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let first = load_or_create(&data, None).expect("made");
        assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first} is a UUID");
        assert_eq!(
            uuid::Uuid::parse_str(&first).map(|u| u.get_version_num()),
            Ok(4)
        );
        assert_eq!(load_or_create(&data, None).expect("kept"), first);
        let kept = std::fs::read_to_string(data.join(ID_FILE)).expect("the file");
        assert_eq!(kept.trim(), first);
        let names: Vec<_> = std::fs::read_dir(&data)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [ID_FILE], "nothing left aside");
    }

    #[test]
    fn an_explicit_id_wins_and_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = load_or_create(dir.path(), None).expect("made");
        assert_eq!(
            load_or_create(dir.path(), Some("vm-42.eu_west")).expect("explicit"),
            "vm-42.eu_west"
        );
        assert_eq!(load_or_create(dir.path(), None).expect("kept"), made);
    }

    #[test]
    fn bad_ids_are_refused_naming_the_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "has space", "slash/", "é", &"x".repeat(65)] {
            let e = load_or_create(dir.path(), Some(bad)).expect_err(bad);
            assert!(e.to_string().starts_with("--agent-id "), "{e}");
        }
        assert!(check(&"x".repeat(64)).is_ok());
        assert!(!dir.path().join(ID_FILE).exists(), "nothing made");
    }

    #[test]
    fn a_damaged_kept_id_is_refused_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ID_FILE), "not an id\n").expect("write");
        let e = load_or_create(dir.path(), None).expect_err("refused");
        assert!(e.to_string().contains("remove the file"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(ID_FILE)).expect("read"),
            "not an id\n"
        );
    }

    #[test]
    fn an_unwritable_data_dir_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A file where the directory should be: no one, root included, can create in it.
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").expect("write");
        let e = load_or_create(&file.join("data"), None).expect_err("refused");
        let text = e.to_string();
        assert!(text.starts_with("--data-dir "), "{text}");
        assert!(text.contains("--agent-id"), "{text}");
    }
}
