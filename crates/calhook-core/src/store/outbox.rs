//! The receiver's transactional outbox (table `outbox`).
//!
//! Cal.com never retries a failed delivery, so the receiver answers 200 as
//! soon as the event is durably recorded somewhere it will be delivered from:
//!
//! 1. [`record`] — one D1 round trip (a batch, one transaction): the key is
//!    claimed as `done` *and* the notification is stored in the outbox. A
//!    duplicate changes no row.
//! 2. the queue send (at the same time as 1, see `ingest::SendOrder`), and
//!    the answer. No second round trip: the row is
//!    forgotten by the **mailer** ([`delivered`], in the same batch as its
//!    ledger's first write), once the message reached it — measured, a D1
//!    call off the response path still cost the receiver a third of its
//!    throughput under `wrangler dev` (BENCHMARKS.md).
//! 3. [`due`] / [`sent_rows`] — the per-minute cron sends rows still here after a
//!    grace period (queue was down, the worker died between 1 and 2, or the
//!    mailer has not got to it yet), oldest first, a page at a time.
//!
//! A row may be queued twice (the cron and a queue slower than the grace
//! period); the mailer's ledger makes that harmless. A row is never deleted
//! before the queue took it, and only in the version that was delivered.

use super::claims::Repeat;
use super::{ClaimKey, NotificationKey};
use super::{Db, Param, Statement, StoreError};
use serde::{Deserialize, Serialize};

/// What [`record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New: the key is done and the notification is in the outbox (version `created_at`).
    New,
    /// Processed before, within the TTL (or being processed by an older version).
    Duplicate,
}

/// One accepted event.
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    /// The claim key (`TRIGGER:entity:digest`).
    pub key: &'a ClaimKey,
    /// A reconciled booking's change of status, claimed too: the
    /// notification is kept only when both claims are this request's.
    pub change: Option<&'a ClaimKey>,
    /// The notification's id: the outbox row and the mailer's ledger.
    pub notification_key: &'a NotificationKey,
    /// Repeatable triggers: when Cal.com sent it, and the copy window.
    pub repeat: Option<Repeat>,
    pub trigger: &'a str,
    /// Unique per request: ties the outbox row to this request's claim.
    pub token: &'a str,
    pub notification: &'a str,
    pub now_ms: i64,
    pub ttl_ms: i64,
}

/// Claims the key and stores the notification, atomically, in one round trip.
///
/// The key is taken when it is new, expired, left in flight by an older
/// version past its lease, or — repeatable triggers only — recorded for a
/// delivery sent more than the copy window apart (a new event with the same
/// payload).
pub async fn record(db: &impl Db, a: Accept<'_>) -> Result<Recorded, StoreError> {
    record_with(db, a, Vec::new()).await
}

/// [`record`], with `also` run in the same transaction (the booking ledger's
/// statements, which are safe to repeat for a duplicate).
pub async fn record_with(
    db: &impl Db,
    a: Accept<'_>,
    also: Vec<Statement>,
) -> Result<Recorded, StoreError> {
    let mut statements = record_statements(&a);
    let kept = statements.len() - 1;
    statements.extend(also);
    let changes = db.batch(statements).await?;
    Ok(recorded(&changes, kept))
}

/// Whether the outbox statement at `kept` of a batch stored its row.
pub fn recorded(changes: &[u64], kept: usize) -> Recorded {
    match changes.get(kept) {
        Some(1) => Recorded::New,
        _ => Recorded::Duplicate,
    }
}

/// The statements of [`record`]: the claim (and the change's claim), then
/// the outbox row, last, kept only if every claim is this request's.
pub fn record_statements(a: &Accept<'_>) -> Vec<Statement> {
    let (sent_at, window) = match a.repeat {
        Some(r) => (Param::Int(r.sent_at_ms), Param::Int(r.window_ms)),
        None => (Param::Null, Param::Null),
    };
    let claim = |key: &ClaimKey, sent_at: Param, window: Param| {
        Statement::new(
            "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at, event_at) \
             VALUES (?1, 'done', ?2, ?3, 0, ?4, ?5, ?6) \
             ON CONFLICT(key) DO UPDATE SET state = 'done', claim_token = excluded.claim_token, \
               lease_until = 0, expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
               event_at = excluded.event_at \
             WHERE idempotency_keys.expires_at <= ?5 \
                OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.lease_until <= ?5) \
                OR (?7 IS NOT NULL AND idempotency_keys.event_at IS NOT NULL \
                    AND abs(?6 - idempotency_keys.event_at) > ?7)",
            vec![
                key.as_str().into(),
                a.token.into(),
                a.trigger.into(),
                (a.now_ms + a.ttl_ms).into(),
                a.now_ms.into(),
                sent_at,
                window,
            ],
        )
    };
    let mut statements = vec![claim(a.key, sent_at, window)];
    if let Some(change) = a.change {
        statements.push(claim(change, Param::Null, Param::Null));
    }
    // Only if the claims above are this request's.
    statements.push(Statement::new(
        "INSERT INTO outbox (key, trigger, notification, created_at, attempts) \
         SELECT ?1, ?2, ?3, ?4, 0 \
         WHERE EXISTS (SELECT 1 FROM idempotency_keys WHERE key = ?6 AND claim_token = ?5) \
           AND (?7 IS NULL OR EXISTS (SELECT 1 FROM idempotency_keys WHERE key = ?7 AND claim_token = ?5)) \
         ON CONFLICT(key) DO UPDATE SET trigger = excluded.trigger, \
           notification = excluded.notification, created_at = excluded.created_at, attempts = 0",
        vec![
            a.notification_key.as_str().into(),
            a.trigger.into(),
            a.notification.into(),
            a.now_ms.into(),
            a.token.into(),
            a.key.as_str().into(),
            a.change.map(|c| c.as_str()).into(),
        ],
    ));
    statements
}

/// The mailer received this notification (its key and exact text): forget
/// its outbox row. Another version of the row (an event recorded anew under
/// the same key) is kept.
pub fn delivered_statement(key: &NotificationKey, notification: &str) -> Statement {
    Statement::new(
        "DELETE FROM outbox WHERE key = ?1 AND notification = ?2",
        vec![key.as_str().into(), notification.into()],
    )
}

/// [`delivered_statement`] on its own; `false` if the row was not there.
pub async fn delivered(
    db: &impl Db,
    key: &NotificationKey,
    notification: &str,
) -> Result<bool, StoreError> {
    Ok(db.run(delivered_statement(key, notification)).await? == 1)
}

/// A row waiting to be queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub key: String,
    pub trigger: String,
    pub notification: String,
    pub created_at: i64,
    pub attempts: i64,
}

/// Rows recorded at or before `recorded_before_ms` (now minus the grace
/// period): never refused first, then by refusals; oldest first within each.
/// A row the queue refused goes behind the rest, so it cannot stall them.
pub async fn due(
    db: &impl Db,
    recorded_before_ms: i64,
    limit: u32,
) -> Result<Vec<Pending>, StoreError> {
    db.all(Statement::new(
        "SELECT key, trigger, notification, created_at, attempts FROM outbox \
         WHERE created_at <= ?1 ORDER BY attempts, created_at, key LIMIT ?2",
        vec![recorded_before_ms.into(), limit.into()],
    ))
    .await
}

/// The rows of a page, in the version read: `?1` is [`page_param`]. One
/// statement for the whole page, whatever its size: D1 counts statements
/// against an invocation's queries (50 on the Free plan), and binds at most
/// 100 parameters to one. Each row is found by its primary key.
macro_rules! these_rows {
    () => {
        "key IN (SELECT json_extract(value, '$[0]') FROM json_each(?1)) \
         AND created_at = (SELECT json_extract(value, '$[1]') FROM json_each(?1) \
                           WHERE json_extract(value, '$[0]') = outbox.key)"
    };
}

/// `[[key, created_at], …]`: the page as `these_rows!` reads it.
fn page_param<'a>(rows: impl IntoIterator<Item = &'a Pending>) -> Param {
    let pairs: Vec<(&str, i64)> = rows
        .into_iter()
        .map(|r| (r.key.as_str(), r.created_at))
        .collect();
    Param::Text(serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into()))
}

/// The cron queued these rows: forget each, in the version it sent (one statement).
pub async fn sent_rows(db: &impl Db, rows: &[Pending]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    db.run(Statement::new(
        concat!("DELETE FROM outbox WHERE ", these_rows!()),
        vec![page_param(rows)],
    ))
    .await?;
    Ok(())
}

/// The queue refused these rows again: count it (they stay for the next run).
pub async fn refused(db: &impl Db, rows: &[Pending]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    db.run(Statement::new(
        concat!(
            "UPDATE outbox SET attempts = attempts + 1 WHERE ",
            these_rows!()
        ),
        vec![page_param(rows)],
    ))
    .await?;
    Ok(())
}

/// Moves rows the queue will not take (refused `OUTBOX_MAX_REFUSALS` times,
/// or too large for a message) to the dead letters, with `reason`: listed,
/// reported and redrivable, instead of blocking the outbox.
pub async fn set_aside(
    db: &impl Db,
    rows: &[&Pending],
    reason: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let page = page_param(rows.iter().copied());
    db.batch(vec![
        Statement::new(
            concat!(
                "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) \
                 SELECT key, trigger, notification, ?2, ?3 FROM outbox WHERE ",
                these_rows!(),
                " ON CONFLICT(key) DO UPDATE SET trigger = excluded.trigger, \
                   notification = excluded.notification, reason = excluded.reason, \
                   dead_lettered_at = excluded.dead_lettered_at"
            ),
            vec![page.clone(), reason.into(), now_ms.into()],
        ),
        Statement::new(
            concat!("DELETE FROM outbox WHERE ", these_rows!()),
            vec![page],
        ),
    ])
    .await?;
    Ok(())
}

/// How much is waiting, for the log line and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    pub count: i64,
    pub oldest_created_at: Option<i64>,
}

impl Depth {
    /// Seconds the oldest waiting row has waited at `now_ms`.
    pub fn oldest_age_seconds(&self, now_ms: i64) -> Option<i64> {
        self.oldest_created_at
            .map(|at| ((now_ms - at) / 1000).max(0))
    }
}

pub async fn depth(db: &impl Db) -> Result<Depth, StoreError> {
    Ok(db
        .first(Statement::new(
            "SELECT COUNT(*) AS count, MIN(created_at) AS oldest_created_at FROM outbox",
            vec![],
        ))
        .await?
        .unwrap_or(Depth {
            count: 0,
            oldest_created_at: None,
        }))
}

/// One row as the admin API lists it (without the notification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub key: String,
    pub trigger: String,
    pub created_at: i64,
    pub attempts: i64,
}

/// Rows older than `recorded_before_ms`, oldest first.
pub async fn list(
    db: &impl Db,
    recorded_before_ms: i64,
    limit: u32,
) -> Result<Vec<Listed>, StoreError> {
    db.all(Statement::new(
        "SELECT key, trigger, created_at, attempts FROM outbox \
         WHERE created_at <= ?1 ORDER BY created_at, key LIMIT ?2",
        vec![Param::Int(recorded_before_ms), limit.into()],
    ))
    .await
}
