//! Plans as the engine reads them: once per run start and node execution,
//! so they are cached briefly per tenant. A plan the operator changes takes
//! effect within [`TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Plan, Usage, day_of};
use crate::store::{StoreError, TenantId, TenantStore, now_ms};

pub const TTL: Duration = Duration::from_secs(2);

/// A tenant's plan and what it used today, as of `at`.
#[derive(Clone)]
struct Entry {
    at: Instant,
    plan: Arc<Plan>,
    today: Usage,
}

#[derive(Clone, Default)]
pub struct Plans {
    cache: Arc<Mutex<HashMap<TenantId, Entry>>>,
}

impl Plans {
    async fn entry(&self, store: &TenantStore) -> Result<Entry, StoreError> {
        if let Ok(cache) = self.cache.lock()
            && let Some(entry) = cache.get(store.tenant())
            && entry.at.elapsed() < TTL
        {
            return Ok(entry.clone());
        }
        let day = day_of(now_ms());
        let today = store.usage(&day, &day).await?.into_iter().next().map(|(_, u)| u).unwrap_or_default();
        let entry = Entry { at: Instant::now(), plan: Arc::new(store.plan().await?), today };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(store.tenant().clone(), entry.clone());
        }
        Ok(entry)
    }

    pub async fn plan(&self, store: &TenantStore) -> Result<Arc<Plan>, StoreError> {
        Ok(self.entry(store).await?.plan)
    }

    /// The plan and today's usage (at most [`TTL`] old).
    pub async fn plan_and_today(&self, store: &TenantStore) -> Result<(Arc<Plan>, Usage), StoreError> {
        let entry = self.entry(store).await?;
        Ok((entry.plan, entry.today))
    }

    /// Forgets a tenant's entry (after its plan changed in this process).
    pub fn forget(&self, tenant: &TenantId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }
}
