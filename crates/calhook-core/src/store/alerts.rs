//! What the minute job may alert about (`crate::alerts`), and when each kind
//! was last emailed (table `alerts_sent`).

use super::{Db, Statement, StoreError};
use crate::alerts::{Candidate, Trouble};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    tenant: String,
    key_refused: i64,
    n: i64,
    newest_at: i64,
}

/// Dead letters per tenant (those SendGrid refused for the API key apart),
/// sources whose Cal.com API key was refused,
/// emails held over a tenant's quota this hour (reported once per hour: the
/// hour is the occurrence), and the outbox when its oldest row is older than
/// `outbox_age_ms`.
pub async fn candidates(
    db: &impl Db,
    now_ms: i64,
    outbox_age_ms: i64,
) -> Result<Vec<Candidate>, StoreError> {
    let rows: Vec<Row> = db
        .all(Statement::new(
            concat!(
                "SELECT ",
                tenant_of!("key"),
                " AS tenant, (reason LIKE '401%' OR reason LIKE '403%') AS key_refused, \
                 COUNT(*) AS n, MAX(dead_lettered_at) AS newest_at FROM dead_letters GROUP BY 1, 2"
            ),
            vec![],
        ))
        .await?;
    let mut out: Vec<Candidate> = rows
        .into_iter()
        .map(|r| Candidate {
            trouble: if r.key_refused != 0 {
                Trouble::SendgridKeyRefused
            } else {
                Trouble::DeadLetters
            },
            tenant: r.tenant,
            count: r.n,
            newest_at: r.newest_at,
        })
        .collect();
    #[derive(Deserialize)]
    struct Held {
        tenant: String,
        held: i64,
        hour_start: i64,
    }
    let held: Vec<Held> = db
        .all(Statement::new(
            "SELECT tenant, held, hour_start FROM tenant_usage WHERE hour_start = ?1 AND held > 0",
            vec![super::usage::hour_start(now_ms).into()],
        ))
        .await?;
    out.extend(held.into_iter().map(|h| Candidate {
        trouble: Trouble::QuotaHeld,
        tenant: h.tenant,
        count: h.held,
        newest_at: h.hour_start,
    }));
    #[derive(Deserialize)]
    struct Refused {
        source: String,
        refused_at: i64,
    }
    let refused: Vec<Refused> = db
        .all(Statement::new(
            "SELECT source, refused_at FROM reconcile_sources WHERE refused_at IS NOT NULL",
            vec![],
        ))
        .await?;
    out.extend(refused.into_iter().map(|r| Candidate {
        trouble: Trouble::ReconcileKeyRefused,
        tenant: r.source,
        count: 1,
        newest_at: r.refused_at,
    }));
    let depth = super::outbox::depth(db).await?;
    if depth
        .oldest_created_at
        .is_some_and(|oldest| now_ms - oldest > outbox_age_ms)
    {
        out.push(Candidate {
            trouble: Trouble::OutboxStale,
            tenant: String::new(),
            count: depth.count,
            newest_at: now_ms,
        });
    }
    Ok(out)
}

/// When `trouble` was last emailed for `tenant`.
pub async fn last_sent(
    db: &impl Db,
    trouble: Trouble,
    tenant: &str,
) -> Result<Option<i64>, StoreError> {
    #[derive(Deserialize)]
    struct Sent {
        sent_at: i64,
    }
    Ok(db
        .first::<Sent>(Statement::new(
            "SELECT sent_at FROM alerts_sent WHERE trouble = ?1 AND tenant = ?2",
            vec![trouble.as_str().into(), tenant.into()],
        ))
        .await?
        .map(|s| s.sent_at))
}

/// Records the alert as sent now, unless another run recorded one since
/// `seen_at` (two overlapping runs send it once).
pub async fn claim(
    db: &impl Db,
    trouble: Trouble,
    tenant: &str,
    seen_at: Option<i64>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let changed = db
        .run(Statement::new(
            "INSERT INTO alerts_sent (trouble, tenant, sent_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(trouble, tenant) DO UPDATE SET sent_at = excluded.sent_at \
             WHERE alerts_sent.sent_at IS ?4",
            vec![
                trouble.as_str().into(),
                tenant.into(),
                now_ms.into(),
                seen_at.into(),
            ],
        ))
        .await?;
    Ok(changed == 1)
}
