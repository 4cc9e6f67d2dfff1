//! Dead letters (table `dead_letters`): notifications that could not be sent,
//! kept for an operator to list, redrive or delete.
//!
//! Redrive is three steps, each safe to repeat:
//! 1. [`reset_for_redrive`] (one batch): a dead letter whose deliveries are all
//!    `sent` is resolved and deleted; otherwise its `failed`/`pending`/stale
//!    deliveries go back to `pending` — conditionally, so a `sent` delivery is
//!    never re-opened and one being sent right now is left alone (`Busy`); no
//!    row is created except the first of a notification never claimed (the
//!    daily prune keeps every row of a dead-lettered notification);
//! 2. the worker queues the notifications that were re-opened;
//! 3. [`forget`] deletes those dead letters, only in the version that was
//!    redriven (`dead_lettered_at`), so a newer failure stays listed.
//!
//! A failure between the steps leaves the dead letter listed; redriving it
//! again re-queues at most a notification whose delivery is not yet sent, and
//! the ledger still sends it once.

use super::{Db, Param, Statement, StoreError};
use serde::{Deserialize, Serialize};

/// Prefix of dead letters whose message could not be read as a notification.
pub const UNREADABLE_PREFIX: &str = "unreadable:";

/// Reason kept when no delivery recorded an error (the mailer never got to send).
pub const NO_SEND_ATTEMPTED: &str = "retries used up before a send was attempted: see the mailer's \"misconfigured\" or \"ledger_unavailable\" log lines";

/// Keeps what reached the dead-letter queue, with the last error its deliveries
/// recorded. A second arrival of the same key replaces the first.
pub async fn keep(
    db: &impl Db,
    key: &str,
    trigger: Option<&str>,
    notification: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    db.run(Statement::new(
        "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) \
         VALUES (?1, ?2, ?3, COALESCE((SELECT last_error FROM deliveries \
             WHERE (key = ?1 OR notification_key = ?1) AND last_error IS NOT NULL \
             ORDER BY updated_at DESC LIMIT 1), ?4), ?5) \
         ON CONFLICT(key) DO UPDATE SET trigger = excluded.trigger, notification = excluded.notification, \
           reason = excluded.reason, dead_lettered_at = excluded.dead_lettered_at",
        vec![
            key.into(),
            trigger.into(),
            notification.into(),
            NO_SEND_ATTEMPTED.into(),
            now_ms.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// One listed dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub key: String,
    pub trigger: Option<String>,
    pub reason: Option<String>,
    pub dead_lettered_at: i64,
}

/// Where a page ends: the next page starts after it (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub dead_lettered_at: i64,
    pub key: String,
}

impl Cursor {
    /// `"<ms>:<key>"`, opaque to clients.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.dead_lettered_at, self.key)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (ms, key) = text.split_once(':')?;
        Some(Self {
            dead_lettered_at: ms.parse().ok()?,
            key: key.to_owned(),
        })
    }

    /// After a page of `len` rows asked with `limit`: the last row's place if
    /// the page was full, else there is no next page.
    fn after_page(len: usize, limit: u32, last: Option<(i64, &str)>) -> Option<Cursor> {
        if len != limit as usize {
            return None;
        }
        last.map(|(dead_lettered_at, key)| Cursor {
            dead_lettered_at,
            key: key.to_owned(),
        })
    }

    fn params(cursor: Option<&Cursor>) -> (Param, Param) {
        match cursor {
            Some(c) => (c.dead_lettered_at.into(), c.key.as_str().into()),
            None => (Param::Null, Param::Null),
        }
    }
}

/// A page of dead letters, newest first, and the cursor of the next page.
pub async fn list(
    db: &impl Db,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<Listed>, Option<Cursor>), StoreError> {
    let (at, key) = Cursor::params(after);
    let rows: Vec<Listed> = db
        .all(Statement::new(
            "SELECT key, trigger, reason, dead_lettered_at FROM dead_letters \
             WHERE ?1 IS NULL OR dead_lettered_at < ?1 OR (dead_lettered_at = ?1 AND key < ?2) \
             ORDER BY dead_lettered_at DESC, key DESC LIMIT ?3",
            vec![at, key, limit.into()],
        ))
        .await?;
    let last = rows.last().map(|r| (r.dead_lettered_at, r.key.as_str()));
    let next = Cursor::after_page(rows.len(), limit, last);
    Ok((rows, next))
}

/// Deletes one dead letter (unreadable ones included). `false`: there was none.
pub async fn delete(db: &impl Db, key: &str) -> Result<bool, StoreError> {
    Ok(db
        .run(Statement::new(
            "DELETE FROM dead_letters WHERE key = ?1",
            vec![key.into()],
        ))
        .await?
        == 1)
}

/// A dead letter as redrive needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Stored {
    pub key: String,
    pub trigger: Option<String>,
    pub notification: String,
    pub dead_lettered_at: i64,
}

/// Which dead letters to redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    One(String),
    /// Every readable one, a page at a time, newest first, after the cursor.
    Page {
        after: Option<Cursor>,
        limit: u32,
    },
}

impl Selection {
    /// Where the next page of a `Page` selection starts, given the rows this one got.
    pub fn next_cursor(&self, rows: &[Stored]) -> Option<Cursor> {
        match self {
            Selection::One(_) => None,
            Selection::Page { limit, .. } => Cursor::after_page(
                rows.len(),
                *limit,
                rows.last().map(|r| (r.dead_lettered_at, r.key.as_str())),
            ),
        }
    }
}

/// The dead letters a redrive call works on (unreadable ones are never redriven).
pub async fn select_for_redrive(
    db: &impl Db,
    selection: &Selection,
) -> Result<Vec<Stored>, StoreError> {
    match selection {
        Selection::One(key) => {
            db.all(Statement::new(
                "SELECT key, trigger, notification, dead_lettered_at FROM dead_letters \
                 WHERE key = ?1 AND key NOT LIKE 'unreadable:%'",
                vec![key.as_str().into()],
            ))
            .await
        }
        Selection::Page { after, limit } => {
            let (at, key) = Cursor::params(after.as_ref());
            db.all(Statement::new(
                "SELECT key, trigger, notification, dead_lettered_at FROM dead_letters \
                 WHERE key NOT LIKE 'unreadable:%' \
                   AND (?1 IS NULL OR dead_lettered_at < ?1 OR (dead_lettered_at = ?1 AND key < ?2)) \
                 ORDER BY dead_lettered_at DESC, key DESC LIMIT ?3",
                vec![at, key, (*limit).into()],
            ))
            .await
        }
    }
}

/// What redrive decided for one dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redrive {
    /// Deliveries re-opened: queue the notification, then [`forget`] it.
    Queue,
    /// Every delivery was already sent: the dead letter was deleted.
    Resolved,
    /// A consumer is sending it right now: left as it is; try again later.
    Busy,
}

/// Statements per dead letter in [`reset_for_redrive`]'s batch (for the
/// per-invocation query budget).
pub const STATEMENTS_PER_REDRIVE: usize = 3;

/// Step 1 of redrive, for a page of dead letters, in one batch.
pub async fn reset_for_redrive(
    db: &impl Db,
    rows: &[Stored],
    now_ms: i64,
) -> Result<Vec<Redrive>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut statements = Vec::with_capacity(rows.len() * STATEMENTS_PER_REDRIVE);
    for row in rows {
        statements.push(Statement::new(
            "DELETE FROM dead_letters WHERE key = ?1 AND dead_lettered_at = ?2 \
               AND EXISTS (SELECT 1 FROM deliveries WHERE key = ?1 AND state = 'sent') \
               AND NOT EXISTS (SELECT 1 FROM deliveries \
                 WHERE (key = ?1 OR notification_key = ?1) AND state != 'sent')",
            vec![row.key.as_str().into(), row.dead_lettered_at.into()],
        ));
        // Never claimed at all (the mailer could not get to it): its first
        // delivery, so the notification is queued. Only then: a row that is
        // missing while others exist was sent and pruned, and must not be
        // created again as `pending`.
        statements.push(Statement::new(
            "INSERT INTO deliveries (key, notification_key, state, trigger, attempts, lease_until, updated_at) \
             SELECT ?1, ?1, 'pending', COALESCE(?2, 'UNKNOWN'), 0, 0, ?3 \
             WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE key = ?1 OR notification_key = ?1)",
            vec![row.key.as_str().into(), row.trigger.clone().into(), now_ms.into()],
        ));
        // Re-opens only rows that exist and are not sent (nor being sent).
        statements.push(Statement::new(
            "UPDATE deliveries SET state = 'pending', lease_until = 0, claim_token = NULL, updated_at = ?2 \
             WHERE (key = ?1 OR notification_key = ?1) \
               AND (state IN ('failed', 'pending') OR (state = 'sending' AND lease_until <= ?2))",
            vec![row.key.as_str().into(), now_ms.into()],
        ));
    }
    let changes = db.batch(statements).await?;
    Ok(changes
        .chunks(STATEMENTS_PER_REDRIVE)
        .map(|c| match c {
            [1, ..] => Redrive::Resolved,
            [_, main, parts] if main + parts > 0 => Redrive::Queue,
            _ => Redrive::Busy,
        })
        .collect())
}

/// Step 3 of redrive: forgets the dead letters that were queued, in the version
/// that was redriven.
pub async fn forget(db: &impl Db, queued: &[&Stored]) -> Result<(), StoreError> {
    if queued.is_empty() {
        return Ok(());
    }
    let statements = queued
        .iter()
        .map(|row| {
            Statement::new(
                "DELETE FROM dead_letters WHERE key = ?1 AND dead_lettered_at = ?2",
                vec![row.key.as_str().into(), row.dead_lettered_at.into()],
            )
        })
        .collect();
    db.batch(statements).await?;
    Ok(())
}
