//! The console's pages, as data the templates render. Times are shown in UTC.

use askama::Template;

/// A time (ms) as the console shows it.
pub fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// A duration in seconds, briefly.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

fn or_dash(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub struct Login {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
}

impl Login {
    pub fn new(notice: Option<&str>) -> Self {
        Login {
            title: "Sign in",
            signed_in: false,
            notice: notice.map(str::to_owned),
        }
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct Overview {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub outbox_count: i64,
    pub outbox_age: Option<String>,
    pub dead_letters: i64,
    pub reminders_due: i64,
    pub held: i64,
    pub versions: Vec<(String, i64)>,
    pub expected_version: &'static str,
    pub rows: Vec<crate::store::overview::TenantDay>,
    /// The reconcile job's last run per source.
    pub reconcile: Vec<ReconcileLine>,
}

/// One source's last reconcile run, as the overview shows it.
pub struct ReconcileLine {
    pub source: String,
    pub last_run: String,
    pub checked: i64,
    pub recovered: i64,
    /// Why it stopped, or "Cal.com refused the key"; empty when it did not.
    pub trouble: String,
}

impl ReconcileLine {
    pub fn new(s: &crate::store::reconcile::SourceState) -> Self {
        ReconcileLine {
            source: match s.source.as_str() {
                "" => "— (single route)".into(),
                t => t.to_owned(),
            },
            last_run: when(s.last_run_at),
            checked: s.checked,
            recovered: s.recovered,
            trouble: match (s.refused_at, &s.error) {
                (Some(at), _) => format!("Cal.com refused the API key ({})", when(Some(at))),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            },
        }
    }
}

/// The timeline's outcome in words.
fn outcome(o: Option<String>) -> String {
    match o.as_deref() {
        Some("recovered") => "recovered by reconciliation (no webhook arrived), emailed".into(),
        Some("recovered_not_emailed") => "recovered by reconciliation (no webhook arrived)".into(),
        _ => or_dash(o),
    }
}

pub struct BookingLine {
    pub uid: String,
    /// The uid as one path segment of the booking's page.
    pub uid_path: String,
    pub title: String,
    pub status: String,
    pub start: String,
}

impl BookingLine {
    pub fn new(uid: String, title: Option<String>, status: String, start_ms: Option<i64>) -> Self {
        BookingLine {
            uid_path: uid.replace('/', "~"),
            uid,
            title: or_dash(title),
            status,
            start: when(start_ms),
        }
    }
}

/// A booking page's path segment back to its uid (`acme~uid` → `acme/uid`).
pub fn uid_from_path(segment: &str) -> String {
    segment.replace('~', "/")
}

#[derive(Template)]
#[template(path = "console/bookings.html")]
pub struct Bookings {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub query: String,
    pub bookings: Vec<BookingLine>,
}

pub struct EmailLine {
    pub updated: String,
    pub trigger: String,
    pub copy: &'static str,
    pub state: String,
    pub attempts: i64,
    pub error: String,
}

#[derive(Template)]
#[template(path = "console/booking.html")]
pub struct Booking {
    pub title: String,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub uid: String,
    pub status: String,
    pub start: String,
    /// (happened in Cal.com, received, trigger, emailed): a recovered
    /// event is received long after it happened.
    pub events: Vec<(String, String, String, String)>,
    pub emails: Vec<EmailLine>,
    pub any_failed: bool,
    /// (kind, minutes, state, dropped because)
    pub reminders: Vec<(String, u32, String, String)>,
}

impl Booking {
    pub fn new(t: &crate::store::timeline::Timeline) -> Self {
        let b = &t.booking;
        Booking {
            title: or_dash(b.title.clone()),
            signed_in: true,
            notice: None,
            uid: b.uid.clone(),
            status: b.status.clone(),
            start: when(b.start_at),
            events: t
                .events
                .iter()
                .map(|e| {
                    (
                        when(e.sent_at),
                        when(Some(e.received_at)),
                        e.trigger.clone(),
                        outcome(e.outcome.clone()),
                    )
                })
                .collect(),
            emails: t
                .emails
                .iter()
                .map(|e| EmailLine {
                    updated: when(Some(e.updated_at)),
                    trigger: e.trigger.clone(),
                    copy: e.copy(),
                    state: e.state.clone(),
                    attempts: e.attempts,
                    error: or_dash(e.last_error.clone()),
                })
                .collect(),
            any_failed: t.emails.iter().any(|e| e.state == "failed"),
            reminders: t
                .reminders
                .iter()
                .map(|r| {
                    (
                        r.kind.clone(),
                        r.offset_minutes,
                        r.state.clone(),
                        or_dash(r.dropped.clone()),
                    )
                })
                .collect(),
        }
    }
}

pub struct DeadLetterLine {
    pub since: String,
    pub key: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
pub struct DeadLetters {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub letters: Vec<DeadLetterLine>,
}

#[derive(Template)]
#[template(path = "console/outbox.html")]
pub struct Outbox {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    /// (recorded, key, refusals)
    pub rows: Vec<(String, String, i64)>,
}

pub struct TenantLine {
    pub id: String,
    pub name: String,
    pub email_to: String,
    pub emails_per_hour: String,
    pub secrets: usize,
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
pub struct Tenants {
    pub title: &'static str,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub tenants: Vec<TenantLine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cal_com_sent_is_escaped_on_every_page() {
        let page = Bookings {
            title: "Bookings",
            signed_in: true,
            notice: None,
            query: "\"><script>alert(1)</script>".into(),
            bookings: vec![BookingLine::new(
                "acme/u1".into(),
                Some("<img src=x onerror=alert(1)>".into()),
                "accepted".into(),
                Some(0),
            )],
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("img src=x onerror"), "shown, as text");
        assert!(html.contains("/admin/ui/bookings/acme~u1"));
    }

    #[test]
    fn the_sign_in_page_shows_no_data_and_no_navigation() {
        let html = Login::new(Some("wrong token")).render().unwrap();
        assert!(html.contains("name=\"token\""));
        assert!(!html.contains("/admin/ui/dead-letters"));
        assert!(html.contains("wrong token"));
    }

    #[test]
    fn a_tenants_booking_uid_makes_one_path_segment_and_back() {
        let line = BookingLine::new("acme/u1".into(), None, "accepted".into(), None);
        assert_eq!(uid_from_path(&line.uid_path), "acme/u1");
    }
}
