//! Cron triggers are bounded by the plan: how many a workflow has, and how
//! often each fires.

use trellis_engine::quota::Plan;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn cron_triggers_are_bounded_in_number_and_frequency_by_the_plan() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { cron_triggers_per_workflow: 2, min_cron_interval_secs: 300, ..Plan::default() })
        .await;
    let workflow = |triggers: Value| {
        json!({"id": "ticking", "triggers": triggers, "nodes": [
            {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "tick"}}]})
    };
    let problems = |body: &Value| body["error"]["details"]["problems"].as_array().cloned().unwrap_or_default();

    // Every second: far more often than the plan allows.
    let every_second =
        s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow(json!([{"cron": "* * * * * *"}]))));
    let (status, body) = s.during(&bystander, every_second).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let found = problems(&body);
    assert_eq!(found[0]["path"], "$.triggers[0].cron");
    assert!(found[0]["message"].as_str().unwrap().contains("shortest interval of 300 s"), "{body}");
    // Every minute from 0 to 4, then an hour later: the shortest gap decides.
    let (status, _) =
        s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow(json!([{"cron": "0 0-4 * * * *"}])))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Three triggers where the plan allows two.
    let three = json!([{"cron": "0 0 1 * * *"}, {"cron": "0 0 2 * * *"}, {"cron": "0 0 3 * * *"}]);
    let (status, body) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow(three))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("over the plan's limit of 2 per workflow"), "{body}");
    // Within the plan: saved.
    let (status, body) =
        s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow(json!([{"cron": "0 */10 * * * *"}])))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
