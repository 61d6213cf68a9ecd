//! `GET /v1/runs/{id}/events`: server-sent events. First a `snapshot` (the
//! run with every node record); then, in the order the store recorded
//! them, a `node` event per state change of the run's nodes (map and
//! subworkflow children included) and a `run` event per status change of
//! the run; the stream ends after the run's final event. A finished run's
//! stream is its snapshot alone.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ApiError;
use super::json::timestamps_as_rfc3339;
use super::params::PathParams;
use super::principal::Principal;
use crate::executor::{LiveEvent, RunEvent};
use crate::store::TenantStore;

#[utoipa::path(
    get,
    path = "/v1/runs/{id}/events",
    tag = "runs",
    summary = "Server-sent events: a snapshot, then node and run events in order; closes after the run ends",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, content_type = "text/event-stream", body = super::schema::runs::StreamEvent,
        description = "`event: snapshot` (run and nodes), then `event: node` and `event: run`, each `data` one JSON object")),
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
    // Another tenant's run answers 404 here; live events carry run ids only,
    // and this stream passes on only this run's.
    let store = principal.store(&state);
    let (run, nodes) = state.engine.details(&store, &id).await?;
    let finished = run.status.is_finished();
    let mut snapshot = json!({"run": run, "nodes": nodes});
    timestamps_as_rfc3339(&mut snapshot);
    let snapshot = Event::default().event("snapshot").json_data(snapshot).map_err(ApiError::internal)?;
    let live = Live { receiver, store, id: id.clone(), children: format!("{id}."), ended: finished };
    let live = futures::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    });
    Ok(Sse::new(futures::stream::once(async move { Ok(snapshot) }).chain(live)).keep_alive(KeepAlive::default()))
}

/// The live part of one run's stream.
struct Live {
    receiver: Receiver<LiveEvent>,
    store: TenantStore,
    id: String,
    children: String,
    /// The run's final event went out: the stream ends.
    ended: bool,
}

impl Live {
    async fn next(&mut self) -> Option<Event> {
        while !self.ended {
            match self.receiver.recv().await {
                Ok(LiveEvent::Node(event)) if event.run_id == self.id || event.run_id.starts_with(&self.children) => {
                    let Ok(sse) = Event::default().event("node").json_data(&event) else { continue };
                    return Some(sse);
                }
                Ok(LiveEvent::Run(event)) if event.run_id == self.id => return self.run_event(&event),
                Ok(_) => continue,
                // Events were missed: the store says whether the run ended
                // meanwhile, so the stream cannot wait for an end it missed.
                Err(RecvError::Lagged(_)) => {
                    let run = self.store.get_run(&self.id).await.ok().flatten()?;
                    if run.status.is_finished() {
                        return self.run_event(&RunEvent { run_id: run.id, status: run.status, error: run.error });
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
        None
    }

    fn run_event(&mut self, event: &RunEvent) -> Option<Event> {
        self.ended = event.status.is_finished();
        Event::default().event("run").json_data(event).ok()
    }
}
