use crate::auth::new_token;
use crate::store::{CronSchedule, TriggerPlan};
use crate::workflow::{Trigger, Workflow};

use super::WEBHOOK_TOKEN_PREFIX;
use super::cron::{next_fire, parse_schedule};

/// The trigger rows a saved version asks for, with next fires counted from
/// `now` (unix ms). Unparsable schedules were refused by validation; one
/// that slips through is left out rather than stored broken.
pub fn plan(workflow: &Workflow, now: i64) -> TriggerPlan {
    let mut triggers = TriggerPlan::default();
    for (index, trigger) in workflow.triggers.iter().enumerate() {
        match trigger {
            Trigger::Webhook { .. } => triggers.webhook_token = Some(new_token(WEBHOOK_TOKEN_PREFIX)),
            Trigger::Cron { cron, input } => {
                let Some(next_fire_at) = parse_schedule(cron).ok().and_then(|s| next_fire(&s, now)) else {
                    continue;
                };
                triggers.crons.push(CronSchedule {
                    workflow_id: workflow.id.clone(),
                    index: index as i64,
                    expression: cron.clone(),
                    input: input.clone(),
                    next_fire_at,
                });
            }
        }
    }
    triggers
}
