//! Unauthenticated publish uploads are refused from their headers: the
//! server never reads their bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;

use crate::common::*;

/// A 40 MB body that counts what the server pulls from it.
fn counted_body(pulled: Arc<AtomicUsize>) -> Body {
    let chunks = futures::stream::iter(0..40).map(move |_| {
        pulled.fetch_add(1 << 20, Ordering::SeqCst);
        Ok::<_, std::io::Error>(vec![b' '; 1 << 20])
    });
    Body::from_stream(chunks)
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_uploads_cost_no_body_reads() {
    let s = server().await;
    let bystander = s.bystander().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let forger = trellis_marketplace::PublisherSecretKey::generate();
    let now = now_ms() / 1000;
    let uploads = (0..8).map(|i| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/v1/marketplace/plugins")
            .header("content-type", "application/json")
            .header("content-length", 40 << 20);
        // Half unsigned, half signed by a key no publisher registered.
        if i % 2 == 1 {
            for (name, value) in trellis_marketplace::upload_auth::headers(&forger, "local", 40 << 20, now) {
                request = request.header(name, value);
            }
        }
        s.send(request.body(counted_body(pulled.clone())).unwrap())
    });
    let answers = s.during(&bystander, futures::future::join_all(uploads)).await;
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "unauthenticated_upload");
    }
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "the server read bodies it had not authorised");
}
