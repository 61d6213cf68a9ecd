//! Loopback reached through IPv6 forms that embed an IPv4 address is
//! denied before any connection is tried.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_forms_of_loopback_are_denied() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    for host in ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "[2002:7f00:1::]", "[64:ff9b::7f00:1]", "[::ffff:127.0.0.1]"] {
        let workflow = json!({"id": "probe", "nodes": [{"id": "call", "uses": "trellis/http-request@^0.1",
            "kind": "request", "config": {"url": format!("http://{host}:9/")}}]});
        let (status, saved) = s.save_workflow(key, workflow).await;
        assert!(status.is_success(), "{saved}");
        let probe = s.call(Method::POST, "/v1/workflows/probe/runs?wait=10", Some(key), Some(json!({})));
        let (_, run) = s.during(&bystander, probe).await;
        assert_eq!(run["run"]["status"], "failed", "{host}: {run}");
        let node = &run["nodes"].as_array().unwrap()[0];
        let recorded = node.to_string();
        assert!(recorded.contains("denied") && recorded.contains("loopback"), "{host}: {recorded}");
    }
}
