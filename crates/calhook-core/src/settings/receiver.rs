//! The receiver's settings, read once per isolate from its vars and secrets.

use super::{max_event_age, NotifyEvents, SettingError, Vars, LOG_REFUSED_PER_MINUTE};
use super::{COPY_WINDOW_MS, IDEMPOTENCY_TTL_SECONDS, MAX_BODY_BYTES, TENANT_CACHE_SECONDS};
use crate::inbound::signature::{SecretNotConfigured, WebhookSecrets};

/// Which store holds idempotency keys (`IDEMPOTENCY_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Atomic claims (default).
    D1,
    /// Eventually consistent: a narrow window for duplicates across locations.
    Kv,
}

impl StoreKind {
    fn parse(raw: Option<&str>) -> Result<Self, SettingError> {
        match raw.map(str::trim) {
            None | Some("") | Some("d1") => Ok(Self::D1),
            Some("kv") => Ok(Self::Kv),
            Some(other) => Err(SettingError::Invalid {
                name: "IDEMPOTENCY_STORE",
                reason: format!("{other:?}: use d1 or kv"),
            }),
        }
    }
}

pub struct ReceiverSettings {
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
    /// `CAL_API_KEY` is set: the single route's booking changes are
    /// reconciled (the receiver reads only whether it is set).
    pub reconciles: bool,
}

impl ReceiverSettings {
    /// Reads and checks every setting; the first invalid one is the error.
    pub fn read(vars: &impl Vars) -> Result<Self, SettingError> {
        let ttl_seconds = IDEMPOTENCY_TTL_SECONDS.read(vars)?;
        Ok(Self {
            secrets: WebhookSecrets::from_setting(vars.text("CAL_WEBHOOK_SECRET").as_deref()),
            max_body_bytes: MAX_BODY_BYTES.read(vars)?,
            notify: NotifyEvents::parse(vars.text(NotifyEvents::SETTING).as_deref())?,
            max_event_age_seconds: max_event_age(
                vars.text("MAX_EVENT_AGE_SECONDS").as_deref(),
                ttl_seconds,
            )?,
            ttl_seconds,
            copy_window_ms: COPY_WINDOW_MS.read(vars)?,
            store: StoreKind::parse(vars.text("IDEMPOTENCY_STORE").as_deref())?,
            tenant_cache_seconds: TENANT_CACHE_SECONDS.read(vars)?,
            log_refused_per_minute: LOG_REFUSED_PER_MINUTE.read(vars)?,
            reconciles: vars.trimmed("CAL_API_KEY").is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Vars {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn unset_settings_take_their_defaults() {
        let s = ReceiverSettings::read(&vars(&[])).unwrap();
        assert_eq!(s.max_body_bytes, MAX_BODY_BYTES.default);
        assert_eq!(s.ttl_seconds, IDEMPOTENCY_TTL_SECONDS.default);
        assert_eq!(s.store, StoreKind::D1);
        assert!(
            s.secrets.is_err(),
            "no CAL_WEBHOOK_SECRET: the route refuses"
        );
    }

    #[test]
    fn an_unknown_store_names_the_setting() {
        let err = ReceiverSettings::read(&vars(&[("IDEMPOTENCY_STORE", "redis")]))
            .err()
            .unwrap();
        assert_eq!(err.name(), "IDEMPOTENCY_STORE");
    }

    #[test]
    fn a_number_out_of_range_names_the_setting() {
        let err = ReceiverSettings::read(&vars(&[("MAX_BODY_BYTES", "12")]))
            .err()
            .unwrap();
        assert_eq!(err.name(), "MAX_BODY_BYTES");
    }
}
