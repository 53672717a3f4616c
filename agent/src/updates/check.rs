//! One check: every target's image against its registry, each distinct image and tag asked
//! once and each repository's tags listed once, errors kept per item.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use futures_util::stream::{self, StreamExt};
use oci_client::Reference;

use super::labels::Watch;
use super::registry::{Remote, Session};
use super::report::Item;
use super::targets::Target;
use super::version::{self, Kind, Version};

/// Registry questions asked at once.
const CONCURRENT_LOOKUPS: usize = 8;

/// `(registry, repository)`.
type Repo = (String, String);
/// `(registry, repository, tag)`.
type Tagged = (String, String, String);

fn repo_key(r: &Reference) -> Repo {
    (r.registry().to_owned(), r.repository().to_owned())
}

fn tag_key(r: &Reference) -> Tagged {
    (
        r.registry().to_owned(),
        r.repository().to_owned(),
        r.tag().unwrap_or("latest").to_owned(),
    )
}

/// The registries the targets name, for the session's protocol and credentials.
pub fn registries(targets: &[Target]) -> Vec<String> {
    targets
        .iter()
        .filter_map(|t| t.reference.as_ref().ok())
        .map(|r| r.registry().to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A target's watch settings, or why its labels cannot be used; `None` when it is not
/// watched.
fn watch_of(target: &Target) -> Option<Result<Watch, String>> {
    let labels: Vec<(&str, &str)> = target
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match Watch::from_labels(&labels) {
        Ok(w) if !w.enabled => None,
        Ok(w) => Some(Ok(w)),
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Checks every target at `now` (Unix seconds).
pub async fn run(session: &Session, targets: Vec<Target>, now: u64) -> Vec<Item> {
    let watched: Vec<(Target, Result<Watch, String>)> = targets
        .into_iter()
        .filter_map(|t| watch_of(&t).map(|w| (t, w)))
        .collect();

    // What to ask: each distinct tag once, with every digest running it; each repository
    // once, when a tag of it reads as a version.
    let mut tags: HashMap<Tagged, (Reference, Vec<String>)> = HashMap::new();
    let mut repos: HashMap<Repo, Reference> = HashMap::new();
    for (target, watch) in &watched {
        let (Ok(reference), Ok(watch)) = (&target.reference, watch) else {
            continue;
        };
        let entry = tags
            .entry(tag_key(reference))
            .or_insert_with(|| (reference.clone(), Vec::new()));
        entry.1.extend(target.running_digest.iter().cloned());
        let tag = reference.tag().unwrap_or("latest");
        if Version::parse(&watch.transform(tag)).is_some() {
            repos
                .entry(repo_key(reference))
                .or_insert_with(|| reference.clone());
        }
    }
    let remotes: HashMap<Tagged, Result<Remote, String>> = stream::iter(tags)
        .map(|(key, (reference, running))| async move {
            (key, session.remote(&reference, &running).await)
        })
        .buffer_unordered(CONCURRENT_LOOKUPS)
        .collect()
        .await;
    let listed: HashMap<Repo, Result<Vec<String>, String>> = stream::iter(repos)
        .map(|(key, reference)| async move { (key, session.tags(&reference).await) })
        .buffer_unordered(CONCURRENT_LOOKUPS)
        .collect()
        .await;

    let items: Vec<Item> = watched
        .into_iter()
        .map(|(target, watch)| item(target, watch, &remotes, &listed, now))
        .collect();
    let errors = items.iter().filter(|i| i.error.is_some()).count();
    session
        .counters()
        .errors
        .fetch_add(errors as u64, Ordering::Relaxed);
    items
}

fn item(
    target: Target,
    watch: Result<Watch, String>,
    remotes: &HashMap<Tagged, Result<Remote, String>>,
    listed: &HashMap<Repo, Result<Vec<String>, String>>,
    now: u64,
) -> Item {
    let mut item = Item {
        object: target.object.to_owned(),
        id: target.id,
        name: target.name,
        service: target.service,
        image: target.image,
        registry: None,
        repository: None,
        tag: None,
        running_digest: target.running_digest,
        newest_digest: None,
        update: None,
        newer_tags: Vec::new(),
        link: None,
        checked_at: now,
        error: None,
        labels: target.labels,
    };
    let reference = match target.reference {
        Ok(r) => r,
        Err(e) => {
            item.error = Some(e);
            return item;
        }
    };
    let tag = reference.tag().unwrap_or("latest").to_owned();
    item.registry = Some(reference.registry().to_owned());
    item.repository = Some(reference.repository().to_owned());
    item.tag = Some(tag.clone());
    let watch = match watch {
        Ok(w) => w,
        Err(e) => {
            item.error = Some(e);
            return item;
        }
    };
    let mut errors = Vec::new();
    let mut digest_moved = false;
    match remotes.get(&tag_key(&reference)) {
        Some(Ok(remote)) => {
            let newest = remote
                .platform_digest
                .as_ref()
                .filter(|p| item.running_digest.as_ref() == Some(*p));
            item.newest_digest = Some(newest.unwrap_or(&remote.digest).clone());
            digest_moved = item.running_digest.as_ref().is_some_and(|running| {
                *running != remote.digest && remote.platform_digest.as_ref() != Some(running)
            });
        }
        Some(Err(e)) => errors.push(e.clone()),
        None => {}
    }
    if item.running_digest.is_none() && errors.is_empty() {
        errors.push(format!(
            "the image has no digest from {}: it was built or loaded here, not pulled, so its tag cannot be compared",
            reference.registry()
        ));
    }
    match listed.get(&repo_key(&reference)) {
        Some(Ok(all)) => item.newer_tags = version::newer_tags(&tag, all, &watch),
        Some(Err(e)) if !errors.contains(e) => errors.push(e.clone()),
        _ => {}
    }
    item.update = if digest_moved {
        Some(Kind::Digest)
    } else {
        item.newer_tags.iter().map(|t| t.kind).max()
    };
    if let Some(template) = &watch.link_template {
        let shown = item
            .newer_tags
            .first()
            .map_or(tag.as_str(), |t| t.tag.as_str());
        item.link = version::link(template, shown, &watch);
    }
    if !errors.is_empty() {
        item.error = Some(errors.join("; "));
    }
    item
}
