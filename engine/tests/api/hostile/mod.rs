//! The hostile-tenant suite: one test per attack. Each shows the attack
//! contained, and that a run another tenant starts while it goes on still
//! succeeds promptly.

mod addresses;
mod child_runs;
mod cron;
mod expressions;
mod http_budget;
mod privilege;
mod rates;
mod records;
mod registry_identity;
mod sign_in;
mod uploads;
mod webhooks;

use std::time::{Duration, Instant};

use crate::common::*;

/// A tenant that is not the attacker, with the greeting workflow saved.
pub struct Bystander {
    pub key: String,
}

/// The bystander waits at most this long for its run: far above a normal
/// run, far below what an unbounded attack would cost it.
const PROMPTLY: Duration = Duration::from_secs(10);

impl Server {
    pub async fn bystander(&self) -> Bystander {
        let tenant = self.tenant("bystander@other.test").await;
        let key = tenant.api_key;
        let (status, body) =
            self.call(Method::POST, "/v1/workflows", Some(&key), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Bystander { key }
    }

    /// Saves a workflow: a new one, or a new version of one with that id.
    pub async fn save_workflow(&self, key: &str, workflow: Value) -> (StatusCode, Value) {
        let id = workflow["id"].as_str().unwrap_or_default().to_owned();
        let (status, body) = self.call(Method::POST, "/v1/workflows", Some(key), Some(workflow.clone())).await;
        if status != StatusCode::CONFLICT {
            return (status, body);
        }
        self.call(Method::PUT, &format!("/v1/workflows/{id}"), Some(key), Some(workflow)).await
    }

    /// Runs `attack` with the bystander's run started while it goes on;
    /// the attack's outcome, once both are done and the bystander's run
    /// succeeded promptly.
    pub async fn during<T>(&self, bystander: &Bystander, attack: impl std::future::Future<Output = T>) -> T {
        let bystander_run = async {
            // Let the attack get going first.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.bystander_is_served(bystander).await;
        };
        let (outcome, ()) = tokio::join!(attack, bystander_run);
        outcome
    }

    /// Starts the bystander's run and asserts it succeeded promptly.
    pub async fn bystander_is_served(&self, bystander: &Bystander) {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            PROMPTLY,
            self.call(
                Method::POST,
                "/v1/workflows/greet/runs?wait=10",
                Some(&bystander.key),
                Some(json!({"input": {"name": "bystander"}})),
            ),
        )
        .await;
        let (status, run) = answer.unwrap_or_else(|_| panic!("the bystander's run took over {PROMPTLY:?}"));
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["run"]["status"], "succeeded", "after {:?}: {run}", started.elapsed());
        assert_eq!(run["run"]["output"], "hello bystander");
    }
}
