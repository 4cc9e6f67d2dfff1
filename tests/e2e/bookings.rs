//! The booking ledger, reminders and the timeline against the real workers:
//! bookings a few minutes ahead with the default offsets (24h, 1h), the
//! per-minute cron run by hand (`/__scheduled`), no sleeps.

use crate::receiver::key_of;
use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use sendgrid_standin::Captured;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::OnceCell;

const TOKEN: &str = "bookings-admin-token-0123456789abcdef";
const MINUTE: i64 = 60_000;

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "bookings::a_new_booking_shows_its_24h_and_1h_reminders_as_pending",
            a_new_booking_shows_its_24h_and_1h_reminders_as_pending,
        ),
        trial(
            "bookings::a_due_reminder_is_emailed_exactly_once",
            a_due_reminder_is_emailed_exactly_once,
        ),
        trial(
            "bookings::a_cancelled_or_rescheduled_booking_gets_no_reminder_after",
            a_cancelled_or_rescheduled_booking_gets_no_reminder_after,
        ),
        trial(
            "bookings::a_reminder_retried_after_its_booking_was_cancelled_is_dropped_and_the_timeline_says_so",
            a_reminder_retried_after_its_booking_was_cancelled_is_dropped_and_the_timeline_says_so,
        ),
        trial(
            "bookings::a_cancellation_delivered_before_its_creation_leaves_it_cancelled",
            a_cancellation_delivered_before_its_creation_leaves_it_cancelled,
        ),
        trial(
            "bookings::the_timeline_of_a_rescheduled_then_cancelled_booking_shows_all_of_it",
            the_timeline_of_a_rescheduled_then_cancelled_booking_shows_all_of_it,
        ),
        trial(
            "bookings::an_event_not_emailed_about_still_updates_the_booking",
            an_event_not_emailed_about_still_updates_the_booking,
        ),
        trial(
            "bookings::the_upcoming_list_filters_by_time_and_status",
            the_upcoming_list_filters_by_time_and_status,
        ),
    ]
}

async fn stack() -> &'static Stack {
    static STACK: OnceCell<Stack> = OnceCell::const_new();
    STACK
        .get_or_init(|| {
            Stack::start(Options {
                receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
                ..Options::default()
            })
        })
        .await
}

/// A Cal.com delivery about booking `uid`, sent `sent_ms` from now, for a
/// meeting starting `start_ms` from now (30 minutes long).
fn booking(trigger: &str, uid: &str, sent_ms: i64, start_ms: i64) -> Value {
    let mut v = fixture_for(trigger, uid);
    v["createdAt"] = json!(created_at(sent_ms));
    let p = &mut v["payload"];
    p["startTime"] = json!(created_at(start_ms));
    p["endTime"] = json!(created_at(start_ms + 30 * MINUTE));
    p["title"] = json!(format!("Intro {uid}"));
    v
}

async fn accepted(s: &Stack, v: &Value) -> String {
    let (status, answer) = s.send(v).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    key_of(&answer)
}

async fn admin_get(s: &Stack, path: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn timeline(s: &Stack, uid: &str) -> Value {
    let (status, body) = admin_get(s, &format!("/admin/bookings/{uid}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Runs the cron until an email for `key` arrived (other tests' reminders
/// may take a run's places first).
async fn cron_until_email(s: &Stack, key: &str) -> Vec<Captured> {
    poll(
        &format!("a reminder email {key}"),
        Duration::from_secs(60),
        || async {
            s.tick().await;
            let found = s.emails_for(key);
            (!found.is_empty()).then_some(found)
        },
    )
    .await
}

/// The triggers of a timeline's events, in order.
fn triggers(t: &Value) -> Vec<&str> {
    t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["trigger"].as_str().unwrap())
        .collect()
}

fn reminder_key(t: &Value, minutes: u32) -> String {
    format!(
        "BOOKING_REMINDER:booking:{}:{minutes}m@{}",
        t["booking"]["uid"].as_str().unwrap(),
        t["booking"]["start_at"]
    )
}

/// A booking whose 1h reminder is due now: booked 3 minutes ago for 58
/// minutes from now (its 24h reminder came before calhook heard of it).
fn due_now(trigger: &str, uid: &str) -> Value {
    booking(trigger, uid, -3 * MINUTE, 58 * MINUTE)
}

async fn a_new_booking_shows_its_24h_and_1h_reminders_as_pending() {
    let s = stack().await;
    let uid = unique("pending");
    accepted(s, &booking("BOOKING_CREATED", &uid, 0, 2 * 1440 * MINUTE)).await;
    let t = timeline(s, &uid).await;
    assert_eq!(t["booking"]["status"], "accepted");
    let pending: Vec<_> = t["pending_reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset_minutes"].as_u64().unwrap())
        .collect();
    assert_eq!(pending, [60, 1440], "{t}");
}

async fn a_due_reminder_is_emailed_exactly_once() {
    let s = stack().await;
    let uid = unique("due");
    accepted(s, &due_now("BOOKING_CREATED", &uid)).await;
    let key = reminder_key(&timeline(s, &uid).await, 60);
    let emails = cron_until_email(s, &key).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]
            .subject()
            .starts_with(&format!("Reminder: Intro {uid}")),
        "{}",
        emails[0].subject()
    );
    assert!(emails[0].content("text/plain").contains("Starts in 1 hour"));
    // Later runs send nothing more; the 24h reminder is never due.
    s.tick().await;
    let later = unique("due-later");
    accepted(s, &due_now("BOOKING_CREATED", &later)).await;
    cron_until_email(s, &reminder_key(&timeline(s, &later).await, 60)).await;
    assert_eq!(s.emails_for(&key).len(), 1);
    assert!(s
        .emails_for(&reminder_key(&timeline(s, &uid).await, 1440))
        .is_empty());
    let t = timeline(s, &uid).await;
    assert_eq!(t["reminders"][0]["state"], "sent", "{t}");
    assert!(t["pending_reminders"].as_array().unwrap().is_empty(), "{t}");
}

async fn a_cancellation_delivered_before_its_creation_leaves_it_cancelled() {
    let s = stack().await;
    let uid = unique("early-cancel");
    accepted(s, &booking("BOOKING_CANCELLED", &uid, -MINUTE, 58 * MINUTE)).await;
    accepted(s, &due_now("BOOKING_CREATED", &uid)).await;
    let sentinel = unique("early-cancel-sentinel");
    accepted(s, &due_now("BOOKING_CREATED", &sentinel)).await;
    cron_until_email(s, &reminder_key(&timeline(s, &sentinel).await, 60)).await;
    let t = timeline(s, &uid).await;
    assert_eq!(t["booking"]["status"], "cancelled", "{t}");
    assert!(t["reminders"].as_array().unwrap().is_empty(), "{t}");
    assert!(s.emails_for(&reminder_key(&t, 60)).is_empty());
}

/// BOOKING_RESCHEDULED for `new_uid` (now at `start_ms`), replacing `old_uid`.
fn reschedule(old_uid: &str, new_uid: &str, sent_ms: i64, start_ms: i64) -> Value {
    let mut v = booking("BOOKING_RESCHEDULED", new_uid, sent_ms, start_ms);
    v["payload"]["rescheduleUid"] = json!(old_uid);
    v["payload"]["rescheduleId"] = json!(1);
    v
}

/// The cron decided the reminder, SendGrid answered 429 (retry in 15 s), and
/// the booking was cancelled meanwhile: the mailer checks again before it
/// sends, and the reminder is dropped, never sent after the cancellation.
async fn a_reminder_retried_after_its_booking_was_cancelled_is_dropped_and_the_timeline_says_so() {
    let s = Stack::start(Options {
        receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
        ..Options::default()
    })
    .await;
    let uid = unique("dropped");
    let created = accepted(&s, &due_now("BOOKING_CREATED", &uid)).await;
    s.wait_for_email(&created).await;
    let key = reminder_key(&timeline(&s, &uid).await, 60);
    s.standin.fail_next(sendgrid_standin::Fault {
        status: 429,
        count: 1,
        retry_after: Some(15),
        answer_after_ms: None,
    });
    let before = s.standin.request_count();
    s.tick().await;
    poll(
        "the reminder's first send, refused",
        Duration::from_secs(30),
        || {
            let tried = s.standin.request_count() > before;
            async move { tried.then_some(()) }
        },
    )
    .await;
    let cancelled = accepted(&s, &booking("BOOKING_CANCELLED", &uid, 0, 58 * MINUTE)).await;
    s.wait_for_email(&cancelled).await;
    let t = poll("the reminder dropped", Duration::from_secs(60), || async {
        let t = timeline(&s, &uid).await;
        t["reminders"][0]["dropped"].is_string().then_some(t)
    })
    .await;
    assert_eq!(t["reminders"][0]["key"], key.as_str(), "{t}");
    assert_eq!(t["reminders"][0]["dropped"], "the booking was cancelled");
    assert!(
        s.emails_for(&key).is_empty(),
        "never sent after the cancellation"
    );
    assert!(s
        .sql(&format!("SELECT key FROM outbox WHERE key = '{key}'"))
        .is_empty());
}

/// Booked, then cancelled or moved, before any cron run: on a stack of its
/// own, so that no other test's cron run falls between the two deliveries
/// (a reminder sent before the cancellation would be right, and this test
/// would fail).
async fn a_cancelled_or_rescheduled_booking_gets_no_reminder_after() {
    let s = Stack::start(Options {
        receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
        mailer_vars: vec![("NOTIFY_ATTENDEES", "true".into())],
        ..Options::default()
    })
    .await;
    let cancelled = unique("cancelled");
    accepted(&s, &due_now("BOOKING_CREATED", &cancelled)).await;
    accepted(
        &s,
        &booking("BOOKING_CANCELLED", &cancelled, -MINUTE, 58 * MINUTE),
    )
    .await;
    let (old, new) = (unique("moved-from"), unique("moved-to"));
    accepted(&s, &due_now("BOOKING_CREATED", &old)).await;
    accepted(&s, &reschedule(&old, &new, -2 * MINUTE, 118 * MINUTE)).await;
    let cancelled_key = format!(
        "BOOKING_REMINDER:booking:{cancelled}:60m@{}",
        s.sql(&format!(
            "SELECT start_at FROM bookings WHERE uid = '{cancelled}'"
        ))[0]["start_at"]
    );
    let old_key = format!(
        "BOOKING_REMINDER:booking:{old}:60m@{}",
        s.sql(&format!(
            "SELECT start_at FROM bookings WHERE uid = '{old}'"
        ))[0]["start_at"]
    );
    // A booking due in the same runs is reminded: by then these would have been.
    let sentinel = unique("sentinel");
    accepted(&s, &due_now("BOOKING_CREATED", &sentinel)).await;
    let start = s.sql(&format!(
        "SELECT start_at FROM bookings WHERE uid = '{sentinel}'"
    ))[0]["start_at"]
        .clone();
    let reminder = format!("BOOKING_REMINDER:booking:{sentinel}:60m@{start}");
    cron_until_email(&s, &reminder).await;
    // With NOTIFY_ATTENDEES the attendee gets their own reminder, in their zone.
    let copies = poll("the attendee's reminder", Duration::from_secs(30), || {
        let found = s.emails_for(&reminder);
        async move { (found.len() == 2).then_some(found) }
    })
    .await;
    let to = |e: &Captured| e.body["personalizations"][0]["to"][0]["email"].clone();
    let grace = copies
        .iter()
        .find(|e| to(e) == "grace@example.org")
        .expect("a copy to the attendee");
    assert!(
        grace.content("text/plain").contains("starts in 1 hour"),
        "{}",
        grace.content("text/plain")
    );
    assert!(
        grace.subject().contains("GMT-5") || grace.subject().contains("GMT-4"),
        "{}",
        grace.subject()
    );
    assert!(s.emails_for(&cancelled_key).is_empty(), "cancelled");
    assert!(
        s.emails_for(&old_key).is_empty(),
        "the old time's reminder is gone"
    );
    let decided = s.sql(&format!(
        "SELECT uid FROM reminders WHERE uid IN ('{cancelled}', '{old}', '{new}')"
    ));
    assert!(decided.is_empty(), "{decided:?}");
    // The new booking has its own 1h reminder, for its new time.
    assert_eq!(timeline(&s, &old).await["booking"]["status"], "rescheduled");
    let t = timeline(&s, &new).await;
    let pending = &t["pending_reminders"];
    assert_eq!(pending.as_array().unwrap().len(), 1, "{t}");
    assert_eq!(pending[0]["offset_minutes"], 60);
    assert_eq!(
        pending[0]["due_at"].as_i64().unwrap(),
        t["booking"]["start_at"].as_i64().unwrap() - 60 * MINUTE
    );
}

async fn the_timeline_of_a_rescheduled_then_cancelled_booking_shows_all_of_it() {
    let s = stack().await;
    let (old, new) = (unique("story-from"), unique("story-to"));
    // Days ahead: no reminder falls due while the story is told.
    let created = accepted(
        s,
        &booking("BOOKING_CREATED", &old, -3 * MINUTE, 2 * 1440 * MINUTE),
    )
    .await;
    let moved = accepted(s, &reschedule(&old, &new, -2 * MINUTE, 3 * 1440 * MINUTE)).await;
    let cancelled = accepted(
        s,
        &booking("BOOKING_CANCELLED", &new, -MINUTE, 3 * 1440 * MINUTE),
    )
    .await;
    for key in [&created, &moved, &cancelled] {
        s.wait_for_email(key).await;
    }
    // The ledger records each email as sent (with SendGrid's message id).
    let t = poll(
        "the emails in the timeline",
        Duration::from_secs(20),
        || async {
            let t = timeline(s, &old).await;
            let sent = t["emails"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["state"] == "sent" && e["message_id"].is_string())
                .count();
            (sent == 2).then_some(t)
        },
    )
    .await;
    assert_eq!(t["booking"]["status"], "rescheduled");
    assert_eq!(t["rescheduled_to"], json!([new]));
    assert_eq!(
        triggers(&t),
        ["BOOKING_CREATED", "BOOKING_RESCHEDULED"],
        "{t}"
    );
    assert!(t["emails"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["copy"] == "staff" && e["recipients"] == 1));
    assert!(t["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["outcome"] == "emailed"));

    let t = timeline(s, &new).await;
    assert_eq!(t["booking"]["status"], "cancelled");
    assert_eq!(t["rescheduled_from"], json!([old]));
    assert_eq!(
        triggers(&t),
        ["BOOKING_RESCHEDULED", "BOOKING_CANCELLED"],
        "{t}"
    );
    assert!(t["pending_reminders"].as_array().unwrap().is_empty(), "{t}");

    let (status, _) = admin_get(s, "/admin/bookings/never-heard-of-it").await;
    assert_eq!(status, 404);
}

async fn the_upcoming_list_filters_by_time_and_status() {
    let s = stack().await;
    let uid = unique("listed");
    accepted(s, &booking("BOOKING_CREATED", &uid, 0, 400 * 1440 * MINUTE)).await;
    let from = created_at(399 * 1440 * MINUTE);
    let to = created_at(401 * 1440 * MINUTE);
    let (status, body) = admin_get(
        s,
        &format!("/admin/bookings?from={from}&to={to}&status=accepted"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let uids: Vec<_> = body["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["uid"].clone())
        .collect();
    assert_eq!(uids, [json!(uid)]);
    let (_, none) = admin_get(
        s,
        &format!("/admin/bookings?from={from}&to={to}&status=cancelled"),
    )
    .await;
    assert_eq!(none["count"], 0);
    let (status, _) = admin_get(s, "/admin/bookings?status=maybe").await;
    assert_eq!(status, 400);
}

async fn an_event_not_emailed_about_still_updates_the_booking() {
    // MEETING_ENDED is not in the default NOTIFY_EVENTS: answered "ignored",
    // yet the booking is `ended` and the timeline says it was not emailed.
    let s = stack().await;
    let uid = unique("ended");
    accepted(
        s,
        &booking("BOOKING_CREATED", &uid, -50 * MINUTE, -40 * MINUTE),
    )
    .await;
    let (status, answer) = s
        .send(&booking("MEETING_ENDED", &uid, -MINUTE, -40 * MINUTE))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );
    let t = timeline(s, &uid).await;
    assert_eq!(t["booking"]["status"], "ended", "{t}");
    assert_eq!(triggers(&t), ["BOOKING_CREATED", "MEETING_ENDED"]);
    assert_eq!(t["events"][1]["outcome"], "not_emailed");
}
