//! `/webhooks/cal/{tenant}`: which tenant a request is for, with its opened
//! secrets and settings, from a per-isolate cache.
//!
//! A warm isolate answers from memory: a tenant is read from D1 (and its
//! secrets opened) at most once per `TENANT_CACHE_SECONDS` (default 30), so a
//! rotation or a disable takes effect within that time everywhere, and at once
//! in the isolate that served the admin request. Unknown slugs are cached too
//! (a flood of one bad slug costs one D1 read per TTL), apart from the known
//! ones (`MAX_CACHED_TENANTS` each, least recently used evicted), so made-up
//! slugs cannot evict a known tenant. When D1 fails, an expired entry is used
//! rather than refusing a tenant whose secrets were known a moment ago, and
//! with none, the tenant's copy in `TENANTS_KV`.

use calhook_core::answer::ApiError;
use calhook_core::inbound::signature::WebhookSecrets;
use calhook_core::ingest::Tenant;
use calhook_core::settings::{NotifyEvents, ReceiverSettings, SettingError, MAX_CACHED_TENANTS};
use calhook_core::store::tenants::{self, TenantRow};
use calhook_core::tenants::cache::{Cached, TtlCache};
use calhook_core::tenants::{replica, TenantId, TenantRefusal};
use calhook_platform::bindings::{d1, tenants_kv};
use calhook_platform::sealing::{master_keys, MASTER_KEY, PREVIOUS_MASTER_KEY};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

/// What a slug resolves to.
pub type Found = Result<Rc<Tenant>, TenantRefusal>;

thread_local! {
    /// Enabled tenants: only an admin adds to these.
    static KNOWN: RefCell<TtlCache<Rc<Tenant>>> = RefCell::new(TtlCache::new(MAX_CACHED_TENANTS));
    /// Slugs refused (unknown or disabled): anyone can add to these, and
    /// evict only each other.
    static REFUSED: RefCell<TtlCache<TenantRefusal>> = RefCell::new(TtlCache::new(MAX_CACHED_TENANTS));
}

/// Forgets a tenant in this isolate (after an admin change).
fn forget(id: &str) {
    KNOWN.with(|c| c.borrow_mut().remove(id));
    REFUSED.with(|c| c.borrow_mut().remove(id));
}

/// Forgets every refused slug in this isolate (a tenant was created: its
/// slug may be cached as unknown).
fn forget_refused() {
    REFUSED.with(|c| c.borrow_mut().clear());
}

/// An admin change to a tenant (a forwarded `/admin/tenants…` request that
/// succeeded) is effective at once in this isolate (other isolates see it
/// within `TENANT_CACHE_SECONDS`).
pub fn forget_changed(path: &str) {
    let Some(rest) = path
        .strip_prefix("/admin/tenants")
        .or_else(|| path.strip_prefix("/admin/ui/tenants"))
    else {
        return;
    };
    match rest.trim_start_matches('/').split('/').next() {
        // Created: its slug may be cached as unknown.
        None | Some("") => forget_refused(),
        Some(id) => forget(id),
    }
}

fn cached(id: &str, now: u64, ttl_ms: u64) -> Cached<Found> {
    match KNOWN.with(|c| c.borrow_mut().get(id, now, ttl_ms)) {
        Cached::Fresh(t) => Cached::Fresh(Ok(t)),
        Cached::Stale(t) => Cached::Stale(Ok(t)),
        Cached::Missing => match REFUSED.with(|c| c.borrow_mut().get(id, now, ttl_ms)) {
            Cached::Fresh(r) => Cached::Fresh(Err(r)),
            Cached::Stale(r) => Cached::Stale(Err(r)),
            Cached::Missing => Cached::Missing,
        },
    }
}

fn remember(id: &str, now: u64, ttl_ms: u64, found: &Found) {
    match found {
        Ok(t) => {
            REFUSED.with(|c| c.borrow_mut().remove(id));
            KNOWN.with(|c| c.borrow_mut().insert(id, now, ttl_ms, t.clone()));
        }
        Err(r) => {
            KNOWN.with(|c| c.borrow_mut().remove(id));
            REFUSED.with(|c| c.borrow_mut().insert(id, now, ttl_ms, *r));
        }
    }
}

/// The tenant named `slug`, or why its route verifies nothing. D1 first; when
/// D1 fails, what this isolate knew a moment ago, else the copy in
/// `TENANTS_KV` (`calhook_core::tenants::replica`); only when both fail, 503.
pub async fn find(env: &Env, settings: &ReceiverSettings, slug: &str) -> Result<Found, ApiError> {
    let Ok(id) = TenantId::parse(slug) else {
        return Ok(Err(TenantRefusal::Unknown));
    };
    let now = calhook_platform::now_ms() as u64;
    let ttl_ms = settings.tenant_cache_seconds * 1000;
    let stale = match cached(id.as_str(), now, ttl_ms) {
        Cached::Fresh(found) => return Ok(found),
        Cached::Stale(found) => Some(found),
        Cached::Missing => None,
    };
    let read = match d1(env) {
        Ok(db) => tenants::get(&db, id.as_str()).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let row = match read {
        Ok(row) => row,
        // D1 down: what this isolate knew a moment ago beats refusing.
        Err(_) if stale.is_some() => return Ok(stale.unwrap_or(Err(TenantRefusal::Unknown))),
        Err(e) => from_replica(env, id.as_str()).await.map_err(|_| e)?,
    };
    let found = match row {
        Some(row) if row.enabled => Ok(Rc::new(
            ready(env, &settings.notify, id.clone(), &row).await?,
        )),
        Some(_) => Err(TenantRefusal::Disabled),
        None => Err(TenantRefusal::Unknown),
    };
    remember(id.as_str(), now, ttl_ms, &found);
    Ok(found)
}

/// The tenant's row from its copy in KV (D1 failed).
async fn from_replica(env: &Env, id: &str) -> Result<Option<TenantRow>, ApiError> {
    Ok(replica::read(&tenants_kv(env)?, id).await?)
}

/// Opens a stored tenant's secrets and reads its settings.
async fn ready(
    env: &Env,
    environment_notify: &NotifyEvents,
    id: TenantId,
    row: &TenantRow,
) -> Result<Tenant, ApiError> {
    let stored = row.secrets();
    let secrets = if stored.is_empty() {
        None
    } else {
        let keys = master_keys(env).await?;
        let mut opened = Vec::with_capacity(stored.len());
        for s in &stored {
            if let Ok(secret) = keys.open(&id, &s.sealed).await {
                opened.push(secret);
            }
        }
        if opened.is_empty() {
            // Never fall back to accepting: this is a key problem to fix.
            return Err(SettingError::Invalid {
                name: MASTER_KEY,
                reason: format!(
                    "none of tenant {id}'s {} secret(s) opens with it (was the key changed without {PREVIOUS_MASTER_KEY}?)",
                    stored.len()
                ),
            }
            .into());
        }
        WebhookSecrets::from_list(opened)
    };
    let notify = row
        .settings
        .notify_events(environment_notify)
        .map_err(|e| SettingError::Invalid {
            name: "notify_events",
            reason: format!("tenant {id}: {e}"),
        })?;
    Ok(Tenant {
        id,
        secrets,
        notify,
        reconciles: row.cal_api_key.is_some(),
    })
}
