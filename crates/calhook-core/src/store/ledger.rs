//! The mailer's delivery ledger (table `deliveries`): at most one email per
//! delivery, although the queue delivers at least once.
//!
//! A notification is sent as one or more *deliveries* (the staff email, and one
//! copy per attendee); each has its own row, keyed by [`delivery_key`], and
//! `notification_key` ties them together.
//!
//! | from | event | to |
//! | --- | --- | --- |
//! | (none), `pending`, `sending` with its lease passed | [`claim`] | `sending` (new token, attempts + 1) |
//! | `sending` (same token) | [`finish`] `Sent` | `sent` (terminal) |
//! | `sending` (same token) | [`finish`] `Retry` | `pending` (the queue delivers again) |
//! | `sending` (same token) | [`finish`] `Failed` | `failed` (dead-lettered) |
//! | `failed`, `pending`, `sending` with its lease passed | redrive (see [`super::dead_letters`]) | `pending` (token cleared) |
//!
//! A `finish` whose token is no longer the row's changes nothing: the writer
//! lost its lease to another consumer, whose result stands.

use super::{Db, DeliveryKey, NotificationKey, Param, Statement, StoreError};
use serde::Deserialize;

pub use crate::deliver::recipients::delivery_key;

/// This consumer's hold on a delivery, proven by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: DeliveryKey,
    pub token: String,
    /// Sends attempted for this delivery, this one included.
    pub attempts: u32,
}

/// What the ledger says about a delivery about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerClaim {
    Claimed(Lease),
    /// Already accepted by SendGrid: ack without sending.
    AlreadySent,
    /// Failed permanently and was dead-lettered: ack (redrive re-opens it).
    AlreadyFailed,
    /// Another consumer holds a live lease.
    Busy,
}

/// Claims a delivery for `lease_ms`.
pub async fn claim(
    db: &impl Db,
    key: &DeliveryKey,
    notification_key: &NotificationKey,
    trigger: &str,
    token: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<LedgerClaim, StoreError> {
    #[derive(Deserialize)]
    struct Won {
        attempts: u32,
        claim_token: Option<String>,
    }
    #[derive(Deserialize)]
    struct Existing {
        state: String,
    }
    let won: Option<Won> = db
        .first(Statement::new(
            "INSERT INTO deliveries (key, notification_key, state, trigger, attempts, lease_until, claim_token, updated_at) \
             VALUES (?1, ?2, 'sending', ?3, 1, ?4, ?5, ?6) \
             ON CONFLICT(key) DO UPDATE SET state = 'sending', attempts = deliveries.attempts + 1, \
               lease_until = excluded.lease_until, claim_token = excluded.claim_token, \
               notification_key = COALESCE(deliveries.notification_key, excluded.notification_key), \
               updated_at = excluded.updated_at \
             WHERE deliveries.state = 'pending' \
                OR (deliveries.state = 'sending' AND deliveries.lease_until <= ?6) \
             RETURNING attempts, claim_token",
            vec![
                key.as_str().into(),
                notification_key.as_str().into(),
                trigger.into(),
                (now_ms + lease_ms).into(),
                token.into(),
                now_ms.into(),
            ],
        ))
        .await?;
    if let Some(won) = won.filter(|w| w.claim_token.as_deref() == Some(token)) {
        return Ok(LedgerClaim::Claimed(Lease {
            key: key.to_owned(),
            token: token.to_owned(),
            attempts: won.attempts,
        }));
    }
    let existing: Option<Existing> = db
        .first(Statement::new(
            "SELECT state FROM deliveries WHERE key = ?1",
            vec![key.as_str().into()],
        ))
        .await?;
    Ok(match existing.map(|e| e.state).as_deref() {
        Some("sent") => LedgerClaim::AlreadySent,
        Some("failed") => LedgerClaim::AlreadyFailed,
        _ => LedgerClaim::Busy,
    })
}

/// How a send ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish<'a> {
    /// SendGrid accepted it (`message_id` from `X-Message-Id`).
    Sent {
        status: u16,
        message_id: Option<&'a str>,
        /// Addresses the email went to.
        recipients: u32,
    },
    /// A transient failure: the queue delivers the message again.
    Retry { status: Option<u16>, error: &'a str },
    /// A permanent failure; the notification is kept for inspection and redrive.
    Failed {
        status: Option<u16>,
        error: &'a str,
        notification: &'a str,
    },
}

/// Whether a finish was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Yes,
    /// The lease was taken over by another consumer: nothing was written.
    LostLease,
}

/// Records how the send ended, only if `lease` still holds the row.
pub async fn finish(
    db: &impl Db,
    lease: &Lease,
    outcome: Finish<'_>,
    now_ms: i64,
) -> Result<Recorded, StoreError> {
    finish_with(db, lease, outcome, now_ms, Vec::new()).await
}

/// [`finish`], with `also` in the same batch (the mailer forgets the
/// receiver's outbox row there, `outbox::delivered_statement`).
pub async fn finish_with(
    db: &impl Db,
    lease: &Lease,
    outcome: Finish<'_>,
    now_ms: i64,
    also: Vec<Statement>,
) -> Result<Recorded, StoreError> {
    let (state, status, error, notification, message_id, recipients) = match outcome {
        Finish::Sent {
            status,
            message_id,
            recipients,
        } => (
            "sent",
            Some(status),
            None,
            None,
            message_id,
            Some(recipients),
        ),
        Finish::Retry { status, error } => ("pending", status, Some(error), None, None, None),
        Finish::Failed {
            status,
            error,
            notification,
        } => (
            "failed",
            status,
            Some(error),
            Some(notification),
            None,
            None,
        ),
    };
    let mut batch = vec![Statement::new(
        "UPDATE deliveries SET state = ?3, last_status = ?4, last_error = ?5, \
               notification = COALESCE(?6, notification), message_id = COALESCE(?7, message_id), \
               lease_until = 0, updated_at = ?8, recipients = COALESCE(?9, recipients) \
             WHERE key = ?1 AND claim_token = ?2 AND state = 'sending'",
        vec![
            lease.key.as_str().into(),
            lease.token.as_str().into(),
            state.into(),
            status.map(u32::from).into(),
            error.into(),
            notification.into(),
            message_id.into(),
            now_ms.into(),
            recipients.into(),
        ],
    )];
    batch.extend(also);
    let changed = db.batch(batch).await?.first().copied().unwrap_or(0);
    Ok(if changed == 1 {
        Recorded::Yes
    } else {
        Recorded::LostLease
    })
}

/// Deletes rows of emails sent before `sent_before_ms` (by then the receiver
/// would accept the event again anyway). Pending and failed rows are kept,
/// and so is every row of a notification that still has one, or a dead
/// letter: a missing row is a copy the mailer would send again, so a redrive
/// after the prune must still find the sent ones.
pub async fn prune_sent(db: &impl Db, sent_before_ms: i64) -> Result<u64, StoreError> {
    db.run(Statement::new(
        "DELETE FROM deliveries WHERE state = 'sent' AND updated_at <= ?1 \
           AND NOT EXISTS (SELECT 1 FROM dead_letters d \
             WHERE d.key = deliveries.key OR d.key = deliveries.notification_key) \
           AND NOT EXISTS (SELECT 1 FROM deliveries other \
             WHERE other.notification_key = deliveries.notification_key AND other.state != 'sent')",
        vec![Param::Int(sent_before_ms)],
    ))
    .await
}
