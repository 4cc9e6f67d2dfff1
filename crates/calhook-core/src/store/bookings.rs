//! The booking ledger (tables `bookings`, `booking_attendees`,
//! `booking_events`): where each Cal.com booking stands, whatever order its
//! events arrive in.
//!
//! Rules (each one conditional upsert, so arrival order does not matter):
//! - a status is replaced only by one with a higher `(rank, at)`: terminal
//!   states (rejected, cancelled, rescheduled) outrank `ended`, which outranks
//!   `requested`/`accepted`; within a rank the newer signed `createdAt` wins.
//!   A cancellation that arrives before its creation leaves the booking
//!   cancelled; an older event never overwrites a newer state;
//! - facts (title, times, organizer zone) come from the newest event that
//!   carried them; an older event only fills what is still unknown;
//! - a reschedule marks the old uid `rescheduled` (linked to the new uid) and
//!   records the new uid as accepted, linked back;
//! - each attendee (seats come and go on one booking) and each no-show flag
//!   follows the newest event about that attendee;
//! - every event is kept once in the timeline, by its notification key.
//!
//! An event about a booking not seen yet creates its row with an assumed
//! status (rank −1) that any real status replaces.

use super::{Db, Param, Statement, StoreError};
use crate::inbound::event::Trigger;
use crate::inbound::freshness::event_time_ms;
use crate::message::notification::{Notification, Party};
use crate::tenants::ledger_uid;
use serde::{Deserialize, Serialize};

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Requested,
    Accepted,
    Ended,
    Rejected,
    Cancelled,
    Rescheduled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Accepted => "accepted",
            Status::Ended => "ended",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
            Status::Rescheduled => "rescheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Requested,
            Status::Accepted,
            Status::Ended,
            Status::Rejected,
            Status::Cancelled,
            Status::Rescheduled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Which statuses may replace which: terminal ones are never undone.
    pub fn rank(self) -> i64 {
        match self {
            Status::Requested | Status::Accepted => 0,
            Status::Ended => 1,
            Status::Rejected | Status::Cancelled | Status::Rescheduled => 2,
        }
    }
}

/// What one attendee's part in an event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeUpdate {
    pub email: String,
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// `Some(true)`: seated; `Some(false)`: their seat was cancelled.
    pub seated: Option<bool>,
    pub no_show: Option<bool>,
}

/// What one Cal.com event says about one booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingUpdate {
    pub uid: String,
    /// `None`: the event changes facts or attendees, not the status.
    pub status: Option<Status>,
    /// Cal.com's signed `createdAt` (ms), or the time it was received.
    pub at_ms: i64,
    /// Whether this event carries the booking's facts (title, times, zone).
    pub has_facts: bool,
    pub title: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub organizer_tz: Option<String>,
    pub organizer_name: Option<String>,
    pub organizer_email: Option<String>,
    pub location: Option<String>,
    pub meeting_url: Option<String>,
    pub rescheduled_from: Option<String>,
    pub rescheduled_to: Option<String>,
    pub attendees: Vec<AttendeeUpdate>,
    /// The timeline entry: the notification key and trigger.
    pub key: String,
    pub trigger: String,
    /// Whether the event is emailed about (`NOTIFY_EVENTS`) or only recorded.
    pub emailed: bool,
    /// Found by a reconcile run, not sent by Cal.com's webhook.
    pub recovered: bool,
}

/// What an event means for the booking ledger: nothing (no booking uid, or a
/// trigger about no booking), one update, or two (a reschedule touches the
/// old uid too).
pub fn updates(n: &Notification, received_ms: i64) -> Vec<BookingUpdate> {
    let f = &n.facts;
    // A tenant's bookings are its own rows (`<tenant>/<uid>`).
    let in_ledger = |uid: &str| ledger_uid(n.tenant.as_ref(), uid);
    let Some(uid) = f.booking_uid.as_deref().map(in_ledger) else {
        return Vec::new();
    };
    // calhook's own reminders and follow-ups change no booking.
    let Some(trigger) = n.trigger.trigger() else {
        return Vec::new();
    };
    let at_ms = n
        .created_at
        .as_deref()
        .and_then(event_time_ms)
        .unwrap_or(received_ms);
    let everyone = |seated: Option<bool>| -> Vec<AttendeeUpdate> {
        f.attendees
            .iter()
            .filter_map(|a| attendee(a, seated, None))
            .collect()
    };
    use Trigger::*;
    let (status, has_facts, attendees) = match trigger {
        BookingRequested => (Some(Status::Requested), true, everyone(Some(true))),
        BookingCreated => match &f.seat {
            // A seat is booked on an accepted booking; only its attendee is news.
            Some(seat) => (
                Some(Status::Accepted),
                true,
                attendee(seat, Some(true), None).into_iter().collect(),
            ),
            None => (Some(Status::Accepted), true, everyone(Some(true))),
        },
        BookingRescheduled => (Some(Status::Accepted), true, everyone(Some(true))),
        BookingCancelled => match &f.seat {
            Some(seat) => (
                None,
                false,
                attendee(seat, Some(false), None).into_iter().collect(),
            ),
            None => (Some(Status::Cancelled), true, Vec::new()),
        },
        BookingRejected => (Some(Status::Rejected), true, Vec::new()),
        MeetingEnded => (Some(Status::Ended), true, Vec::new()),
        BookingNoShowUpdated => (
            None,
            false,
            f.attendees
                .iter()
                .filter_map(|a| attendee(a, None, a.no_show))
                .collect(),
        ),
        BookingPaymentInitiated
        | BookingPaid
        | BookingLocationUpdated
        | BookingReassigned
        | MeetingStarted
        | RecordingReady
        | RecordingTranscriptionGenerated
        | AfterHostsCalVideoNoShow
        | AfterGuestsCalVideoNoShow => (None, true, Vec::new()),
        InstantMeeting
        | InstantMeetingAccepted
        | OooCreated
        | FormSubmitted
        | FormSubmittedNoEvent
        | RoutingFormFallbackHit
        | WrongAssignmentReport
        | CalendarEntryRejected
        | DelegationCredentialError
        | Ping
        | Unknown(_) => return Vec::new(),
    };
    let previous = f
        .previous_booking_uid
        .as_deref()
        .map(in_ledger)
        .filter(|_| *trigger == BookingRescheduled);
    let organizer = |field: fn(&Party) -> Option<String>| {
        f.organizer.as_ref().and_then(field).filter(|_| has_facts)
    };
    let main = BookingUpdate {
        uid: uid.clone(),
        status,
        at_ms,
        has_facts,
        title: f.title.clone().filter(|_| has_facts),
        start_ms: f.start.filter(|_| has_facts).map(|t| t.timestamp_millis()),
        end_ms: f.end.filter(|_| has_facts).map(|t| t.timestamp_millis()),
        organizer_tz: organizer(|o| o.time_zone.clone()),
        organizer_name: organizer(|o| o.name.clone()),
        organizer_email: organizer(|o| o.email.clone()),
        location: f.location.clone().filter(|_| has_facts),
        meeting_url: f.meeting_url.clone().filter(|_| has_facts),
        rescheduled_from: previous.clone(),
        rescheduled_to: None,
        attendees,
        key: n.key.to_string(),
        trigger: n.trigger.to_string(),
        emailed: true,
        recovered: f.recovered.is_some(),
    };
    let mut out = vec![main];
    if let Some(old) = previous {
        out.push(BookingUpdate {
            uid: old,
            status: Some(Status::Rescheduled),
            at_ms,
            has_facts: false,
            title: None,
            start_ms: None,
            end_ms: None,
            organizer_tz: None,
            organizer_name: None,
            organizer_email: None,
            location: None,
            meeting_url: None,
            rescheduled_from: None,
            rescheduled_to: Some(uid),
            attendees: Vec::new(),
            key: n.key.to_string(),
            trigger: n.trigger.to_string(),
            emailed: true,
            recovered: f.recovered.is_some(),
        });
    }
    out
}

fn attendee(p: &Party, seated: Option<bool>, no_show: Option<bool>) -> Option<AttendeeUpdate> {
    let email = p.email.as_deref()?.trim().to_lowercase();
    (!email.is_empty()).then(|| AttendeeUpdate {
        email,
        name: p.name.clone(),
        time_zone: p.time_zone.clone(),
        seated,
        no_show,
    })
}

/// `column = …` taking the excluded row's value when its (rank, at) is higher.
macro_rules! newer_status {
    ($c:literal) => {
        concat!(
            $c,
            " = CASE WHEN (excluded.status_rank, excluded.status_at) > (bookings.status_rank, bookings.status_at) \
             THEN excluded.",
            $c,
            " ELSE bookings.",
            $c,
            " END, "
        )
    };
}

/// `column = …` from the newer facts, the older ones filling only what is unknown.
macro_rules! newer_fact {
    ($c:literal) => {
        concat!(
            $c,
            " = CASE WHEN excluded.facts_at > bookings.facts_at THEN COALESCE(excluded.",
            $c,
            ", bookings.",
            $c,
            ") ELSE COALESCE(bookings.",
            $c,
            ", excluded.",
            $c,
            ") END, "
        )
    };
}

/// The statements of one update (for a batch: the receiver adds them to its
/// one round trip).
pub fn statements(u: &BookingUpdate, now_ms: i64) -> Vec<Statement> {
    let (status, rank, status_at) = match u.status {
        Some(s) => (s.as_str(), s.rank(), u.at_ms),
        None => (Status::Accepted.as_str(), -1, 0),
    };
    let facts_at = if u.has_facts { u.at_ms } else { 0 };
    let mut out = vec![Statement::new(
        concat!(
            "INSERT INTO bookings (uid, status, status_rank, status_at, title, start_at, end_at, organizer_tz, \
               organizer_name, organizer_email, location, meeting_url, facts_at, first_seen_at, \
               rescheduled_from, rescheduled_to, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT(uid) DO UPDATE SET ",
            newer_status!("status"),
            newer_status!("status_rank"),
            newer_status!("status_at"),
            newer_fact!("title"),
            newer_fact!("start_at"),
            newer_fact!("end_at"),
            newer_fact!("organizer_tz"),
            newer_fact!("organizer_name"),
            newer_fact!("organizer_email"),
            newer_fact!("location"),
            newer_fact!("meeting_url"),
            "facts_at = MAX(excluded.facts_at, bookings.facts_at), \
             first_seen_at = MIN(excluded.first_seen_at, bookings.first_seen_at), \
             rescheduled_from = COALESCE(bookings.rescheduled_from, excluded.rescheduled_from), \
             rescheduled_to = COALESCE(bookings.rescheduled_to, excluded.rescheduled_to), \
             updated_at = excluded.updated_at"
        ),
        vec![
            u.uid.as_str().into(),
            status.into(),
            rank.into(),
            status_at.into(),
            u.title.clone().into(),
            u.start_ms.into(),
            u.end_ms.into(),
            u.organizer_tz.clone().into(),
            u.organizer_name.clone().into(),
            u.organizer_email.clone().into(),
            u.location.clone().into(),
            u.meeting_url.clone().into(),
            facts_at.into(),
            u.at_ms.into(),
            u.rescheduled_from.clone().into(),
            u.rescheduled_to.clone().into(),
            now_ms.into(),
        ],
    )];
    for a in &u.attendees {
        let flag = |b: Option<bool>| b.map(i64::from);
        out.push(Statement::new(
            "INSERT INTO booking_attendees (uid, email, name, time_zone, state, state_at, no_show, no_show_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT(uid, email) DO UPDATE SET \
               name = COALESCE(excluded.name, booking_attendees.name), \
               time_zone = COALESCE(excluded.time_zone, booking_attendees.time_zone), \
               state = CASE WHEN excluded.state_at > booking_attendees.state_at \
                 THEN excluded.state ELSE booking_attendees.state END, \
               state_at = MAX(excluded.state_at, booking_attendees.state_at), \
               no_show = CASE WHEN excluded.no_show_at > booking_attendees.no_show_at \
                 THEN excluded.no_show ELSE booking_attendees.no_show END, \
               no_show_at = MAX(excluded.no_show_at, booking_attendees.no_show_at)",
            vec![
                u.uid.as_str().into(),
                a.email.as_str().into(),
                a.name.clone().into(),
                a.time_zone.clone().into(),
                if a.seated == Some(false) { "cancelled" } else { "seated" }.into(),
                if a.seated.is_some() { u.at_ms } else { 0 }.into(),
                flag(a.no_show).map(Param::Int).unwrap_or(Param::Null),
                if a.no_show.is_some() { u.at_ms } else { 0 }.into(),
            ],
        ));
    }
    out.push(Statement::new(
        "INSERT OR IGNORE INTO booking_events (uid, key, trigger, sent_at, received_at, outcome) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        vec![
            u.uid.as_str().into(),
            u.key.as_str().into(),
            u.trigger.as_str().into(),
            u.at_ms.into(),
            now_ms.into(),
            outcome(u).into(),
        ],
    ));
    out
}

/// The timeline's word for how calhook learned of an event and what it did.
fn outcome(u: &BookingUpdate) -> &'static str {
    match (u.recovered, u.emailed) {
        (false, true) => "emailed",
        (false, false) => "not_emailed",
        (true, true) => "recovered",
        (true, false) => "recovered_not_emailed",
    }
}

/// Applies an event's updates in one transaction.
pub async fn apply(db: &impl Db, updates: &[BookingUpdate], now_ms: i64) -> Result<(), StoreError> {
    let batch: Vec<Statement> = updates.iter().flat_map(|u| statements(u, now_ms)).collect();
    if !batch.is_empty() {
        db.batch(batch).await?;
    }
    Ok(())
}

/// A booking as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRow {
    pub uid: String,
    pub status: String,
    pub status_at: i64,
    pub title: Option<String>,
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    pub organizer_tz: Option<String>,
    pub organizer_name: Option<String>,
    pub organizer_email: Option<String>,
    pub location: Option<String>,
    pub meeting_url: Option<String>,
    pub first_seen_at: i64,
    pub rescheduled_from: Option<String>,
    pub rescheduled_to: Option<String>,
}

/// One attendee of a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeeRow {
    pub email: String,
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub state: String,
    pub no_show: Option<i64>,
}

/// The columns of [`BookingRow`].
macro_rules! booking_columns {
    () => {
        "uid, status, status_at, title, start_at, end_at, organizer_tz, organizer_name, organizer_email, \
         location, meeting_url, first_seen_at, rescheduled_from, rescheduled_to"
    };
}

/// Bookings starting in `[?1, ?2)`, of status `?3` (or any), soonest first, `?4` at most.
pub(super) const LIST_UPCOMING: &str = concat!(
    "SELECT ",
    booking_columns!(),
    " FROM bookings WHERE start_at >= ?1 AND start_at < ?2 AND (?3 IS NULL OR status = ?3) \
     ORDER BY start_at, uid LIMIT ?4"
);

pub async fn get(db: &impl Db, uid: &str) -> Result<Option<BookingRow>, StoreError> {
    db.first(Statement::new(
        concat!(
            "SELECT ",
            booking_columns!(),
            " FROM bookings WHERE uid = ?1"
        ),
        vec![uid.into()],
    ))
    .await
}

pub async fn attendees(db: &impl Db, uid: &str) -> Result<Vec<AttendeeRow>, StoreError> {
    db.all(Statement::new(
        "SELECT email, name, time_zone, state, no_show FROM booking_attendees WHERE uid = ?1 ORDER BY email",
        vec![uid.into()],
    ))
    .await
}
