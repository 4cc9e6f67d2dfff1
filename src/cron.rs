//! The receiver's scheduled jobs (`[triggers] crons`):
//! every minute the outbox is sent, daily expired keys and old ledger rows are pruned.

use calhook_core::settings as core;
use calhook_core::store::outbox::{self, Pending};
use calhook_core::store::reminders::{self, Kind};
use calhook_core::store::{claims, ledger, StoreError};
use calhook_d1::D1;
use serde_json::{json, Value};
use worker::Env;

use crate::queue::send_batch;
use crate::settings::{self, Settings};
use crate::store::{claim_token, d1};

/// The cron expression of the daily prune; every other one sends the outbox.
pub const PRUNE_CRON: &str = "17 3 * * *";

/// Queues take at most this many messages, and bytes, per `sendBatch`.
const QUEUE_BATCH_MESSAGES: usize = 100;
const QUEUE_BATCH_BYTES: usize = 240 * 1024;
/// Reminders (and follow-ups) decided per run: with the outbox job after it
/// (one page instead of two when reminders were sent), a run stays within the
/// Free plan's 50 D1 queries: 2 + 3 × 5 here, at most 1 + 20 + 1 there.
const REMINDERS_PER_RUN: u32 = 5;

pub async fn run(cron: &str, env: &Env, now_ms: i64) {
    let mut line = match d1(env) {
        Ok(db) if cron == PRUNE_CRON => prune(&db, env, now_ms).await,
        Ok(db) => {
            // Reminders first: what they could not queue waits in the outbox.
            let reminders = send_reminders(&db, env, now_ms).await;
            let pages = if reminders["sent"].as_u64().unwrap_or(0) > 0 {
                1
            } else {
                core::OUTBOX_PAGES_PER_RUN
            };
            let mut line = send_outbox(&db, env, now_ms, pages).await;
            line["reminders"] = reminders;
            line
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    let job = if cron == PRUNE_CRON {
        "prune_expired_keys"
    } else {
        "outbox"
    };
    line["svc"] = crate::SERVICE.into();
    line["job"] = job.into();
    if line.get("error").is_some() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Sends what the outbox holds after the grace period, oldest first, a page at
/// a time; logs how much is left and how old the oldest row is.
async fn send_outbox(db: &D1, env: &Env, now_ms: i64, pages: u32) -> Value {
    let grace = settings::number(
        env,
        "OUTBOX_GRACE_SECONDS",
        core::DEFAULT_OUTBOX_GRACE_SECONDS,
        0,
        3600,
    );
    let page = settings::number(
        env,
        "OUTBOX_PAGE_SIZE",
        core::DEFAULT_OUTBOX_PAGE_SIZE,
        1,
        100,
    );
    let (grace, page) = match (grace, page) {
        (Ok(g), Ok(p)) => (g as i64, p as u32),
        (Err(e), _) | (_, Err(e)) => return json!({"error": e.to_string()}),
    };
    let mut sent = 0;
    let mut error = None;
    for _ in 0..pages {
        let due = match outbox::due(db, now_ms - grace * 1000, page).await {
            Ok(due) => due,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        match send_page(db, env, &due).await {
            Ok(n) => sent += n,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        if due.len() < page as usize {
            break;
        }
    }
    let depth = outbox::depth(db).await;
    let mut line = json!({"sent": sent});
    if let Ok(d) = depth {
        line["remaining"] = d.count.into();
        line["oldest_age_seconds"] = d.oldest_age_seconds(now_ms).into();
    }
    if let Some(e) = error {
        line["error"] = e.into();
    }
    line
}

/// Reminders and follow-ups due now (decided by `calhook_core::store::reminders`):
/// claimed together with their outbox rows, then queued; a refused send stays
/// in the outbox for the job below.
async fn send_reminders(db: &D1, env: &Env, now_ms: i64) -> Value {
    let (offsets, follow_up) = match settings::reminder_schedule(env) {
        Ok(s) => s,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let result: Result<(usize, usize), String> = async {
        let mut decisions = reminders::decide(
            reminders::due_reminders(db, now_ms, &offsets, REMINDERS_PER_RUN)
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
    .await;
    match result {
        Ok((sent, skipped)) => json!({"sent": sent, "skipped": skipped}),
        Err(e) => json!({"error": e}),
    }
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
/// this keeps the table small) and ledger rows of emails sent longer ago than
/// the TTL (by then the receiver would accept the event again anyway).
async fn prune(db: &D1, env: &Env, now_ms: i64) -> Value {
    let ttl = Settings::get(env)
        .map(|s| s.ttl_seconds)
        .unwrap_or(core::DEFAULT_IDEMPOTENCY_TTL_SECONDS);
    let retention_days = settings::number(
        env,
        "BOOKING_RETENTION_DAYS",
        core::DEFAULT_BOOKING_RETENTION_DAYS,
        1,
        3650,
    )
    .unwrap_or(core::DEFAULT_BOOKING_RETENTION_DAYS);
    let result: Result<(u64, u64, u64), StoreError> = async {
        let keys = claims::prune(db, now_ms).await?;
        let sent_before = now_ms.saturating_sub((ttl * 1000) as i64);
        let deliveries = ledger::prune_sent(db, sent_before).await?;
        let ended_before = now_ms.saturating_sub(retention_days as i64 * 86_400_000);
        Ok((keys, deliveries, reminders::prune(db, ended_before).await?))
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
