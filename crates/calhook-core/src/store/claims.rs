//! The receiver's idempotency claims (table `idempotency_keys`).
//!
//! ```text
//!  (none) ──claim──▶ in_flight ──complete(token)──▶ done ──(expires_at)──▶ claimable again
//!                       │  └──release(token)──▶ (none)
//!                       └──(lease_until passed)──▶ claimable by another request
//! ```

use super::{Db, Param, Statement, StoreError};
use serde::Deserialize;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key until its lease ends; `complete`/`release` need the token.
    Claimed,
    /// Processed before, within the TTL.
    AlreadyDone,
    /// Another request holds a live lease.
    InFlight,
}

/// The times a claim is made with.
#[derive(Debug, Clone, Copy)]
pub struct ClaimTimes {
    pub now_ms: i64,
    pub lease_ms: i64,
    pub ttl_ms: i64,
}

/// Claims `key` for the holder of `token`: inserts it, or takes over an expired
/// key or a stale lease, in one statement.
pub async fn claim(
    db: &impl Db,
    key: &str,
    trigger: &str,
    token: &str,
    t: ClaimTimes,
) -> Result<Claim, StoreError> {
    #[derive(Deserialize)]
    struct Won {
        claim_token: String,
    }
    #[derive(Deserialize)]
    struct Existing {
        state: String,
    }
    let won: Option<Won> = db
        .first(Statement::new(
            "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) \
             VALUES (?1, 'in_flight', ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(key) DO UPDATE SET state = 'in_flight', claim_token = excluded.claim_token, \
               lease_until = excluded.lease_until, expires_at = excluded.expires_at, updated_at = excluded.updated_at \
             WHERE (idempotency_keys.state = 'in_flight' AND idempotency_keys.lease_until <= ?6) \
                OR idempotency_keys.expires_at <= ?6 \
             RETURNING claim_token",
            vec![
                key.into(),
                token.into(),
                trigger.into(),
                (t.now_ms + t.lease_ms).into(),
                (t.now_ms + t.ttl_ms).into(),
                t.now_ms.into(),
            ],
        ))
        .await?;
    if won.is_some_and(|w| w.claim_token == token) {
        return Ok(Claim::Claimed);
    }
    let existing: Option<Existing> = db
        .first(Statement::new(
            "SELECT state FROM idempotency_keys WHERE key = ?1",
            vec![key.into()],
        ))
        .await?;
    Ok(match existing.map(|e| e.state).as_deref() {
        Some("done") => Claim::AlreadyDone,
        _ => Claim::InFlight,
    })
}

/// Marks the key done until the TTL passes. `false`: the claim was lost (its
/// lease ran out and another request took it); nothing was changed.
pub async fn complete(
    db: &impl Db,
    key: &str,
    token: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let changed = db
        .run(Statement::new(
            "UPDATE idempotency_keys SET state = 'done', expires_at = ?3, updated_at = ?4 \
             WHERE key = ?1 AND claim_token = ?2 AND state = 'in_flight'",
            vec![
                key.into(),
                token.into(),
                (now_ms + ttl_ms).into(),
                now_ms.into(),
            ],
        ))
        .await?;
    Ok(changed == 1)
}

/// Gives the key back so that a retry can claim it. `false`: not ours any more.
pub async fn release(db: &impl Db, key: &str, token: &str) -> Result<bool, StoreError> {
    let changed = db
        .run(Statement::new(
            "DELETE FROM idempotency_keys WHERE key = ?1 AND claim_token = ?2 AND state = 'in_flight'",
            vec![key.into(), token.into()],
        ))
        .await?;
    Ok(changed == 1)
}

/// Deletes keys whose TTL has passed (claims ignore them already; this keeps
/// the table small). A live claim is never deleted: its `expires_at` is ahead.
pub async fn prune(db: &impl Db, now_ms: i64) -> Result<u64, StoreError> {
    db.run(Statement::new(
        "DELETE FROM idempotency_keys WHERE expires_at <= ?1 \
           AND NOT (state = 'in_flight' AND lease_until > ?1)",
        vec![Param::Int(now_ms)],
    ))
    .await
}
