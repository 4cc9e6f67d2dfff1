//! Every setting in one table: its name, which workers read it, whether it is
//! a secret, its default, its range and what it is for. The workers read
//! numbers through the [`Number`]s below; docs/CONFIGURATION.md's table
//! is checked against [`SETTINGS`] by a test, so neither can drift.

use super::*;

/// Which worker reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Receiver,
    Admin,
    Mailer,
}

impl Worker {
    pub fn as_str(self) -> &'static str {
        match self {
            Worker::Receiver => "receiver",
            Worker::Admin => "admin",
            Worker::Mailer => "mailer",
        }
    }
}

/// One row of the configuration table.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub workers: &'static [Worker],
    /// Set with `wrangler secret put`, never in `wrangler.toml`.
    pub secret: bool,
    /// As docs/CONFIGURATION.md shows it; `None`: no default (required, or off when unset).
    pub default: Option<&'static str>,
}

/// A whole-number setting with its default and range.
#[derive(Debug, Clone, Copy)]
pub struct Number {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

impl Number {
    /// The value, or the default when unset or blank; out of range is an error.
    pub fn read(&self, vars: &impl Vars) -> Result<u64, SettingError> {
        number(
            self.name,
            vars.text(self.name).as_deref(),
            self.default,
            self.min,
            self.max,
        )
    }
}

const fn n(name: &'static str, default: u64, min: u64, max: u64) -> Number {
    Number {
        name,
        default,
        min,
        max,
    }
}

/// At most 16 MiB: the body is buffered twice before it is verified, in an
/// isolate of 128 MB.
pub const MAX_BODY_BYTES: Number = n(
    "MAX_BODY_BYTES",
    DEFAULT_MAX_BODY_BYTES,
    1024,
    16 * 1024 * 1024,
);
pub const IDEMPOTENCY_TTL_SECONDS: Number = n(
    "IDEMPOTENCY_TTL_SECONDS",
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    600,
    365 * 24 * 3600,
);
pub const COPY_WINDOW_MS: Number = n(
    "COPY_WINDOW_MS",
    DEFAULT_COPY_WINDOW_MS,
    1,
    MAX_COPY_WINDOW_MS,
);
pub const TENANT_CACHE_SECONDS: Number = n(
    "TENANT_CACHE_SECONDS",
    DEFAULT_TENANT_CACHE_SECONDS,
    0,
    MAX_TENANT_CACHE_SECONDS,
);
pub const LOG_REFUSED_PER_MINUTE: Number = n(
    "LOG_REFUSED_PER_MINUTE",
    DEFAULT_LOG_REFUSED_PER_MINUTE,
    0,
    1_000_000,
);
pub const OUTBOX_GRACE_SECONDS: Number = n(
    "OUTBOX_GRACE_SECONDS",
    DEFAULT_OUTBOX_GRACE_SECONDS,
    0,
    3600,
);
pub const OUTBOX_PAGE_SIZE: Number = n("OUTBOX_PAGE_SIZE", DEFAULT_DRAIN_PAGE_SIZE, 1, 100);
pub const REMINDER_PAGE_SIZE: Number = n("REMINDER_PAGE_SIZE", DEFAULT_DRAIN_PAGE_SIZE, 1, 100);
pub const DRAIN_PAGES_PER_RUN: Number = n(
    "DRAIN_PAGES_PER_RUN",
    DEFAULT_DRAIN_PAGES_PER_RUN,
    1,
    crate::jobs::PAID_DRAIN_PAGES_PER_RUN as u64,
);
pub const OUTBOX_MAX_REFUSALS: Number = n("OUTBOX_MAX_REFUSALS", 60, 1, 10_000);
pub const BOOKING_RETENTION_DAYS: Number = n(
    "BOOKING_RETENTION_DAYS",
    DEFAULT_BOOKING_RETENTION_DAYS,
    1,
    3650,
);
pub const REDRIVE_PAGE_SIZE: Number = n(
    "REDRIVE_PAGE_SIZE",
    DEFAULT_REDRIVE_PAGE_SIZE,
    1,
    MAX_REDRIVE_PAGE_SIZE,
);
pub const RETRY_BASE_DELAY_SECONDS: Number = n(
    "RETRY_BASE_DELAY_SECONDS",
    DEFAULT_RETRY_BASE_DELAY_SECONDS,
    1,
    43_200,
);
pub const RETRY_MAX_DELAY_SECONDS: Number = n(
    "RETRY_MAX_DELAY_SECONDS",
    DEFAULT_RETRY_MAX_DELAY_SECONDS,
    1,
    43_200,
);
pub const ALERT_OUTBOX_AGE_MINUTES: Number = n("ALERT_OUTBOX_AGE_MINUTES", 10, 1, 1440);
pub const ALERT_INTERVAL_MINUTES: Number = n("ALERT_INTERVAL_MINUTES", 60, 1, 10_080);
/// Per tenant and hour; 0 turns the limit off.
pub const EMAILS_PER_HOUR: Number = n("EMAILS_PER_HOUR", 500, 0, 1_000_000);
pub const SEND_LEASE_SECONDS: Number =
    n("SEND_LEASE_SECONDS", DEFAULT_SEND_LEASE_SECONDS, 10, 3600);
pub const SENDGRID_TIMEOUT_SECONDS: Number = n(
    "SENDGRID_TIMEOUT_SECONDS",
    DEFAULT_SENDGRID_TIMEOUT_SECONDS,
    1,
    300,
);

pub const CAL_API_TIMEOUT_SECONDS: Number = n("CAL_API_TIMEOUT_SECONDS", 10, 1, 60);
pub const RECONCILE_EVERY_MINUTES: Number = n("RECONCILE_EVERY_MINUTES", 15, 1, 1440);
pub const RECONCILE_OVERLAP_SECONDS: Number = n("RECONCILE_OVERLAP_SECONDS", 300, 0, 86_400);
pub const RECONCILE_PAGE_SIZE: Number = n(
    "RECONCILE_PAGE_SIZE",
    100,
    1,
    crate::reconcile::api::MAX_TAKE,
);
pub const RECONCILE_PAGES_PER_RUN: Number = n("RECONCILE_PAGES_PER_RUN", 5, 1, 200);
pub const RECONCILE_RECOVERIES_PER_RUN: Number = n("RECONCILE_RECOVERIES_PER_RUN", 3, 1, 90);

use Worker::{Admin, Mailer, Receiver};

const fn var(name: &'static str, workers: &'static [Worker], default: &'static str) -> Setting {
    Setting {
        name,
        workers,
        secret: false,
        default: Some(default),
    }
}

/// A var whose default is not one value (required, or described in words).
const fn no_default(name: &'static str, workers: &'static [Worker]) -> Setting {
    Setting {
        name,
        workers,
        secret: false,
        default: None,
    }
}

const fn secret(name: &'static str, workers: &'static [Worker]) -> Setting {
    Setting {
        name,
        workers,
        secret: true,
        default: None,
    }
}

/// Every setting any worker reads, in docs/CONFIGURATION.md's order.
pub const SETTINGS: &[Setting] = &[
    secret("CAL_WEBHOOK_SECRET", &[Receiver]),
    secret("TENANT_SECRETS_KEY", &[Receiver, Admin]),
    secret("TENANT_SECRETS_KEY_PREVIOUS", &[Receiver, Admin]),
    var("LOG_REFUSED_PER_MINUTE", &[Receiver, Admin], "60"),
    var("TENANT_CACHE_SECONDS", &[Receiver, Mailer], "30"),
    secret("ADMIN_TOKEN", &[Admin]),
    var("REDRIVE_PAGE_SIZE", &[Admin], "10"),
    var("MAX_BODY_BYTES", &[Receiver], "1048576"),
    no_default("NOTIFY_EVENTS", &[Receiver, Admin]),
    var("IDEMPOTENCY_STORE", &[Receiver], "d1"),
    var("IDEMPOTENCY_TTL_SECONDS", &[Receiver, Admin], "604800"),
    var("MAX_EVENT_AGE_SECONDS", &[Receiver], "86400"),
    var("COPY_WINDOW_MS", &[Receiver], "1000"),
    var("REMINDER_OFFSETS", &[Admin], DEFAULT_REMINDER_OFFSETS),
    var("FOLLOW_UP_AFTER", &[Admin], "off"),
    var("BOOKING_RETENTION_DAYS", &[Admin], "90"),
    var("OUTBOX_GRACE_SECONDS", &[Admin], "60"),
    var("OUTBOX_PAGE_SIZE", &[Admin], "100"),
    var("REMINDER_PAGE_SIZE", &[Admin], "100"),
    var("DRAIN_PAGES_PER_RUN", &[Admin], "10"),
    var("OUTBOX_MAX_REFUSALS", &[Admin], "60"),
    secret("SENDGRID_API_KEY", &[Mailer]),
    var("SENDGRID_API_BASE", &[Mailer], DEFAULT_SENDGRID_API_BASE),
    no_default("EMAIL_FROM", &[Mailer]),
    no_default("EMAIL_TO", &[Mailer]),
    var("DEFAULT_TIME_ZONE", &[Mailer], "UTC"),
    var("NOTIFY_ATTENDEES", &[Mailer], "false"),
    var("RETRY_BASE_DELAY_SECONDS", &[Mailer], "10"),
    var("RETRY_MAX_DELAY_SECONDS", &[Mailer], "3600"),
    var("SEND_LEASE_SECONDS", &[Mailer], "60"),
    var("EMAILS_PER_HOUR", &[Mailer], "500"),
    var("SENDGRID_TIMEOUT_SECONDS", &[Mailer], "20"),
    var(
        "NOTIFICATIONS_QUEUE",
        &[Mailer],
        DEFAULT_NOTIFICATIONS_QUEUE,
    ),
    var("DEAD_LETTER_QUEUE", &[Mailer], DEFAULT_DEAD_LETTER_QUEUE),
    no_default("ALERT_TO", &[Admin, Mailer]),
    var("ALERT_OUTBOX_AGE_MINUTES", &[Admin], "10"),
    var("ALERT_INTERVAL_MINUTES", &[Admin], "60"),
    no_default("CONSOLE_URL", &[Admin]),
    secret("CAL_API_KEY", &[Receiver, Admin]),
    var(
        "CAL_API_BASE",
        &[Admin],
        crate::reconcile::api::DEFAULT_BASE,
    ),
    var("CAL_API_TIMEOUT_SECONDS", &[Admin], "10"),
    var("RECONCILE_EVERY_MINUTES", &[Admin], "15"),
    var("RECONCILE_OVERLAP_SECONDS", &[Admin], "300"),
    var("RECONCILE_PAGE_SIZE", &[Admin], "100"),
    var("RECONCILE_PAGES_PER_RUN", &[Admin], "5"),
    var("RECONCILE_RECOVERIES_PER_RUN", &[Admin], "3"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_numbers_default_is_within_its_range() {
        for n in [
            MAX_BODY_BYTES,
            IDEMPOTENCY_TTL_SECONDS,
            COPY_WINDOW_MS,
            TENANT_CACHE_SECONDS,
            LOG_REFUSED_PER_MINUTE,
            OUTBOX_GRACE_SECONDS,
            OUTBOX_PAGE_SIZE,
            REMINDER_PAGE_SIZE,
            DRAIN_PAGES_PER_RUN,
            CAL_API_TIMEOUT_SECONDS,
            RECONCILE_EVERY_MINUTES,
            RECONCILE_OVERLAP_SECONDS,
            RECONCILE_PAGE_SIZE,
            RECONCILE_PAGES_PER_RUN,
            RECONCILE_RECOVERIES_PER_RUN,
            OUTBOX_MAX_REFUSALS,
            BOOKING_RETENTION_DAYS,
            REDRIVE_PAGE_SIZE,
            RETRY_BASE_DELAY_SECONDS,
            RETRY_MAX_DELAY_SECONDS,
            SEND_LEASE_SECONDS,
            SENDGRID_TIMEOUT_SECONDS,
            EMAILS_PER_HOUR,
            ALERT_OUTBOX_AGE_MINUTES,
            ALERT_INTERVAL_MINUTES,
        ] {
            assert!((n.min..=n.max).contains(&n.default), "{}", n.name);
            let row = SETTINGS.iter().find(|s| s.name == n.name);
            if let Some(default) = row.and_then(|r| r.default) {
                assert_eq!(default, n.default.to_string(), "{}", n.name);
            }
        }
    }

    #[test]
    fn no_setting_is_listed_twice() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.name != s.name),
                "{}",
                s.name
            );
        }
    }
}
