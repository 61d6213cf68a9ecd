//! The visual builder's page, served from the binary at `/`.

use crate::common::*;

async fn get(s: &Server, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::builder().uri(path).body(Body::empty()).unwrap();
    let response = app(s.state.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_its_assets_come_from_the_server_with_a_strict_policy() {
    let s = server().await;
    let (status, headers, html) = get(&s, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(html.contains(r#"<div id="root"></div>"#), "{html}");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Every script and style the page names is served here: nothing from elsewhere.
    let assets: Vec<&str> = html.split('"').filter(|part| part.starts_with("/assets/")).collect();
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere");
    for asset in assets {
        let (status, headers, _) = get(&s, asset).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        let kind = headers["content-type"].to_str().unwrap().to_owned();
        assert!(kind.contains("javascript") || kind.contains("css"), "{asset}: {kind}");
        assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
    }
    let (status, _, _) = get(&s, "/assets/nothing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&s, "/assets/..%2Fopenapi.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
