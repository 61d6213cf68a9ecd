//! Plans as the engine reads them: once per run start and node execution,
//! so they are cached briefly per tenant. A plan the operator changes takes
//! effect within [`TTL`].

use std::sync::Arc;
use std::time::Duration;

use super::{Plan, Usage, day_of};
use crate::store::TenantDocuments;
use crate::store::{StoreError, TenantId, TenantStore, now_ms};
use crate::ttl_cache::TtlCache;

pub const TTL: Duration = Duration::from_secs(2);

/// A tenant's plan and what it used today.
#[derive(Clone)]
struct Entry {
    plan: Arc<Plan>,
    today: Usage,
}

#[derive(Clone)]
pub struct Plans {
    cache: TtlCache<TenantId, Entry>,
    /// The operator's plan for tenants without one of their own.
    defaults: Arc<Plan>,
}

impl Default for Plans {
    fn default() -> Self {
        Plans::new(Plan::default())
    }
}

impl Plans {
    pub fn new(defaults: Plan) -> Self {
        Plans { cache: TtlCache::new(TTL), defaults: Arc::new(defaults) }
    }

    async fn entry(&self, store: &TenantStore) -> Result<Entry, StoreError> {
        if let Some(entry) = self.cache.get(store.tenant()) {
            return Ok(entry);
        }
        let day = day_of(now_ms());
        let today = store.usage(&day, &day).await?.into_iter().next().map(|(_, u)| u).unwrap_or_default();
        let entry = Entry { plan: Arc::new(store.plan_over(&self.defaults).await?), today };
        self.cache.insert(store.tenant().clone(), entry.clone());
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

    /// Forgets a tenant's entry after its plan changed (`None`: every
    /// tenant's).
    pub fn forget(&self, tenant: Option<&TenantId>) {
        match tenant {
            Some(tenant) => self.cache.forget(tenant),
            None => self.cache.clear(),
        }
    }
}
