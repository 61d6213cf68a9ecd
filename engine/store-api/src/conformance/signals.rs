//! What processes sharing a store tell each other, and count together.

use std::time::Duration;

use crate::{Area, Notice, Store, TenantId};

/// A notice reaches every subscriber, the publisher's own included, in
/// the order it was sent.
pub async fn notices_reach_every_subscriber_in_order(store: &Store) {
    let mut first = store.notices();
    let mut second = store.notices();
    let sent = [
        Notice::Work,
        Notice::Signal { tenant: TenantId::new("acme"), run: "r1".into() },
        Notice::Changed { tenant: TenantId::new("acme"), area: Area::Installs },
        Notice::Finished { tenant: TenantId::new("globex"), run: "r2".into() },
    ];
    for notice in &sent {
        store.notify(notice).await.expect("notify");
    }
    for receiver in [&mut first, &mut second] {
        for notice in &sent {
            let heard = tokio::time::timeout(Duration::from_secs(5), receiver.recv())
                .await
                .expect("a notice within 5 s")
                .expect("the channel is open");
            assert_eq!(&heard, notice);
        }
    }
}

/// Failures count per key within a window that starts at the key's first
/// failure; an ended window counts from zero again and its row goes.
pub async fn sign_in_failures_count_per_key_in_windows(store: &Store) {
    const WINDOW: i64 = 60_000;
    let t0 = 1_800_000_000_000;
    let (pair, address, other) = ("e:owner@acme|203.0.113.7", "a:203.0.113.7", "a:198.51.100.1");
    assert_eq!(store.sign_in_failures(&[pair, address], t0, WINDOW).await.unwrap(), vec![0, 0]);
    for i in 0..3 {
        store.count_sign_in_failure(&[pair, address], t0 + i * 1000, WINDOW).await.unwrap();
    }
    store.count_sign_in_failure(&[address], t0 + 5_000, WINDOW).await.unwrap();
    let counts = store.sign_in_failures(&[pair, address, other], t0 + 10_000, WINDOW).await.unwrap();
    assert_eq!(counts, vec![3, 4, 0]);
    // The window runs from the first failure, not the last.
    let counts = store.sign_in_failures(&[pair, address], t0 + WINDOW, WINDOW).await.unwrap();
    assert_eq!(counts, vec![0, 0]);
    // A failure after the window starts a new one at 1.
    store.count_sign_in_failure(&[pair], t0 + WINDOW + 1, WINDOW).await.unwrap();
    let counts = store.sign_in_failures(&[pair, address], t0 + WINDOW + 2, WINDOW).await.unwrap();
    assert_eq!(counts, vec![1, 0]);
    // Eight at once from eight tasks (processes, on a shared store) lose none.
    let mut writers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            store.count_sign_in_failure(&[other], t0 + WINDOW + 3, WINDOW).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(store.sign_in_failures(&[other], t0 + WINDOW + 4, WINDOW).await.unwrap(), vec![8]);
}
