//! The mailer's settings. A missing or invalid setting is kept as an error and
//! reported per message (logged, message retried), never a panic.

use calhook_core::sendgrid::Mailbox;
use calhook_core::settings::{self as core, SettingError};
use worker::Env;

pub struct Settings {
    pub api_base: String,
    pub api_key: Result<String, SettingError>,
    pub from: Result<Mailbox, SettingError>,
    pub to: Result<Vec<Mailbox>, SettingError>,
    pub notify_attendees: bool,
    /// `DEFAULT_TIME_ZONE`: times are shown in it when an event names no zone.
    pub default_time_zone: Option<String>,
    /// How long an isolate trusts what it read of a tenant.
    pub tenant_cache_seconds: u64,
    pub retry_base_seconds: u64,
    pub retry_max_seconds: u64,
    pub lease_seconds: u64,
    pub timeout_seconds: u64,
    /// Names of the two queues this worker consumes.
    pub notifications_queue: String,
    pub dead_letter_queue: String,
    pub settings_error: Option<SettingError>,
}

fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl Settings {
    pub fn from_env(env: &Env) -> Self {
        let mut settings_error = None;
        let mut number = |name: &'static str, default: u64, min: u64, max: u64| {
            core::number(name, text(env, name).as_deref(), default, min, max).unwrap_or_else(|e| {
                settings_error.get_or_insert(e);
                default
            })
        };
        let retry_base_seconds = number(
            "RETRY_BASE_DELAY_SECONDS",
            core::DEFAULT_RETRY_BASE_DELAY_SECONDS,
            1,
            43_200,
        );
        let retry_max_seconds = number(
            "RETRY_MAX_DELAY_SECONDS",
            core::DEFAULT_RETRY_MAX_DELAY_SECONDS,
            1,
            43_200,
        );
        let lease_seconds = number(
            "SEND_LEASE_SECONDS",
            core::DEFAULT_SEND_LEASE_SECONDS,
            10,
            3600,
        );
        let timeout_seconds = number(
            "SENDGRID_TIMEOUT_SECONDS",
            core::DEFAULT_SENDGRID_TIMEOUT_SECONDS,
            1,
            300,
        );
        let tenant_cache_seconds = number(
            "TENANT_CACHE_SECONDS",
            core::DEFAULT_TENANT_CACHE_SECONDS,
            0,
            core::MAX_TENANT_CACHE_SECONDS,
        );
        if timeout_seconds >= lease_seconds {
            settings_error.get_or_insert(SettingError::Invalid {
                name: "SENDGRID_TIMEOUT_SECONDS",
                reason: format!(
                    "must be shorter than SEND_LEASE_SECONDS ({lease_seconds}), or a slow send could outlive its lease"
                ),
            });
        }
        let api_key = text(env, "SENDGRID_API_KEY").ok_or(SettingError::Missing {
            name: "SENDGRID_API_KEY",
        });
        let from = text(env, "EMAIL_FROM")
            .ok_or(SettingError::Missing { name: "EMAIL_FROM" })
            .and_then(|f| {
                Mailbox::parse(&f).map_err(|e| SettingError::Invalid {
                    name: "EMAIL_FROM",
                    reason: e.to_string(),
                })
            });
        let to = text(env, "EMAIL_TO")
            .ok_or(SettingError::Missing { name: "EMAIL_TO" })
            .and_then(|t| {
                Mailbox::parse_list(&t).map_err(|e| SettingError::Invalid {
                    name: "EMAIL_TO",
                    reason: e.to_string(),
                })
            })
            .and_then(|list| {
                if list.is_empty() {
                    Err(SettingError::Missing { name: "EMAIL_TO" })
                } else {
                    Ok(list)
                }
            });
        let notify_attendees = matches!(
            text(env, "NOTIFY_ATTENDEES").as_deref(),
            Some("true" | "1" | "yes")
        );
        Self {
            api_base: text(env, "SENDGRID_API_BASE")
                .unwrap_or_else(|| core::DEFAULT_SENDGRID_API_BASE.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            api_key,
            from,
            to,
            notify_attendees,
            default_time_zone: text(env, "DEFAULT_TIME_ZONE"),
            tenant_cache_seconds,
            retry_base_seconds,
            retry_max_seconds,
            lease_seconds,
            timeout_seconds,
            notifications_queue: text(env, "NOTIFICATIONS_QUEUE")
                .unwrap_or_else(|| "calhook-notifications".to_owned()),
            dead_letter_queue: text(env, "DEAD_LETTER_QUEUE")
                .unwrap_or_else(|| "calhook-dead-letters".to_owned()),
            settings_error,
        }
    }

    /// Delay before the next delivery of a message delivered `attempts` times.
    pub fn retry_delay(&self, attempts: u32, retry_after: Option<u64>) -> u64 {
        calhook_core::retry::delay_seconds(
            attempts,
            retry_after,
            self.retry_base_seconds,
            self.retry_max_seconds,
        )
    }

    /// The first problem that stops any email from being sent (a missing
    /// `EMAIL_TO`/`EMAIL_FROM` only stops those whose tenant sets none).
    pub fn blocking_error(&self) -> Option<&SettingError> {
        self.api_key.as_ref().err().or(self.settings_error.as_ref())
    }
}
