//! The booking ledger's rules, run natively on SQLite with the real
//! `migrations/`: every order of arrival of a booking's events ends in the
//! same state.

mod support;

use calhook_core::inbound::event::parse;
use calhook_core::inbound::identity::derive;
use calhook_core::message::notification::Notification;
use calhook_core::store::bookings::{self, AttendeeRow, BookingRow, BookingUpdate};
use serde_json::{json, Value};
use support::*;

const UID: &str = "b-shared";
const NEW_UID: &str = "b-moved";

/// A Cal.com delivery sent `at_s` seconds into 2026-11-20 (UTC).
fn event(trigger: &str, at_s: u32, payload: Value) -> Vec<BookingUpdate> {
    let body = json!({"triggerEvent": trigger,
        "createdAt": format!("2026-11-20T09:{:02}:{:02}.000Z", at_s / 60, at_s % 60), "payload": payload});
    let envelope = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    let key = derive(&envelope).unwrap().notification_key(1_000);
    bookings::updates(&Notification::build(&envelope, key), 0)
}

fn grace() -> Value {
    json!({"name": "Grace Hopper", "email": "Grace@Example.org", "timeZone": "America/New_York"})
}

fn zoe() -> Value {
    json!({"name": "Zoë Ångström", "email": "zoe@example.se", "timeZone": "Europe/Stockholm"})
}

fn booking(title: &str, extra: Value) -> Value {
    let mut p = json!({"uid": UID, "title": title, "startTime": "2026-11-25T15:00:00Z",
        "endTime": "2026-11-25T16:00:00Z", "seatsPerTimeSlot": 10,
        "organizer": {"name": "Ada", "email": "ada@example.com", "timeZone": "Europe/London"}});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// A plain (unseated) booking by Grace, with `extra` payload fields.
fn plain(extra: Value) -> Value {
    let mut p = booking(
        "Intro",
        json!({"seatsPerTimeSlot": null, "attendees": [grace()]}),
    );
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn apply_all(db: &Sqlite, events: &[&Vec<BookingUpdate>]) {
    for (i, e) in events.iter().enumerate() {
        block_on(bookings::apply(db, e, 1_000 + i as i64)).unwrap();
    }
}

fn state(db: &Sqlite, uid: &str) -> (BookingRow, Vec<AttendeeRow>) {
    block_on(async {
        (
            bookings::get(db, uid)
                .await
                .unwrap()
                .expect("a booking row"),
            bookings::attendees(db, uid).await.unwrap(),
        )
    })
}

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

/// A seated class: requested, confirmed, a second seat, the first seat
/// cancelled, the second attendee marked no-show and then cleared.
fn seated_story() -> Vec<Vec<BookingUpdate>> {
    vec![
        event(
            "BOOKING_REQUESTED",
            1,
            booking("Yoga", json!({"attendees": [grace()]})),
        ),
        event(
            "BOOKING_CREATED",
            2,
            booking("Yoga", json!({"attendees": [grace()]})),
        ),
        event(
            "BOOKING_CREATED",
            3,
            booking(
                "Yoga (room 2)",
                json!({"attendeeSeatId": "s2", "attendees": [zoe()]}),
            ),
        ),
        event(
            "BOOKING_CANCELLED",
            4,
            booking("Yoga (room 2)", json!({"attendees": [grace()]})),
        ),
        event(
            "BOOKING_NO_SHOW_UPDATED",
            5,
            json!({"bookingUid": UID, "attendees": [{"email": "zoe@example.se", "noShow": true}]}),
        ),
        event(
            "BOOKING_NO_SHOW_UPDATED",
            6,
            json!({"bookingUid": UID, "attendees": [{"email": "zoe@example.se", "noShow": false}]}),
        ),
    ]
}

#[test]
fn every_arrival_order_of_a_seated_bookings_events_ends_in_one_state() {
    let story = seated_story();
    let expected = {
        let db = Sqlite::migrated();
        apply_all(&db, &story.iter().collect::<Vec<_>>());
        state(&db, UID)
    };
    assert_eq!(expected.0.status, "accepted");
    assert_eq!(expected.0.title.as_deref(), Some("Yoga (room 2)"));
    let people: Vec<_> = expected
        .1
        .iter()
        .map(|a| (a.email.as_str(), a.state.as_str(), a.no_show))
        .collect();
    assert_eq!(
        people,
        [
            ("grace@example.org", "cancelled", None),
            ("zoe@example.se", "seated", Some(0))
        ]
    );
    let orders = permutations(&story.iter().collect::<Vec<_>>());
    assert_eq!(orders.len(), 720);
    for order in orders {
        let db = Sqlite::migrated();
        apply_all(&db, &order);
        let got = state(&db, UID);
        assert_eq!(
            got,
            expected,
            "order {:?}",
            order.iter().map(|e| &e[0].trigger).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_arrival_order_of_a_reschedule_then_cancellation_links_both_bookings() {
    let story = [
        event(
            "BOOKING_CREATED",
            1,
            booking("Intro", json!({"attendees": [grace()]})),
        ),
        event(
            "BOOKING_RESCHEDULED",
            2,
            booking(
                "Intro",
                json!({"uid": NEW_UID, "rescheduleUid": UID, "startTime": "2026-11-26T15:00:00Z",
                "attendees": [grace()]}),
            ),
        ),
        event(
            "BOOKING_CANCELLED",
            3,
            booking(
                "Intro",
                json!({"uid": NEW_UID, "seatsPerTimeSlot": null, "startTime": "2026-11-26T15:00:00Z"}),
            ),
        ),
    ];
    for order in permutations(&story.iter().collect::<Vec<_>>()) {
        let db = Sqlite::migrated();
        apply_all(&db, &order);
        let (old, _) = state(&db, UID);
        let (new, _) = state(&db, NEW_UID);
        assert_eq!(
            (old.status.as_str(), old.rescheduled_to.as_deref()),
            ("rescheduled", Some(NEW_UID))
        );
        assert_eq!(
            (new.status.as_str(), new.rescheduled_from.as_deref()),
            ("cancelled", Some(UID))
        );
        assert_eq!(
            old.title.as_deref(),
            Some("Intro"),
            "the old booking's facts are kept"
        );
        assert_eq!(new.start_at, Some(1_795_705_200_000), "the new time");
    }
}

#[test]
fn a_cancellation_delivered_before_its_creation_leaves_the_booking_cancelled() {
    let db = Sqlite::migrated();
    apply_all(
        &db,
        &[
            &event(
                "BOOKING_CANCELLED",
                9,
                plain(json!({"cancellationReason": "sick"})),
            ),
            &event("BOOKING_CREATED", 2, plain(json!({}))),
        ],
    );
    let (b, attendees) = state(&db, UID);
    assert_eq!(b.status, "cancelled");
    assert_eq!(b.title.as_deref(), Some("Intro"));
    assert_eq!(attendees.len(), 1, "the creation still names who booked");
}

#[test]
fn a_terminal_state_is_never_undone_by_a_newer_non_terminal_event() {
    let db = Sqlite::migrated();
    let plain = booking("Intro", json!({"seatsPerTimeSlot": null}));
    apply_all(
        &db,
        &[
            &event("BOOKING_REJECTED", 3, plain.clone()),
            &event("BOOKING_CREATED", 7, plain.clone()),
            &event("MEETING_ENDED", 8, plain),
        ],
    );
    assert_eq!(state(&db, UID).0.status, "rejected");
}

#[test]
fn an_older_event_only_fills_what_is_still_unknown() {
    let db = Sqlite::migrated();
    let mut older = booking("Old title", json!({"seatsPerTimeSlot": null}));
    older["organizer"]["timeZone"] = json!("Asia/Tokyo");
    let mut newer = booking("New title", json!({"seatsPerTimeSlot": null}));
    newer["organizer"] = json!({"name": "Ada"});
    apply_all(
        &db,
        &[
            &event("BOOKING_LOCATION_UPDATED", 9, newer),
            &event("BOOKING_CREATED", 2, older),
        ],
    );
    let (b, _) = state(&db, UID);
    assert_eq!(b.title.as_deref(), Some("New title"));
    assert_eq!(
        b.organizer_tz.as_deref(),
        Some("Asia/Tokyo"),
        "filled from the older event"
    );
    assert_eq!(b.status, "accepted");
}

#[test]
fn an_event_about_an_unseen_booking_assumes_a_status_any_real_one_replaces() {
    let db = Sqlite::migrated();
    apply_all(
        &db,
        &[&event(
            "BOOKING_NO_SHOW_UPDATED",
            9,
            json!({"bookingUid": UID, "attendees": [{"email": "g@x.org", "noShow": true}]}),
        )],
    );
    assert_eq!(state(&db, UID).0.status, "accepted");
    apply_all(
        &db,
        &[&event(
            "BOOKING_REQUESTED",
            1,
            booking("Intro", json!({"seatsPerTimeSlot": null})),
        )],
    );
    assert_eq!(
        state(&db, UID).0.status,
        "requested",
        "a real status replaces the assumed one, however old"
    );
}

#[test]
fn the_timeline_keeps_each_event_once() {
    let db = Sqlite::migrated();
    let created = event(
        "BOOKING_CREATED",
        2,
        booking("Intro", json!({"seatsPerTimeSlot": null})),
    );
    apply_all(&db, &[&created, &created]);
    let rows = db.rows("SELECT trigger, sent_at FROM booking_events ORDER BY sent_at");
    assert_eq!(
        rows,
        [json!({"trigger": "BOOKING_CREATED", "sent_at": 1_795_165_202_000_i64})]
    );
}

#[test]
fn two_events_racing_end_as_if_they_came_in_order() {
    async fn apply_seat(db: &Stepping<'_>) {
        {
            let e = event(
                "BOOKING_CREATED",
                3,
                booking(
                    "Yoga",
                    json!({"attendeeSeatId": "s2", "attendees": [zoe()]}),
                ),
            );
            bookings::apply(db, &e, 10).await.unwrap();
        }
    }
    async fn apply_cancel(db: &Stepping<'_>) {
        {
            let e = event(
                "BOOKING_CANCELLED",
                4,
                booking("Yoga", json!({"attendees": [zoe()]})),
            );
            bookings::apply(db, &e, 11).await.unwrap();
        }
    }
    let runs = every_interleaving(
        |_| {},
        &[
            |db, _| Box::pin(apply_seat(db)),
            |db, _| Box::pin(apply_cancel(db)),
        ],
        |db, _, schedule| {
            let (_, attendees) = state(db, UID);
            assert_eq!(attendees[0].state, "cancelled", "{schedule:?}");
        },
    );
    assert!(runs >= 2);
}

// ------------------------------------------------------------ reminders

use calhook_core::store::reminders::{self, Decision, Kind};

/// 2026-11-25T15:00Z, the start of the bookings below.
const START: i64 = 1_795_618_800_000;
const MINUTE: i64 = 60_000;

fn accepted(db: &Sqlite, uid: &str) {
    let e = event(
        "BOOKING_CREATED",
        2,
        booking(
            "Intro",
            json!({"uid": uid, "seatsPerTimeSlot": null, "attendees": [grace()]}),
        ),
    );
    apply_all(db, &[&e]);
}

fn due(db: &Sqlite, now: i64) -> Vec<Decision> {
    let due = block_on(reminders::due_reminders(db, now, &[60, 1440], 50)).unwrap();
    reminders::decide(due, Kind::Reminder)
}

/// Claims what is due at `now`; the keys this run may queue.
fn run_cron(db: &Sqlite, now: i64, token: &str) -> Vec<String> {
    let decisions = due(db, now);
    block_on(reminders::claim(db, &decisions, token, now))
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

#[test]
fn an_accepted_booking_gets_each_reminder_once_when_it_is_due() {
    let db = Sqlite::migrated();
    accepted(&db, UID);
    assert!(
        run_cron(&db, START - 1440 * MINUTE - 1, "r0").is_empty(),
        "not yet"
    );
    let day = run_cron(&db, START - 1440 * MINUTE + 1, "r1");
    assert_eq!(
        day,
        [format!("BOOKING_REMINDER:booking:{UID}:1440m@{START}")]
    );
    assert!(
        run_cron(&db, START - 1440 * MINUTE + 60_000, "r2").is_empty(),
        "once"
    );
    let hour = run_cron(&db, START - 60 * MINUTE + 1, "r3");
    assert_eq!(
        hour,
        [format!("BOOKING_REMINDER:booking:{UID}:60m@{START}")]
    );
    let queued = db.rows("SELECT key, trigger FROM outbox ORDER BY key");
    assert_eq!(
        queued.len(),
        2,
        "each in the outbox until the queue took it"
    );
    assert!(run_cron(&db, START + 1, "r4").is_empty());
}

#[test]
fn cancelled_rejected_rescheduled_and_requested_bookings_get_no_reminder() {
    for (trigger, extra) in [
        ("BOOKING_CANCELLED", json!({})),
        ("BOOKING_REJECTED", json!({})),
        ("BOOKING_REQUESTED", json!({})),
    ] {
        let db = Sqlite::migrated();
        if trigger != "BOOKING_REQUESTED" {
            accepted(&db, UID);
        }
        let mut p = booking("Intro", json!({"seatsPerTimeSlot": null}));
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        apply_all(&db, &[&event(trigger, 30, p)]);
        assert!(
            run_cron(&db, START - 30 * MINUTE, "r").is_empty(),
            "{trigger}"
        );
    }
    // Rescheduled: the old uid gets none, the new one its own.
    let db = Sqlite::migrated();
    accepted(&db, UID);
    let moved = booking(
        "Intro",
        json!({"uid": NEW_UID, "rescheduleUid": UID, "startTime": "2026-11-26T15:00:00Z", "seatsPerTimeSlot": null}),
    );
    apply_all(&db, &[&event("BOOKING_RESCHEDULED", 40, moved)]);
    assert!(run_cron(&db, START - 30 * MINUTE, "r").is_empty());
    let new_start = START + 1440 * MINUTE;
    assert_eq!(
        run_cron(&db, new_start - 30 * MINUTE, "r2"),
        [format!(
            "BOOKING_REMINDER:booking:{NEW_UID}:60m@{new_start}"
        )]
    );
}

#[test]
fn reminders_missed_while_calhook_was_down_send_only_the_nearest_before_the_start() {
    let db = Sqlite::migrated();
    accepted(&db, UID);
    let decisions = due(&db, START - 10 * MINUTE);
    let sent: Vec<_> = decisions
        .iter()
        .map(|d| (d.due.offset_minutes, d.notification.is_some()))
        .collect();
    assert_eq!(sent, [(60, true), (1440, false)]);
    block_on(reminders::claim(&db, &decisions, "r", START - 10 * MINUTE)).unwrap();
    let states = db.rows("SELECT offset_minutes, state FROM reminders ORDER BY offset_minutes");
    assert_eq!(
        states,
        [
            json!({"offset_minutes": 60, "state": "sent"}),
            json!({"offset_minutes": 1440, "state": "skipped"})
        ]
    );
}

#[test]
fn no_reminder_is_due_before_calhook_first_heard_of_the_booking() {
    let db = Sqlite::migrated();
    // Booked at 14:30 for 15:00 the same day: the 1h and 24h times had passed.
    let late = json!({"triggerEvent": "BOOKING_CREATED", "createdAt": "2026-11-25T14:30:00.000Z",
        "payload": booking("Intro", json!({"seatsPerTimeSlot": null}))});
    let envelope = parse(&serde_json::to_vec(&late).unwrap()).unwrap();
    let key = derive(&envelope).unwrap().notification_key(1_000);
    let updates = bookings::updates(&Notification::build(&envelope, key), 0);
    block_on(bookings::apply(&db, &updates, 1)).unwrap();
    assert!(due(&db, START - 20 * MINUTE).is_empty());
}

#[test]
fn two_cron_runs_racing_queue_each_reminder_once() {
    async fn cron(db: &Stepping<'_>, w: &World, token: &str) {
        let now = START - 30 * MINUTE;
        let due = reminders::due_reminders(db, now, &[60], 50).await.unwrap();
        let decisions = reminders::decide(due, Kind::Reminder);
        for (key, _) in reminders::claim(db, &decisions, token, now).await.unwrap() {
            w.queued.borrow_mut().push(key);
        }
    }
    let runs = every_interleaving(
        |db| accepted(db, UID),
        &[
            |db, w| Box::pin(cron(db, w, "a")),
            |db, w| Box::pin(cron(db, w, "b")),
        ],
        |db, w, schedule| {
            assert_eq!(w.queued.borrow().len(), 1, "{schedule:?} {w:?}");
            assert_eq!(db.rows("SELECT key FROM outbox").len(), 1, "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn a_follow_up_goes_after_the_end_but_not_for_cancellations_or_no_shows() {
    let end = START + 60 * MINUTE;
    let follow_ups =
        |db: &Sqlite| block_on(reminders::due_follow_ups(db, end + 31 * MINUTE, 30, 50)).unwrap();
    let db = Sqlite::migrated();
    accepted(&db, UID);
    assert!(
        block_on(reminders::due_follow_ups(&db, end + 29 * MINUTE, 30, 50))
            .unwrap()
            .is_empty()
    );
    let due = follow_ups(&db);
    assert_eq!(due.len(), 1);
    let decisions = reminders::decide(due, Kind::FollowUp);
    assert_eq!(
        decisions[0].notification.as_ref().unwrap().trigger.as_str(),
        "BOOKING_FOLLOW_UP"
    );
    block_on(reminders::claim(&db, &decisions, "f", end)).unwrap();
    assert!(follow_ups(&db).is_empty(), "once");

    let cancelled = Sqlite::migrated();
    accepted(&cancelled, UID);
    apply_all(
        &cancelled,
        &[&event(
            "BOOKING_CANCELLED",
            50,
            booking("Intro", json!({"seatsPerTimeSlot": null})),
        )],
    );
    assert!(follow_ups(&cancelled).is_empty());

    let no_show = Sqlite::migrated();
    accepted(&no_show, UID);
    apply_all(
        &no_show,
        &[&event(
            "BOOKING_NO_SHOW_UPDATED",
            59,
            json!({"bookingUid": UID, "attendees": [{"email": "grace@example.org", "noShow": true}]}),
        )],
    );
    assert!(follow_ups(&no_show).is_empty());
}

#[test]
fn a_reminder_is_written_for_the_attendees_in_their_own_zone() {
    let db = Sqlite::migrated();
    accepted(&db, UID);
    let decisions = due(&db, START - 30 * MINUTE);
    let n = decisions[0].notification.clone().unwrap();
    assert_eq!(
        n.facts.attendees[0].time_zone.as_deref(),
        Some("America/New_York")
    );
    assert_eq!(
        n.facts.organizer.as_ref().unwrap().name.as_deref(),
        Some("Ada")
    );
    assert!(n
        .to_message()
        .unwrap()
        .contains("\"reminder\":{\"minutes\":60}"));
}

#[test]
fn pruning_removes_bookings_that_ended_long_ago_with_their_timeline() {
    let db = Sqlite::migrated();
    accepted(&db, UID);
    block_on(reminders::claim(
        &db,
        &due(&db, START - 30 * MINUTE),
        "r",
        0,
    ))
    .unwrap();
    assert_eq!(
        block_on(reminders::prune(&db, START)).unwrap(),
        0,
        "not ended yet"
    );
    assert_eq!(
        block_on(reminders::prune(&db, START + 61 * MINUTE)).unwrap(),
        1
    );
    for table in [
        "bookings",
        "booking_attendees",
        "booking_events",
        "reminders",
    ] {
        assert!(
            db.rows(&format!("SELECT * FROM {table}")).is_empty(),
            "{table}"
        );
    }
}

// ------------------------------------------------------------ timeline

use calhook_core::store::timeline;

#[test]
fn the_timeline_of_a_rescheduled_then_cancelled_booking_follows_the_chain_both_ways() {
    let db = Sqlite::migrated();
    let created = event(
        "BOOKING_CREATED",
        1,
        booking(
            "Intro",
            json!({"seatsPerTimeSlot": null, "attendees": [grace()]}),
        ),
    );
    let moved = event(
        "BOOKING_RESCHEDULED",
        2,
        booking(
            "Intro",
            json!({"uid": NEW_UID, "rescheduleUid": UID, "startTime": "2026-11-26T15:00:00Z",
            "seatsPerTimeSlot": null, "attendees": [grace()]}),
        ),
    );
    let cancelled = event(
        "BOOKING_CANCELLED",
        3,
        booking(
            "Intro",
            json!({"uid": NEW_UID, "startTime": "2026-11-26T15:00:00Z", "seatsPerTimeSlot": null}),
        ),
    );
    apply_all(&db, &[&cancelled, &created, &moved]);
    // The mailer's ledger row for the creation's staff email.
    db.exec(&format!(
        "INSERT INTO deliveries (key, state, trigger, attempts, updated_at, notification_key, message_id) \
         VALUES ('{k}', 'sent', 'BOOKING_CREATED', 1, 5, '{k}', 'sg-123')",
        k = created[0].key
    ));
    let story = |uid| {
        block_on(timeline::timeline(
            &db,
            uid,
            &[60],
            START - 3 * 1440 * MINUTE,
        ))
        .unwrap()
        .unwrap()
    };
    let old = story(UID);
    assert_eq!(old.booking.status, "rescheduled");
    assert_eq!(old.rescheduled_to, [NEW_UID]);
    let triggers: Vec<_> = old.events.iter().map(|e| e.trigger.as_str()).collect();
    assert_eq!(triggers, ["BOOKING_CREATED", "BOOKING_RESCHEDULED"]);
    assert_eq!(old.emails.len(), 1);
    assert_eq!(old.emails[0].message_id.as_deref(), Some("sg-123"));
    assert_eq!(old.emails[0].copy(), "staff");
    assert!(
        old.pending_reminders.is_empty(),
        "a rescheduled booking gets none"
    );

    let new = story(NEW_UID);
    assert_eq!(new.booking.status, "cancelled");
    assert_eq!(new.rescheduled_from, [UID]);
    let triggers: Vec<_> = new.events.iter().map(|e| e.trigger.as_str()).collect();
    assert_eq!(triggers, ["BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]);
    assert!(block_on(timeline::timeline(&db, "nobody", &[60], 0))
        .unwrap()
        .is_none());
}

#[test]
fn an_accepted_booking_shows_its_pending_reminders_and_the_upcoming_list_finds_it() {
    let db = Sqlite::migrated();
    accepted(&db, UID);
    let now = START - 3 * 1440 * MINUTE;
    let t = block_on(timeline::timeline(&db, UID, &[60, 1440], now))
        .unwrap()
        .unwrap();
    let pending: Vec<_> = t
        .pending_reminders
        .iter()
        .map(|p| (p.offset_minutes, p.due_at))
        .collect();
    assert_eq!(
        pending,
        [(60, START - 60 * MINUTE), (1440, START - 1440 * MINUTE)]
    );
    let upcoming = block_on(timeline::list(&db, now, START + 1, Some("accepted"), 10)).unwrap();
    assert_eq!(upcoming.len(), 1);
    assert!(
        block_on(timeline::list(&db, now, START + 1, Some("cancelled"), 10))
            .unwrap()
            .is_empty()
    );
    assert!(
        block_on(timeline::list(&db, START + 1, START + 2, None, 10))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_pair_of_booking_events_ends_the_same_in_either_order() {
    let kinds: Vec<(&str, Value)> = vec![
        ("BOOKING_REQUESTED", plain(json!({}))),
        ("BOOKING_CREATED", plain(json!({}))),
        (
            "BOOKING_CREATED",
            plain(json!({"seatsPerTimeSlot": 4, "attendeeSeatId": "s9", "attendees": [zoe()]})),
        ),
        (
            "BOOKING_CANCELLED",
            plain(json!({"seatsPerTimeSlot": 4, "attendees": [zoe()]})),
        ),
        ("BOOKING_CANCELLED", plain(json!({}))),
        ("BOOKING_REJECTED", plain(json!({}))),
        (
            "BOOKING_RESCHEDULED",
            plain(json!({"uid": NEW_UID, "rescheduleUid": UID})),
        ),
        (
            "BOOKING_PAID",
            plain(json!({"paymentId": 3, "title": "Intro (paid)"})),
        ),
        (
            "BOOKING_LOCATION_UPDATED",
            plain(json!({"location": "Room 4"})),
        ),
        ("MEETING_ENDED", plain(json!({}))),
        (
            "BOOKING_NO_SHOW_UPDATED",
            json!({"bookingUid": UID, "attendees": [{"email": "grace@example.org", "noShow": true}]}),
        ),
    ];
    let mut pairs = 0;
    for (i, (a, pa)) in kinds.iter().enumerate() {
        for (j, (b, pb)) in kinds.iter().enumerate() {
            if i == j {
                continue;
            }
            let first = event(a, 10, pa.clone());
            let second = event(b, 20, pb.clone());
            let (in_order, reversed) = (Sqlite::migrated(), Sqlite::migrated());
            apply_all(&in_order, &[&first, &second]);
            apply_all(&reversed, &[&second, &first]);
            for uid in [UID, NEW_UID] {
                let get = |db: &Sqlite| {
                    block_on(async {
                        (
                            bookings::get(db, uid).await.unwrap(),
                            bookings::attendees(db, uid).await.unwrap(),
                        )
                    })
                };
                assert_eq!(
                    get(&in_order),
                    get(&reversed),
                    "{a} then {b}, booking {uid}"
                );
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, 110);
}

mod recheck_when_sent {
    use calhook_core::message::notification::Kind;
    use calhook_core::store::bookings::BookingRow;
    use calhook_core::store::reminders::{recheck, Dropped};

    const NOW: i64 = 1_000_000;

    fn booking(status: &str, start_at: i64) -> BookingRow {
        BookingRow {
            uid: "u".into(),
            status: status.into(),
            status_at: 0,
            title: None,
            start_at: Some(start_at),
            end_at: Some(start_at + 1_800_000),
            organizer_tz: None,
            organizer_name: None,
            organizer_email: None,
            location: None,
            meeting_url: None,
            first_seen_at: 0,
            rescheduled_from: None,
            rescheduled_to: None,
        }
    }

    #[test]
    fn a_reminder_for_an_accepted_booking_still_ahead_is_sent() {
        let start = NOW + 3_600_000;
        let b = booking("accepted", start);
        assert_eq!(
            recheck(&Kind::Reminder, Some(start), Some(&b), true, NOW),
            None
        );
    }

    #[test]
    fn a_reminder_for_a_booking_cancelled_since_is_dropped() {
        let start = NOW + 3_600_000;
        for status in ["cancelled", "rejected", "rescheduled"] {
            let b = booking(status, start);
            assert!(matches!(
                recheck(&Kind::Reminder, Some(start), Some(&b), true, NOW),
                Some(Dropped::BookingEnded(s)) if s == status
            ));
            assert!(recheck(&Kind::FollowUp, Some(start), Some(&b), true, NOW).is_some());
        }
    }

    #[test]
    fn a_reminder_whose_meeting_started_or_moved_is_dropped() {
        let start = NOW - 60_000;
        let b = booking("accepted", start);
        assert_eq!(
            recheck(&Kind::Reminder, Some(start), Some(&b), true, NOW),
            Some(Dropped::MeetingStarted)
        );
        let moved = booking("accepted", NOW + 7_200_000);
        assert_eq!(
            recheck(
                &Kind::Reminder,
                Some(NOW + 3_600_000),
                Some(&moved),
                true,
                NOW
            ),
            Some(Dropped::Moved)
        );
        assert_eq!(
            recheck(&Kind::Reminder, Some(start), None, true, NOW),
            Some(Dropped::MeetingStarted),
            "a pruned booking is judged on the notification"
        );
    }

    #[test]
    fn a_follow_up_after_the_meeting_is_sent_but_not_for_a_disabled_tenant() {
        let b = booking("ended", NOW - 7_200_000);
        assert_eq!(
            recheck(&Kind::FollowUp, Some(NOW - 7_200_000), Some(&b), true, NOW),
            None
        );
        assert_eq!(
            recheck(&Kind::FollowUp, Some(NOW - 7_200_000), Some(&b), false, NOW),
            Some(Dropped::TenantDisabled)
        );
    }
}

mod console_reads {
    use super::support::*;
    use calhook_core::store::overview;

    #[test]
    fn the_last_day_is_counted_per_tenant_and_the_single_route_apart() {
        let db = Sqlite::migrated();
        db.exec(
            "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) VALUES \
               ('BOOKING_CREATED:booking:a', 'done', 't', 'T', 0, 9, 100), \
               ('acme/BOOKING_CREATED:booking:b', 'done', 't', 'T', 0, 9, 100), \
               ('acme/BOOKING_CREATED:booking:c', 'done', 't', 'T', 0, 9, 100); \
             INSERT INTO deliveries (key, state, trigger, updated_at) VALUES \
               ('acme/BOOKING_CREATED:booking:b', 'sent', 'T', 100), \
               ('acme/BOOKING_CREATED:booking:c', 'failed', 'T', 100), \
               ('BOOKING_CREATED:booking:a', 'pending', 'T', 100); \
             INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) VALUES \
               ('acme/BOOKING_CREATED:booking:c', 'T', '{}', 'x', 100);",
        );
        let rows = pollster::block_on(overview::last_day(&db, 1_000)).unwrap();
        let single = rows.iter().find(|r| r.tenant.is_empty()).unwrap();
        let acme = rows.iter().find(|r| r.tenant == "acme").unwrap();
        assert_eq!((single.events, single.pending, single.sent), (1, 1, 0));
        assert_eq!(
            (acme.events, acme.sent, acme.failed, acme.dead_letters),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn a_booking_is_found_by_uid_title_or_attendee_address() {
        let db = Sqlite::migrated();
        db.exec(
            "INSERT INTO bookings (uid, status, status_rank, status_at, title, start_at, facts_at, first_seen_at, updated_at) VALUES \
               ('acme/u-100', 'accepted', 0, 1, 'Intro with Ada', 5, 1, 1, 1), \
               ('u-200', 'cancelled', 2, 1, 'Review 100%', 6, 1, 2, 1); \
             INSERT INTO booking_attendees (uid, email, state, state_at) VALUES ('u-200', 'grace@example.org', 'seated', 1);",
        );
        let uids = |q: &str| -> Vec<String> {
            pollster::block_on(overview::search(&db, q))
                .unwrap()
                .into_iter()
                .map(|f| f.uid)
                .collect()
        };
        assert_eq!(uids("u-100"), ["acme/u-100"]);
        assert_eq!(uids("ada"), ["acme/u-100"]);
        assert_eq!(uids("Grace@Example.org"), ["u-200"]);
        assert_eq!(uids("100%"), ["u-200"], "a % in the query is literal");
        assert_eq!(uids(""), ["u-200", "acme/u-100"]);
    }
}
