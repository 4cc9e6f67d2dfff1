//! The scheduled jobs (`[triggers] crons` on the receiver, forwarded here):
//! every minute due reminders and the outbox are sent, daily expired keys and
//! old ledger rows are pruned. What each run does is `calhook_core::jobs`'s.

use calhook_core::jobs::{self, Job, QUEUE_BATCH_BYTES, QUEUE_BATCH_MESSAGES, REMINDERS_PER_RUN};
use calhook_core::settings::AdminSettings;
use calhook_core::store::outbox::{self, Pending};
use calhook_core::store::reminders::{self, Kind};
use calhook_core::store::{claims, ledger, StoreError};
use calhook_platform::bindings::{claim_token, d1};
use calhook_platform::d1::D1;
use calhook_platform::queue::send_batch;
use serde_json::{json, Value};
use worker::Env;

pub async fn run(cron: &str, env: &Env, now_ms: i64) {
    let job = Job::for_cron(cron);
    let settings = crate::settings::get(env);
    let mut line = match (d1(env), job) {
        (Ok(db), Job::Prune) => prune(&db, &settings, now_ms).await,
        (Ok(db), Job::Minute) => {
            // Reminders first: what they could not queue waits in the outbox.
            let reminders = send_reminders(&db, env, &settings, now_ms).await;
            let pages = jobs::outbox_pages(*reminders.as_ref().map(|(sent, _)| sent).unwrap_or(&0));
            let (sent, error) = send_outbox(&db, env, &settings, now_ms, pages).await;
            let depth = outbox::depth(&db).await.ok();
            jobs::minute_line(reminders, sent, error, depth, now_ms)
        }
        (Err(e), _) => json!({"error": e.to_string()}),
    };
    line["svc"] = crate::SERVICE.into();
    line["job"] = job.name().into();
    if jobs::failed(&line) {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Sends what the outbox holds after the grace period, oldest first, a page
/// at a time: how many it sent, and the error that stopped it.
async fn send_outbox(
    db: &D1,
    env: &Env,
    settings: &AdminSettings,
    now_ms: i64,
    pages: u32,
) -> (usize, Option<String>) {
    let (grace, page) = match (&settings.outbox_grace_seconds, &settings.outbox_page_size) {
        (Ok(g), Ok(p)) => (*g as i64, *p as u32),
        (Err(e), _) | (_, Err(e)) => return (0, Some(e.to_string())),
    };
    let mut sent = 0;
    for _ in 0..pages {
        let due = match outbox::due(db, now_ms - grace * 1000, page).await {
            Ok(due) => due,
            Err(e) => return (sent, Some(e.to_string())),
        };
        match send_page(db, env, &due).await {
            Ok(n) => sent += n,
            Err(e) => return (sent, Some(e)),
        }
        if due.len() < page as usize {
            break;
        }
    }
    (sent, None)
}

/// Reminders and follow-ups due now (decided by `calhook_core::store::reminders`):
/// claimed together with their outbox rows, then queued; a refused send stays
/// in the outbox for the job below.
async fn send_reminders(
    db: &D1,
    env: &Env,
    settings: &AdminSettings,
    now_ms: i64,
) -> Result<(usize, usize), String> {
    let schedule = settings.reminders.as_ref().map_err(|e| e.to_string())?;
    let (offsets, follow_up) = (&schedule.offsets, schedule.follow_up_after);
    async {
        let mut decisions = reminders::decide(
            reminders::due_reminders(db, now_ms, offsets, REMINDERS_PER_RUN)
                .await
                .map_err(|e| e.to_string())?,
            Kind::Reminder,
        );
        if let Some(after) = follow_up {
            decisions.extend(reminders::decide(
                reminders::due_follow_ups(db, now_ms, after, REMINDERS_PER_RUN)
                    .await
                    .map_err(|e| e.to_string())?,
                Kind::FollowUp,
            ));
        }
        if decisions.is_empty() {
            return Ok((0, 0));
        }
        let token = claim_token(now_ms as u64);
        let claimed: Vec<(String, String)> = reminders::claim(db, &decisions, &token, now_ms)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .flatten()
            .collect();
        let skipped = decisions
            .iter()
            .filter(|d| d.notification.is_none())
            .count();
        if claimed.is_empty() {
            return Ok((0, skipped));
        }
        let messages = claimed.iter().map(|(_, m)| m.clone()).collect();
        send_batch(env, messages)
            .await
            .map_err(|e| format!("queue refused reminders (kept in the outbox): {e}"))?;
        let queued: Vec<Pending> = claimed
            .iter()
            .map(|(key, _)| Pending {
                key: key.clone(),
                trigger: String::new(),
                notification: String::new(),
                created_at: now_ms,
                attempts: 0,
            })
            .collect();
        let _ = outbox::sent_rows(db, &queued).await;
        Ok((claimed.len(), skipped))
    }
    .await
}

async fn send_page(db: &D1, env: &Env, due: &[Pending]) -> Result<usize, String> {
    let mut sent = 0;
    for batch in outbox::batches(due, QUEUE_BATCH_MESSAGES, QUEUE_BATCH_BYTES) {
        let messages = batch.iter().map(|r| r.notification.clone()).collect();
        if let Err(e) = send_batch(env, messages).await {
            let _ = outbox::refused(db, batch).await;
            return Err(format!("queue refused the outbox: {e}"));
        }
        outbox::sent_rows(db, batch)
            .await
            .map_err(|e| e.to_string())?;
        sent += batch.len();
    }
    Ok(sent)
}

/// Deletes idempotency keys whose TTL has passed (claims ignore them already;
/// this keeps the table small), ledger rows of emails sent longer ago than the
/// TTL, and bookings past their retention (`jobs::prune_horizons`).
async fn prune(db: &D1, settings: &AdminSettings, now_ms: i64) -> Value {
    let horizons = jobs::prune_horizons(
        now_ms,
        settings.ttl_seconds,
        settings.booking_retention_days,
    );
    let result: Result<(u64, u64, u64), StoreError> = async {
        let keys = claims::prune(db, now_ms).await?;
        let deliveries = ledger::prune_sent(db, horizons.sent_before_ms).await?;
        let bookings = reminders::prune(db, horizons.ended_before_ms).await?;
        Ok((keys, deliveries, bookings))
    }
    .await;
    match result {
        Ok((keys, deliveries, bookings)) => {
            json!({"deleted": keys, "deliveries_deleted": deliveries,
            "bookings_deleted": bookings})
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}
