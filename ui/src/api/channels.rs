//! Notification channels: list and read them (secrets masked), and, for admins, add,
//! change, remove and test them; each channel's delivery log.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, Authed, JsonBody, Shared};
use crate::auth::Role;
use crate::notify::channel::{Channel, Filter, Grouping};
use crate::notify::channels::Senders;
use crate::notify::deliver::{self, Carried};
use crate::notify::message::Message;
use crate::notify::settings::{Settings, SettingsError};
use crate::notify::store::ChannelSpec;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/channels", get(list).post(create))
        .route("/api/channels/{id}", get(one).patch(change).delete(remove))
        .route("/api/channels/{id}/test", post(test))
        .route("/api/channels/{id}/deliveries", get(deliveries))
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        ApiError::bad(e.to_string())
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    let length = name.chars().count();
    if !(1..=64).contains(&length) || name.chars().any(char::is_control) {
        return Err(ApiError::bad("a channel's name is 1 to 64 characters"));
    }
    Ok(())
}

fn check_grouping(grouping: &Grouping) -> ApiResult<()> {
    match grouping.problem() {
        Some(problem) => Err(ApiError::bad(problem)),
        None => Ok(()),
    }
}

async fn read_channel(app: &Shared, id: i64) -> ApiResult<Channel> {
    let shared = Arc::clone(app);
    Ok(app.db.run(move |s| s.channel(&shared.sealer, id)).await?)
}

async fn list(State(app): State<Shared>, _who: Authed) -> ApiResult<Json<Value>> {
    let shared = Arc::clone(&app);
    let channels = app.db.run(move |s| s.channels(&shared.sealer)).await?;
    Ok(Json(Value::Array(
        channels.iter().map(Channel::public).collect(),
    )))
}

async fn one(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(read_channel(&app, id).await?.public()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    name: String,
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    grouping: Grouping,
}

fn yes() -> bool {
    true
}

async fn create(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewChannel>,
) -> ApiResult<Response> {
    let action = Action::start(&who, Role::Admin, "channel.create")?
        .on(format!("{} ({})", body.name, body.kind));
    let spec = (|| {
        check_name(&body.name)?;
        check_grouping(&body.grouping)?;
        Ok::<_, ApiError>(ChannelSpec {
            name: body.name.clone(),
            enabled: body.enabled,
            settings: Settings::parse(&body.kind, &body.settings)?,
            filter: body.filter.clone(),
            grouping: body.grouping,
        })
    })();
    let spec = match spec {
        Ok(spec) => spec,
        Err(e) => return action.finish(&app, Err::<Response, _>(e)).await,
    };
    let shared = Arc::clone(&app);
    let id = action
        .run(
            &app,
            app.db.run(move |s| s.create_channel(&shared.sealer, &spec)),
        )
        .await?;
    let made = read_channel(&app, id).await?;
    Ok((StatusCode::CREATED, Json(made.public())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelChange {
    name: Option<String>,
    enabled: Option<bool>,
    /// The fields to change; a secret left out is kept.
    settings: Option<Value>,
    filter: Option<Filter>,
    grouping: Option<Grouping>,
}

/// What a change touches, for the audit row: field names only, never values.
fn change_detail(body: &ChannelChange) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &body.name {
        parts.push(format!("name {name}"));
    }
    if let Some(enabled) = body.enabled {
        parts.push(if enabled { "enabled" } else { "disabled" }.to_owned());
    }
    if let Some(Value::Object(fields)) = &body.settings {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        parts.push(format!("settings {}", names.join(" ")));
    }
    if body.filter.is_some() {
        parts.push("filter".to_owned());
    }
    if body.grouping.is_some() {
        parts.push("grouping".to_owned());
    }
    parts.join(", ")
}

async fn change(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ChannelChange>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "channel.update")?;
    let current = read_channel(&app, id).await?;
    let action = action.on(format!("{} ({})", current.name, change_detail(&body)));
    let spec = (|| {
        let name = body.name.clone().unwrap_or_else(|| current.name.clone());
        check_name(&name)?;
        let grouping = body.grouping.unwrap_or(current.grouping);
        check_grouping(&grouping)?;
        let settings = match &body.settings {
            Some(changes) => current.settings.changed(changes)?,
            None => current.settings.clone(),
        };
        Ok::<_, ApiError>(ChannelSpec {
            name,
            enabled: body.enabled.unwrap_or(current.enabled),
            settings,
            filter: body
                .filter
                .clone()
                .unwrap_or_else(|| current.filter.clone()),
            grouping,
        })
    })();
    let spec = match spec {
        Ok(spec) => spec,
        Err(e) => return action.finish(&app, Err::<Json<Value>, _>(e)).await,
    };
    let shared = Arc::clone(&app);
    action
        .run(
            &app,
            app.db
                .run(move |s| s.update_channel(&shared.sealer, id, &spec)),
        )
        .await?;
    Ok(Json(read_channel(&app, id).await?.public()))
}

async fn remove(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "channel.delete")?;
    let current = read_channel(&app, id).await?;
    action
        .on(format!("{} ({})", current.name, current.kind()))
        .run(&app, app.db.run(move |s| s.delete_channel(id)))
        .await?;
    Ok(Json(json!({})))
}

/// Sends a test notice now, once, and answers with how it went.
async fn test(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "channel.test")?;
    let channel = read_channel(&app, id).await?;
    let action = action.on(format!("{} ({})", channel.name, channel.kind()));
    let senders = Senders::new().map_err(|e| ApiError::internal(e.to_string()))?;
    let message = Message::test(&channel.name, crate::store::now_secs());
    let carried = Carried {
        channel_id: channel.id,
        channel: channel.name.clone(),
        alert_ids: Vec::new(),
        notices: 1,
        test: true,
    };
    let started = std::time::Instant::now();
    let result = deliver::attempt(
        &app.db,
        &carried,
        &deliver::delivery_id(),
        1,
        senders.send(&channel.name, &channel.settings, &message),
    )
    .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (ok, outcome) = match result {
        Ok(sent) => (true, sent),
        Err(e) => (false, e.to_string()),
    };
    action.record(&app, (!ok).then_some(outcome.as_str())).await;
    Ok(Json(
        json!({"ok": ok, "outcome": outcome, "duration_ms": duration_ms}),
    ))
}

#[derive(Deserialize)]
struct LogQuery {
    /// Text, so that a bad value is answered in the API's error shape.
    limit: Option<String>,
}

async fn deliveries(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Value>> {
    read_channel(&app, id).await?;
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad("limit: a number of attempts, 1 to 1000"))?
            .clamp(1, 1000),
    };
    let attempts = app.db.run(move |s| s.attempts(id, limit)).await?;
    Ok(Json(json!(attempts)))
}
