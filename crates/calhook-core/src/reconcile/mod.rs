//! Reconciling the booking ledger with Cal.com's API: Cal.com sends each
//! webhook once and never retries, so a change whose webhook never reached
//! calhook (a route mistake, a deploy gap, a disabled subscription) is found
//! by reading the bookings Cal.com changed since the last run, and sent as the
//! webhook would have been, marked recovered.
//!
//! - **One email per change, whichever comes first.** A booking's change of
//!   status has one key ([`crate::inbound::identity::change_key`]) that the
//!   webhook (on a reconciled source) and the reconcile run both claim, in
//!   the transaction that keeps the notification: the second is a duplicate.
//!   The same key names both notifications, so the mailer's ledger stops a
//!   second message too (the webhook's is queued while D1 records it). The
//!   ledger says what is already known, so most bookings cost nothing.
//! - **No gap, no repeat.** Pages are read oldest change first; each booking's
//!   changes (claims, outbox rows, ledger) are one transaction; the source's
//!   high-water mark moves only past what was applied, and the next run reads
//!   from it minus an overlap. A run that stops (a crash, its budget, an error)
//!   leaves the rest to the next.
//! - **Within one invocation's limits.** Requests and recovered bookings per
//!   run (shared by its sources, least recently run first) are settings; a 429 leaves the source for its next run;
//!   a refused key is not tried again until it changes.

pub mod api;
pub mod decide;

use crate::keys::NotificationKey;
use crate::settings::NotifyEvents;
use crate::store::bookings;
use crate::store::outbox::{self, Accept, Recorded};
use crate::store::reconcile::{self as state, SourceState};
use crate::store::{Db, Statement, StoreError};
use crate::tenants::{ledger_uid, TenantId};
use api::{BookingsPage, CalApiError, CalBooking, ListRequest};
use sha2::{Digest, Sha256};

/// Where a source's bookings come from: Cal.com's API ([`Http`]), or a list
/// in a test.
#[allow(async_fn_in_trait)]
pub trait Bookings {
    /// The bookings changed at or after `after_ms`, oldest change first.
    async fn page(&self, after_ms: i64, take: u64, skip: u64) -> Result<BookingsPage, CalApiError>;
}

/// One HTTP `GET` (the admin worker's fetch): the status and the body.
#[allow(async_fn_in_trait)]
pub trait Get {
    async fn get(&self, request: &ListRequest) -> Result<(u16, Vec<u8>), String>;
}

/// Cal.com's API v2 at `base`, read with `key`.
pub struct Http<'a, G> {
    pub get: G,
    pub base: &'a str,
    pub key: &'a str,
}

impl<G: Get> Bookings for Http<'_, G> {
    async fn page(&self, after_ms: i64, take: u64, skip: u64) -> Result<BookingsPage, CalApiError> {
        let request = api::list_request(self.base, self.key, after_ms, take, skip);
        let (status, body) = self
            .get
            .get(&request)
            .await
            .map_err(CalApiError::Unreachable)?;
        api::read_list(status, &body)
    }
}

/// A source to reconcile: the single route or a tenant.
pub struct Source<'a> {
    pub tenant: Option<&'a TenantId>,
    /// Its last run (`None`: it never ran): where this one starts.
    pub last: Option<&'a SourceState>,
    /// Which changes are emailed; the others only reach the ledger.
    pub notify: &'a NotifyEvents,
    /// [`fingerprint`] of its API key.
    pub key: String,
}

impl Source<'_> {
    pub fn name(&self) -> String {
        source_name(self.tenant)
    }
}

/// A source's name in `reconcile_sources`: the tenant id, or `""` for the
/// single route.
pub fn source_name(tenant: Option<&TenantId>) -> String {
    tenant.map_or(state::SINGLE_ROUTE.to_owned(), |t| t.to_string())
}

/// A key's fingerprint: which key Cal.com refused, without keeping the key.
pub fn fingerprint(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// How each request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bookings per request (`take`, at most 250).
    pub page_size: u64,
    /// Read from the mark minus this, for changes committed late in Cal.com.
    pub overlap_ms: i64,
    /// How long a recovered change's claim is kept (`IDEMPOTENCY_TTL_SECONDS`).
    pub ttl_ms: i64,
}

/// What one run may still do, shared by its sources: what one invocation's
/// D1 queries and subrequests allow ([`crate::jobs::reconcile_run_cost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests to Cal.com.
    pub pages: u64,
    /// Bookings whose missed changes are applied (a transaction each).
    pub recoveries: u64,
}

/// An operator's `since` (RFC 3339) in ms.
pub fn since_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// How a run was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The scheduled run: a key Cal.com refused is not tried again.
    Scheduled,
    /// An operator's run (`/admin/reconcile`), optionally from `since_ms`.
    Manual { since_ms: Option<i64> },
}

/// A source's run: its new state, and the recovered notifications to queue
/// now (their outbox rows are kept until the mailer has them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// What it did; `state.more`: it stopped at the run's budget.
    pub state: SourceState,
    pub queued: Vec<(NotificationKey, String)>,
}

/// Whether the scheduled job runs a source now: every `every_ms`, and at
/// the next minute again when its last run stopped with more to do.
pub fn due(last: Option<&SourceState>, every_ms: i64, now_ms: i64) -> bool {
    match last {
        Some(SourceState {
            last_run_at: Some(at),
            more,
            ..
        }) => *more || now_ms - at >= every_ms,
        _ => true,
    }
}

/// Reconciles one source from its last run's state, within what is `left`
/// of the run's budget.
pub async fn run_source(
    db: &impl Db,
    cal: &impl Bookings,
    source: &Source<'_>,
    limits: Limits,
    asked: Asked,
    left: &mut Budget,
    now_ms: i64,
) -> Result<Run, StoreError> {
    let last = source.last.cloned().unwrap_or_default();
    let mut next = SourceState {
        source: source.name(),
        mark_at: last.mark_at,
        last_run_at: Some(now_ms),
        refused_key: last.refused_key.clone(),
        refused_at: last.refused_at,
        ..SourceState::default()
    };
    let mut queued = Vec::new();
    if asked == Asked::Scheduled && last.refused_key.as_deref() == Some(source.key.as_str()) {
        next.error = Some("Cal.com refused this API key; set a new one".into());
        state::save(db, &next).await?;
        return Ok(Run {
            state: next,
            queued,
        });
    }
    let start = match asked {
        Asked::Manual {
            since_ms: Some(since),
        } => since,
        _ => last.mark_at.unwrap_or(now_ms) - limits.overlap_ms,
    };
    let token = format!("reconcile-{now_ms}");
    let mut skip = 0;
    'pages: loop {
        if left.pages == 0 {
            next.more = true;
            break;
        }
        left.pages -= 1;
        let page = match cal.page(start, limits.page_size, skip).await {
            Ok(page) => page,
            Err(e) => {
                if let CalApiError::KeyRefused { .. } = e {
                    next.refused_key = Some(source.key.clone());
                    next.refused_at = Some(now_ms);
                }
                next.error = Some(e.to_string());
                break;
            }
        };
        let uids: Vec<String> = page
            .data
            .iter()
            .map(|b| ledger_uid(source.tenant, &b.uid))
            .collect();
        let known = state::known(db, &uids).await?;
        for (b, uid) in page.data.iter().zip(&uids) {
            next.checked += 1;
            let missed = decide::missed(b, known.get(uid).copied());
            if !missed.is_empty() {
                if left.recoveries == 0 {
                    next.more = true;
                    break 'pages;
                }
                left.recoveries -= 1;
                queued.extend(apply(db, source, b, &missed, &token, limits.ttl_ms, now_ms).await?);
                next.recovered += missed.len() as i64;
            }
            let changed = b.changed_at().timestamp_millis();
            next.mark_at = Some(next.mark_at.map_or(changed, |m| m.max(changed)));
        }
        if !page.pagination.has_next_page || page.data.is_empty() {
            // Everything Cal.com listed is applied: the next run need not
            // look back past now (less the overlap, for late commits), even
            // if nothing changed for a while.
            next.mark_at = Some(next.mark_at.map_or(now_ms, |m| m.max(now_ms)));
            break;
        }
        skip += page.pagination.returned_items.max(page.data.len() as u64);
    }
    if next.error.is_none() {
        // A key that reads again is no longer refused.
        next.refused_key = None;
        next.refused_at = None;
    }
    state::save(db, &next).await?;
    Ok(Run {
        state: next,
        queued,
    })
}

/// A booking's missed changes in one transaction: for each one emailed, its
/// change claimed and its notification kept in the outbox (both only if the
/// webhook did not get there first), then the ledger. Returns what to queue.
async fn apply(
    db: &impl Db,
    source: &Source<'_>,
    b: &CalBooking,
    missed: &[decide::Missed],
    token: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<Vec<(NotificationKey, String)>, StoreError> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut kept: Vec<(usize, NotificationKey, String)> = Vec::new();
    for m in missed {
        let Some(key) = decide::key(&m.trigger, b, source.tenant) else {
            continue;
        };
        let n = decide::notification(m, b, &key, source.tenant);
        let mut updates = bookings::updates(&n, now_ms);
        let emailed = source.notify.includes(&m.trigger);
        if emailed {
            let message = n
                .to_message()
                .map_err(|e| StoreError::Decode(e.to_string()))?;
            let notification_key = NotificationKey::new(key.as_str());
            let record = outbox::record_statements(&Accept {
                key: &key,
                change: None,
                notification_key: &notification_key,
                repeat: None,
                trigger: m.trigger.as_str(),
                token,
                notification: &message,
                now_ms,
                ttl_ms,
            });
            kept.push((
                statements.len() + record.len() - 1,
                notification_key,
                message,
            ));
            statements.extend(record);
        }
        updates.iter_mut().for_each(|u| u.emailed = emailed);
        statements.extend(updates.iter().flat_map(|u| bookings::statements(u, now_ms)));
    }
    let changes = db.batch(statements).await?;
    Ok(kept
        .into_iter()
        .filter(|(at, _, _)| outbox::recorded(&changes, *at) == Recorded::New)
        .map(|(_, key, message)| (key, message))
        .collect())
}
