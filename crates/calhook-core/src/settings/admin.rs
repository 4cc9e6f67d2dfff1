//! The admin worker's settings: the scheduled jobs' and the operator API's.
//! An invalid setting fails only what uses it (a job's log line, one route),
//! never the whole worker.

use super::{minutes_list, optional_minutes, SettingError, Vars, DEFAULT_REMINDER_OFFSETS};
use super::{BOOKING_RETENTION_DAYS, IDEMPOTENCY_TTL_SECONDS, LOG_REFUSED_PER_MINUTE};
use super::{DRAIN_PAGES_PER_RUN, REMINDER_PAGE_SIZE};
use super::{OUTBOX_GRACE_SECONDS, OUTBOX_MAX_REFUSALS, OUTBOX_PAGE_SIZE, REDRIVE_PAGE_SIZE};

/// `REMINDER_OFFSETS` in minutes (nearest first) and `FOLLOW_UP_AFTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSchedule {
    pub offsets: Vec<u32>,
    pub follow_up_after: Option<u32>,
}

pub struct AdminSettings {
    /// Keys and sent ledger rows older than this are pruned daily (invalid:
    /// the default, so the prune never deletes early).
    pub ttl_seconds: u64,
    /// Ended bookings older than this are pruned (invalid: the default).
    pub booking_retention_days: u64,
    pub outbox_grace_seconds: Result<u64, SettingError>,
    pub outbox_page_size: Result<u64, SettingError>,
    pub reminder_page_size: Result<u64, SettingError>,
    /// Drain pages per minute run: reminders first, the outbox after.
    pub drain_pages_per_run: Result<u64, SettingError>,
    /// Refusals after which an outbox row is set aside in the dead letters.
    pub outbox_max_refusals: Result<u64, SettingError>,
    pub redrive_page_size: Result<u64, SettingError>,
    pub reminders: Result<ReminderSchedule, SettingError>,
    pub log_refused_per_minute: u64,
    /// Alerts are on when `ALERT_TO` is set (the mailer sends them there).
    pub alerts_on: bool,
    pub alert_outbox_age_minutes: u64,
    pub alert_interval_minutes: u64,
    /// The console's base URL, for the alerts' links.
    pub console_url: Option<String>,
    /// `NOTIFY_EVENTS`: which recovered changes of the single route are emailed.
    pub notify: Result<super::NotifyEvents, SettingError>,
    /// The single route's Cal.com API key (`CAL_API_KEY`): reconciled when set.
    pub cal_api_key: Option<String>,
    pub cal_api_base: String,
    pub reconcile: Result<ReconcileSettings, SettingError>,
}

/// The reconcile job's settings (`crate::reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub every_minutes: u64,
    /// A request to Cal.com is given up after this (the source waits for its next run).
    pub timeout_seconds: u64,
    pub limits: crate::reconcile::Limits,
    pub budget: crate::reconcile::Budget,
}

impl AdminSettings {
    pub fn read(vars: &impl Vars) -> Self {
        let or_default = |n: super::Number| n.read(vars).unwrap_or(n.default);
        Self {
            ttl_seconds: or_default(IDEMPOTENCY_TTL_SECONDS),
            booking_retention_days: or_default(BOOKING_RETENTION_DAYS),
            outbox_grace_seconds: OUTBOX_GRACE_SECONDS.read(vars),
            outbox_page_size: OUTBOX_PAGE_SIZE.read(vars),
            reminder_page_size: REMINDER_PAGE_SIZE.read(vars),
            drain_pages_per_run: DRAIN_PAGES_PER_RUN.read(vars),
            outbox_max_refusals: OUTBOX_MAX_REFUSALS.read(vars),
            redrive_page_size: REDRIVE_PAGE_SIZE.read(vars),
            reminders: reminder_schedule(vars),
            log_refused_per_minute: or_default(LOG_REFUSED_PER_MINUTE),
            alerts_on: vars.trimmed("ALERT_TO").is_some(),
            alert_outbox_age_minutes: or_default(super::ALERT_OUTBOX_AGE_MINUTES),
            alert_interval_minutes: or_default(super::ALERT_INTERVAL_MINUTES),
            console_url: vars.trimmed("CONSOLE_URL"),
            notify: super::NotifyEvents::parse(vars.text(super::NotifyEvents::SETTING).as_deref()),
            cal_api_key: vars.trimmed("CAL_API_KEY"),
            cal_api_base: vars
                .trimmed("CAL_API_BASE")
                .unwrap_or_else(|| crate::reconcile::api::DEFAULT_BASE.to_owned()),
            reconcile: reconcile_settings(vars),
        }
    }
}

fn reconcile_settings(vars: &impl Vars) -> Result<ReconcileSettings, SettingError> {
    use super::table::*;
    let ttl_seconds = IDEMPOTENCY_TTL_SECONDS.read(vars)?;
    Ok(ReconcileSettings {
        every_minutes: RECONCILE_EVERY_MINUTES.read(vars)?,
        timeout_seconds: CAL_API_TIMEOUT_SECONDS.read(vars)?,
        limits: crate::reconcile::Limits {
            page_size: RECONCILE_PAGE_SIZE.read(vars)?,
            overlap_ms: RECONCILE_OVERLAP_SECONDS.read(vars)? as i64 * 1000,
            ttl_ms: ttl_seconds as i64 * 1000,
        },
        budget: crate::reconcile::Budget {
            pages: RECONCILE_PAGES_PER_RUN.read(vars)?,
            recoveries: RECONCILE_RECOVERIES_PER_RUN.read(vars)?,
        },
    })
}

fn reminder_schedule(vars: &impl Vars) -> Result<ReminderSchedule, SettingError> {
    Ok(ReminderSchedule {
        offsets: minutes_list(
            "REMINDER_OFFSETS",
            vars.text("REMINDER_OFFSETS").as_deref(),
            DEFAULT_REMINDER_OFFSETS,
        )?,
        follow_up_after: optional_minutes(
            "FOLLOW_UP_AFTER",
            vars.text("FOLLOW_UP_AFTER").as_deref(),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_page_size_fails_only_the_outbox_job() {
        let s = AdminSettings::read(&|name: &str| {
            (name == "OUTBOX_PAGE_SIZE").then(|| "1000".to_owned())
        });
        assert_eq!(s.outbox_page_size.unwrap_err().name(), "OUTBOX_PAGE_SIZE");
        assert!(s.reminders.is_ok());
        assert_eq!(s.ttl_seconds, IDEMPOTENCY_TTL_SECONDS.default);
    }

    #[test]
    fn an_invalid_ttl_prunes_with_the_default_never_earlier() {
        let s = AdminSettings::read(&|name: &str| {
            (name == "IDEMPOTENCY_TTL_SECONDS").then(|| "5".to_owned())
        });
        assert_eq!(s.ttl_seconds, IDEMPOTENCY_TTL_SECONDS.default);
    }
}
