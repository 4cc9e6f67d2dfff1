//! What the console's overview and booking search read: the last 24 hours
//! per tenant, bookings starting soon, and bookings by uid, attendee or title.
//! A tenant's rows are named `<tenant>/…` (`tenants::namespaced_key`); the
//! single route's have no tenant (shown as `—`).

use super::{Db, Statement, StoreError};
use serde::Deserialize;

/// One tenant's (or, `tenant` empty, the single route's) last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TenantDay {
    pub tenant: String,
    pub events: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    pub dead_letters: i64,
}

pub async fn last_day(db: &impl Db, now_ms: i64) -> Result<Vec<TenantDay>, StoreError> {
    db.all(Statement::new(
        concat!(
            "WITH e AS (SELECT ", tenant_of!("key"), " AS tenant, COUNT(*) AS n FROM idempotency_keys WHERE updated_at >= ?1 GROUP BY 1), \
             d AS (SELECT ", tenant_of!("key"), " AS tenant, \
                  SUM(state = 'sent') AS sent, SUM(state IN ('pending', 'sending')) AS pending, SUM(state = 'failed') AS failed \
                  FROM deliveries WHERE updated_at >= ?1 GROUP BY 1), \
             l AS (SELECT ", tenant_of!("key"), " AS tenant, COUNT(*) AS n FROM dead_letters GROUP BY 1), \
             t AS (SELECT tenant FROM e UNION SELECT tenant FROM d UNION SELECT tenant FROM l) \
             SELECT t.tenant AS tenant, COALESCE(e.n, 0) AS events, COALESCE(d.sent, 0) AS sent, \
                    COALESCE(d.pending, 0) AS pending, COALESCE(d.failed, 0) AS failed, COALESCE(l.n, 0) AS dead_letters \
             FROM t LEFT JOIN e ON e.tenant = t.tenant LEFT JOIN d ON d.tenant = t.tenant LEFT JOIN l ON l.tenant = t.tenant \
             ORDER BY t.tenant"
        ),
        vec![(now_ms - 86_400_000).into()],
    ))
    .await
}

/// Accepted bookings starting in the next 24 hours.
pub async fn starting_soon(db: &impl Db, now_ms: i64) -> Result<i64, StoreError> {
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    Ok(db
        .first::<N>(Statement::new(
            "SELECT COUNT(*) AS n FROM bookings WHERE status = 'accepted' AND start_at >= ?1 AND start_at < ?2",
            vec![now_ms.into(), (now_ms + 86_400_000).into()],
        ))
        .await?
        .map_or(0, |r| r.n))
}

/// A booking as a search lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Found {
    pub uid: String,
    pub title: Option<String>,
    pub status: String,
    pub start_at: Option<i64>,
}

/// Bookings whose uid or title contains `query`, or with an attendee whose
/// address is `query`; the newest 50. An empty query lists the newest.
pub async fn search(db: &impl Db, query: &str) -> Result<Vec<Found>, StoreError> {
    let q = query.trim();
    let like = format!(
        "%{}%",
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    db.all(Statement::new(
        "SELECT uid, title, status, start_at FROM bookings \
         WHERE ?1 = '' OR uid LIKE ?2 ESCAPE '\\' OR title LIKE ?2 ESCAPE '\\' \
            OR uid IN (SELECT uid FROM booking_attendees WHERE email = lower(?1)) \
         ORDER BY first_seen_at DESC LIMIT 50",
        vec![q.into(), like.into()],
    ))
    .await
}
