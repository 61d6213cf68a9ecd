//! `/v1/plan` (the tenant's quotas with today's use) and `/v1/usage`
//! (metered use per UTC day, LLM tokens by provider and model, for
//! billing).

use super::json::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::params::QueryParams;
use super::principal::Principal;
use crate::quota::day_of;
use crate::store::now_ms;

/// Longest range one request may ask for.
const MAX_DAYS: i64 = 366;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn date(name: &str, text: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("invalid_query", format!("`{name}` must be a date, YYYY-MM-DD")))
}

/// Per-day usage from `from` to `to` (inclusive; default: the last 30 days).
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    summary = "Metered use per UTC day",
    params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD")),
    responses((status = 200, body = super::schema::tenant::UsageReport, description = "OK")),
    security(("bearer" = []))
)]
pub async fn usage(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let today = day_of(now_ms());
    let to = date("to", query.to.as_deref().unwrap_or(&today))?;
    let from = match query.from.as_deref() {
        Some(text) => date("from", text)?,
        None => to - chrono::Duration::days(29),
    };
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`from` must be on or before `to`, at most {MAX_DAYS} days apart"),
        ));
    }
    let store = principal.store(&state);
    let (from_day, to_day) = (from.to_string(), to.to_string());
    let days = store.usage(&from_day, &to_day).await?;
    let mut models = store.llm_usage(&from_day, &to_day).await?;
    // Each day lists its LLM tokens by provider and model.
    let items: Vec<Value> = days
        .into_iter()
        .map(|(day, usage)| {
            let mine: Vec<Value> = models
                .iter()
                .filter(|m| m.day == day)
                .map(|m| {
                    json!({"provider": m.provider, "model": m.model, "calls": m.calls,
                           "prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens})
                })
                .collect();
            models.retain(|m| m.day != day);
            json!({"day": day, "usage": usage, "llm_models": mine})
        })
        .collect();
    Ok(Json(json!({"from": from.to_string(), "to": to.to_string(), "days": items})))
}

/// The tenant's quotas and what it used of the daily ones today.
#[utoipa::path(
    get,
    path = "/v1/plan",
    tag = "usage",
    summary = "The tenant's quotas and today's use",
    responses((status = 200, body = super::schema::tenant::PlanAnswer, description = "OK")),
    security(("bearer" = []))
)]
pub async fn plan(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let store = principal.store(&state);
    let plan = state.engine.plan(&store).await?;
    let today = day_of(now_ms());
    let used = store.usage(&today, &today).await?.into_iter().next().map(|(_, u)| u).unwrap_or_default();
    Ok(Json(json!({"plan": plan, "today": {"day": today, "usage": used}})))
}
