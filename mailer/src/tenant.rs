//! A tenant's mail settings (recipients, sender, subject prefix, zone), read
//! from D1 at most once per `TENANT_CACHE_SECONDS` per isolate. A notification
//! for a tenant that is not there is retried and then dead-lettered, never
//! sent to the deployment's own recipients.

use calhook_core::deliver::sendgrid::Mailbox;
use calhook_core::settings::tenant::TenantMail;
use calhook_core::settings::MailerSettings as Settings;
use calhook_core::settings::{SettingError, MAX_CACHED_TENANTS};
use calhook_core::store::StoreError;
use calhook_core::store::{tenants, usage};
use calhook_core::tenants::cache::{Cached, TtlCache};
use calhook_core::tenants::TenantId;
use calhook_platform::d1::D1;
use std::cell::RefCell;
use worker::Date;

thread_local! {
    static CACHE: RefCell<TtlCache<Option<TenantMail>>> = RefCell::new(TtlCache::new(MAX_CACHED_TENANTS));
}

/// Why a tenant's email cannot be sent now.
#[derive(Debug, thiserror::Error)]
pub enum TenantMailError {
    #[error("tenant {0} is not in the tenants table")]
    Unknown(String),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("could not read the tenant: {0}")]
    Store(#[from] StoreError),
}

/// Everything one email needs to know about who sends it to whom.
pub struct Mail {
    pub to: Vec<Mailbox>,
    pub from: Mailbox,
    pub notify_attendees: bool,
    pub subject_prefix: Option<String>,
    pub zone: Option<String>,
    /// `false`: a disabled tenant's (its reminders and follow-ups are dropped).
    pub tenant_enabled: bool,
    /// The tenant's emails-per-hour limit (`store::usage`); `None`: none.
    pub emails_per_hour: Option<u64>,
}

/// The tenant's settings, each falling back to the environment's.
pub async fn mail(
    db: &D1,
    settings: &Settings,
    tenant: Option<&TenantId>,
) -> Result<Mail, TenantMailError> {
    let own = match tenant {
        Some(id) => Some(lookup(db, settings, id).await?),
        None => None,
    };
    let emails_per_hour = match &own {
        Some(own) => usage::limit(own.emails_per_hour, settings.emails_per_hour),
        None => None,
    };
    let own = own.unwrap_or_default();
    Ok(Mail {
        to: match own.to {
            Some(to) => to,
            None => settings.to.clone()?,
        },
        from: match own.from {
            Some(from) => from,
            None => settings.from.clone()?,
        },
        notify_attendees: own.notify_attendees.unwrap_or(settings.notify_attendees),
        subject_prefix: own.subject_prefix,
        zone: own.time_zone.or_else(|| settings.default_time_zone.clone()),
        tenant_enabled: !own.disabled,
        emails_per_hour,
    })
}

async fn lookup(
    db: &D1,
    settings: &Settings,
    id: &TenantId,
) -> Result<TenantMail, TenantMailError> {
    let now = Date::now().as_millis();
    let ttl_ms = settings.tenant_cache_seconds * 1000;
    let found = match CACHE.with(|c| c.borrow_mut().get(id.as_str(), now, ttl_ms)) {
        Cached::Fresh(m) => m,
        Cached::Stale(_) | Cached::Missing => {
            let m = match tenants::get(db, id.as_str()).await? {
                Some(row) => Some(TenantMail {
                    disabled: !row.enabled,
                    ..row.settings.mail()?
                }),
                None => None,
            };
            CACHE.with(|c| c.borrow_mut().insert(id.as_str(), now, ttl_ms, m.clone()));
            m
        }
    };
    found.ok_or_else(|| TenantMailError::Unknown(id.to_string()))
}
