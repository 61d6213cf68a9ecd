//! Cron triggers. Every tick the scheduler fires each due schedule once:
//! the run's id is derived from (tenant, workflow, trigger, fire time), so
//! inserting it twice (a crash between start and advance, or two servers on
//! one database) finds the first; then the schedule's next fire moves
//! forward by compare-and-set.
//!
//! Fires missed while no server ran are coalesced: at start a schedule
//! whose next fire is past fires once (stamped with the earliest missed
//! time) and then continues from the present. Expressions are evaluated in
//! UTC, seconds field first (`0 30 9 * * Mon-Fri`).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::executor::{Engine, EngineError};
use crate::store::{CronSchedule, TenantId, now_ms};

pub fn parse_schedule(expression: &str) -> Result<::cron::Schedule, String> {
    ::cron::Schedule::from_str(expression).map_err(|e| format!("cron expression `{expression}` does not parse: {e}"))
}

/// The shortest time between two consecutive fires among the next `fires`
/// (seconds); `None` when it fires fewer than twice.
pub fn shortest_interval(schedule: &::cron::Schedule, fires: usize) -> Option<i64> {
    let times: Vec<i64> = schedule.upcoming(chrono::Utc).take(fires).map(|t| t.timestamp()).collect();
    times.windows(2).map(|pair| pair[1] - pair[0]).min()
}

/// The first fire strictly after `after` (unix ms); `None` if the schedule
/// never fires again.
pub fn next_fire(schedule: &::cron::Schedule, after: i64) -> Option<i64> {
    let after = DateTime::<Utc>::from_timestamp_millis(after)?;
    schedule.after(&after).next().map(|at| at.timestamp_millis())
}

/// A time-ordered run id that is the same for the same fire.
fn fire_run_id(tenant: &TenantId, schedule: &CronSchedule, fire_at: i64) -> String {
    let digest = Sha256::new()
        .chain_update(tenant.as_str())
        .chain_update([0])
        .chain_update(&schedule.workflow_id)
        .chain_update(schedule.index.to_le_bytes())
        .chain_update(fire_at.to_le_bytes())
        .finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(fire_at).unwrap_or(0), &random).into_uuid().to_string()
}

#[derive(Clone)]
pub struct CronScheduler {
    engine: Engine,
}

/// Most schedules fired per tick; the rest fire on the next.
const BATCH: u32 = 200;

impl CronScheduler {
    pub fn new(engine: Engine) -> Self {
        CronScheduler { engine }
    }

    /// Fires every schedule due at `now` (unix ms) once and drives the runs
    /// in the background; returns the ids of the runs it started.
    pub async fn tick(&self, now: i64) -> Result<Vec<String>, EngineError> {
        let mut started = Vec::new();
        for (tenant, schedule) in self.engine.store().due_crons(now, BATCH).await? {
            let store = self.engine.store().tenant(tenant.clone());
            let fire_at = schedule.next_fire_at;
            let run_id = fire_run_id(&tenant, &schedule, fire_at);
            match self
                .engine
                .start_saved_as(&store, &schedule.workflow_id, schedule.input.clone(), &run_id, "cron")
                .await
            {
                // Audited as started by `cron` in the statement that records it.
                Ok(Some((run, workflow))) => {
                    started.push(run.id.clone());
                    self.engine.launch(store.clone(), run, workflow);
                }
                // Already fired (by us before a crash, or by another server).
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, workflow = %schedule.workflow_id, "cron trigger could not start a run");
                }
            }
            // Missed fires collapse into the one above: continue from now.
            let next = parse_schedule(&schedule.expression)
                .ok()
                .and_then(|s| next_fire(&s, now.max(fire_at)))
                .unwrap_or(i64::MAX);
            store.advance_cron(&schedule.workflow_id, schedule.index, fire_at, next).await?;
        }
        Ok(started)
    }

    /// Ticks every `interval` until the process ends.
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = self.tick(now_ms()).await {
                    tracing::error!(%error, "cron tick failed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_fire_is_strictly_after_and_in_utc() {
        let schedule = parse_schedule("0 30 9 * * *").unwrap();
        // 2026-01-01T09:30:00Z
        let at = 1_767_259_800_000;
        assert_eq!(next_fire(&schedule, at - 1), Some(at));
        assert_eq!(next_fire(&schedule, at), Some(at + 86_400_000));
        assert!(parse_schedule("every day").unwrap_err().contains("every day"));
    }

    #[test]
    fn fire_run_ids_are_stable_per_fire_and_time_ordered() {
        let tenant = TenantId::new("t");
        let schedule = CronSchedule {
            workflow_id: "w".into(),
            index: 0,
            expression: "* * * * * *".into(),
            input: serde_json::Value::Null,
            next_fire_at: 0,
        };
        let a = fire_run_id(&tenant, &schedule, 1_000);
        assert_eq!(a, fire_run_id(&tenant, &schedule, 1_000));
        assert_ne!(a, fire_run_id(&TenantId::new("u"), &schedule, 1_000));
        assert!(a < fire_run_id(&tenant, &schedule, 2_000));
    }
}
