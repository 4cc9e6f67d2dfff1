//! The receiver's idempotency keys (table `idempotency_keys`).
//!
//! A key is claimed as `done` in the same transaction that stores its
//! notification in the outbox ([`super::outbox::record`]); it is claimable
//! again once `expires_at` passes. `in_flight` rows are left only by earlier
//! versions (claim, send, complete); one whose lease passed is taken over.

use super::{Db, Param, Statement, StoreError};

/// For triggers that repeat with identical payloads ([`crate::inbound::identity`]): a
/// delivery is a copy of the recorded one only when their signed `createdAt`s
/// are at most `window_ms` apart; otherwise it is a new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub sent_at_ms: i64,
    pub window_ms: i64,
}

impl Repeat {
    /// Whether a delivery sent at `self.sent_at_ms` is a copy of one recorded as sent at `recorded`.
    pub fn is_copy_of(&self, recorded: Option<i64>) -> bool {
        recorded.is_none_or(|at| (self.sent_at_ms - at).abs() <= self.window_ms)
    }
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
