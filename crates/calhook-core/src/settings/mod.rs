//! Named settings and limits, with their defaults. Each is a plain var in
//! `wrangler.toml` (or a secret); docs/CONFIGURATION.md's table lists them all.

use crate::inbound::event::Trigger;
use crate::inbound::freshness::MAX_FUTURE_SECONDS;

mod admin;
mod mailer;
mod receiver;
mod table;
pub mod tenant;

pub use admin::AdminSettings;
pub use mailer::MailerSettings;
pub use receiver::{ReceiverSettings, StoreKind};
pub use table::*;
use thiserror::Error;

/// Largest webhook body the receiver reads (`MAX_BODY_BYTES`).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// How long a processed key is remembered (`IDEMPOTENCY_TTL_SECONDS`): 7 days
/// covers Cal.com's retries and people pressing "resend" days later.
pub const DEFAULT_IDEMPOTENCY_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Oldest signed `createdAt` accepted (`MAX_EVENT_AGE_SECONDS`; 0 disables):
/// replays of a captured delivery are refused once it is this old.
pub const DEFAULT_MAX_EVENT_AGE_SECONDS: u64 = 24 * 3600;
/// Deliveries of a repeatable trigger with identical payloads whose signed
/// `createdAt`s are this close are copies of one event (`COPY_WINDOW_MS`).
pub const DEFAULT_COPY_WINDOW_MS: u64 = 1_000;
/// Largest `COPY_WINDOW_MS`: a minute; longer would merge people's repeats.
pub const MAX_COPY_WINDOW_MS: u64 = 60_000;
/// How long a recorded event may wait for its own queue send before the
/// outbox cron sends it (`OUTBOX_GRACE_SECONDS`).
pub const DEFAULT_OUTBOX_GRACE_SECONDS: u64 = 60;
/// Rows per drain page (`OUTBOX_PAGE_SIZE`, `REMINDER_PAGE_SIZE`): one
/// `sendBatch`, whose limit is 100 messages. A page costs the same few
/// statements whatever its size (`jobs::OUTBOX_PAGE`).
pub const DEFAULT_DRAIN_PAGE_SIZE: u64 = 100;
/// Drain pages (reminders, then the outbox) per minute run
/// (`DRAIN_PAGES_PER_RUN`): 10 stay within the Free plan's 50 D1 queries and
/// 50 subrequests per invocation (`jobs::minute_run_cost`).
pub const DEFAULT_DRAIN_PAGES_PER_RUN: u64 = 10;
/// First retry delay after a transient SendGrid failure (`RETRY_BASE_DELAY_SECONDS`).
pub const DEFAULT_RETRY_BASE_DELAY_SECONDS: u64 = 10;
/// Upper bound of the retry delay (`RETRY_MAX_DELAY_SECONDS`); Queues cap it at 12 h.
pub const DEFAULT_RETRY_MAX_DELAY_SECONDS: u64 = 3600;
/// Dead letters redriven per `{"all": true}` call (`REDRIVE_PAGE_SIZE`): each
/// costs three statements, so 10 stays within the Free plan's 50 D1 queries per
/// invocation with the list query and the final delete.
pub const DEFAULT_REDRIVE_PAGE_SIZE: u64 = 10;
/// Largest `REDRIVE_PAGE_SIZE` (Paid plan: 1,000 queries per invocation).
pub const MAX_REDRIVE_PAGE_SIZE: u64 = 200;
/// How long the mailer waits for SendGrid (`SENDGRID_TIMEOUT_SECONDS`); must be
/// shorter than the delivery lease so that no send outlives its lease.
pub const DEFAULT_SENDGRID_TIMEOUT_SECONDS: u64 = 20;
/// How long a consumer holds a delivery (`SEND_LEASE_SECONDS`).
pub const DEFAULT_SEND_LEASE_SECONDS: u64 = 60;
/// The queues the mailer consumes (`NOTIFICATIONS_QUEUE`, `DEAD_LETTER_QUEUE`).
pub const DEFAULT_NOTIFICATIONS_QUEUE: &str = "calhook-notifications";
pub const DEFAULT_DEAD_LETTER_QUEUE: &str = "calhook-dead-letters";
/// Where SendGrid's API lives (`SENDGRID_API_BASE`); tests point it at the stand-in.
pub const DEFAULT_SENDGRID_API_BASE: &str = "https://api.sendgrid.com";
/// Triggers that produce an email unless `NOTIFY_EVENTS` says otherwise: the booking lifecycle.
pub const DEFAULT_NOTIFY_EVENTS: &[&str] = &[
    "BOOKING_CREATED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REQUESTED",
    "BOOKING_REJECTED",
    "BOOKING_PAID",
    "BOOKING_NO_SHOW_UPDATED",
];

/// A setting that is present but unusable. The message names the setting, never a secret's value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SettingError {
    #[error("{name} must be a whole number between {min} and {max}, got {value:?}")]
    NotANumber {
        name: &'static str,
        value: String,
        min: u64,
        max: u64,
    },
    #[error("{name} names unknown trigger(s) {unknown:?}; known: see docs/CONFIGURATION.md")]
    UnknownTriggers {
        name: &'static str,
        unknown: Vec<String>,
    },
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl SettingError {
    /// The setting's name, for an answer that must not quote its value.
    pub fn name(&self) -> &'static str {
        match self {
            SettingError::NotANumber { name, .. }
            | SettingError::UnknownTriggers { name, .. }
            | SettingError::Missing { name }
            | SettingError::Invalid { name, .. } => name,
        }
    }
}

/// `MAX_EVENT_AGE_SECONDS`, which with the clock skew allowed for a
/// `createdAt` ahead of ours must stay below the idempotency TTL: a replay is
/// then either a duplicate (key still known) or stale, never new. Unset, it
/// is a day, or less under a shorter TTL.
pub fn max_event_age(raw: Option<&str>, ttl_seconds: u64) -> Result<u64, SettingError> {
    const NAME: &str = "MAX_EVENT_AGE_SECONDS";
    let skew = MAX_FUTURE_SECONDS as u64;
    let longest = ttl_seconds.saturating_sub(skew + 1);
    let age = number(
        NAME,
        raw,
        DEFAULT_MAX_EVENT_AGE_SECONDS.min(longest),
        0,
        u64::MAX,
    )?;
    if age > longest {
        return Err(SettingError::Invalid {
            name: NAME,
            reason: format!(
                "{age} s plus the {skew} s of clock skew allowed reaches IDEMPOTENCY_TTL_SECONDS ({ttl_seconds} s): a replay after the key expired would pass; at most {longest}"
            ),
        });
    }
    Ok(age)
}

/// How long an isolate trusts what it read of a tenant (`TENANT_CACHE_SECONDS`).
pub const DEFAULT_TENANT_CACHE_SECONDS: u64 = 30;
/// Refused, unverified requests logged per isolate and minute (`LOG_REFUSED_PER_MINUTE`).
pub const DEFAULT_LOG_REFUSED_PER_MINUTE: u64 = 60;
pub const MAX_TENANT_CACHE_SECONDS: u64 = 3600;
/// Most tenants one isolate keeps in memory (either worker).
pub const MAX_CACHED_TENANTS: usize = 1_000;

/// Reminders before each accepted booking's start (`REMINDER_OFFSETS`).
pub const DEFAULT_REMINDER_OFFSETS: &str = "24h,1h";
/// Ended bookings and their timeline are kept this long (`BOOKING_RETENTION_DAYS`).
pub const DEFAULT_BOOKING_RETENTION_DAYS: u64 = 90;
/// Longest reminder offset or follow-up delay: 30 days, in minutes.
pub const MAX_OFFSET_MINUTES: u32 = 30 * 24 * 60;

/// A list of durations in whole minutes, nearest first: `24h,1h`, `90m`,
/// `1h 30m`, a bare number of minutes; `off` (or `none`) for none.
pub fn minutes_list(
    name: &'static str,
    raw: Option<&str>,
    default: &str,
) -> Result<Vec<u32>, SettingError> {
    let text = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default);
    if text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut out = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| minutes(name, part))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One duration in whole minutes, or `None` for `off`/unset (`FOLLOW_UP_AFTER`).
pub fn optional_minutes(
    name: &'static str,
    raw: Option<&str>,
) -> Result<Option<u32>, SettingError> {
    match minutes_list(name, raw, "off")?.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(SettingError::Invalid {
            name,
            reason: "one duration (e.g. 30m), or off".into(),
        }),
    }
}

fn minutes(name: &'static str, part: &str) -> Result<u32, SettingError> {
    let invalid = |reason: &str| SettingError::Invalid {
        name,
        reason: format!("{part:?}: {reason}"),
    };
    let seconds = match part.parse::<u64>() {
        Ok(m) => m.saturating_mul(60),
        Err(_) => humantime::parse_duration(part)
            .map_err(|e| invalid(&format!("{e}; use e.g. 24h, 90m or off")))?
            .as_secs(),
    };
    if !seconds.is_multiple_of(60) {
        return Err(invalid("use whole minutes"));
    }
    let m = seconds / 60;
    if m == 0 || m > u64::from(MAX_OFFSET_MINUTES) {
        return Err(invalid("must be between 1 minute and 30 days"));
    }
    Ok(m as u32)
}

/// Reads a whole-number setting, falling back to its default when unset or blank.
pub fn number(
    name: &'static str,
    raw: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, SettingError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| SettingError::NotANumber {
                name,
                value: text.to_owned(),
                min,
                max,
            }),
    }
}

/// Which triggers produce an email (`NOTIFY_EVENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEvents(Vec<Trigger>);

impl NotifyEvents {
    pub const SETTING: &'static str = "NOTIFY_EVENTS";

    /// Comma-separated trigger names, `all` for every known trigger, unset for the default.
    pub fn parse(raw: Option<&str>) -> Result<Self, SettingError> {
        let raw = raw.map(str::trim).filter(|s| !s.is_empty());
        let names: Vec<&str> = match raw {
            None => DEFAULT_NOTIFY_EVENTS.to_vec(),
            Some(r) if r.eq_ignore_ascii_case("all") => Trigger::KNOWN
                .iter()
                .copied()
                .filter(|n| *n != "PING")
                .collect(),
            Some(r) => r
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        };
        let triggers: Vec<Trigger> = names.iter().map(|n| Trigger::parse(n)).collect();
        let unknown: Vec<String> = triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::Unknown(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        if !unknown.is_empty() {
            return Err(SettingError::UnknownTriggers {
                name: Self::SETTING,
                unknown,
            });
        }
        Ok(Self(triggers))
    }

    pub fn includes(&self, trigger: &Trigger) -> bool {
        self.0.contains(trigger)
    }
}

/// Where a worker's settings come from: its vars and secrets (`Env` in the
/// workers, a map in tests). `None`: not set.
pub trait Vars {
    fn text(&self, name: &str) -> Option<String>;

    /// The value, trimmed; `None` when unset or blank.
    fn trimmed(&self, name: &str) -> Option<String> {
        self.text(name)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn text(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_offsets_read_hours_minutes_and_off() {
        assert_eq!(
            minutes_list("R", None, DEFAULT_REMINDER_OFFSETS),
            Ok(vec![60, 1440])
        );
        assert_eq!(
            minutes_list("R", Some("90m, 1h 30m,2"), ""),
            Ok(vec![2, 90])
        );
        assert_eq!(
            minutes_list("R", Some("off"), DEFAULT_REMINDER_OFFSETS),
            Ok(vec![])
        );
        assert!(minutes_list("R", Some("30s"), "").is_err());
        assert!(minutes_list("R", Some("soon"), "").is_err());
        assert!(minutes_list("R", Some("0"), "").is_err());
        assert_eq!(optional_minutes("F", None), Ok(None));
        assert_eq!(optional_minutes("F", Some("30m")), Ok(Some(30)));
    }

    #[test]
    fn max_event_age_may_not_exceed_the_ttl() {
        assert_eq!(max_event_age(None, 7 * 86_400), Ok(86_400));
        assert_eq!(max_event_age(Some("0"), 600), Ok(0));
        assert_eq!(max_event_age(Some("3299"), 3600), Ok(3299));
        // Equal to the TTL: a createdAt 5 minutes ahead outlives the key.
        let err = max_event_age(Some("3600"), 3600).unwrap_err();
        assert_eq!(err.name(), "MAX_EVENT_AGE_SECONDS");
        assert!(max_event_age(Some("3300"), 3600).is_err());
        // A TTL shorter than a day lowers the default with it.
        assert_eq!(max_event_age(None, 3600), Ok(3299));
    }

    #[test]
    fn unset_number_uses_the_default() {
        assert_eq!(number("X", None, 5, 1, 10), Ok(5));
        assert_eq!(number("X", Some(" "), 5, 1, 10), Ok(5));
        assert_eq!(number("X", Some("7"), 5, 1, 10), Ok(7));
    }

    #[test]
    fn out_of_range_or_garbage_numbers_name_the_setting() {
        let err = number("MAX_BODY_BYTES", Some("lots"), 5, 1, 10).unwrap_err();
        assert!(err.to_string().contains("MAX_BODY_BYTES"));
        assert!(number("X", Some("11"), 5, 1, 10).is_err());
        assert!(number("X", Some("0"), 5, 1, 10).is_err());
    }

    #[test]
    fn default_notify_events_are_the_booking_lifecycle() {
        let n = NotifyEvents::parse(None).unwrap();
        assert!(n.includes(&Trigger::BookingCreated));
        assert!(n.includes(&Trigger::BookingCancelled));
        assert!(!n.includes(&Trigger::MeetingStarted));
        assert!(!n.includes(&Trigger::Ping));
    }

    #[test]
    fn notify_events_all_and_lists() {
        assert!(NotifyEvents::parse(Some("all"))
            .unwrap()
            .includes(&Trigger::OooCreated));
        let n = NotifyEvents::parse(Some("MEETING_ENDED, OOO_CREATED")).unwrap();
        assert!(n.includes(&Trigger::OooCreated));
        assert!(!n.includes(&Trigger::BookingCreated));
    }

    #[test]
    fn notify_events_with_a_typo_is_refused() {
        let err = NotifyEvents::parse(Some("BOOKING_CREATD")).unwrap_err();
        assert!(err.to_string().contains("BOOKING_CREATD"));
    }
}
