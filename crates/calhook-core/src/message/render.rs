//! The email a busy person reads in five seconds: what happened, who, when, where.
//!
//! Facts become a [`View`] (plain data) here; askama templates in `templates/`
//! turn it into text and HTML. The HTML template escapes every value, and only
//! http(s) URLs ever become links.

use crate::inbound::event::Trigger;
use crate::message::notification::{Facts, Kind, Notification, Party};
use crate::message::zones::{Zone, ZoneOffsets};
use askama::Template;
use chrono::{DateTime, Utc};

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One labelled line of the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub value: String,
    pub href: Option<String>,
}

/// Everything the templates show, already in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub subject: String,
    pub headline: String,
    pub title: String,
    pub summary: String,
    pub accent: &'static str,
    pub rows: Vec<Row>,
    pub trigger: String,
    pub key: String,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlEmail<'a> {
    subject: &'a str,
    headline: &'a str,
    title: &'a str,
    summary: &'a str,
    accent: &'a str,
    rows: &'a [Row],
    footer: &'a str,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextEmail<'a> {
    headline: &'a str,
    title: &'a str,
    summary: &'a str,
    rows: &'a [Row],
    footer: &'a str,
}

/// Renders a notification for staff. Infallible: missing facts are left out, not guessed.
pub fn render(n: &Notification, zones: &dyn ZoneOffsets) -> RenderedEmail {
    let v = view(n, zones);
    let footer = format!(
        "Sent by calhook for Cal.com event {} · {}",
        v.trigger, v.key
    );
    layout(&v, &footer)
}

/// One layout for every view; the view decides what it shows. Every text that
/// can come from a webhook is made one line here, once, so that nothing
/// untrusted can start a line of its own in the text/plain part.
fn layout(v: &View, footer: &str) -> RenderedEmail {
    let rows: Vec<Row> = v
        .rows
        .iter()
        .map(|r| Row {
            label: one_line(&r.label),
            value: one_line(&r.value),
            href: r.href.clone(),
        })
        .collect();
    let v = &View {
        title: one_line(&v.title),
        summary: one_line(&v.summary),
        rows,
        ..v.clone()
    };
    let footer = &one_line(footer);
    let html = HtmlEmail {
        subject: &v.subject,
        headline: &v.headline,
        title: &v.title,
        summary: &v.summary,
        accent: v.accent,
        rows: &v.rows,
        footer,
    }
    .render()
    .unwrap_or_else(|e| {
        format!(
            "<p>rendering failed: {}</p>",
            e.to_string().replace('<', "&lt;")
        )
    });
    let text = TextEmail {
        headline: &v.headline,
        title: &v.title,
        summary: &v.summary,
        rows: &v.rows,
        footer,
    }
    .render()
    .unwrap_or_else(|e| format!("rendering failed: {e}"));
    RenderedEmail {
        subject: v.subject.clone(),
        text,
        html,
    }
}

/// The words for a notification: headline, subject and rows.
pub fn view(n: &Notification, zones: &dyn ZoneOffsets) -> View {
    let f = &n.facts;
    let (headline, accent) = headline(&n.trigger);
    let title = title(n);
    let organizer_tz = organizer_zone(f, zones);
    let mut rows = Vec::new();

    if let Some(start) = f.start {
        rows.push(row("When", when(start, f.end, organizer_tz)));
        for a in &f.attendees {
            let tz = zone(Some(a), zones);
            if tz != organizer_tz {
                rows.push(row(
                    &format!("For {}", a.name.as_deref().unwrap_or("attendee")),
                    when(start, f.end, tz),
                ));
            }
        }
    }
    if let Some(prev) = f.previous_start {
        rows.push(row("Was", when(prev, f.previous_end, organizer_tz)));
    }
    if let Some(ooo) = &f.ooo {
        // Cal.com stores the dates the person entered as UTC day bounds:
        // calendar dates, not instants to convert into a zone.
        match (ooo.start, ooo.end) {
            (Some(start), Some(end)) => rows.push(row("Dates", date_span(start, end))),
            (Some(day), None) | (None, Some(day)) => rows.push(row("Dates", date_span(day, day))),
            (None, None) => {}
        }
        if let Some(p) = &ooo.person {
            rows.push(row("Who", person(p)));
        }
        if let Some(p) = &ooo.redirect_to {
            rows.push(row("Bookings go to", person(p)));
        }
        push_opt(&mut rows, "Reason", &ooo.reason);
        push_opt(&mut rows, "Notes", &ooo.notes);
    }
    push_location(&mut rows, f);
    if let Some(o) = &f.organizer {
        rows.push(row("Organizer", person(o)));
    }
    if !f.attendees.is_empty() {
        let label = "Attendees";
        let list = f
            .attendees
            .iter()
            .map(|a| {
                let mut s = person(a);
                match a.no_show {
                    Some(true) => s.push_str(" (no-show)"),
                    Some(false) if is_no_show(&n.trigger) => s.push_str(" (attended)"),
                    _ => {}
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(row(label, list));
    }
    let reason_label = if is(&n.trigger, Trigger::BookingRejected) {
        "Rejection reason"
    } else {
        "Reason"
    };
    push_opt(&mut rows, reason_label, &f.reason);
    let actor_label = if is(&n.trigger, Trigger::BookingRescheduled) {
        "Rescheduled by"
    } else {
        "Cancelled by"
    };
    push_opt(&mut rows, actor_label, &f.actor);
    push_opt(&mut rows, "Notes", &f.notes);
    push_opt(&mut rows, "Price", &f.price);
    push_opt(&mut rows, "Message", &f.message);
    for l in &f.links {
        rows.push(link_row(&l.label, &l.url, &l.url));
    }
    if let Some(form) = &f.form {
        for a in &form.answers {
            rows.push(row(&a.label, a.value.clone()));
        }
    }
    push_opt(&mut rows, "Event type", &f.event_type);
    push_opt(&mut rows, "Booking", &f.booking_uid);

    if let Some(at) = f.recovered {
        rows.push(row(
            "Recovered",
            format!(
                "by reconciliation: Cal.com's webhook for this change never arrived. It happened in Cal.com on {}.",
                day_time(at, organizer_tz)
            ),
        ));
    }
    if f.shortened {
        rows.push(row(
            "Note",
            "Cal.com sent more than fits one notification: some details were shortened or left out.".into(),
        ));
    }

    let summary = summary(n, organizer_tz);
    // A seat is news about one attendee: the subject names them.
    let (headline, subject_head) = match (&f.seat, n.trigger.trigger()) {
        (Some(seat), Some(Trigger::BookingCancelled)) => (
            "Seat cancelled",
            format!("Seat cancelled: {} on", seat_holder(seat)),
        ),
        (Some(seat), _) => ("New seat", format!("New seat: {} on", seat_holder(seat))),
        (None, _) => (headline, format!("{headline}:")),
    };
    let short_title = shorten(&one_line(&title), MAX_SUBJECT_TITLE_CHARS);
    let subject = one_line(&match f.start {
        Some(start) => format!(
            "{subject_head} {short_title} ({})",
            short_when(start, organizer_tz)
        ),
        None => format!("{subject_head} {short_title}"),
    });
    View {
        subject,
        headline: headline.to_owned(),
        title,
        summary,
        accent,
        rows,
        trigger: n.trigger.to_string(),
        key: n.key.to_string(),
    }
}

/// The copy one attendee receives (`NOTIFY_ATTENDEES`): their own time zone
/// first, their own name, and nothing about other attendees or staff work —
/// Cal.com's `seatsShowAttendees=false` stays true in our email too.
pub fn render_for_attendee(
    n: &Notification,
    attendee: usize,
    zones: &dyn ZoneOffsets,
) -> RenderedEmail {
    let v = attendee_view(n, attendee, zones);
    let footer = match n.facts.organizer.as_ref().and_then(|o| o.name.as_deref()) {
        Some(name) => format!(
            "Sent on behalf of {} about your Cal.com booking.",
            one_line(name)
        ),
        None => "Sent about your Cal.com booking.".to_owned(),
    };
    layout(&v, &footer)
}

/// The words of an attendee's copy (see [`render_for_attendee`]).
pub fn attendee_view(n: &Notification, attendee: usize, zones: &dyn ZoneOffsets) -> View {
    let f = &n.facts;
    let me = f.attendees.get(attendee);
    let my_tz = zone(me, zones);
    let organizer_tz = organizer_zone(f, zones);
    let (headline, accent) = match n.trigger.trigger() {
        Some(Trigger::BookingCreated) => ("Booking confirmed", "#15803d"),
        Some(Trigger::BookingRescheduled) => ("Booking moved", "#b45309"),
        Some(Trigger::BookingCancelled) => ("Booking cancelled", "#b91c1c"),
        Some(Trigger::BookingRequested) => ("Booking requested", "#b45309"),
        Some(Trigger::BookingRejected) => ("Booking declined", "#b91c1c"),
        _ => headline(&n.trigger),
    };
    let title = title(n);
    let host = f
        .organizer
        .as_ref()
        .and_then(|o| o.name.clone())
        .unwrap_or_else(|| "your host".to_owned());
    let at = f.start.map(|s| day_time(s, my_tz));
    let hello = me
        .and_then(|a| a.name.as_deref())
        .map(|name| format!("Hi {},", one_line(name)))
        .unwrap_or_else(|| "Hello,".to_owned());
    let what = match (&n.trigger, &at) {
        (Kind::Event(Trigger::BookingCreated), Some(at)) => {
            format!("your booking with {host} on {at} is confirmed.")
        }
        (Kind::Event(Trigger::BookingRequested), Some(at)) => {
            format!("your request for {at} is waiting for {host} to confirm it.")
        }
        (Kind::Event(Trigger::BookingRescheduled), Some(at)) => {
            format!("your booking with {host} is now on {at}.")
        }
        (Kind::Event(Trigger::BookingCancelled), Some(at)) => {
            format!("your booking with {host} on {at} is cancelled.")
        }
        (Kind::Event(Trigger::BookingRejected), Some(at)) => {
            format!("{host} could not accept your request for {at}.")
        }
        (Kind::Reminder, Some(at)) => format!(
            "a reminder: your booking with {host} starts in {}, on {at}.",
            f.reminder.map(|r| r.in_words()).unwrap_or_default()
        ),
        _ => "there is news about your booking.".to_owned(),
    };
    let mut rows = Vec::new();
    if let Some(start) = f.start {
        rows.push(row("When", when(start, f.end, my_tz)));
        if organizer_tz != my_tz && f.organizer.is_some() {
            rows.push(row("Host's time", when(start, f.end, organizer_tz)));
        }
    }
    if let Some(prev) = f.previous_start {
        rows.push(row("Was", when(prev, f.previous_end, my_tz)));
    }
    push_location(&mut rows, f);
    if let Some(o) = &f.organizer {
        rows.push(row("Host", person(o)));
    }
    if matches!(
        n.trigger.trigger(),
        Some(Trigger::BookingCancelled | Trigger::BookingRejected)
    ) {
        push_opt(&mut rows, "Reason", &f.reason);
    }
    push_opt(&mut rows, "Price", &f.price);
    let short_title = shorten(&one_line(&title), MAX_SUBJECT_TITLE_CHARS);
    let subject = one_line(&match f.start {
        Some(start) => format!("{headline}: {short_title} ({})", short_when(start, my_tz)),
        None => format!("{headline}: {short_title}"),
    });
    View {
        subject,
        headline: headline.to_owned(),
        title,
        summary: format!("{hello} {what}"),
        accent,
        rows,
        trigger: n.trigger.to_string(),
        key: n.key.to_string(),
    }
}

fn headline(kind: &Kind) -> (&'static str, &'static str) {
    const GREEN: &str = "#15803d";
    const RED: &str = "#b91c1c";
    const AMBER: &str = "#b45309";
    const BLUE: &str = "#1d4ed8";
    use Trigger::*;
    let trigger = match kind {
        Kind::Reminder => return ("Reminder", BLUE),
        Kind::FollowUp => return ("Follow up", BLUE),
        Kind::Alert => return ("Needs attention", RED),
        Kind::Event(trigger) => trigger,
    };
    match trigger {
        BookingCreated => ("New booking", GREEN),
        BookingRescheduled => ("Rescheduled", AMBER),
        BookingCancelled => ("Cancelled", RED),
        BookingRequested => ("Needs confirmation", AMBER),
        BookingRejected => ("Rejected", RED),
        BookingPaymentInitiated => ("Payment started", BLUE),
        BookingPaid => ("Paid", GREEN),
        BookingNoShowUpdated => ("No-show updated", AMBER),
        BookingLocationUpdated => ("Location changed", AMBER),
        BookingReassigned => ("Reassigned", AMBER),
        MeetingStarted => ("Meeting started", BLUE),
        MeetingEnded => ("Meeting ended", BLUE),
        InstantMeeting | InstantMeetingAccepted => ("Instant meeting", BLUE),
        AfterHostsCalVideoNoShow => ("Host did not join", RED),
        AfterGuestsCalVideoNoShow => ("Guests did not join", RED),
        RecordingReady => ("Recording ready", BLUE),
        RecordingTranscriptionGenerated => ("Transcript ready", BLUE),
        OooCreated => ("Out of office", BLUE),
        FormSubmitted | FormSubmittedNoEvent => ("Form submitted", BLUE),
        RoutingFormFallbackHit => ("Routing fallback", AMBER),
        WrongAssignmentReport
        | CalendarEntryRejected
        | DelegationCredentialError
        | Ping
        | Unknown(_) => ("Cal.com event", BLUE),
    }
}

/// A no-show was recorded or cleared (attendees are marked either way).
fn is_no_show(kind: &Kind) -> bool {
    matches!(
        kind.trigger(),
        Some(
            Trigger::BookingNoShowUpdated
                | Trigger::AfterHostsCalVideoNoShow
                | Trigger::AfterGuestsCalVideoNoShow
        )
    )
}

fn is(kind: &Kind, trigger: Trigger) -> bool {
    kind.trigger() == Some(&trigger)
}

fn title(n: &Notification) -> String {
    let f = &n.facts;
    if let Some(t) = &f.title {
        return t.clone();
    }
    if let Some(form) = &f.form {
        return form.name.clone().unwrap_or_else(|| "Routing form".into());
    }
    if let Some(p) = f.ooo.as_ref().and_then(|o| o.person.as_ref()) {
        return format!(
            "{} is away",
            p.name
                .as_deref()
                .or(p.email.as_deref())
                .unwrap_or("Someone")
        );
    }
    if let Some(uid) = &f.booking_uid {
        return format!("Booking {uid}");
    }
    n.trigger.to_string()
}

fn summary(n: &Notification, tz: Zone) -> String {
    let f = &n.facts;
    let who = f
        .attendees
        .iter()
        .filter_map(|a| a.name.as_deref().or(a.email.as_deref()))
        .collect::<Vec<_>>()
        .join(", ");
    let at = f.start.map(|s| day_time(s, tz));
    let seat_holder = f.seat.as_ref().map(seat_holder);
    let soon = f.reminder.map(|r| r.in_words()).unwrap_or_default();
    use Trigger::*;
    match (&n.trigger, at) {
        (Kind::Alert, _) => f.message.clone().unwrap_or_default(),
        (Kind::Reminder, Some(at)) => format!("Starts in {soon}: {at}."),
        (Kind::FollowUp, Some(at)) => {
            format!("This booking on {at} ended {soon} ago: time to follow up.")
        }
        (Kind::Event(BookingCreated), Some(at)) if seat_holder.is_some() => {
            format!("{} took a seat on {at}.", seat_holder.unwrap_or_default())
        }
        (Kind::Event(BookingCancelled), Some(at)) if seat_holder.is_some() => format!(
            "{} gave up their seat on {at}; the booking stays on for the others.",
            seat_holder.unwrap_or_default()
        ),
        (Kind::Event(BookingCreated), Some(at)) if !who.is_empty() => format!("{who} booked {at}."),
        (Kind::Event(BookingRequested), Some(at)) if !who.is_empty() => {
            format!("{who} asked for {at}. Confirm or reject it in Cal.com.")
        }
        (Kind::Event(BookingRescheduled), Some(at)) => match f.previous_start {
            Some(prev) => format!("Moved from {} to {at}.", day_time(prev, tz)),
            None => format!("Now {at}."),
        },
        (Kind::Event(BookingCancelled), Some(at)) => format!("The booking on {at} is off."),
        _ => f.message.clone().unwrap_or_default(),
    }
}

fn row(label: &str, value: String) -> Row {
    Row {
        label: label.to_owned(),
        value: one_line(&value),
        href: None,
    }
}

/// A row that links only when the URL is http(s); anything else (javascript:, data:) stays text.
fn link_row(label: &str, value: &str, url: &str) -> Row {
    let safe = url.starts_with("https://") || url.starts_with("http://");
    Row {
        label: label.to_owned(),
        value: value.to_owned(),
        href: safe.then(|| url.to_owned()),
    }
}

/// "Where" and "Join": one row when the location is the meeting link itself.
fn push_location(rows: &mut Vec<Row>, f: &crate::message::notification::Facts) {
    match (&f.location, &f.meeting_url) {
        (Some(loc), Some(url)) if loc == url => rows.push(link_row("Where", loc, url)),
        (Some(loc), Some(url)) => {
            rows.push(row("Where", loc.clone()));
            rows.push(link_row("Join", url, url));
        }
        (Some(loc), None) => rows.push(row("Where", loc.clone())),
        (None, Some(url)) => rows.push(link_row("Join", url, url)),
        (None, None) => {}
    }
}

fn push_opt(rows: &mut Vec<Row>, label: &str, value: &Option<String>) {
    if let Some(v) = value {
        rows.push(row(label, v.clone()));
    }
}

/// A seat holder for a subject: the name, else the address, kept short.
fn seat_holder(p: &Party) -> String {
    let who = p
        .name
        .as_deref()
        .or(p.email.as_deref())
        .unwrap_or("an attendee");
    shorten(&one_line(who), 60)
}

fn person(p: &Party) -> String {
    match (&p.name, &p.email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => "(unknown)".into(),
    }
}

/// The organizer's zone, else the mailer's fallback, else UTC.
fn organizer_zone<'a>(f: &'a Facts, zones: &'a dyn ZoneOffsets) -> Zone<'a> {
    f.organizer
        .as_ref()
        .and_then(|p| p.time_zone.as_deref())
        .and_then(|z| Zone::named(z, zones))
        .or_else(|| Zone::named(f.fallback_zone.as_deref()?, zones))
        .unwrap_or(Zone::utc(zones))
}

fn zone<'a>(p: Option<&'a Party>, zones: &'a dyn ZoneOffsets) -> Zone<'a> {
    p.and_then(|p| p.time_zone.as_deref())
        .and_then(|z| Zone::named(z, zones))
        .unwrap_or(Zone::utc(zones))
}

/// "Wednesday, 25 November 2026, 15:00–15:30 GMT (Europe/London)".
/// Each end carries its own offset when they differ (a range across a
/// DST change: "01:30 GMT-4 – 01:30 GMT-5").
fn when(start: DateTime<Utc>, end: Option<DateTime<Utc>>, tz: Zone) -> String {
    let s = tz.local(start);
    let start_zone = tz.label_of(&s);
    let mut text = s.format("%A, %-d %B %Y, %H:%M").to_string();
    let mut zone = start_zone.clone();
    if let Some(end) = end {
        let e = tz.local(end);
        let end_zone = tz.label_of(&e);
        let dash = if end_zone != start_zone {
            text.push(' ');
            text.push_str(&start_zone);
            zone = end_zone;
            " – "
        } else {
            "–"
        };
        if e.date_naive() == s.date_naive() {
            text.push_str(dash);
            text.push_str(&e.format("%H:%M").to_string());
        } else {
            text.push_str(&e.format(" – %A, %-d %B %Y, %H:%M").to_string());
        }
    }
    format!("{text} {zone} ({})", tz.name())
}

/// Longest title kept in a subject: a subject stays one readable line, far
/// below email's 998-character line limit, with its date at the end.
const MAX_SUBJECT_TITLE_CHARS: usize = 150;

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_owned(),
    }
}

/// "4–8 January 2027", "30 December 2026 – 3 January 2027", "4 January 2027".
fn date_span(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let (s, e) = (start.date_naive(), end.date_naive());
    if s == e {
        s.format("%-d %B %Y").to_string()
    } else if s.format("%Y-%m").to_string() == e.format("%Y-%m").to_string() {
        format!("{}–{}", s.format("%-d"), e.format("%-d %B %Y"))
    } else if s.format("%Y").to_string() == e.format("%Y").to_string() {
        format!("{} – {}", s.format("%-d %B"), e.format("%-d %B %Y"))
    } else {
        format!("{} – {}", s.format("%-d %B %Y"), e.format("%-d %B %Y"))
    }
}

fn day_time(t: DateTime<Utc>, tz: Zone) -> String {
    let l = tz.local(t);
    format!("{} {}", l.format("%A, %-d %B %Y at %H:%M"), tz.label_of(&l))
}

fn short_when(t: DateTime<Utc>, tz: Zone) -> String {
    let l = tz.local(t);
    format!("{} {}", l.format("%a %-d %b %Y, %H:%M"), tz.label_of(&l))
}

/// Tags the HTML template itself writes. Anything else after a `<` in a
/// rendered email would be markup that came from input (used by the property
/// tests and fuzz targets).
pub const TEMPLATE_TAGS: &[&str] = &[
    "!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title", "body", "/body",
    "table", "/table", "tr", "/tr", "td", "/td", "p", "/p", "h1", "/h1", "a", "/a",
];

/// Whether every `<` in `html` opens one of [`TEMPLATE_TAGS`].
pub fn only_template_tags(html: &str) -> bool {
    html.match_indices('<').all(|(i, _)| {
        let rest = &html[i + 1..];
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '>')
            .unwrap_or(rest.len());
        TEMPLATE_TAGS.contains(&&rest[..name_len])
    })
}

/// Subjects and table cells are one line: no header or layout games from input.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(all(test, feature = "tzdb"))]
mod tests {
    use super::*;
    use crate::inbound::{event::parse, identity::derive};
    use crate::message::zones::Tzdb;

    fn render(n: &Notification) -> RenderedEmail {
        super::render(n, &Tzdb)
    }

    fn render_for_attendee(n: &Notification, attendee: usize) -> RenderedEmail {
        super::render_for_attendee(n, attendee, &Tzdb)
    }

    fn notification(body: &str) -> Notification {
        let env = parse(body.as_bytes()).unwrap();
        Notification::build(&env, derive(&env).unwrap().notification_key(1_000))
    }

    #[test]
    fn a_recovered_event_says_it_was_recovered_and_when_it_happened() {
        let mut n = notification(CREATED);
        n.facts.recovered = Some("2026-11-20T09:31:00Z".parse().unwrap());
        let e = render(&n);
        assert!(
            e.text.contains(
                "Recovered: by reconciliation: Cal.com's webhook for this change never arrived. \
                 It happened in Cal.com on Friday, 20 November 2026 at"
            ),
            "{}",
            e.text
        );
        assert!(!render(&notification(CREATED)).text.contains("Recovered"));
    }

    #[test]
    fn a_reminder_says_how_soon_the_booking_starts() {
        let mut n = notification(CREATED);
        n.trigger = Kind::Reminder;
        n.facts.reminder = Some(crate::message::notification::Reminder { minutes: 60 });
        let e = render(&n);
        assert!(
            e.subject.starts_with("Reminder: 30 Min Meeting"),
            "{}",
            e.subject
        );
        assert!(
            e.text
                .contains("Starts in 1 hour: Wednesday, 25 November 2026 at 15:00 GMT."),
            "{}",
            e.text
        );
        let a = render_for_attendee(&n, 0);
        assert!(
            a.text
                .contains("starts in 1 hour, on Wednesday, 25 November 2026 at 10:00 GMT-5"),
            "{}",
            a.text
        );
    }

    #[test]
    fn reminder_offsets_read_as_words() {
        use crate::message::notification::Reminder;
        let words = |m| Reminder { minutes: m }.in_words();
        assert_eq!(
            [words(60), words(1440), words(90), words(2880), words(1)],
            ["1 hour", "24 hours", "90 minutes", "2 days", "1 minute"]
        );
    }

    #[test]
    fn a_new_seat_is_named_in_the_subject() {
        let e = render(&notification(
            r#"{"triggerEvent":"BOOKING_CREATED","payload":{"title":"Yoga class","uid":"shared","seatsPerTimeSlot":10,
            "attendeeSeatId":"seat-2","startTime":"2026-11-25T15:00:00Z","endTime":"2026-11-25T16:00:00Z",
            "organizer":{"name":"Ada","email":"ada@example.com","timeZone":"Europe/London"},
            "attendees":[{"name":"Zoë Ångström","email":"zoe@example.se","timeZone":"Europe/Stockholm"}]}}"#,
        ));
        assert_eq!(
            e.subject,
            "New seat: Zoë Ångström on Yoga class (Wed 25 Nov 2026, 15:00 GMT)"
        );
        assert!(e.text.contains("Zoë Ångström took a seat on"), "{}", e.text);
    }

    #[test]
    fn a_seat_cancellation_is_named_in_the_subject() {
        let e = render(&notification(
            r#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"title":"Yoga class","uid":"shared","seatsPerTimeSlot":10,
            "startTime":"2026-11-25T15:00:00+00:00","status":"CANCELLED",
            "organizer":{"name":"Ada","email":"ada@example.com","timeZone":"Europe/London"},
            "attendees":[{"name":"Zoë Ångström","email":"zoe@example.se"}]}}"#,
        ));
        assert_eq!(
            e.subject,
            "Seat cancelled: Zoë Ångström on Yoga class (Wed 25 Nov 2026, 15:00 GMT)"
        );
        assert!(e.text.contains("stays on for the others"), "{}", e.text);
    }

    const CREATED: &str = r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-20T09:30:00.538Z","payload":{
        "title":"30 Min Meeting between Ada Lovelace and Grace Hopper","uid":"bFJeNb2uX8ANpT3JL5EfXw",
        "startTime":"2026-11-25T15:00:00Z","endTime":"2026-11-25T15:30:00Z","location":"integrations:daily",
        "additionalNotes":"Agenda attached",
        "organizer":{"name":"Ada Lovelace","email":"ada@example.com","timeZone":"Europe/London"},
        "attendees":[{"name":"Grace Hopper","email":"grace@example.org","timeZone":"America/New_York"}],
        "metadata":{"videoCallUrl":"https://app.cal.com/video/bFJeNb2uX8ANpT3JL5EfXw"}}}"#;

    #[test]
    fn booking_created_reads_in_five_seconds() {
        let e = render(&notification(CREATED));
        assert_eq!(
            e.subject,
            "New booking: 30 Min Meeting between Ada Lovelace and Grace Hopper (Wed 25 Nov 2026, 15:00 GMT)"
        );
        assert!(
            e.text
                .contains("When: Wednesday, 25 November 2026, 15:00–15:30 GMT (Europe/London)"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains(
                "For Grace Hopper: Wednesday, 25 November 2026, 10:00–10:30 GMT-5 (America/New_York)"
            ),
            "{}",
            e.text
        );
        assert!(
            e.text
                .contains("Join: https://app.cal.com/video/bFJeNb2uX8ANpT3JL5EfXw"),
            "{}",
            e.text
        );
        assert!(e
            .html
            .contains(r#"<a href="https://app.cal.com/video/bFJeNb2uX8ANpT3JL5EfXw""#));
    }

    #[test]
    fn values_from_cal_com_are_escaped_in_html() {
        let body = CREATED
            .replace(
                "30 Min Meeting between Ada Lovelace and Grace Hopper",
                r#"<script>alert(1)</script> & \"quoted\""#,
            )
            .replace("Grace Hopper", "<img src=x onerror=alert(2)>")
            .replace("Agenda attached", "</td><b>bold</b>");
        let e = render(&notification(&body));
        assert!(!e.html.contains("<script>"));
        assert!(!e.html.contains("<img"));
        assert!(!e.html.contains("<b>bold"));
        assert!(
            e.html.contains("&#60;script&#62;") || e.html.contains("&lt;script&gt;"),
            "{}",
            e.html
        );
        assert!(
            e.html.contains("&#34;quoted&#34;") || e.html.contains("&quot;quoted&quot;"),
            "{}",
            e.html
        );
        assert!(
            e.text.contains("<script>alert(1)</script>"),
            "text bodies are not HTML-escaped"
        );
    }

    #[test]
    fn only_http_links_become_links() {
        let body = CREATED.replace(
            "https://app.cal.com/video/bFJeNb2uX8ANpT3JL5EfXw",
            "javascript:alert(1)",
        );
        let e = render(&notification(&body));
        assert!(!e.html.contains("href=\"javascript:"));
    }

    #[test]
    fn reschedule_shows_old_and_new_time_across_a_dst_change() {
        // Europe/London leaves summer time on 25 October 2026.
        let n = notification(
            r#"{"triggerEvent":"BOOKING_RESCHEDULED","payload":{"title":"Intro","uid":"new","rescheduleUid":"old",
            "startTime":"2026-10-26T15:00:00Z","endTime":"2026-10-26T15:30:00Z",
            "rescheduleStartTime":"2026-10-23T14:00:00Z","rescheduleEndTime":"2026-10-23T14:30:00Z",
            "organizer":{"name":"Ada","timeZone":"Europe/London"}}}"#,
        );
        let e = render(&n);
        assert!(
            e.text
                .contains("When: Monday, 26 October 2026, 15:00–15:30 GMT"),
            "{}",
            e.text
        );
        assert!(
            e.text
                .contains("Was: Friday, 23 October 2026, 15:00–15:30 GMT+1"),
            "{}",
            e.text
        );
        assert!(e.text.contains("Moved from Friday, 23 October 2026 at 15:00 GMT+1 to Monday, 26 October 2026 at 15:00 GMT."), "{}", e.text);
        assert!(e.subject.starts_with("Rescheduled: Intro"));
    }

    #[test]
    fn subject_is_one_line_even_with_newlines_in_the_title() {
        let body = CREATED.replace(
            "30 Min Meeting between Ada Lovelace and Grace Hopper",
            "a\\r\\nBcc: x@y.z",
        );
        let e = render(&notification(&body));
        assert!(!e.subject.contains('\n') && !e.subject.contains('\r'));
    }

    fn fixture(trigger: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            trigger.to_lowercase()
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn cancellation_shows_the_reason_and_who_cancelled() {
        let e = render(&notification(&fixture("BOOKING_CANCELLED")));
        assert!(
            e.subject.starts_with("Cancelled: 30 Min Meeting"),
            "{}",
            e.subject
        );
        assert!(
            e.text.contains("Reason: Something came up, sorry!"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("Cancelled by: grace@example.org"),
            "{}",
            e.text
        );
        assert!(
            e.text
                .contains("The booking on Wednesday, 25 November 2026 at 15:00 GMT is off."),
            "{}",
            e.text
        );
    }

    #[test]
    fn rejection_shows_the_rejection_reason() {
        let e = render(&notification(&fixture("BOOKING_REJECTED")));
        assert!(e.subject.starts_with("Rejected: "), "{}", e.subject);
        assert!(
            e.text.contains("Rejection reason: Fully booked that week"),
            "{}",
            e.text
        );
    }

    #[test]
    fn request_asks_for_confirmation() {
        let e = render(&notification(&fixture("BOOKING_REQUESTED")));
        assert!(
            e.subject.starts_with("Needs confirmation: "),
            "{}",
            e.subject
        );
        assert!(
            e.text.contains("Confirm or reject it in Cal.com."),
            "{}",
            e.text
        );
    }

    #[test]
    fn no_show_update_names_the_attendees() {
        let e = render(&notification(&fixture("BOOKING_NO_SHOW_UPDATED")));
        assert!(e.subject.starts_with("No-show updated"), "{}", e.subject);
        assert!(
            e.text.contains("Attendees: grace@example.org (no-show)"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("grace@example.org marked as no-show"),
            "{}",
            e.text
        );
    }

    #[test]
    fn paid_booking_shows_the_price() {
        let e = render(&notification(&fixture("BOOKING_PAID")));
        assert!(e.subject.starts_with("Paid: "), "{}", e.subject);
        assert!(e.text.contains("Price: 50.00 USD"), "{}", e.text);
    }

    #[test]
    fn out_of_office_shows_the_period_and_who_covers() {
        let e = render(&notification(&fixture("OOO_CREATED")));
        assert!(
            e.subject.starts_with("Out of office: Ada Lovelace is away"),
            "{}",
            e.subject
        );
        assert!(e.text.contains("Dates: 21–28 December 2026"), "{}", e.text);
        assert!(
            e.text
                .contains("Bookings go to: Alan Turing <alan@example.com>"),
            "{}",
            e.text
        );
    }

    #[test]
    fn form_submission_lists_the_answers() {
        let e = render(&notification(&fixture("FORM_SUBMITTED")));
        assert!(
            e.subject
                .starts_with("Form submitted: Which call do you need?"),
            "{}",
            e.subject
        );
        assert!(
            e.text.contains("Topic: Pricing, Integrations"),
            "{}",
            e.text
        );
    }

    #[test]
    fn recording_links_to_the_download() {
        let e = render(&notification(&fixture("RECORDING_READY")));
        assert!(
            e.html
                .contains(r#"href="https://app.cal.com/api/recordings/rec_9f8e7d""#),
            "{}",
            e.html
        );
    }

    #[test]
    fn an_organizer_without_a_zone_is_shown_in_the_tenants_zone() {
        let body = CREATED.replace(r#","timeZone":"Europe/London""#, "");
        let mut n = notification(&body);
        assert!(render(&n).text.contains("15:00 UTC"), "{}", render(&n).text);
        n.facts.fallback_zone = Some("Asia/Kolkata".into());
        let e = render(&n);
        assert!(
            e.text.contains("20:30"),
            "15:00Z is 20:30 in India: {}",
            e.text
        );
    }

    #[test]
    fn unknown_time_zone_falls_back_to_utc() {
        let body = CREATED.replace("Europe/London", "Mars/Olympus");
        let e = render(&notification(&body));
        assert!(e.text.contains("15:00–15:30 UTC (UTC)"), "{}", e.text);
    }

    const SEATED: &str = r#"{"triggerEvent":"BOOKING_REQUESTED","createdAt":"2026-11-20T09:30:00Z","payload":{
        "title":"Workshop","uid":"seat-1","startTime":"2026-11-25T15:00:00Z","endTime":"2026-11-25T16:00:00Z",
        "organizer":{"name":"Ada Lovelace","email":"ada@example.com","timeZone":"Europe/London"},
        "attendees":[{"name":"Grace Hopper","email":"grace@example.org","timeZone":"America/New_York"},
                     {"name":"Zoë Ångström","email":"zoe@example.se","timeZone":"Europe/Stockholm"}]}}"#;

    #[test]
    fn an_attendee_copy_shows_their_own_zone_first_and_no_other_attendee() {
        let n = notification(SEATED);
        let e = render_for_attendee(&n, 1);
        for part in [&e.text, &e.html, &e.subject] {
            assert!(!part.contains("Grace"), "{part}");
            assert!(!part.contains("grace@example.org"), "{part}");
            assert!(!part.contains("Confirm or reject"), "{part}");
        }
        assert!(e.text.contains("Hi Zoë Ångström,"), "{}", e.text);
        let when = e.text.lines().find(|l| l.starts_with("When:")).unwrap();
        assert!(
            when.contains("16:00–17:00 GMT+1 (Europe/Stockholm)"),
            "{when}"
        );
        assert!(
            e.text
                .contains("Host's time: Wednesday, 25 November 2026, 15:00–16:00 GMT"),
            "{}",
            e.text
        );
        assert!(e.subject.contains("16:00 GMT+1"), "{}", e.subject);
        assert!(
            e.text.contains("waiting for Ada Lovelace to confirm"),
            "{}",
            e.text
        );
    }

    #[test]
    fn the_staff_copy_still_lists_everyone() {
        let e = render(&notification(SEATED));
        assert!(e.text.contains("grace@example.org") && e.text.contains("zoe@example.se"));
        assert!(e.text.contains("Confirm or reject it in Cal.com"));
    }

    #[test]
    fn a_range_across_the_fall_back_night_labels_each_end() {
        // 05:30Z–06:30Z on 1 Nov 2026 in New York: 01:30 GMT-4, then 01:30 GMT-5.
        let start = "2026-11-01T05:30:00Z".parse().unwrap();
        let end = "2026-11-01T06:30:00Z".parse().unwrap();
        let tz = Zone::named("America/New_York", &Tzdb).unwrap();
        assert_eq!(
            when(start, Some(end), tz),
            "Sunday, 1 November 2026, 01:30 GMT-4 – 01:30 GMT-5 (America/New_York)"
        );
        let later = "2026-11-01T07:30:00Z".parse().unwrap();
        assert_eq!(
            when(end, Some(later), tz),
            "Sunday, 1 November 2026, 01:30–02:30 GMT-5 (America/New_York)"
        );
    }

    #[test]
    fn a_huge_title_makes_a_subject_of_one_short_line_that_keeps_its_date() {
        let long = "Strategy ".repeat(400);
        let body = CREATED.replace(
            "30 Min Meeting between Ada Lovelace and Grace Hopper",
            long.trim(),
        );
        let e = render(&notification(&body));
        assert!(e.subject.chars().count() <= 200, "{}", e.subject.len());
        assert!(e.subject.contains("…"), "{}", e.subject);
        assert!(
            e.subject.ends_with("(Wed 25 Nov 2026, 15:00 GMT)"),
            "{}",
            e.subject
        );
    }

    #[test]
    fn no_untrusted_text_starts_a_line_of_its_own_in_the_text_part() {
        let body = CREATED
            .replace(
                "\"name\":\"Grace Hopper\"",
                "\"name\":\"Eve\\nBcc: victim@example.com\"",
            )
            .replace(
                "30 Min Meeting between",
                "Title\\r\\nX-Injected: 1\\n\\nbetween",
            );
        let n = notification(&body);
        for e in [render(&n), render_for_attendee(&n, 0)] {
            for line in e.text.lines() {
                assert!(!line.starts_with("Bcc:"), "{}", e.text);
                assert!(!line.starts_with("X-Injected"), "{}", e.text);
            }
            assert!(!e.subject.contains('\n'));
        }
    }

    #[test]
    fn out_of_office_dates_are_calendar_dates_whatever_the_persons_zone() {
        let body = r#"{"triggerEvent":"OOO_CREATED","createdAt":"2026-11-20T09:30:00Z","payload":{"oooEntry":{
            "uuid":"o1","start":"2027-01-04T00:00:00.000Z","end":"2027-01-08T23:59:59.999Z",
            "reason":{"emoji":"🤒","reason":"ooo_reasons_sick_leave"},
            "user":{"name":null,"email":"kenji@example.jp","timeZone":"Asia/Tokyo"}}}}"#;
        let e = render(&notification(body));
        assert!(e.text.contains("Dates: 4–8 January 2027"), "{}", e.text);
        assert!(e.text.contains("Reason: 🤒 Sick leave"), "{}", e.text);
        assert!(
            e.subject.contains("kenji@example.jp is away"),
            "{}",
            e.subject
        );
        let start = "2026-12-30T00:00:00Z".parse().unwrap();
        let end = "2027-01-03T23:59:59.999Z".parse().unwrap();
        assert_eq!(date_span(start, end), "30 December 2026 – 3 January 2027");
    }

    #[test]
    fn a_flat_meeting_body_is_shown_in_its_users_zone() {
        // Cal.com's scheduled sender: no payload wrapper, the organizer is `user`.
        let body = r#"{"triggerEvent":"MEETING_STARTED","id":91,"uid":"u-flat","title":"Standup",
            "startTime":"2026-11-25T15:00:00.000Z","endTime":"2026-11-25T15:30:00.000Z",
            "createdAt":"2026-11-01T08:00:00.000Z",
            "user":{"username":"ada","name":"Ada Lovelace","email":"ada@example.com","timeZone":"Asia/Kolkata"},
            "attendees":[{"name":"Grace Hopper","email":"grace@example.org","timeZone":"Asia/Kolkata"}]}"#;
        let e = render(&notification(body));
        assert!(
            e.text
                .contains("When: Wednesday, 25 November 2026, 20:30–21:00 GMT+5:30 (Asia/Kolkata)"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("Organizer: Ada Lovelace <ada@example.com>"),
            "{}",
            e.text
        );
    }
}
