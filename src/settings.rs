//! The receiver's settings, read from the worker's vars and secrets.

use calhook_core::settings::{self as core, NotifyEvents};
use calhook_core::signature::{SecretNotConfigured, WebhookSecrets};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

use crate::error::ReceiverError;

/// Which store holds idempotency keys (`IDEMPOTENCY_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Atomic claims (default).
    D1,
    /// Eventually consistent: a narrow window for duplicates across locations.
    Kv,
}

pub struct Settings {
    /// The single-tenant route's `CAL_WEBHOOK_SECRET` (a deployment serving
    /// only tenants may leave it unset: that route then refuses everything).
    pub secrets: Result<WebhookSecrets, SecretNotConfigured>,
    pub max_body_bytes: u64,
    pub notify: NotifyEvents,
    pub ttl_seconds: u64,
    /// Oldest signed `createdAt` accepted (0: no replay check).
    pub max_event_age_seconds: u64,
    /// Copies of a repeatable event are this close in `createdAt`.
    pub copy_window_ms: u64,
    pub store: StoreKind,
    /// How long an isolate trusts what it read of a tenant (0: read every time).
    pub tenant_cache_seconds: u64,
    /// Refused, unverified requests logged per isolate and minute.
    pub log_refused_per_minute: u64,
}

pub(crate) fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// `REMINDER_OFFSETS` (minutes, nearest first) and `FOLLOW_UP_AFTER`.
pub fn reminder_schedule(env: &Env) -> Result<(Vec<u32>, Option<u32>), ReceiverError> {
    let offsets = core::minutes_list(
        "REMINDER_OFFSETS",
        text(env, "REMINDER_OFFSETS").as_deref(),
        core::DEFAULT_REMINDER_OFFSETS,
    )?;
    let follow_up =
        core::optional_minutes("FOLLOW_UP_AFTER", text(env, "FOLLOW_UP_AFTER").as_deref())?;
    Ok((offsets, follow_up))
}

/// A whole-number setting read outside a webhook request (cron, admin routes).
pub fn number(
    env: &Env,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ReceiverError> {
    Ok(core::number(
        name,
        text(env, name).as_deref(),
        default,
        min,
        max,
    )?)
}

thread_local! {
    /// An isolate's vars and secrets never change while it lives (a new
    /// deployment or `wrangler dev` reload starts new isolates), so they are
    /// read once. An invalid setting is not kept: it is read again next time.
    static CACHED: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

impl Settings {
    /// The settings, read on an isolate's first request and kept.
    pub fn get(env: &Env) -> Result<Rc<Self>, ReceiverError> {
        if let Some(s) = CACHED.with(|c| c.borrow().clone()) {
            return Ok(s);
        }
        let s = Rc::new(Self::from_env(env)?);
        CACHED.with(|c| *c.borrow_mut() = Some(s.clone()));
        Ok(s)
    }

    /// Reads every setting.
    fn from_env(env: &Env) -> Result<Self, ReceiverError> {
        let secrets = WebhookSecrets::from_setting(text(env, "CAL_WEBHOOK_SECRET").as_deref());
        let number = |name: &'static str, default: u64, min: u64, max: u64| {
            core::number(name, text(env, name).as_deref(), default, min, max)
        };
        let max_body_bytes = number(
            "MAX_BODY_BYTES",
            core::DEFAULT_MAX_BODY_BYTES,
            1024,
            100 * 1024 * 1024,
        )?;
        let notify = NotifyEvents::parse(text(env, NotifyEvents::SETTING).as_deref())?;
        let ttl_seconds = number(
            "IDEMPOTENCY_TTL_SECONDS",
            core::DEFAULT_IDEMPOTENCY_TTL_SECONDS,
            60,
            365 * 24 * 3600,
        )?;
        let max_event_age_seconds =
            core::max_event_age(text(env, "MAX_EVENT_AGE_SECONDS").as_deref(), ttl_seconds)?;
        let copy_window_ms = number(
            "COPY_WINDOW_MS",
            core::DEFAULT_COPY_WINDOW_MS,
            1,
            core::MAX_COPY_WINDOW_MS,
        )?;
        let store = match text(env, "IDEMPOTENCY_STORE").as_deref().map(str::trim) {
            None | Some("") | Some("d1") => StoreKind::D1,
            Some("kv") => StoreKind::Kv,
            Some(other) => {
                return Err(core::SettingError::Invalid {
                    name: "IDEMPOTENCY_STORE",
                    reason: format!("{other:?}: use d1 or kv"),
                }
                .into())
            }
        };
        let tenant_cache_seconds = number(
            "TENANT_CACHE_SECONDS",
            core::DEFAULT_TENANT_CACHE_SECONDS,
            0,
            core::MAX_TENANT_CACHE_SECONDS,
        )?;
        let log_refused_per_minute = number(
            "LOG_REFUSED_PER_MINUTE",
            crate::log::DEFAULT_REFUSED_PER_MINUTE,
            0,
            1_000_000,
        )?;
        Ok(Self {
            log_refused_per_minute,
            tenant_cache_seconds,
            secrets,
            max_body_bytes,
            notify,
            ttl_seconds,
            max_event_age_seconds,
            copy_window_ms,
            store,
        })
    }
}
