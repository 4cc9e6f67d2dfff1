//! The mailer's settings. A missing or invalid setting is kept as an error and
//! reported per message (logged, message retried), never a panic.

use super::{SettingError, Vars, DEFAULT_DEAD_LETTER_QUEUE, DEFAULT_NOTIFICATIONS_QUEUE};
use super::{DEFAULT_SENDGRID_API_BASE, RETRY_BASE_DELAY_SECONDS, RETRY_MAX_DELAY_SECONDS};
use super::{EMAILS_PER_HOUR, SENDGRID_TIMEOUT_SECONDS, SEND_LEASE_SECONDS, TENANT_CACHE_SECONDS};
use crate::deliver::sendgrid::Mailbox;

pub struct MailerSettings {
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
    /// Emails (copies) each tenant may send per hour unless it has its own
    /// limit; 0: no limit. The single-account route has none.
    pub emails_per_hour: u64,
    /// Where calhook's alerts go (`ALERT_TO`); `None`: alerts are dropped.
    pub alert_to: Option<Result<Vec<Mailbox>, SettingError>>,
    /// Names of the two queues this worker consumes.
    pub notifications_queue: String,
    pub dead_letter_queue: String,
    pub settings_error: Option<SettingError>,
}

fn mailbox(vars: &impl Vars, name: &'static str) -> Result<Mailbox, SettingError> {
    let text = vars.trimmed(name).ok_or(SettingError::Missing { name })?;
    Mailbox::parse(&text).map_err(|e| SettingError::Invalid {
        name,
        reason: e.to_string(),
    })
}

fn mailbox_list(vars: &impl Vars, name: &'static str) -> Result<Vec<Mailbox>, SettingError> {
    let text = vars.trimmed(name).ok_or(SettingError::Missing { name })?;
    match Mailbox::parse_list(&text) {
        Ok(list) if list.is_empty() => Err(SettingError::Missing { name }),
        Ok(list) => Ok(list),
        Err(e) => Err(SettingError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

impl MailerSettings {
    /// Reads every setting; an invalid number falls back to its default and
    /// is kept in `settings_error`, which stops every send until it is fixed.
    pub fn read(vars: &impl Vars) -> Self {
        let mut settings_error = None;
        let mut number = |n: super::Number| {
            n.read(vars).unwrap_or_else(|e| {
                settings_error.get_or_insert(e);
                n.default
            })
        };
        let retry_base_seconds = number(RETRY_BASE_DELAY_SECONDS);
        let retry_max_seconds = number(RETRY_MAX_DELAY_SECONDS);
        let lease_seconds = number(SEND_LEASE_SECONDS);
        let timeout_seconds = number(SENDGRID_TIMEOUT_SECONDS);
        let tenant_cache_seconds = number(TENANT_CACHE_SECONDS);
        let emails_per_hour = number(EMAILS_PER_HOUR);
        if timeout_seconds >= lease_seconds {
            settings_error.get_or_insert(SettingError::Invalid {
                name: "SENDGRID_TIMEOUT_SECONDS",
                reason: format!(
                    "must be shorter than SEND_LEASE_SECONDS ({lease_seconds}), or a slow send could outlive its lease"
                ),
            });
        }
        Self {
            api_base: vars
                .trimmed("SENDGRID_API_BASE")
                .unwrap_or_else(|| DEFAULT_SENDGRID_API_BASE.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            api_key: vars
                .trimmed("SENDGRID_API_KEY")
                .ok_or(SettingError::Missing {
                    name: "SENDGRID_API_KEY",
                }),
            from: mailbox(vars, "EMAIL_FROM"),
            to: mailbox_list(vars, "EMAIL_TO"),
            notify_attendees: matches!(
                vars.trimmed("NOTIFY_ATTENDEES").as_deref(),
                Some("true" | "1" | "yes")
            ),
            default_time_zone: vars.trimmed("DEFAULT_TIME_ZONE"),
            tenant_cache_seconds,
            retry_base_seconds,
            retry_max_seconds,
            lease_seconds,
            timeout_seconds,
            emails_per_hour,
            alert_to: vars
                .trimmed("ALERT_TO")
                .map(|_| mailbox_list(vars, "ALERT_TO")),
            notifications_queue: vars
                .trimmed("NOTIFICATIONS_QUEUE")
                .unwrap_or_else(|| DEFAULT_NOTIFICATIONS_QUEUE.to_owned()),
            dead_letter_queue: vars
                .trimmed("DEAD_LETTER_QUEUE")
                .unwrap_or_else(|| DEFAULT_DEAD_LETTER_QUEUE.to_owned()),
            settings_error,
        }
    }

    /// Delay before the next delivery of a message delivered `attempts` times.
    pub fn retry_delay(&self, attempts: u32, retry_after: Option<u64>) -> u64 {
        crate::deliver::retry::delay_seconds(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_timeout_as_long_as_the_lease_blocks_every_send() {
        let vars = |name: &str| match name {
            "SENDGRID_API_KEY" => Some("SG.x".to_owned()),
            "SEND_LEASE_SECONDS" => Some("20".to_owned()),
            "SENDGRID_TIMEOUT_SECONDS" => Some("20".to_owned()),
            _ => None,
        };
        let s = MailerSettings::read(&vars);
        assert_eq!(
            s.blocking_error().map(|e| e.name()),
            Some("SENDGRID_TIMEOUT_SECONDS")
        );
    }

    #[test]
    fn without_an_api_key_nothing_is_sent() {
        let s = MailerSettings::read(&|_: &str| None);
        assert_eq!(
            s.blocking_error().map(|e| e.name()),
            Some("SENDGRID_API_KEY")
        );
    }
}
