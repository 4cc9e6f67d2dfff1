//! The deployment at a glance (`GET /admin/status`, `calhook status`, the
//! console's overview): what waits, what failed, what was held, and which
//! unexpected payload versions Cal.com sent.

use super::outbox::{self, Depth};
use super::{Db, Statement, StoreError};
use serde::{Deserialize, Serialize};

/// Counts one delivery with an unexpected `X-Cal-Webhook-Version`.
pub fn count_version(version: &str, now_ms: i64) -> Statement {
    Statement::new(
        "INSERT INTO payload_versions (version, seen, first_seen_at, last_seen_at) VALUES (?1, 1, ?2, ?2) \
         ON CONFLICT(version) DO UPDATE SET seen = seen + 1, last_seen_at = excluded.last_seen_at",
        vec![version.into(), now_ms.into()],
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSeen {
    pub version: String,
    pub seen: i64,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    dead_letters: i64,
    tenants: i64,
    held_this_hour: i64,
    sent_this_hour: i64,
}

/// The overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub outbox: Depth,
    pub outbox_oldest_age_seconds: Option<i64>,
    pub dead_letters: i64,
    pub tenants: i64,
    /// Tenants' emails counted and held back this hour (`store::usage`).
    pub tenant_emails_this_hour: i64,
    pub tenant_emails_held_this_hour: i64,
    /// calhook is written for this `X-Cal-Webhook-Version`.
    pub payload_version: &'static str,
    /// Other versions Cal.com sent, most recent first.
    pub unexpected_payload_versions: Vec<VersionSeen>,
}

pub async fn status(db: &impl Db, now_ms: i64) -> Result<Status, StoreError> {
    let depth = outbox::depth(db).await?;
    let hour = super::usage::hour_start(now_ms);
    let counts: Counts = db
        .first(Statement::new(
            "SELECT (SELECT COUNT(*) FROM dead_letters) AS dead_letters, \
                    (SELECT COUNT(*) FROM tenants) AS tenants, \
                    (SELECT COALESCE(SUM(held), 0) FROM tenant_usage WHERE hour_start = ?1) AS held_this_hour, \
                    (SELECT COALESCE(SUM(sent), 0) FROM tenant_usage WHERE hour_start = ?1) AS sent_this_hour",
            vec![hour.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Decode("no status row".into()))?;
    let versions = db
        .all(Statement::new(
            "SELECT version, seen, first_seen_at, last_seen_at FROM payload_versions \
             ORDER BY last_seen_at DESC LIMIT 20",
            vec![],
        ))
        .await?;
    Ok(Status {
        outbox_oldest_age_seconds: depth.oldest_age_seconds(now_ms),
        outbox: depth,
        dead_letters: counts.dead_letters,
        tenants: counts.tenants,
        tenant_emails_this_hour: counts.sent_this_hour,
        tenant_emails_held_this_hour: counts.held_this_hour,
        payload_version: crate::inbound::version::WRITTEN_FOR,
        unexpected_payload_versions: versions,
    })
}
