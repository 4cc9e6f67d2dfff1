//! "What happened to booking X?": one booking's state, every event received
//! for it, every email sent about it, its reminders, and the reschedule chain
//! both ways (`GET /admin/bookings/{uid}`); and the upcoming list.

use super::bookings::{self, AttendeeRow, BookingRow};
use super::reminders;
use super::{Db, Param, Statement, StoreError};
use serde::{Deserialize, Serialize};

/// Reschedule hops followed each way at most.
pub const MAX_CHAIN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub trigger: String,
    pub key: String,
    /// Cal.com's signed `createdAt` (ms).
    pub sent_at: Option<i64>,
    pub received_at: i64,
    /// `emailed` (in `NOTIFY_EVENTS`: its emails are below) or `not_emailed`;
    /// `recovered` / `recovered_not_emailed` when a reconcile run found it.
    pub outcome: Option<String>,
}

/// One email (a ledger delivery: the staff copy or one attendee's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRow {
    pub key: String,
    pub notification_key: Option<String>,
    pub trigger: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// SendGrid's `X-Message-Id`.
    pub message_id: Option<String>,
    /// Addresses the email went to, once sent.
    pub recipients: Option<i64>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderRow {
    pub kind: String,
    pub offset_minutes: u32,
    pub state: String,
    pub key: String,
    pub decided_at: i64,
    /// Why the mailer did not email it after all (`reminders::Dropped`).
    pub dropped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub booking: BookingRow,
    pub attendees: Vec<AttendeeRow>,
    pub events: Vec<EventRow>,
    pub emails: Vec<EmailRow>,
    pub reminders: Vec<ReminderRow>,
    pub pending_reminders: Vec<reminders::Pending>,
    /// Earlier uids of this booking (nearest first), and later ones.
    pub rescheduled_from: Vec<String>,
    pub rescheduled_to: Vec<String>,
}

impl EmailRow {
    /// `staff` or `attendee` (attendee copies add `#attendee:…` to the key).
    pub fn copy(&self) -> &'static str {
        if self.key.contains("#attendee:") {
            "attendee"
        } else {
            "staff"
        }
    }
}

/// The whole story of `uid`, or `None` if calhook never heard of it.
pub async fn timeline(
    db: &impl Db,
    uid: &str,
    offsets: &[u32],
    now_ms: i64,
) -> Result<Option<Timeline>, StoreError> {
    let Some(booking) = bookings::get(db, uid).await? else {
        return Ok(None);
    };
    let attendees = bookings::attendees(db, uid).await?;
    let events: Vec<EventRow> = db
        .all(Statement::new(
            "SELECT trigger, key, sent_at, received_at, outcome FROM booking_events WHERE uid = ?1 \
             ORDER BY COALESCE(sent_at, received_at), key",
            vec![uid.into()],
        ))
        .await?;
    let reminders: Vec<ReminderRow> = db
        .all(Statement::new(
            "SELECT kind, offset_minutes, state, key, decided_at, dropped FROM reminders WHERE uid = ?1 \
             ORDER BY decided_at, offset_minutes",
            vec![uid.into()],
        ))
        .await?;
    let keys: Vec<&str> = events
        .iter()
        .map(|e| e.key.as_str())
        .chain(reminders.iter().map(|r| r.key.as_str()))
        .collect();
    let emails: Vec<EmailRow> = db
        .all(Statement::new(
            "SELECT key, notification_key, trigger, state, attempts, last_status, last_error, message_id, \
               recipients, updated_at \
             FROM deliveries WHERE COALESCE(notification_key, key) IN (SELECT value FROM json_each(?1)) \
             ORDER BY updated_at, key",
            vec![Param::Text(serde_json::to_string(&keys).unwrap_or_default())],
        ))
        .await?;
    let decided: Vec<(String, u32)> = reminders
        .iter()
        .map(|r| (r.kind.clone(), r.offset_minutes))
        .collect();
    let pending_reminders = reminders::pending(
        &booking.status,
        booking.start_at,
        booking.first_seen_at,
        &decided,
        offsets,
        now_ms,
    );
    let rescheduled_from = chain(db, booking.rescheduled_from.clone(), |b| {
        b.rescheduled_from.clone()
    })
    .await?;
    let rescheduled_to = chain(db, booking.rescheduled_to.clone(), |b| {
        b.rescheduled_to.clone()
    })
    .await?;
    Ok(Some(Timeline {
        booking,
        attendees,
        events,
        emails,
        reminders,
        pending_reminders,
        rescheduled_from,
        rescheduled_to,
    }))
}

async fn chain(
    db: &impl Db,
    mut next: Option<String>,
    step: fn(&BookingRow) -> Option<String>,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    while let Some(uid) = next.take() {
        if out.len() >= MAX_CHAIN || out.contains(&uid) {
            break;
        }
        next = bookings::get(db, &uid).await?.as_ref().and_then(step);
        out.push(uid);
    }
    Ok(out)
}

/// Bookings starting in `[from_ms, to_ms)`, soonest first, optionally of one status.
pub async fn list(
    db: &impl Db,
    from_ms: i64,
    to_ms: i64,
    status: Option<&str>,
    limit: u32,
) -> Result<Vec<BookingRow>, StoreError> {
    db.all(Statement::new(
        bookings::LIST_UPCOMING,
        vec![
            from_ms.into(),
            to_ms.into(),
            status.map(str::to_owned).into(),
            limit.into(),
        ],
    ))
    .await
}
