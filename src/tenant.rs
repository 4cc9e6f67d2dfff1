//! `/webhooks/cal/{tenant}`: which tenant a request is for, with its opened
//! secrets and settings, from a per-isolate cache.
//!
//! A warm isolate answers from memory: a tenant is read from D1 (and its
//! secrets opened) at most once per `TENANT_CACHE_SECONDS` (default 30), so a
//! rotation or a disable takes effect within that time everywhere, and at once
//! in the isolate that served the admin request. Unknown slugs are cached too
//! (a flood of one bad slug costs one D1 read per TTL); the cache holds at most
//! `MAX_CACHED_TENANTS` tenants. When D1 fails, an expired entry is used rather than
//! refusing a tenant whose secrets were known a moment ago.

use calhook_core::answer::ApiError;
use calhook_core::inbound::signature::WebhookSecrets;
use calhook_core::ingest::Tenant;
use calhook_core::settings::{NotifyEvents, ReceiverSettings, SettingError, MAX_CACHED_TENANTS};
use calhook_core::store::tenants::{self, TenantRow};
use calhook_core::tenants::cache::{Cached, TtlCache};
use calhook_core::tenants::TenantId;
use calhook_platform::bindings::d1;
use calhook_platform::sealing::{master_keys, MASTER_KEY, PREVIOUS_MASTER_KEY};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

thread_local! {
    /// `None`: no such tenant, or disabled.
    static CACHE: RefCell<TtlCache<Option<Rc<Tenant>>>> = RefCell::new(TtlCache::new(MAX_CACHED_TENANTS));
}

/// Forgets a tenant in this isolate (after an admin change).
fn forget(id: &str) {
    CACHE.with(|c| c.borrow_mut().remove(id));
}

/// Forgets every tenant in this isolate (a tenant was created: its slug may be
/// cached as unknown).
fn forget_all() {
    CACHE.with(|c| *c.borrow_mut() = TtlCache::new(MAX_CACHED_TENANTS));
}

/// An admin change to a tenant (a forwarded `/admin/tenants…` request that
/// succeeded) is effective at once in this isolate (other isolates see it
/// within `TENANT_CACHE_SECONDS`).
pub fn forget_changed(path: &str) {
    let Some(rest) = path.strip_prefix("/admin/tenants") else {
        return;
    };
    match rest.trim_start_matches('/').split('/').next() {
        // Created: its slug may be cached as unknown.
        None | Some("") => forget_all(),
        Some(id) => forget(id),
    }
}

/// The enabled tenant named `slug`, or 404.
pub async fn find(
    env: &Env,
    settings: &ReceiverSettings,
    slug: &str,
) -> Result<Rc<Tenant>, ApiError> {
    let Ok(id) = TenantId::parse(slug) else {
        return Err(ApiError::TenantNotFound);
    };
    let now = calhook_platform::now_ms() as u64;
    let ttl_ms = settings.tenant_cache_seconds * 1000;
    let stale = match CACHE.with(|c| c.borrow().get(id.as_str(), now, ttl_ms)) {
        Cached::Fresh(tenant) => return tenant.ok_or(ApiError::TenantNotFound),
        Cached::Stale(tenant) => Some(tenant),
        Cached::Missing => None,
    };
    let row = match tenants::get(&d1(env)?, id.as_str()).await {
        Ok(row) => row,
        // D1 down: what this isolate knew a moment ago beats refusing.
        Err(_) if stale.is_some() => return stale.flatten().ok_or(ApiError::TenantNotFound),
        Err(e) => return Err(e.into()),
    };
    let tenant = match row.filter(|r| r.enabled) {
        Some(row) => Some(Rc::new(
            ready(env, &settings.notify, id.clone(), &row).await?,
        )),
        None => None,
    };
    CACHE.with(|c| {
        c.borrow_mut()
            .insert(id.as_str(), now, ttl_ms, tenant.clone())
    });
    tenant.ok_or(ApiError::TenantNotFound)
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
    })
}
