//! Alerts: what fires now, the history of transitions, the counts for Home; the rules
//! (everyone signed in reads, admins edit) and silences (operators and admins make and
//! expire them). Every change is audited and tells the evaluator at once.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, Authed, JsonBody, Shared};
use crate::alerts::machine::State as AlertState;
use crate::alerts::rule::{Kind, Rule, RuleInput};
use crate::alerts::silence::Silence;
use crate::alerts::store::AlertFilter;
use crate::auth::Role;
use crate::store::now_secs;
use crate::watch::Severity;
use crate::watch::Signal;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/history", get(history))
        .route("/api/alerts/summary", get(summary))
        .route("/api/alert-rules", get(rules).post(create_rule))
        .route(
            "/api/alert-rules/{id}",
            get(rule).patch(update_rule).delete(delete_rule),
        )
        .route("/api/silences", get(silences).post(create_silence))
        .route("/api/silences/{id}", delete(expire_silence))
}

#[derive(Deserialize)]
struct AlertsQuery {
    /// `firing` (the default), `pending`, `resolved`, `open` (pending or firing), `all`.
    state: Option<String>,
    severity: Option<String>,
    endpoint: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, text: Option<&str>) -> ApiResult<Option<T>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{name}: {t:?} is not a number"))),
    }
}

async fn alerts(
    State(app): State<Shared>,
    _who: Authed,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Json<Value>> {
    let states = match q.state.as_deref().unwrap_or("firing") {
        "open" => vec![AlertState::Pending, AlertState::Firing],
        "all" => Vec::new(),
        other => vec![AlertState::parse(other)
            .filter(|s| *s != AlertState::Inactive)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "state: {other:?} is none of firing, pending, resolved, open, all"
                ))
            })?],
    };
    let severity = match q.severity.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad(format!(
                "severity: {s:?} is none of info, warning, critical"
            ))
        })?),
    };
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => {
            Some(Kind::parse(k).ok_or_else(|| ApiError::bad(format!("kind: no kind {k:?}")))?)
        }
    };
    let filter = AlertFilter {
        states,
        severity,
        endpoint: number("endpoint", q.endpoint.as_deref())?,
        kind,
    };
    let limit = number::<usize>("limit", q.limit.as_deref())?.unwrap_or(200);
    let rows = app.db.run(move |s| s.alerts(&filter, limit)).await?;
    Ok(Json(json!(rows)))
}

#[derive(Deserialize)]
struct HistoryQuery {
    alert: Option<String>,
    limit: Option<String>,
}

async fn history(
    State(app): State<Shared>,
    _who: Authed,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let alert = number::<i64>("alert", q.alert.as_deref())?;
    let limit = number::<usize>("limit", q.limit.as_deref())?.unwrap_or(200);
    let rows = app
        .db
        .run(move |s| s.alert_transitions(alert, limit))
        .await?;
    Ok(Json(json!(rows)))
}

async fn summary(State(app): State<Shared>, _who: Authed) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.db.run(|s| s.alert_counts()).await?)))
}

async fn rules(State(app): State<Shared>, _who: Authed) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.db.run(|s| s.alert_rules()).await?)))
}

async fn rule(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.db.run(move |s| s.alert_rule(id)).await?)))
}

async fn create_rule(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<RuleInput>,
) -> ApiResult<Response> {
    let action = Action::start(&who, Role::Admin, "alert_rule.create")?;
    let rule = body.apply(Rule::blank()).map_err(ApiError::bad)?;
    let name = rule.name.clone();
    let made = action
        .on(name)
        .run(&app, app.db.run(move |s| s.save_alert_rule(&rule, true)))
        .await?;
    app.alerts.signal(Signal::RulesChanged);
    Ok((StatusCode::CREATED, Json(json!(made))).into_response())
}

async fn update_rule(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<RuleInput>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "alert_rule.update")?;
    let current = app.db.run(move |s| s.alert_rule(id)).await?;
    let rule = body.apply(current).map_err(ApiError::bad)?;
    let name = rule.name.clone();
    let saved = action
        .on(name)
        .run(&app, app.db.run(move |s| s.save_alert_rule(&rule, false)))
        .await?;
    app.alerts.signal(Signal::RulesChanged);
    Ok(Json(json!(saved)))
}

async fn delete_rule(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let action = Action::start(&who, Role::Admin, "alert_rule.delete")?;
    let name = app
        .db
        .run(move |s| s.alert_rule(id))
        .await
        .map(|r| r.name)
        .unwrap_or_else(|_| id.to_string());
    action
        .on(name)
        .run(&app, app.db.run(move |s| s.delete_alert_rule(id)))
        .await?;
    app.alerts.signal(Signal::RulesChanged);
    Ok(StatusCode::NO_CONTENT)
}

async fn silences(State(app): State<Shared>, _who: Authed) -> ApiResult<Json<Value>> {
    let now = now_secs();
    let list: Vec<Value> = app
        .db
        .run(|s| s.silences())
        .await?
        .into_iter()
        .map(|s| {
            let mut v = json!(s);
            v["active"] = json!(s.until > now);
            v["until_time"] = json!(crate::store::rfc3339(s.until));
            v
        })
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    rule_id: Option<i64>,
    subject: Option<String>,
    /// Either an end in Unix seconds, or a duration from now in seconds.
    until: Option<i64>,
    duration: Option<i64>,
    #[serde(default)]
    comment: String,
}

/// The longest silence: a year.
const MAX_SILENCE: i64 = 366 * 24 * 3600;

async fn create_silence(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewSilence>,
) -> ApiResult<Response> {
    let action = Action::start(&who, Role::Operator, "silence.create")?;
    let now = now_secs();
    let until = match (body.until, body.duration) {
        (Some(until), None) => until,
        (None, Some(d)) => now.saturating_add(d),
        _ => {
            return Err(ApiError::bad(
                "give either until (Unix seconds) or duration (seconds)",
            ))
        }
    };
    if until <= now || until - now > MAX_SILENCE {
        return Err(ApiError::bad("a silence ends in the future, within a year"));
    }
    let subject = body
        .subject
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if body.rule_id.is_none() && subject.is_none() {
        return Err(ApiError::bad(
            "a silence names a rule (rule_id), a subject, or both",
        ));
    }
    if let Some(rule) = body.rule_id {
        app.db.run(move |s| s.alert_rule(rule)).await?;
    }
    let target = format!(
        "rule {} subject {} until {}",
        body.rule_id.map_or("any".into(), |r| r.to_string()),
        subject.as_deref().unwrap_or("any"),
        crate::store::rfc3339(until)
    );
    let silence = Silence {
        id: 0,
        rule_id: body.rule_id,
        subject,
        until,
        comment: body.comment.chars().take(500).collect(),
        created_by: who.username.clone(),
        created: now,
    };
    let made = action
        .on(target)
        .run(&app, app.db.run(move |s| s.add_silence(&silence)))
        .await?;
    app.alerts.signal(Signal::RulesChanged);
    Ok((StatusCode::CREATED, Json(json!(made))).into_response())
}

async fn expire_silence(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let action = Action::start(&who, Role::Operator, "silence.expire")?;
    action
        .on(format!("silence {id}"))
        .run(&app, app.db.run(move |s| s.expire_silence(id)))
        .await?;
    app.alerts.signal(Signal::RulesChanged);
    Ok(StatusCode::NO_CONTENT)
}
