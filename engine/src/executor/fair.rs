//! Plugin execution slots shared fairly between tenants: when
//! every slot is busy, waiters queue per tenant and each freed slot goes to
//! the next tenant in round-robin order, so a tenant with one waiting node
//! gets a slot after at most one release per other waiting tenant, however
//! many nodes those tenants queued.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::store::TenantId;

pub struct FairSlots {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: usize,
    waiters: HashMap<TenantId, VecDeque<oneshot::Sender<Slot>>>,
    /// Tenants with waiters, in the order they are served.
    turn: VecDeque<TenantId>,
}

/// A held slot; dropping it hands it on.
pub struct Slot {
    slots: Option<Arc<FairSlots>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            FairSlots::release(&slots);
        }
    }
}

impl FairSlots {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(FairSlots { state: Mutex::new(State { free: capacity.max(1), ..State::default() }) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves counts that are still
        // consistent (every mutation is a single step), so poison is ignored.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a slot for one of `tenant`'s nodes.
    pub async fn acquire(self: &Arc<Self>, tenant: &TenantId) -> Slot {
        let receiver = {
            let mut state = self.lock();
            if state.free > 0 && state.turn.is_empty() {
                state.free -= 1;
                return Slot { slots: Some(self.clone()) };
            }
            let (sender, receiver) = oneshot::channel();
            let queue = state.waiters.entry(tenant.clone()).or_default();
            queue.push_back(sender);
            if queue.len() == 1 {
                state.turn.push_back(tenant.clone());
            }
            receiver
        };
        // The sender is only dropped with the whole queue, which lives as
        // long as `self`; a slot received here is ours.
        receiver.await.unwrap_or(Slot { slots: None })
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        while let Some(tenant) = state.turn.pop_front() {
            let Some(queue) = state.waiters.get_mut(&tenant) else { continue };
            let Some(sender) = queue.pop_front() else { continue };
            if queue.is_empty() {
                state.waiters.remove(&tenant);
            } else {
                state.turn.push_back(tenant);
            }
            match sender.send(Slot { slots: Some(self.clone()) }) {
                Ok(()) => return,
                // The waiter gave up (its run was cancelled): disarm the
                // slot so dropping it here does not re-enter, and go on.
                Err(mut slot) => slot.slots = None,
            }
        }
        state.free += 1;
    }

    /// Nodes waiting for a slot, per tenant.
    pub fn queue_depths(&self) -> Vec<(TenantId, usize)> {
        let state = self.lock();
        let mut depths: Vec<(TenantId, usize)> = state.waiters.iter().map(|(t, q)| (t.clone(), q.len())).collect();
        depths.sort();
        depths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_next_tenant_in_turn() {
        let slots = FairSlots::new(1);
        let (a, b) = (TenantId::new("a"), TenantId::new("b"));
        let held = slots.acquire(&a).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Tenant a queues five, then tenant b one.
        for (i, tenant) in [&a, &a, &a, &a, &a, &b].into_iter().enumerate() {
            let (slots, order, tenant) = (slots.clone(), order.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire(&tenant).await;
                order.lock().unwrap().push((i, tenant));
                tokio::task::yield_now().await;
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(slots.queue_depths(), vec![(a.clone(), 5), (b.clone(), 1)]);
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // a's first waiter (it was first in turn), then b, then the rest of a.
        assert_eq!(order[0], (0, a.clone()));
        assert_eq!(order[1], (5, b.clone()));
        assert_eq!(order.len(), 6);
        assert!(slots.queue_depths().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_lose_the_slot() {
        let slots = FairSlots::new(1);
        let t = TenantId::new("t");
        let held = slots.acquire(&t).await;
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(10), slots.acquire(&t)).await;
        assert!(gave_up.is_err());
        drop(held);
        // The slot came back despite the abandoned waiter.
        let again = tokio::time::timeout(std::time::Duration::from_secs(1), slots.acquire(&t)).await;
        assert!(again.is_ok());
    }
}
