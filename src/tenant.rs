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

use crate::sealing::SubtleKey;
use calhook_core::cache::{Cached, TtlCache};
use calhook_core::settings::{NotifyEvents, SettingError, MAX_CACHED_TENANTS};
use calhook_core::signature::WebhookSecrets;
use calhook_core::store::tenants::{self, TenantRow};
use calhook_core::tenants::{open, MasterKey, TenantError, TenantId};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Date, Env};

use crate::error::ReceiverError;
use crate::settings::{text, Settings};
use crate::store::d1;

/// The Worker secret that seals tenants' webhook secrets.
pub const MASTER_KEY: &str = "TENANT_SECRETS_KEY";
/// During a master-key rotation: the previous key, still opening old rows.
pub const PREVIOUS_MASTER_KEY: &str = "TENANT_SECRETS_KEY_PREVIOUS";

/// A tenant ready to verify a webhook.
pub struct Tenant {
    pub id: TenantId,
    /// `None`: it has no secret, and refuses every request.
    pub secrets: Option<WebhookSecrets>,
    pub notify: NotifyEvents,
}

thread_local! {
    /// `None`: no such tenant, or disabled.
    static CACHE: RefCell<TtlCache<Option<Rc<Tenant>>>> = RefCell::new(TtlCache::new(MAX_CACHED_TENANTS));
}

/// Forgets a tenant in this isolate (after an admin change).
pub fn forget(id: &str) {
    CACHE.with(|c| c.borrow_mut().remove(id));
}

/// Forgets every tenant in this isolate (a tenant was created: its slug may be
/// cached as unknown).
pub fn forget_all() {
    CACHE.with(|c| *c.borrow_mut() = TtlCache::new(MAX_CACHED_TENANTS));
}

/// The master key, and the previous one during a rotation, imported into
/// the runtime's WebCrypto.
pub struct MasterKeys {
    pub current: SubtleKey,
    pub previous: Option<SubtleKey>,
}

/// Reads and imports `TENANT_SECRETS_KEY` (and `TENANT_SECRETS_KEY_PREVIOUS`).
pub async fn master_keys(env: &Env) -> Result<MasterKeys, ReceiverError> {
    let read = async |name: &'static str| -> Result<Option<SubtleKey>, ReceiverError> {
        let Some(t) = text(env, name).filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let key = MasterKey::from_hex(&t).map_err(|e| SettingError::Invalid {
            name,
            reason: e.to_string(),
        })?;
        let imported = SubtleKey::import(&key)
            .await
            .ok_or(ReceiverError::Unavailable {
                what: "crypto.subtle",
                detail: format!("importKey refused {name}"),
            })?;
        Ok(Some(imported))
    };
    let current = read(MASTER_KEY)
        .await?
        .ok_or(SettingError::Missing { name: MASTER_KEY })?;
    let previous = read(PREVIOUS_MASTER_KEY).await?;
    Ok(MasterKeys { current, previous })
}

impl MasterKeys {
    /// Opens a sealed secret with the current key, else the previous one.
    pub async fn open(&self, id: &TenantId, sealed: &str) -> Result<String, TenantError> {
        match open(&self.current, id, sealed).await {
            Err(_) => self.open_with_previous(id, sealed).await,
            opened => opened,
        }
    }

    /// Opens a sealed secret with the previous key (none: it does not open).
    pub async fn open_with_previous(
        &self,
        id: &TenantId,
        sealed: &str,
    ) -> Result<String, TenantError> {
        match &self.previous {
            Some(previous) => open(previous, id, sealed).await,
            None => Err(TenantError::DoesNotOpen),
        }
    }
}

/// The enabled tenant named `slug`, or 404.
pub async fn find(env: &Env, settings: &Settings, slug: &str) -> Result<Rc<Tenant>, ReceiverError> {
    let Ok(id) = TenantId::parse(slug) else {
        return Err(ReceiverError::TenantNotFound);
    };
    let now = Date::now().as_millis();
    let ttl_ms = settings.tenant_cache_seconds * 1000;
    let stale = match CACHE.with(|c| c.borrow().get(id.as_str(), now, ttl_ms)) {
        Cached::Fresh(tenant) => return tenant.ok_or(ReceiverError::TenantNotFound),
        Cached::Stale(tenant) => Some(tenant),
        Cached::Missing => None,
    };
    let row = match tenants::get(&d1(env)?, id.as_str()).await {
        Ok(row) => row,
        // D1 down: what this isolate knew a moment ago beats refusing.
        Err(_) if stale.is_some() => return stale.flatten().ok_or(ReceiverError::TenantNotFound),
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
    tenant.ok_or(ReceiverError::TenantNotFound)
}

/// Opens a stored tenant's secrets and reads its settings.
async fn ready(
    env: &Env,
    environment_notify: &NotifyEvents,
    id: TenantId,
    row: &TenantRow,
) -> Result<Tenant, ReceiverError> {
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
