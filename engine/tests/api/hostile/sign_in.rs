//! Strangers failing sign-ins on purpose cannot lock the owner out.

use std::net::{IpAddr, SocketAddr};

use crate::common::*;

/// Serves the app on a loopback socket, with peer addresses.
async fn listen(s: &Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = app(s.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(local.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn login(client: &reqwest::Client, server: SocketAddr, email: &str, password: &str) -> reqwest::StatusCode {
    client
        .post(format!("http://{server}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_from_elsewhere_never_refuse_the_owners_right_password() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let address = listen(&s).await;
    let stranger = client_from("127.0.0.2");
    let owner = client_from("127.0.0.1");

    s.during(&bystander, async {
        for _ in 0..30 {
            login(&stranger, address, "owner@acme.test", "guess").await;
        }
    })
    .await;
    // The stranger is throttled for that email...
    assert_eq!(login(&stranger, address, "owner@acme.test", "guess").await, reqwest::StatusCode::TOO_MANY_REQUESTS);
    // ...even with the right password, from there.
    assert_eq!(
        login(&stranger, address, "owner@acme.test", &acme.owner_password).await,
        reqwest::StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, from an address with no failures, signs in.
    assert_eq!(login(&owner, address, "owner@acme.test", &acme.owner_password).await, reqwest::StatusCode::OK);

    // Spraying many emails from one address spends that address's budget.
    for i in 0..60 {
        login(&stranger, address, &format!("user{i}@acme.test"), "guess").await;
    }
    assert_eq!(login(&stranger, address, "new@acme.test", "guess").await, reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(&owner, address, "owner@acme.test", &acme.owner_password).await, reqwest::StatusCode::OK);
}
