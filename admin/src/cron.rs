//! The scheduled jobs (`[triggers] crons` on the receiver, forwarded here):
//! every minute due reminders and the outbox are sent, daily expired keys and
//! old ledger rows are pruned. What each run does is `calhook_core::jobs`'s.

use calhook_core::alerts;
use calhook_core::deliver::batches;
use calhook_core::jobs::{self, Job, OutboxRun};
use calhook_core::settings::AdminSettings;
use calhook_core::store::alerts as store_alerts;
use calhook_core::store::outbox::{self, Pending};
use calhook_core::store::reminders::{self, Kind};
use calhook_core::store::{claims, ledger, StoreError};
use calhook_platform::bindings::{claim_token, d1};
use calhook_platform::d1::D1;
use calhook_platform::queue::{send_batch, send_kept};
use serde_json::{json, Value};
use worker::Env;

pub async fn run(cron: &str, env: &Env, now_ms: i64) {
    let job = Job::for_cron(cron);
    let settings = crate::settings::get(env);
    let mut line = match (d1(env), job) {
        (Ok(db), Job::Prune) => {
            let mut line = prune(&db, &settings, now_ms).await;
            // Repairs any tenant copy in TENANTS_KV that drifted from D1.
            line["tenant_copies_written"] = match crate::tenants::sync_replica(env).await {
                Ok(n) => n.into(),
                Err(e) => format!("not repaired: {e}").into(),
            };
            line
        }
        (Ok(_), Job::Reconcile) => crate::reconcile::scheduled(env, now_ms).await,
        (Ok(db), Job::Minute) => match &settings.drain_pages_per_run {
            Ok(pages) => minute(&db, env, &settings, now_ms, *pages as u32).await,
            Err(e) => json!({"error": e.to_string()}),
        },
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

/// The minute job: reminders first (what they could not queue waits in the
/// outbox), the outbox with the pages they left, then the alerts.
async fn minute(db: &D1, env: &Env, settings: &AdminSettings, now_ms: i64, pages: u32) -> Value {
    let (reminders, used) = send_reminders(db, env, settings, now_ms, pages).await;
    let run = send_outbox(db, env, settings, now_ms, jobs::outbox_pages(pages, used)).await;
    let depth = outbox::depth(db).await.ok();
    let mut line = jobs::minute_line(reminders, run, depth, now_ms);
    if settings.alerts_on {
        line["alerts"] = send_alerts(db, env, settings, now_ms).await;
    }
    line
}

/// Sends what the outbox holds after the grace period, a page at a time
/// (`outbox::due`'s order), until a page is short or the queue refuses.
async fn send_outbox(
    db: &D1,
    env: &Env,
    settings: &AdminSettings,
    now_ms: i64,
    pages: u32,
) -> OutboxRun {
    let mut run = OutboxRun::default();
    let (grace, page, max_refusals) = match (
        &settings.outbox_grace_seconds,
        &settings.outbox_page_size,
        &settings.outbox_max_refusals,
    ) {
        (Ok(g), Ok(p), Ok(m)) => (*g as i64, *p as u32, *m as i64),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            run.error = Some(e.to_string());
            return run;
        }
    };
    for _ in 0..pages {
        let due = match outbox::due(db, now_ms - grace * 1000, page).await {
            Ok(due) => due,
            Err(e) => {
                run.error = Some(e.to_string());
                return run;
            }
        };
        if let Err(e) = send_page(db, env, &due, max_refusals, now_ms, &mut run).await {
            run.error = Some(e);
            return run;
        }
        if due.len() < page as usize {
            break;
        }
    }
    run
}

/// Emails `ALERT_TO` (through the queue and the mailer) about what needs a
/// person, as `calhook_core::alerts` decides: how many were queued, or why not.
async fn send_alerts(db: &D1, env: &Env, settings: &AdminSettings, now_ms: i64) -> Value {
    let interval = settings.alert_interval_minutes as i64 * 60_000;
    let outbox_age = settings.alert_outbox_age_minutes as i64 * 60_000;
    let result: Result<usize, String> = async {
        let mut messages = Vec::new();
        for c in store_alerts::candidates(db, now_ms, outbox_age)
            .await
            .map_err(|e| e.to_string())?
        {
            let last = store_alerts::last_sent(db, c.trouble, &c.tenant)
                .await
                .map_err(|e| e.to_string())?;
            if !alerts::due(&c, last, now_ms, interval) {
                continue;
            }
            if store_alerts::claim(db, c.trouble, &c.tenant, last, now_ms)
                .await
                .map_err(|e| e.to_string())?
            {
                let n = alerts::notification(&c, settings.console_url.as_deref(), now_ms);
                messages.push(n.to_message().map_err(|e| e.to_string())?);
            }
        }
        let count = messages.len();
        if count > 0 {
            send_batch(env, messages)
                .await
                .map_err(|e| format!("queue refused the alerts: {e}"))?;
        }
        Ok(count)
    }
    .await;
    match result {
        Ok(n) => json!({"queued": n}),
        Err(e) => json!({"error": e}),
    }
}

/// Reminders due now, then follow-ups, a page at a time (decided by
/// `calhook_core::store::reminders`): each page claimed together with its
/// outbox rows, then queued; a refused send stays in the outbox for the job
/// below. Returns what was sent and skipped, and the pages it used.
async fn send_reminders(
    db: &D1,
    env: &Env,
    settings: &AdminSettings,
    now_ms: i64,
    pages: u32,
) -> (Result<(usize, usize), String>, u32) {
    let mut used = 0;
    let result = async {
        let schedule = settings.reminders.as_ref().map_err(|e| e.to_string())?;
        let size = *settings
            .reminder_page_size
            .as_ref()
            .map_err(|e| e.to_string())? as u32;
        let (mut sent, mut skipped) = (0, 0);
        let mut kind = Kind::Reminder;
        while used < pages {
            let due = match (kind, schedule.follow_up_after) {
                (Kind::Reminder, _) => {
                    reminders::due_reminders(db, now_ms, &schedule.offsets, size).await
                }
                (Kind::FollowUp, Some(after)) => {
                    reminders::due_follow_ups(db, now_ms, after, size).await
                }
                (Kind::FollowUp, None) => break,
            }
            .map_err(|e| e.to_string())?;
            // Nothing due costs one query (`jobs::MINUTE_RUN_REST`), not a page.
            if !due.is_empty() {
                used += 1;
            }
            let short = due.len() < size as usize;
            let (page_sent, page_skipped) = send_reminder_page(db, env, now_ms, due, kind).await?;
            sent += page_sent;
            skipped += page_skipped;
            if short {
                // Nothing more of this kind is due: follow-ups next, or done.
                match kind {
                    Kind::Reminder => kind = Kind::FollowUp,
                    Kind::FollowUp => break,
                }
            }
        }
        Ok((sent, skipped))
    }
    .await;
    (result, used)
}

/// One page of reminders or follow-ups: claimed with their outbox rows in
/// one round trip, then queued in batches within the queue's limits.
async fn send_reminder_page(
    db: &D1,
    env: &Env,
    now_ms: i64,
    due: Vec<reminders::Due>,
    kind: Kind,
) -> Result<(usize, usize), String> {
    let decisions = reminders::decide(due, kind);
    let skipped = decisions
        .iter()
        .filter(|d| d.notification.is_none())
        .count();
    if decisions.is_empty() {
        return Ok((0, 0));
    }
    let token = claim_token(now_ms as u64);
    let claimed = reminders::claim(db, &decisions, &token, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    let messages: Vec<&str> = claimed.iter().map(|(_, m)| m.as_str()).collect();
    let queued = send_kept(env, &messages)
        .await
        .map_err(|e| format!("queue refused reminders (kept in the outbox): {e}"))?;
    Ok((queued, skipped))
}

/// Sends one page in batches within the queue's limits (`deliver::batches`).
/// A row too large for the queue, or refused `max_refusals` times, is set
/// aside in the dead letters; the first refused batch ends the run.
async fn send_page(
    db: &D1,
    env: &Env,
    due: &[Pending],
    max_refusals: i64,
    now_ms: i64,
    run: &mut OutboxRun,
) -> Result<(), String> {
    let split = batches::split(
        due.iter()
            .map(|r| (r.notification.as_str(), r.attempts > 0)),
    );
    let too_large: Vec<&Pending> = split.too_large.iter().map(|&i| &due[i]).collect();
    outbox::set_aside(db, &too_large, jobs::TOO_LARGE_FOR_THE_QUEUE, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    run.set_aside += too_large.len();
    for range in split.batches {
        let batch = &due[range];
        let messages = batch.iter().map(|r| r.notification.clone()).collect();
        if let Err(e) = send_batch(env, messages).await {
            let error = format!("queue refused the outbox: {e}");
            let _ = outbox::refused(db, batch).await;
            let spent = jobs::spent(batch, max_refusals);
            let reason = jobs::refused_reason(max_refusals, &error);
            if outbox::set_aside(db, &spent, &reason, now_ms).await.is_ok() {
                run.set_aside += spent.len();
            }
            return Err(error);
        }
        outbox::sent_rows(db, batch)
            .await
            .map_err(|e| e.to_string())?;
        run.sent += batch.len();
    }
    Ok(())
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
        // Quota hours are read for the current hour only; a day is plenty.
        calhook_core::store::usage::prune(db, now_ms - 86_400_000).await?;
        calhook_core::store::sessions::prune(db, now_ms).await?;
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
