//! `GET /v1/runs/{id}/events`: server-sent events. First a `snapshot` (the
//! run with every node record), then a `node` event per state change of the
//! run's nodes (map and subworkflow children included).

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ApiError;
use super::params::PathParams;
use super::principal::Principal;

#[utoipa::path(
    get,
    path = "/v1/runs/{id}/events",
    tag = "runs",
    summary = "Server-sent events: a snapshot, then one event per node state change",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, body = serde_json::Value, description = "OK")),
    security(("bearer" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    super::runs::check_run_id(&id)?;
    // Subscribe before reading the snapshot so no change falls in between.
    let receiver = state.engine.subscribe();
    // Another tenant's run answers 404 here; node events carry run ids only,
    // and this stream passes on only this run's.
    let (run, nodes) = state.engine.details(&principal.store(&state), &id).await?;
    let snapshot = Event::default()
        .event("snapshot")
        .json_data(json!({"run": run, "nodes": nodes}))
        .map_err(ApiError::internal)?;
    let children = format!("{id}.");
    let live = futures::stream::unfold(receiver, move |mut receiver| {
        let (id, children) = (id.clone(), children.clone());
        async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.run_id == id || event.run_id.starts_with(&children) => {
                        let Ok(sse) = Event::default().event("node").json_data(&event) else { continue };
                        return Some((Ok(sse), receiver));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(futures::stream::once(async move { Ok(snapshot) }).chain(live)).keep_alive(KeepAlive::default()))
}
