//! Each tenant's emails per hour (table `tenant_usage`): the mailer counts a
//! copy before it sends it, so one tenant, which holds its own webhook secret
//! and can sign any number of events, cannot spend the shared SendGrid
//! account's quota and reputation and starve the others. A copy over the
//! limit is held (retried when the next hour starts) and counted, never
//! dropped; a copy held past the queue's retries is dead-lettered.

use super::{Db, Statement, StoreError};
use serde::{Deserialize, Serialize};

const HOUR_MS: i64 = 3_600_000;

/// The start of the hour `now_ms` is in.
pub fn hour_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(HOUR_MS)
}

/// Seconds until the next hour starts (when a held copy may go).
pub fn seconds_to_next_hour(now_ms: i64) -> u64 {
    ((hour_start(now_ms) + HOUR_MS - now_ms) as u64)
        .div_ceil(1000)
        .max(1)
}

/// A tenant's limit: its own (`emails_per_hour`), else the mailer's
/// `EMAILS_PER_HOUR`; `None`: no limit (0).
pub fn limit(own: Option<u32>, environment: u64) -> Option<u64> {
    Some(own.map_or(environment, u64::from)).filter(|n| *n > 0)
}

/// What [`reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Counted: send it.
    Yes,
    /// The tenant sent `limit` emails this hour already: hold it.
    OverLimit { limit: u64 },
}

/// Counts one email for `tenant` this hour if it is under `limit`.
pub async fn reserve(
    db: &impl Db,
    tenant: &str,
    limit: u64,
    now_ms: i64,
) -> Result<Reserved, StoreError> {
    #[derive(Deserialize)]
    struct Counted {
        #[allow(dead_code)]
        sent: i64,
    }
    let hour = hour_start(now_ms);
    let counted: Option<Counted> = db
        .first(Statement::new(
            "INSERT INTO tenant_usage (tenant, hour_start, sent, held) VALUES (?1, ?2, 1, 0) \
             ON CONFLICT(tenant, hour_start) DO UPDATE SET sent = sent + 1 WHERE sent < ?3 \
             RETURNING sent",
            vec![tenant.into(), hour.into(), (limit as i64).into()],
        ))
        .await?;
    if counted.is_some() {
        return Ok(Reserved::Yes);
    }
    db.run(Statement::new(
        "UPDATE tenant_usage SET held = held + 1 WHERE tenant = ?1 AND hour_start = ?2",
        vec![tenant.into(), hour.into()],
    ))
    .await?;
    Ok(Reserved::OverLimit { limit })
}

/// One tenant's hour, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hour {
    pub hour_start: i64,
    pub sent: i64,
    pub held: i64,
}

/// `tenant`'s current hour (zeros when it sent nothing).
pub async fn this_hour(db: &impl Db, tenant: &str, now_ms: i64) -> Result<Hour, StoreError> {
    let hour = hour_start(now_ms);
    Ok(db
        .first(Statement::new(
            "SELECT hour_start, sent, held FROM tenant_usage WHERE tenant = ?1 AND hour_start = ?2",
            vec![tenant.into(), hour.into()],
        ))
        .await?
        .unwrap_or(Hour {
            hour_start: hour,
            sent: 0,
            held: 0,
        }))
}

/// Deletes hours older than `before_ms` (the daily prune).
pub async fn prune(db: &impl Db, before_ms: i64) -> Result<u64, StoreError> {
    db.run(Statement::new(
        "DELETE FROM tenant_usage WHERE hour_start < ?1",
        vec![before_ms.into()],
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_copy_waits_for_the_next_hour() {
        let at = 5 * HOUR_MS + 59 * 60_000 + 30_500;
        assert_eq!(hour_start(at), 5 * HOUR_MS);
        assert_eq!(seconds_to_next_hour(at), 30);
        assert_eq!(seconds_to_next_hour(5 * HOUR_MS), 3600);
    }

    #[test]
    fn a_tenants_own_limit_wins_and_zero_means_none() {
        assert_eq!(limit(None, 500), Some(500));
        assert_eq!(limit(Some(20), 500), Some(20));
        assert_eq!(limit(Some(0), 500), None);
        assert_eq!(limit(None, 0), None);
    }
}
