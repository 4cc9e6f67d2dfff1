//! Reminders before a booking starts and follow-ups after it ended (table
//! `reminders`), derived from the booking ledger at cron time.
//!
//! Nothing is scheduled when a booking arrives: the per-minute cron asks the
//! ledger which accepted bookings have a reminder due. So a cancellation, a
//! rejection or a reschedule needs no clean-up (the booking is no longer
//! `accepted`; a rescheduled booking's new uid has reminders of its own), and a
//! booking `requested` gets none until it is accepted.
//!
//! Rules:
//! - a reminder `m` minutes before the start is due once `start − m` has
//!   passed, while the booking has not started; one whose time passed while
//!   calhook was down is still sent then, but never one whose time came before
//!   calhook first heard of the booking (the booker was just told);
//! - when several are due at once (calhook was down), only the nearest to the
//!   start is sent; the others are recorded `skipped`;
//! - a follow-up `m` minutes after the end goes to staff, unless the booking
//!   was cancelled (or otherwise not `accepted`/`ended`) or an attendee was a
//!   no-show;
//! - each is claimed (`INSERT OR IGNORE`, with this run's token) in the same
//!   batch that puts its notification in the outbox, so two cron runs racing
//!   queue it once, and a queue failure leaves it for the outbox job.

use super::{Db, Statement, StoreError};
use crate::keys::NotificationKey;
use crate::message::notification::{
    self, Facts, Notification, Party, Reminder, FOLLOW_UP_TRIGGER, NOTIFICATION_VERSION,
    REMINDER_TRIGGER,
};
use crate::tenants::{namespaced_key, split_ledger_uid};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

/// Which of the two a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reminder,
    FollowUp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Reminder => "reminder",
            Kind::FollowUp => "follow_up",
        }
    }

    /// The notification's trigger.
    pub fn trigger(self) -> &'static str {
        match self {
            Kind::Reminder => REMINDER_TRIGGER,
            Kind::FollowUp => FOLLOW_UP_TRIGGER,
        }
    }

    /// What the notification it sends is about.
    pub fn notification_kind(self) -> notification::Kind {
        match self {
            Kind::Reminder => notification::Kind::Reminder,
            Kind::FollowUp => notification::Kind::FollowUp,
        }
    }
}

/// A booking with a reminder or follow-up due, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Due {
    pub uid: String,
    pub offset_minutes: u32,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub title: Option<String>,
    pub organizer_tz: Option<String>,
    pub organizer_name: Option<String>,
    pub organizer_email: Option<String>,
    pub location: Option<String>,
    pub meeting_url: Option<String>,
    /// JSON list of the seated attendees `[{email, name, time_zone}]`.
    pub attendees: Option<String>,
}

#[derive(Deserialize)]
struct SeatedAttendee {
    email: String,
    name: Option<String>,
    time_zone: Option<String>,
}

/// Reminders due at `now_ms` for `offsets` (minutes), nearest start first.
pub async fn due_reminders(
    db: &impl Db,
    now_ms: i64,
    offsets: &[u32],
    limit: u32,
) -> Result<Vec<Due>, StoreError> {
    db.all(Statement::new(
        // A tenant's booking (`<tenant>/<uid>`) takes its tenant's offsets
        // (a JSON list of minutes) when set; a disabled tenant's get none.
        "SELECT b.uid, o.value AS offset_minutes, b.start_at, b.end_at, b.title, b.organizer_tz, b.organizer_name, \
           b.organizer_email, b.location, b.meeting_url, \
           (SELECT json_group_array(json_object('email', a.email, 'name', a.name, 'time_zone', a.time_zone)) \
              FROM booking_attendees a WHERE a.uid = b.uid AND a.state = 'seated') AS attendees \
         FROM bookings b LEFT JOIN tenants t ON t.id = substr(b.uid, 1, instr(b.uid, '/') - 1), \
           json_each(COALESCE(t.reminder_offsets, ?1)) o \
         WHERE b.status = 'accepted' AND b.status_rank = 0 AND b.start_at > ?2 \
           AND (t.id IS NULL OR t.enabled = 1) \
           AND b.start_at - o.value * 60000 <= ?2 AND b.start_at - o.value * 60000 >= b.first_seen_at \
           AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.uid = b.uid AND r.kind = 'reminder' \
                           AND r.offset_minutes = o.value AND r.start_at = b.start_at) \
         ORDER BY b.start_at, b.uid, o.value LIMIT ?3",
        vec![offsets_json(offsets).into(), now_ms.into(), limit.into()],
    ))
    .await
}

/// Follow-ups due at `now_ms`, `after_minutes` after the end.
pub async fn due_follow_ups(
    db: &impl Db,
    now_ms: i64,
    after_minutes: u32,
    limit: u32,
) -> Result<Vec<Due>, StoreError> {
    db.all(Statement::new(
        "SELECT b.uid, ?1 AS offset_minutes, b.start_at, b.end_at, b.title, b.organizer_tz, b.organizer_name, \
           b.organizer_email, b.location, b.meeting_url, NULL AS attendees \
         FROM bookings b \
         WHERE b.status IN ('accepted', 'ended') AND b.status_rank >= 0 AND b.end_at IS NOT NULL \
           AND b.start_at IS NOT NULL \
           AND b.end_at + ?1 * 60000 <= ?2 AND b.end_at + ?1 * 60000 >= b.first_seen_at \
           AND NOT EXISTS (SELECT 1 FROM booking_attendees a WHERE a.uid = b.uid AND a.no_show = 1) \
           AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.uid = b.uid AND r.kind = 'follow_up' \
                           AND r.offset_minutes = ?1 AND r.start_at = b.start_at) \
         ORDER BY b.end_at, b.uid LIMIT ?3",
        vec![after_minutes.into(), now_ms.into(), limit.into()],
    ))
    .await
}

fn offsets_json(offsets: &[u32]) -> String {
    serde_json::to_string(offsets).unwrap_or_else(|_| "[]".into())
}

/// One decision of a cron run.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub due: Due,
    pub kind: Kind,
    /// `None`: skipped (a nearer reminder of the same booking is sent instead).
    pub notification: Option<Notification>,
}

impl Decision {
    /// The notification key: one per booking, kind, offset and start time;
    /// a tenant's begins with its name like all its keys.
    pub fn key(&self) -> String {
        let (tenant, uid) = split_ledger_uid(&self.due.uid);
        let key = format!(
            "{}:booking:{}:{}m@{}",
            self.kind.trigger(),
            uid,
            self.due.offset_minutes,
            self.due.start_at
        );
        namespaced_key(tenant.as_ref(), &key)
    }
}

/// Sends the nearest due reminder of each booking and skips the others.
/// `due` is ordered by booking, then offset (as [`due_reminders`] returns it).
pub fn decide(due: Vec<Due>, kind: Kind) -> Vec<Decision> {
    let mut out: Vec<Decision> = Vec::with_capacity(due.len());
    for d in due {
        let nearest_of_its_booking =
            kind == Kind::FollowUp || out.last().is_none_or(|prev| prev.due.uid != d.uid);
        let mut decision = Decision {
            due: d,
            kind,
            notification: None,
        };
        if nearest_of_its_booking {
            decision.notification = Some(notification(&decision));
        }
        out.push(decision);
    }
    out
}

fn notification(d: &Decision) -> Notification {
    let due = &d.due;
    let time = |ms: Option<i64>| ms.and_then(DateTime::from_timestamp_millis);
    let attendees: Vec<SeatedAttendee> = due
        .attendees
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let organizer = Party {
        name: due.organizer_name.clone(),
        email: due.organizer_email.clone(),
        time_zone: due.organizer_tz.clone(),
        no_show: None,
    };
    let (tenant, uid) = split_ledger_uid(&due.uid);
    Notification {
        v: NOTIFICATION_VERSION,
        key: NotificationKey::new(d.key()),
        trigger: d.kind.notification_kind(),
        tenant: tenant.clone(),
        created_at: None,
        facts: Facts {
            title: due.title.clone(),
            booking_uid: Some(uid.to_owned()),
            start: time(Some(due.start_at)),
            end: time(due.end_at),
            organizer: Some(organizer),
            attendees: attendees
                .into_iter()
                .map(|a| Party {
                    name: a.name,
                    email: Some(a.email),
                    time_zone: a.time_zone,
                    no_show: None,
                })
                .collect(),
            location: due.location.clone(),
            meeting_url: due.meeting_url.clone(),
            reminder: Some(Reminder {
                minutes: due.offset_minutes,
            }),
            ..Facts::default()
        },
    }
}

/// The batch that claims a page of decisions and puts the sent ones'
/// notifications in the outbox (conditional on this run's claim), as one
/// transaction of two statements whatever the page's size (D1 counts
/// statements against an invocation's queries). Returns `(key, message)` of
/// each notification this run won and may queue now; the mailer forgets its
/// outbox row when the message reaches it, the outbox job sends it if not.
pub async fn claim(
    db: &impl Db,
    decisions: &[Decision],
    token: &str,
    now_ms: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    #[derive(Serialize)]
    struct Row<'a> {
        uid: &'a str,
        kind: &'static str,
        offset: u32,
        start: i64,
        state: &'static str,
        key: &'a str,
        trigger: &'static str,
        notification: Option<&'a str>,
    }
    #[derive(Deserialize)]
    struct Won {
        key: String,
    }
    if decisions.is_empty() {
        return Ok(Vec::new());
    }
    let mut messages = Vec::with_capacity(decisions.len());
    for d in decisions {
        let message = match &d.notification {
            Some(n) => Some(
                n.to_message()
                    .map_err(|e| StoreError::Decode(e.to_string()))?,
            ),
            None => None,
        };
        messages.push((d.key(), message));
    }
    let rows: Vec<Row> = decisions
        .iter()
        .zip(&messages)
        .map(|(d, (key, message))| Row {
            uid: &d.due.uid,
            kind: d.kind.as_str(),
            offset: d.due.offset_minutes,
            start: d.due.start_at,
            state: if message.is_some() { "sent" } else { "skipped" },
            key,
            trigger: d.kind.trigger(),
            notification: message.as_deref(),
        })
        .collect();
    let page = serde_json::to_string(&rows).map_err(|e| StoreError::Decode(e.to_string()))?;
    let won: Vec<Won> = db
        .batch_rows(vec![
            Statement::new(
                "INSERT OR IGNORE INTO reminders (uid, kind, offset_minutes, start_at, state, key, claim_token, decided_at) \
                 SELECT json_extract(value, '$.uid'), json_extract(value, '$.kind'), \
                   json_extract(value, '$.offset'), json_extract(value, '$.start'), \
                   json_extract(value, '$.state'), json_extract(value, '$.key'), ?2, ?3 \
                 FROM json_each(?1)",
                vec![page.as_str().into(), token.into(), now_ms.into()],
            ),
            // Only the rows this run claimed (found by the reminders' primary key).
            Statement::new(
                "INSERT INTO outbox (key, trigger, notification, created_at, attempts) \
                 SELECT json_extract(j.value, '$.key'), json_extract(j.value, '$.trigger'), \
                   json_extract(j.value, '$.notification'), ?3, 0 \
                 FROM json_each(?1) j \
                 WHERE json_extract(j.value, '$.notification') IS NOT NULL \
                   AND EXISTS (SELECT 1 FROM reminders r \
                     WHERE r.uid = json_extract(j.value, '$.uid') AND r.kind = json_extract(j.value, '$.kind') \
                       AND r.offset_minutes = json_extract(j.value, '$.offset') \
                       AND r.start_at = json_extract(j.value, '$.start') AND r.claim_token = ?2) \
                 ON CONFLICT(key) DO NOTHING RETURNING key",
                vec![page.into(), token.into(), now_ms.into()],
            ),
        ])
        .await?;
    let won: std::collections::HashSet<String> = won.into_iter().map(|w| w.key).collect();
    Ok(messages
        .into_iter()
        .filter_map(|(key, message)| message.filter(|_| won.contains(&key)).map(|m| (key, m)))
        .collect())
}

/// Why a reminder or follow-up is not emailed when the mailer gets to it
/// (it may have waited in the outbox, or in SendGrid retries, since the cron
/// decided it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Cancelled, rejected or rescheduled since (status as the ledger has it).
    BookingEnded(&'static str),
    /// A reminder for a meeting that has started.
    MeetingStarted,
    /// A reminder for a start time the booking no longer has (the new time
    /// gets reminders of its own).
    Moved,
    TenantDisabled,
}

impl Dropped {
    /// As the timeline and the log line say it.
    pub fn reason(self) -> String {
        match self {
            Dropped::BookingEnded(status) => format!("the booking was {status}"),
            Dropped::MeetingStarted => "the meeting had started".into(),
            Dropped::Moved => "the booking moved to another time".into(),
            Dropped::TenantDisabled => "the tenant is disabled".into(),
        }
    }
}

/// Whether a reminder (for a meeting starting at `start_ms`) or follow-up is
/// still wanted, given the booking as the ledger has it now (`None`: pruned,
/// decided on the notification alone) and whether its tenant is enabled.
pub fn recheck(
    kind: &notification::Kind,
    start_ms: Option<i64>,
    booking: Option<&super::bookings::BookingRow>,
    tenant_enabled: bool,
    now_ms: i64,
) -> Option<Dropped> {
    use super::bookings::Status;
    let reminder = match kind {
        notification::Kind::Reminder => true,
        notification::Kind::FollowUp => false,
        notification::Kind::Event(_) | notification::Kind::Alert => return None,
    };
    if !tenant_enabled {
        return Some(Dropped::TenantDisabled);
    }
    if let Some(b) = booking {
        for ended in [Status::Cancelled, Status::Rejected, Status::Rescheduled] {
            if b.status == ended.as_str() {
                return Some(Dropped::BookingEnded(ended.as_str()));
            }
        }
        if reminder && b.start_at.is_some() && b.start_at != start_ms {
            return Some(Dropped::Moved);
        }
    }
    match start_ms {
        Some(start) if reminder && start <= now_ms => Some(Dropped::MeetingStarted),
        _ => None,
    }
}

/// Records why the reminder or follow-up `key` was dropped (its timeline row).
pub fn dropped_statement(key: &str, why: Dropped) -> Statement {
    Statement::new(
        "UPDATE reminders SET dropped = ?2 WHERE key = ?1",
        vec![key.into(), why.reason().into()],
    )
}

/// A pending (not yet decided) reminder, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pending {
    pub kind: &'static str,
    pub offset_minutes: u32,
    pub due_at: i64,
}

/// The reminders still to come for a booking (accepted, not started).
pub fn pending(
    status: &str,
    start_at: Option<i64>,
    first_seen_at: i64,
    decided: &[(String, u32)],
    offsets: &[u32],
    now_ms: i64,
) -> Vec<Pending> {
    let Some(start) = start_at.filter(|s| *s > now_ms && status == "accepted") else {
        return Vec::new();
    };
    offsets
        .iter()
        .filter(|m| !decided.iter().any(|(k, o)| k == "reminder" && o == *m))
        .map(|m| Pending {
            kind: "reminder",
            offset_minutes: *m,
            due_at: start - i64::from(*m) * 60_000,
        })
        .filter(|p| p.due_at >= first_seen_at)
        .collect()
}

/// Deletes bookings that ended before `ended_before_ms`, with their attendees,
/// timeline and reminders (`BOOKING_RETENTION_DAYS`).
pub async fn prune(db: &impl Db, ended_before_ms: i64) -> Result<u64, StoreError> {
    let changes = db
        .batch(vec![
            Statement::new(
                "DELETE FROM booking_attendees WHERE uid IN \
                 (SELECT uid FROM bookings WHERE COALESCE(end_at, start_at, updated_at) < ?1)",
                vec![ended_before_ms.into()],
            ),
            Statement::new(
                "DELETE FROM booking_events WHERE uid IN \
                 (SELECT uid FROM bookings WHERE COALESCE(end_at, start_at, updated_at) < ?1)",
                vec![ended_before_ms.into()],
            ),
            Statement::new(
                "DELETE FROM reminders WHERE uid IN \
                 (SELECT uid FROM bookings WHERE COALESCE(end_at, start_at, updated_at) < ?1)",
                vec![ended_before_ms.into()],
            ),
            Statement::new(
                "DELETE FROM bookings WHERE COALESCE(end_at, start_at, updated_at) < ?1",
                vec![ended_before_ms.into()],
            ),
        ])
        .await?;
    Ok(changes.last().copied().unwrap_or(0))
}
