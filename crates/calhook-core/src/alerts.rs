//! When calhook tells a person (`ALERT_TO`) that something needs them: a new
//! dead letter, SendGrid refusing the API key, the outbox not draining, a
//! tenant's emails held over its hourly quota, Cal.com refusing the reconcile
//! job's API key. At
//! most one email per kind of trouble and tenant per `ALERT_INTERVAL_MINUTES`,
//! and never again for what was already reported. The admin worker's minute
//! job gathers the candidates (`store::alerts`) and queues what is due; the
//! mailer sends it to `ALERT_TO`. An alert never blocks a notification.

use crate::keys::NotificationKey;
use crate::message::notification::{Facts, Kind, Link, Notification, NOTIFICATION_VERSION};

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    DeadLetters,
    SendgridKeyRefused,
    OutboxStale,
    /// A tenant's emails held over its emails-per-hour quota (`store::usage`).
    QuotaHeld,
    /// Cal.com refused a source's API key: it is not reconciled (`crate::reconcile`).
    ReconcileKeyRefused,
}

impl Trouble {
    pub fn as_str(self) -> &'static str {
        match self {
            Trouble::DeadLetters => "dead_letters",
            Trouble::SendgridKeyRefused => "sendgrid_key_refused",
            Trouble::OutboxStale => "outbox_stale",
            Trouble::QuotaHeld => "quota_held",
            Trouble::ReconcileKeyRefused => "reconcile_key_refused",
        }
    }

    /// The console page that shows it.
    pub fn page(self) -> &'static str {
        match self {
            Trouble::DeadLetters | Trouble::SendgridKeyRefused => "/admin/ui/dead-letters",
            Trouble::OutboxStale => "/admin/ui/outbox",
            Trouble::QuotaHeld => "/admin/ui/tenants",
            Trouble::ReconcileKeyRefused => "/admin/ui/",
        }
    }
}

/// Something that may need an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub trouble: Trouble,
    /// The tenant it concerns; empty: the single route, or the deployment.
    pub tenant: String,
    pub count: i64,
    /// When the newest occurrence happened (ms): what was already reported
    /// is never reported again.
    pub newest_at: i64,
}

/// Whether `c` is emailed now, given when its kind last was for its tenant.
pub fn due(c: &Candidate, last_sent_at: Option<i64>, now_ms: i64, interval_ms: i64) -> bool {
    match last_sent_at {
        None => true,
        Some(sent) => c.newest_at > sent && now_ms - sent >= interval_ms,
    }
}

/// The alert email, as a notification the mailer sends to `ALERT_TO`.
/// `console`: the console's base URL, if known (`CONSOLE_URL`).
pub fn notification(c: &Candidate, console: Option<&str>, now_ms: i64) -> Notification {
    let whose = if c.tenant.is_empty() {
        String::new()
    } else {
        format!(" (tenant {})", c.tenant)
    };
    let (title, message) = match c.trouble {
        Trouble::DeadLetters => (
            format!("{} email(s) could not be sent{whose}", c.count),
            "SendGrid refused them for good, or their retries ran out. Each is listed with the reason; fix the cause, then redrive it from the console.".to_owned(),
        ),
        Trouble::SendgridKeyRefused => (
            format!("SendGrid refused the API key{whose}"),
            "No email can be sent until SENDGRID_API_KEY is a valid key with Mail Send permission. Fix it, then redrive the dead letters.".to_owned(),
        ),
        Trouble::OutboxStale => (
            format!("{} event(s) wait in the outbox{whose}", c.count),
            "The queue has not taken them for longer than ALERT_OUTBOX_AGE_MINUTES: is the queue bound and the admin worker's cron running?".to_owned(),
        ),
        Trouble::ReconcileKeyRefused => (
            format!("Cal.com refused the API key{whose}"),
            "Bookings whose webhook never arrives are no longer recovered. Set a valid Cal.com API key (CAL_API_KEY, or calhook tenant cal-api-key); it is not tried again until it changes.".to_owned(),
        ),
        Trouble::QuotaHeld => (
            format!("{} email(s) held over the hourly quota{whose}", c.count),
            "They are sent when the next hour starts (and dead-lettered past the queue's retries). Raise the tenant's emails_per_hour if the volume is expected.".to_owned(),
        ),
    };
    let page = c.trouble.page();
    let url = match console {
        Some(base) => format!("{}{page}", base.trim_end_matches('/')),
        None => page.to_owned(),
    };
    Notification {
        v: NOTIFICATION_VERSION,
        key: NotificationKey::new(format!(
            "CALHOOK_ALERT:{}:{}:{now_ms}",
            c.trouble.as_str(),
            if c.tenant.is_empty() { "-" } else { &c.tenant }
        )),
        trigger: Kind::Alert,
        tenant: None,
        created_at: None,
        facts: Facts {
            title: Some(title),
            message: Some(message),
            links: vec![Link {
                label: "Open in the console".into(),
                url,
            }],
            ..Facts::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn dead(newest_at: i64) -> Candidate {
        Candidate {
            trouble: Trouble::DeadLetters,
            tenant: "acme".into(),
            count: 1,
            newest_at,
        }
    }

    #[test]
    fn the_first_trouble_is_reported_at_once() {
        assert!(due(&dead(10), None, 20, 60 * MIN));
    }

    #[test]
    fn at_most_once_per_interval_per_kind_and_tenant() {
        let sent = 100 * MIN;
        assert!(!due(
            &dead(sent + MIN),
            Some(sent),
            sent + 59 * MIN,
            60 * MIN
        ));
        assert!(due(
            &dead(sent + MIN),
            Some(sent),
            sent + 60 * MIN,
            60 * MIN
        ));
    }

    #[test]
    fn what_was_already_reported_is_never_reported_again() {
        let sent = 100 * MIN;
        assert!(
            !due(&dead(sent - MIN), Some(sent), sent + 600 * MIN, 60 * MIN),
            "a dead letter kept again (a duplicate delivery) is not news"
        );
    }

    #[test]
    fn emails_held_over_a_quota_link_to_the_tenants_page() {
        let held = Candidate {
            trouble: Trouble::QuotaHeld,
            tenant: "acme".into(),
            count: 3,
            newest_at: 0,
        };
        let n = notification(&held, None, 5);
        assert!(n
            .facts
            .title
            .as_deref()
            .unwrap()
            .starts_with("3 email(s) held"));
        assert_eq!(n.facts.links[0].url, "/admin/ui/tenants");
    }

    #[test]
    fn the_alert_names_the_trouble_the_tenant_and_the_console_page() {
        let n = notification(&dead(1), Some("https://hooks.example.com/"), 5);
        assert_eq!(n.trigger, Kind::Alert);
        assert!(n.facts.title.as_deref().unwrap().contains("tenant acme"));
        assert_eq!(
            n.facts.links[0].url,
            "https://hooks.example.com/admin/ui/dead-letters"
        );
        assert!(n
            .key
            .as_str()
            .starts_with("CALHOOK_ALERT:dead_letters:acme:"));
    }
}
