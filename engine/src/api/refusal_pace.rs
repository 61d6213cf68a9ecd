//! Refusals are answered at a pace per client address. A caller who is
//! refused (401: a wrong password, key, signature or upload header; 429: a
//! throttle or rate) and asks again at once gets each further refusal only
//! at its turn, [`REFUSALS_PER_SECOND`] an address, so a client looping on
//! refusals is slowed to that pace instead of spending the server's cores on
//! answering it. While a refusal waits, the handler has returned: it holds
//! a timer and its connection, and the sender of an unread body is held
//! back by the connection's flow control. Past a second of turns the
//! refusal goes out at once: a flood from many connections is the
//! network's to stop, and waiting answers must not pile up without bound.
//! Callers who are served never wait here.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::principal::ClientAddress;

pub const REFUSALS_PER_SECOND: u64 = 20;
const PATIENCE: Duration = Duration::from_secs(1);

pub(super) type RefusalRates = crate::quota::rate::Rates<IpAddr>;

pub(super) fn refusal_rates() -> RefusalRates {
    crate::quota::rate::Rates::new("refusals_per_second")
}

pub(super) async fn pace_refusals(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let address = ClientAddress::of(request.extensions());
    let response = next.run(request).await;
    if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)
        && let Ok(wait) = state.refusals.reserve(&address.0, REFUSALS_PER_SECOND, PATIENCE)
        && !wait.is_zero()
    {
        tokio::time::sleep(wait).await;
    }
    response
}
