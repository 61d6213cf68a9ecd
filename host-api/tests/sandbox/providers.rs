//! Helpers for running first-party provider plugins against the loopback
//! fakes of `trellis-fake-providers`.

use std::sync::Arc;

use serde_json::{Value, json};
use trellis_fake_providers::keys;
use trellis_host_api::capabilities::{HttpPolicy, MemorySecrets};
use trellis_host_api::{Capabilities, Execution, FailureCode, Invocation, Limits, Plugin, Runtime};

/// Every secret a fake accepts, plus a wrong one, under the names configs use.
pub const SECRETS: &[(&str, &str)] = &[
    ("RESEND_API_KEY", keys::RESEND),
    ("SENDGRID_API_KEY", keys::SENDGRID),
    ("TWILIO_AUTH_TOKEN", keys::TWILIO_TOKEN),
    ("AFRICASTALKING_API_KEY", keys::AFRICASTALKING),
    ("SLACK_BOT_TOKEN", keys::SLACK_BOT),
    ("STRIPE_SECRET_KEY", keys::STRIPE),
    ("FLUTTERWAVE_SECRET_KEY", keys::FLUTTERWAVE),
    ("WRONG_KEY", "wrong-5ecret"),
    ("HOOK_SECRET", "hook-5ecret"),
];

/// Loopback reachable, every secret above stored and granted.
pub fn provider_caps(extra: &[(&str, String)]) -> Capabilities {
    let mut values: Vec<(String, String)> = SECRETS.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    values.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
    Capabilities {
        http: HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["127.0.0.1"]) },
        granted_secrets: values.iter().map(|(n, _)| n.clone()).collect(),
        secrets: Arc::new(MemorySecrets::new(values)),
        ..Capabilities::default()
    }
}

/// Runs `kind` as node `node` of run `run`: the idempotency key is `run:node`.
pub async fn invoke(
    runtime: &Runtime,
    plugin: &Plugin,
    kind: &str,
    config: Value,
    run: &str,
    capabilities: Capabilities,
) -> Execution {
    let invocation = Invocation {
        kind: kind.into(),
        config,
        input: json!({"from": "test"}),
        run_id: run.into(),
        node_id: "node".into(),
        attempt: 1,
        idempotency_key: format!("{run}:node"),
    };
    runtime.execute(plugin, &invocation, &Limits::default(), capabilities).await
}

/// The failure's code and message, or a panic naming what succeeded.
pub fn failed(execution: &Execution) -> (FailureCode, String) {
    let failure = execution.failure().unwrap_or_else(|| panic!("expected a failure: {:?}", execution.emits));
    (failure.code, failure.message.clone())
}

/// Neither the record nor the output holds a secret value.
pub fn assert_no_secret(execution: &Execution) {
    let text = serde_json::to_string(&execution.report).unwrap() + &serde_json::to_string(&execution.emits).unwrap();
    for (_, value) in SECRETS {
        assert!(!text.contains(value), "a secret value reached the record: {text}");
    }
}

/// The data of the one emit on `out`.
pub fn output(execution: &Execution) -> &Value {
    assert!(execution.succeeded(), "{:?}", execution.report.failure);
    &execution.emits[0].data
}
