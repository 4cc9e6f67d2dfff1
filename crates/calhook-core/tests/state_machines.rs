//! The claim, ledger, dead-letter and KV state machines, run natively on
//! SQLite with the real `migrations/` (D1 is SQLite). Races are proven under
//! every interleaving of the racers' statements, not under one lucky order.

mod support;

use calhook_core::store::claims::{self, Repeat};
use calhook_core::store::dead_letters::{self, Cursor, Redrive, Selection, Stored};
use calhook_core::store::kv::{self, KvOutcome};
use calhook_core::store::ledger::{self, Finish, LedgerClaim, Recorded as Finished};
use calhook_core::store::outbox::{self, Accept, Recorded};
use calhook_core::store::{ClaimKey, Db, DeliveryKey, NotificationKey};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use support::*;

const KEY: &str = "BOOKING_CREATED:booking:u1";
/// `KEY` as each kind of key (in these tests the notification is its claim's).
static CLAIM: LazyLock<ClaimKey> = LazyLock::new(|| ck(KEY));
static NOTIFICATION: LazyLock<NotificationKey> = LazyLock::new(|| nk(KEY));
const LEASE: i64 = 60_000;

fn ck(key: &str) -> ClaimKey {
    ClaimKey::new(key)
}

fn nk(key: &str) -> NotificationKey {
    NotificationKey::new(key)
}

fn dk(key: &str) -> DeliveryKey {
    DeliveryKey::new(key)
}
const TTL: i64 = 7 * 24 * 3_600_000;

fn state(db: &Sqlite, key: &str) -> Option<String> {
    db.rows(&format!("SELECT state FROM deliveries WHERE key = '{key}'"))
        .first()
        .map(|r| r["state"].as_str().unwrap().to_owned())
}

fn dead_letter_count(db: &Sqlite) -> usize {
    db.rows("SELECT key FROM dead_letters").len()
}

// ---------------------------------------------------------------- the mailer

/// A consumer that claims the delivery at `claim_at`, gets SendGrid's answer,
/// and records it at `finish_at`.
async fn consume(
    db: &Stepping<'_>,
    w: &World,
    who: &str,
    claim_at: i64,
    finish_at: i64,
    sent: bool,
) {
    let claim = ledger::claim(
        db,
        &dk(KEY),
        &nk(KEY),
        "BOOKING_CREATED",
        who,
        claim_at,
        LEASE,
    )
    .await
    .unwrap();
    let LedgerClaim::Claimed(lease) = claim else {
        w.note(format!("{who}:{claim:?}"));
        return;
    };
    step().await; // the SendGrid request
    if sent {
        w.email(who);
    }
    let outcome = if sent {
        Finish::Sent {
            status: 202,
            message_id: Some("msg"),
            recipients: 1,
        }
    } else {
        Finish::Retry {
            status: Some(500),
            error: "500 from SendGrid",
        }
    };
    let recorded = ledger::finish(db, &lease, outcome, finish_at)
        .await
        .unwrap();
    w.note(format!("{who}:{recorded:?}"));
}

fn boxed<'a>(f: impl Future<Output = ()> + 'a) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(f)
}

fn nothing(_: &Sqlite) {}

#[test]
fn two_consumers_racing_one_delivery_send_exactly_one_email() {
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(consume(db, w, "a", 0, 10, true)),
            |db, w| boxed(consume(db, w, "b", 1, 11, true)),
        ],
        |db, w, schedule| {
            assert_eq!(w.email_count(), 1, "schedule {schedule:?}: {w:?}");
            assert_eq!(state(db, KEY).as_deref(), Some("sent"));
        },
    );
    assert!(runs > 5, "{runs} interleavings");
}

#[test]
fn a_stale_writer_whose_lease_ran_out_cannot_undo_the_new_holders_send() {
    // a claims at 0 and hears SendGrid's 500 only at 70 s, after its 60 s lease;
    // b took the delivery over at 61 s and sent it.
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(consume(db, w, "a", 0, 70_000, false)),
            |db, w| boxed(consume(db, w, "b", 61_000, 62_000, true)),
        ],
        |db, w, schedule| {
            let notes = w.notes.borrow();
            if notes.contains(&"b:Yes".to_owned()) {
                assert_eq!(
                    state(db, KEY).as_deref(),
                    Some("sent"),
                    "{schedule:?} {notes:?}"
                );
            }
            if notes.contains(&"b:Yes".to_owned()) && notes.iter().any(|n| n.starts_with("a:")) {
                // Whatever a wrote, it did not turn b's `sent` into `pending`.
                assert_ne!(state(db, KEY).as_deref(), Some("pending"));
            }
            assert!(w.email_count() <= 1, "{schedule:?}");
        },
    );
    assert!(runs > 5);
}

#[test]
fn a_finish_with_a_lost_lease_changes_nothing() {
    let db = Sqlite::migrated();
    block_on(async {
        let LedgerClaim::Claimed(a) = ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "a", 0, LEASE)
            .await
            .unwrap()
        else {
            panic!()
        };
        let LedgerClaim::Claimed(b) =
            ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "b", LEASE + 1, LEASE)
                .await
                .unwrap()
        else {
            panic!("an expired lease is taken over")
        };
        assert_eq!(b.attempts, 2);
        let late = Finish::Retry {
            status: Some(500),
            error: "timeout",
        };
        assert_eq!(
            ledger::finish(&db, &a, late, LEASE + 2).await.unwrap(),
            Finished::LostLease
        );
        assert_eq!(state(&db, KEY).as_deref(), Some("sending"));
        let sent = Finish::Sent {
            status: 202,
            message_id: Some("m-1"),
            recipients: 1,
        };
        assert_eq!(
            ledger::finish(&db, &b, sent, LEASE + 3).await.unwrap(),
            Finished::Yes
        );
    });
    let row = &db.rows(&format!("SELECT * FROM deliveries WHERE key = '{KEY}'"))[0];
    assert_eq!(row["state"], "sent");
    assert_eq!(row["message_id"], "m-1");
}

#[test]
fn a_live_lease_makes_other_consumers_busy_and_terminal_states_are_reported() {
    let db = Sqlite::migrated();
    block_on(async {
        let LedgerClaim::Claimed(a) = ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "a", 0, LEASE)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "b", 1, LEASE)
                .await
                .unwrap(),
            LedgerClaim::Busy
        );
        ledger::finish(
            &db,
            &a,
            Finish::Failed {
                status: Some(400),
                error: "bad",
                notification: "{}",
            },
            2,
        )
        .await
        .unwrap();
        assert_eq!(
            ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "b", 3, LEASE)
                .await
                .unwrap(),
            LedgerClaim::AlreadyFailed
        );
    });
}

#[test]
fn a_transient_failure_is_claimed_again_and_counts_attempts() {
    let db = Sqlite::migrated();
    block_on(async {
        for attempt in 1..=3 {
            let LedgerClaim::Claimed(l) = ledger::claim(
                &db,
                &dk(KEY),
                &nk(KEY),
                "T",
                &format!("t{attempt}"),
                attempt,
                LEASE,
            )
            .await
            .unwrap() else {
                panic!()
            };
            assert_eq!(l.attempts, attempt as u32);
            let f = if attempt < 3 {
                Finish::Retry {
                    status: Some(500),
                    error: "500",
                }
            } else {
                Finish::Sent {
                    status: 202,
                    message_id: None,
                    recipients: 1,
                }
            };
            ledger::finish(&db, &l, f, attempt).await.unwrap();
        }
        assert_eq!(
            ledger::claim(&db, &dk(KEY), &nk(KEY), "T", "x", 9, LEASE)
                .await
                .unwrap(),
            LedgerClaim::AlreadySent
        );
    });
}

// ----------------------------------------------------------- dead letters

/// The state after a permanent failure: ledger `failed`, dead letter kept.
fn failed_and_dead_lettered(db: &Sqlite) {
    block_on(async {
        let LedgerClaim::Claimed(l) =
            ledger::claim(db, &dk(KEY), &nk(KEY), "BOOKING_CREATED", "t0", 0, LEASE)
                .await
                .unwrap()
        else {
            panic!()
        };
        let failed = Finish::Failed {
            status: Some(400),
            error: "400 from SendGrid: from: not verified",
            notification: "{\"n\":1}",
        };
        ledger::finish(db, &l, failed, 1).await.unwrap();
        dead_letters::keep(db, KEY, Some("BOOKING_CREATED"), "{\"n\":1}", 2)
            .await
            .unwrap();
    });
}

/// One redrive call as the receiver runs it: reset, queue, forget.
async fn redrive(db: &Stepping<'_>, w: &World, now: i64) -> Vec<Redrive> {
    let rows = dead_letters::select_for_redrive(db, &Selection::One(KEY.into()))
        .await
        .unwrap();
    let decisions = dead_letters::reset_for_redrive(db, &rows, now)
        .await
        .unwrap();
    let queued: Vec<&Stored> = rows
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| **d == Redrive::Queue)
        .map(|(r, _)| r)
        .collect();
    for r in &queued {
        w.queued.borrow_mut().push(r.key.clone());
    }
    dead_letters::forget(db, &queued).await.unwrap();
    decisions
}

/// Delivers every queued message (after the racers), as the queue would.
fn drain(db: &Sqlite, w: &World, now: i64) {
    let queued: Vec<String> = w.queued.borrow_mut().drain(..).collect();
    for (i, _) in queued.iter().enumerate() {
        let stepping = Stepping { db };
        block_on(consume(
            &stepping,
            w,
            &format!("drain{i}"),
            now + i as i64,
            now + i as i64,
            true,
        ));
    }
}

#[test]
fn redrive_sends_a_failed_notification_exactly_once() {
    let db = Sqlite::migrated();
    failed_and_dead_lettered(&db);
    let w = World::default();
    let decisions = block_on(redrive(&Stepping { db: &db }, &w, 10));
    assert_eq!(decisions, [Redrive::Queue]);
    drain(&db, &w, 20);
    assert_eq!(w.email_count(), 1);
    assert_eq!(state(&db, KEY).as_deref(), Some("sent"));
    assert_eq!(dead_letter_count(&db), 0);
}

#[test]
fn redrive_never_reopens_a_sent_delivery() {
    let db = Sqlite::migrated();
    failed_and_dead_lettered(&db);
    // Sent since (a redrive that failed after queueing, then the message went out).
    db.exec(&format!(
        "UPDATE deliveries SET state = 'sent' WHERE key = '{KEY}'"
    ));
    let w = World::default();
    let decisions = block_on(redrive(&Stepping { db: &db }, &w, 10));
    assert_eq!(
        decisions,
        [Redrive::Resolved],
        "the dead letter is resolved, not re-queued"
    );
    assert!(w.queued.borrow().is_empty());
    assert_eq!(state(&db, KEY).as_deref(), Some("sent"));
    assert_eq!(dead_letter_count(&db), 0);
}

#[test]
fn redrive_leaves_a_delivery_being_sent_alone() {
    let db = Sqlite::migrated();
    failed_and_dead_lettered(&db);
    db.exec(&format!(
        "UPDATE deliveries SET state = 'sending', claim_token = 'c', lease_until = 100000 WHERE key = '{KEY}'"
    ));
    let w = World::default();
    assert_eq!(
        block_on(redrive(&Stepping { db: &db }, &w, 10)),
        [Redrive::Busy]
    );
    assert!(w.queued.borrow().is_empty());
    assert_eq!(state(&db, KEY).as_deref(), Some("sending"));
    assert_eq!(dead_letter_count(&db), 1, "still listed, to redrive later");
}

#[test]
fn redrive_racing_the_send_it_caused_never_sends_twice() {
    // A first redrive queued the notification but could not forget the dead
    // letter (a D1 error): the operator retries while the mailer is sending.
    fn setup(db: &Sqlite) {
        failed_and_dead_lettered(db);
        db.exec(&format!(
            "UPDATE deliveries SET state = 'pending', claim_token = NULL WHERE key = '{KEY}'"
        ));
    }
    let runs = every_interleaving(
        setup,
        &[
            |db, w| boxed(consume(db, w, "mailer", 10, 12, true)),
            |db, w| {
                boxed(async move {
                    redrive(db, w, 11).await;
                })
            },
        ],
        |db, w, schedule| {
            drain(db, w, 20);
            assert_eq!(w.email_count(), 1, "{schedule:?}: {w:?}");
            assert_eq!(state(db, KEY).as_deref(), Some("sent"));
            // Whatever is still listed is resolved by the next redrive, without an email.
            let again = World::default();
            block_on(redrive(&Stepping { db }, &again, 30));
            drain(db, &again, 40);
            assert_eq!(again.email_count(), 0, "{schedule:?}");
            assert_eq!(dead_letter_count(db), 0, "{schedule:?}");
        },
    );
    assert!(runs > 10, "{runs}");
}

#[test]
fn two_redrives_racing_queue_and_send_at_most_one_email() {
    let runs = every_interleaving(
        failed_and_dead_lettered,
        &[
            |db, w| {
                boxed(async move {
                    redrive(db, w, 10).await;
                })
            },
            |db, w| {
                boxed(async move {
                    redrive(db, w, 11).await;
                })
            },
        ],
        |db, w, schedule| {
            drain(db, w, 20);
            assert_eq!(w.email_count(), 1, "{schedule:?}: {w:?}");
            assert_eq!(dead_letter_count(db), 0);
        },
    );
    assert!(runs > 10);
}

#[test]
fn a_new_failure_arriving_during_redrive_stays_listed() {
    let db = Sqlite::migrated();
    failed_and_dead_lettered(&db);
    block_on(async {
        let rows = dead_letters::select_for_redrive(&db, &Selection::One(KEY.into()))
            .await
            .unwrap();
        dead_letters::reset_for_redrive(&db, &rows, 10)
            .await
            .unwrap();
        // The redriven message fails again and is dead-lettered anew before step 3.
        dead_letters::keep(&db, KEY, Some("BOOKING_CREATED"), "{\"n\":1}", 15)
            .await
            .unwrap();
        dead_letters::forget(&db, &rows.iter().collect::<Vec<_>>())
            .await
            .unwrap();
    });
    assert_eq!(dead_letter_count(&db), 1);
}

#[test]
fn redrive_reopens_only_the_failed_attendee_copy() {
    let db = Sqlite::migrated();
    let attendee = staff_sent_attendee_dead_lettered(&db);
    block_on(async {
        let rows = dead_letters::select_for_redrive(&db, &Selection::One(KEY.into()))
            .await
            .unwrap();
        assert_eq!(
            dead_letters::reset_for_redrive(&db, &rows, 3)
                .await
                .unwrap(),
            [Redrive::Queue]
        );
    });
    assert_eq!(state(&db, KEY).as_deref(), Some("sent"));
    assert_eq!(state(&db, attendee.as_str()).as_deref(), Some("pending"));
}

/// Staff copy sent, attendee copy failed and dead-lettered, at time 0.
fn staff_sent_attendee_dead_lettered(db: &Sqlite) -> DeliveryKey {
    let attendee = ledger::delivery_key(&NOTIFICATION, Some("grace@example.org"));
    block_on(async {
        for (key, ok) in [(dk(KEY), true), (attendee.clone(), false)] {
            let LedgerClaim::Claimed(l) = ledger::claim(db, &key, &nk(KEY), "T", "t", 0, LEASE)
                .await
                .unwrap()
            else {
                panic!()
            };
            let f = if ok {
                Finish::Sent {
                    status: 202,
                    message_id: None,
                    recipients: 1,
                }
            } else {
                Finish::Failed {
                    status: Some(400),
                    error: "bad",
                    notification: "{}",
                }
            };
            ledger::finish(db, &l, f, 1).await.unwrap();
        }
        dead_letters::keep(db, KEY, Some("T"), "{}", 2)
            .await
            .unwrap();
    });
    attendee
}

#[test]
fn the_daily_prune_keeps_the_sent_rows_a_dead_letter_still_needs() {
    let db = Sqlite::migrated();
    let attendee = staff_sent_attendee_dead_lettered(&db);
    let day_8 = 8 * 86_400_000;
    assert_eq!(block_on(ledger::prune_sent(&db, day_8)).unwrap(), 0);
    let rows = block_on(dead_letters::select_for_redrive(
        &db,
        &Selection::One(KEY.into()),
    ))
    .unwrap();
    let decisions = block_on(dead_letters::reset_for_redrive(&db, &rows, day_8 + 1)).unwrap();
    assert_eq!(decisions, [Redrive::Queue]);
    assert_eq!(
        state(&db, KEY).as_deref(),
        Some("sent"),
        "no second staff email"
    );
    assert_eq!(state(&db, attendee.as_str()).as_deref(), Some("pending"));
}

#[test]
fn redrive_never_recreates_a_row_that_is_missing_while_others_exist() {
    // A row pruned before this version kept dead-lettered notifications.
    let db = Sqlite::migrated();
    let attendee = staff_sent_attendee_dead_lettered(&db);
    db.exec(&format!("DELETE FROM deliveries WHERE key = '{KEY}'"));
    let rows = block_on(dead_letters::select_for_redrive(
        &db,
        &Selection::One(KEY.into()),
    ))
    .unwrap();
    let decisions = block_on(dead_letters::reset_for_redrive(&db, &rows, 10)).unwrap();
    assert_eq!(decisions, [Redrive::Queue]);
    assert_eq!(state(&db, KEY), None, "not re-created as pending");
    assert_eq!(state(&db, attendee.as_str()).as_deref(), Some("pending"));
}

#[test]
fn the_prune_keeps_sent_rows_of_a_notification_still_being_delivered() {
    let db = Sqlite::migrated();
    let attendee = staff_sent_attendee_dead_lettered(&db);
    db.exec("DELETE FROM dead_letters");
    db.exec(&format!(
        "UPDATE deliveries SET state = 'pending' WHERE key = '{attendee}'"
    ));
    assert_eq!(block_on(ledger::prune_sent(&db, 86_400_000)).unwrap(), 0);
    db.exec(&format!(
        "UPDATE deliveries SET state = 'sent' WHERE key = '{attendee}'"
    ));
    assert_eq!(block_on(ledger::prune_sent(&db, 86_400_000)).unwrap(), 2);
}

#[test]
fn redrive_of_a_notification_never_claimed_creates_its_delivery() {
    // Misconfigured mailer: no ledger row, retries used up, dead-lettered.
    let db = Sqlite::migrated();
    block_on(dead_letters::keep(
        &db,
        KEY,
        Some("BOOKING_CREATED"),
        "{}",
        5,
    ))
    .unwrap();
    let reason = db.rows("SELECT reason FROM dead_letters")[0]["reason"].clone();
    assert_eq!(reason, dead_letters::NO_SEND_ATTEMPTED);
    let w = World::default();
    assert_eq!(
        block_on(redrive(&Stepping { db: &db }, &w, 10)),
        [Redrive::Queue]
    );
    drain(&db, &w, 20);
    assert_eq!(w.email_count(), 1);
}

#[test]
fn a_dead_letter_keeps_the_ledgers_last_error_as_its_reason() {
    let db = Sqlite::migrated();
    failed_and_dead_lettered(&db);
    let row = &db.rows("SELECT reason, trigger FROM dead_letters")[0];
    assert_eq!(row["reason"], "400 from SendGrid: from: not verified");
    assert_eq!(row["trigger"], "BOOKING_CREATED");
}

#[test]
fn a_page_of_redrive_stays_within_the_free_plans_fifty_queries() {
    let db = Sqlite::migrated();
    block_on(async {
        for i in 0..40 {
            dead_letters::keep(&db, &format!("k{i:02}"), Some("T"), "{}", i)
                .await
                .unwrap();
        }
        db.statements.set(0);
        let page = Selection::Page {
            after: None,
            limit: 10,
        };
        let rows = dead_letters::select_for_redrive(&db, &page).await.unwrap();
        let decisions = dead_letters::reset_for_redrive(&db, &rows, 100)
            .await
            .unwrap();
        let queued: Vec<&Stored> = rows
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| **d == Redrive::Queue)
            .map(|(r, _)| r)
            .collect();
        dead_letters::forget(&db, &queued).await.unwrap();
        assert_eq!(queued.len(), 10);
    });
    assert!(
        db.statements.get() <= 50,
        "{} statements",
        db.statements.get()
    );
    assert_eq!(dead_letter_count(&db), 30);
}

#[test]
fn the_list_is_newest_first_and_pages_with_a_cursor() {
    let db = Sqlite::migrated();
    block_on(async {
        for i in 0..5 {
            dead_letters::keep(&db, &format!("k{i}"), Some("T"), "{}", 100 + i)
                .await
                .unwrap();
        }
        dead_letters::keep(&db, "unreadable:m1", None, "garbage", 50)
            .await
            .unwrap();
        let (first, next) = dead_letters::list(&db, None, 2).await.unwrap();
        assert_eq!(
            first.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["k4", "k3"]
        );
        let next = Cursor::decode(&next.unwrap().encode()).unwrap();
        let (second, _) = dead_letters::list(&db, Some(&next), 2).await.unwrap();
        assert_eq!(
            second.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["k2", "k1"]
        );
        let (all, end) = dead_letters::list(&db, None, 100).await.unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(end, None);
    });
}

#[test]
fn an_unreadable_dead_letter_can_be_deleted_but_not_redriven() {
    let db = Sqlite::migrated();
    block_on(async {
        dead_letters::keep(&db, "unreadable:m1", None, "garbage", 50)
            .await
            .unwrap();
        let page = Selection::Page {
            after: None,
            limit: 10,
        };
        assert!(dead_letters::select_for_redrive(&db, &page)
            .await
            .unwrap()
            .is_empty());
        assert!(dead_letters::delete(&db, "unreadable:m1").await.unwrap());
        assert!(!dead_letters::delete(&db, "unreadable:m1").await.unwrap());
    });
    assert_eq!(dead_letter_count(&db), 0);
}

// ------------------------------------------------------------ the receiver

fn accept<'a>(token: &'a str, notification: &'a str, now: i64) -> Accept<'a> {
    Accept {
        key: &CLAIM,
        change: None,
        notification_key: &NOTIFICATION,
        repeat: None,
        trigger: "BOOKING_CREATED",
        token,
        notification,
        now_ms: now,
        ttl_ms: TTL,
    }
}

fn outbox_rows(db: &Sqlite) -> Vec<serde_json::Value> {
    db.rows("SELECT key, notification, created_at FROM outbox ORDER BY created_at")
}

async fn receive(db: &Stepping<'_>, w: &World, who: &str, now: i64) {
    match outbox::record(db, accept(who, who, now)).await.unwrap() {
        Recorded::New => {
            w.queued.borrow_mut().push(who.to_owned());
            outbox::delivered(db, &nk(KEY), who).await.unwrap();
        }
        Recorded::Duplicate => w.note(format!("{who}:duplicate")),
    }
}

#[test]
fn two_requests_racing_one_key_record_it_once() {
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(receive(db, w, "a", 0)),
            |db, w| boxed(receive(db, w, "b", 5)),
        ],
        |db, w, schedule| {
            assert_eq!(w.queued.borrow().len(), 1, "{schedule:?} {w:?}");
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn a_new_event_is_done_and_in_the_outbox_after_one_round_trip() {
    let db = Sqlite::migrated();
    db.statements.set(0);
    let r = block_on(outbox::record(&db, accept("t1", "{\"n\":1}", 100))).unwrap();
    assert_eq!(r, Recorded::New);
    assert_eq!(db.statements.get(), 2, "one batch of two statements");
    let key = &db.rows("SELECT state, expires_at FROM idempotency_keys")[0];
    assert_eq!(key["state"], "done");
    assert_eq!(key["expires_at"], 100 + TTL);
    assert_eq!(outbox_rows(&db)[0]["notification"], "{\"n\":1}");
}

#[test]
fn a_duplicate_writes_no_row() {
    let db = Sqlite::migrated();
    block_on(outbox::record(&db, accept("t1", "first", 100))).unwrap();
    let before = db.rows("SELECT * FROM idempotency_keys");
    let r = block_on(outbox::record(&db, accept("t2", "second", 200))).unwrap();
    assert_eq!(r, Recorded::Duplicate);
    assert_eq!(db.rows("SELECT * FROM idempotency_keys"), before);
    assert_eq!(outbox_rows(&db)[0]["notification"], "first");
    assert_eq!(db.rows("SELECT changes() AS c")[0]["c"], 0);
}

#[test]
fn an_expired_key_is_a_new_event_again() {
    let db = Sqlite::migrated();
    block_on(async {
        outbox::record(&db, accept("t1", "first", 100))
            .await
            .unwrap();
        outbox::delivered(&db, &NOTIFICATION, "first")
            .await
            .unwrap();
        let later = 100 + TTL;
        assert_eq!(
            outbox::record(&db, accept("t2", "again", later))
                .await
                .unwrap(),
            Recorded::New
        );
    });
    assert_eq!(outbox_rows(&db)[0]["notification"], "again");
}

#[test]
fn a_claim_left_in_flight_by_an_older_version_is_taken_over_once_its_lease_passed() {
    let db = Sqlite::migrated();
    db.exec(&format!(
        "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) \
         VALUES ('{KEY}', 'in_flight', 'old', 'T', 5000, {TTL}, 0)"
    ));
    block_on(async {
        assert_eq!(
            outbox::record(&db, accept("t1", "n", 4_999)).await.unwrap(),
            Recorded::Duplicate
        );
        assert_eq!(
            outbox::record(&db, accept("t2", "n", 5_000)).await.unwrap(),
            Recorded::New
        );
    });
}

/// A repeatable trigger's delivery (no-show, location, form …), sent at `sent_at`.
fn repeat_accept<'a>(
    token: &'a str,
    notification_key: &'a NotificationKey,
    sent_at: i64,
    now: i64,
) -> Accept<'a> {
    Accept {
        notification_key,
        change: None,
        repeat: Some(Repeat {
            sent_at_ms: sent_at,
            window_ms: 1_000,
        }),
        ..accept(token, token, now)
    }
}

#[test]
fn a_repeat_outside_the_copy_window_is_a_new_event_with_its_own_outbox_row() {
    let db = Sqlite::migrated();
    block_on(async {
        let first = outbox::record(&db, repeat_accept("t1", &nk("k@0"), 0, 10))
            .await
            .unwrap();
        let again = outbox::record(&db, repeat_accept("t2", &nk("k@5000"), 5_200, 5_300))
            .await
            .unwrap();
        assert_eq!((first, again), (Recorded::New, Recorded::New));
    });
    let keys: Vec<_> = outbox_rows(&db).iter().map(|r| r["key"].clone()).collect();
    assert_eq!(
        keys,
        ["k@0", "k@5000"],
        "the queue-down case keeps both events"
    );
    assert_eq!(
        db.rows("SELECT event_at FROM idempotency_keys")[0]["event_at"],
        5_200
    );
}

#[test]
fn a_copy_within_the_window_is_a_duplicate_whichever_arrives_first() {
    for (first, second) in [(1_000, 1_004), (1_004, 1_000), (1_000, 2_000)] {
        let db = Sqlite::migrated();
        block_on(async {
            outbox::record(&db, repeat_accept("t1", &nk("k@a"), first, 10))
                .await
                .unwrap();
            let r = outbox::record(&db, repeat_accept("t2", &nk("k@b"), second, 20))
                .await
                .unwrap();
            assert_eq!(r, Recorded::Duplicate, "{first} then {second}");
        });
        assert_eq!(outbox_rows(&db).len(), 1);
    }
}

#[test]
fn a_once_only_trigger_merges_whatever_its_created_at() {
    let db = Sqlite::migrated();
    block_on(async {
        outbox::record(&db, accept("t1", "first", 0)).await.unwrap();
        // An hour later, same payload: a replay or a resend, not a new booking.
        let r = outbox::record(&db, accept("t2", "later", 3_600_000))
            .await
            .unwrap();
        assert_eq!(r, Recorded::Duplicate);
    });
}

async fn receive_repeat(db: &Stepping<'_>, w: &World, who: &str, sent_at: i64) {
    let notification_key = format!("{KEY}@{}", sent_at - sent_at % 1_000);
    match outbox::record(
        db,
        repeat_accept(who, &nk(&notification_key), sent_at, sent_at),
    )
    .await
    .unwrap()
    {
        Recorded::New => {
            w.queued.borrow_mut().push(notification_key.clone());
            outbox::delivered(db, &nk(&notification_key), who)
                .await
                .unwrap();
        }
        Recorded::Duplicate => w.note(format!("{who}:duplicate")),
    }
}

#[test]
fn two_copies_of_a_repeatable_event_racing_record_it_once() {
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(receive_repeat(db, w, "a", 10_000)),
            |db, w| boxed(receive_repeat(db, w, "b", 10_003)),
        ],
        |db, w, schedule| {
            assert_eq!(w.queued.borrow().len(), 1, "{schedule:?} {w:?}");
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn two_repeats_of_one_payload_racing_are_both_recorded() {
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(receive_repeat(db, w, "a", 10_000)),
            |db, w| boxed(receive_repeat(db, w, "b", 17_000)),
        ],
        |db, w, schedule| {
            let mut queued = w.queued.borrow().clone();
            queued.sort();
            assert_eq!(
                queued,
                [format!("{KEY}@10000"), format!("{KEY}@17000")],
                "{schedule:?}"
            );
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn kv_tells_a_repeat_from_a_copy_by_when_cal_com_sent_it() {
    let store = RateLimitedKv::default();
    let at = |ms| {
        Some(Repeat {
            sent_at_ms: ms,
            window_ms: 1_000,
        })
    };
    assert!(matches!(
        block_on(kv::deliver_once(
            &store,
            &ck(KEY),
            at(0),
            3600,
            async || Ok::<(), ()>(())
        )),
        Ok(KvOutcome::Queued { .. })
    ));
    store.now_ms.set(1_500);
    assert_eq!(
        block_on(kv::deliver_once(
            &store,
            &ck(KEY),
            at(3),
            3600,
            async || Ok::<(), ()>(())
        )),
        Ok(KvOutcome::Duplicate)
    );
    store.now_ms.set(9_000);
    assert!(matches!(
        block_on(kv::deliver_once(
            &store,
            &CLAIM,
            at(8_000),
            3600,
            async || Ok::<(), ()>(())
        )),
        Ok(KvOutcome::Queued {
            write_error: None,
            ..
        })
    ));
}

#[test]
fn a_crash_between_the_write_and_the_send_is_sent_by_the_cron_after_the_grace_period() {
    let db = Sqlite::migrated();
    block_on(async {
        outbox::record(&db, accept("t1", "n", 1_000)).await.unwrap();
        // (the worker died here: no queue send, no delete)
        assert!(
            outbox::due(&db, 1_000 - 1, 10).await.unwrap().is_empty(),
            "within the grace period"
        );
        let due = outbox::due(&db, 61_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        outbox::sent_rows(&db, &due).await.unwrap();
    });
    assert!(outbox_rows(&db).is_empty());
}

#[test]
fn the_hot_path_and_the_cron_racing_queue_the_event_at_least_once_and_clean_up() {
    fn recorded(db: &Sqlite) {
        block_on(outbox::record(db, accept("t1", "n", 0))).unwrap();
    }
    let runs = every_interleaving(
        recorded,
        &[
            // The hot path: the queue took it, the mailer forgets the row.
            |db, w| {
                boxed(async move {
                    w.queued.borrow_mut().push("hot".into());
                    outbox::delivered(db, &nk(KEY), "n").await.unwrap();
                })
            },
            // The cron: reads due rows, queues them, deletes them.
            |db, w| {
                boxed(async move {
                    let due = outbox::due(db, 0, 10).await.unwrap();
                    for r in &due {
                        w.queued.borrow_mut().push(format!("cron:{}", r.key));
                    }
                    outbox::sent_rows(db, &due).await.unwrap();
                })
            },
        ],
        |db, w, schedule| {
            let queued = w.queued.borrow().len();
            assert!((1..=2).contains(&queued), "{schedule:?}: {w:?}");
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

// ------------------------------- the record and the queue send at once

/// The mailer gets a message the receiver sent while recording it: claims
/// the delivery, sends, and records it sent, forgetting the outbox row of
/// exactly this text in the same batch (as `mailer/src/deliver.rs` does).
async fn mailer_gets(db: &Stepping<'_>, w: &World, who: &str, text: &str) {
    let claim = ledger::claim(db, &dk(KEY), &nk(KEY), "BOOKING_CREATED", who, 0, LEASE)
        .await
        .unwrap();
    let LedgerClaim::Claimed(lease) = claim else {
        w.note(format!("{who}:{claim:?}"));
        return;
    };
    step().await; // the SendGrid request
    w.email(who);
    let sent = Finish::Sent {
        status: 202,
        message_id: Some("msg"),
        recipients: 1,
    };
    let forget = outbox::delivered_statement(&nk(KEY), text);
    ledger::finish_with(db, &lease, sent, 0, vec![forget])
        .await
        .unwrap();
}

/// A minute run past the grace period: queues what the outbox holds and
/// forgets it.
async fn cron_run(db: &Stepping<'_>, w: &World) {
    let due = outbox::due(db, i64::MAX / 2, 10).await.unwrap();
    for r in &due {
        w.queued.borrow_mut().push(r.notification.clone());
    }
    outbox::sent_rows(db, &due).await.unwrap();
}

/// After the racers: the next minute run, and the queue delivering what it
/// holds to the mailer.
fn next_minute(db: &Sqlite, w: &World) {
    let stepping = Stepping { db };
    block_on(cron_run(&stepping, w));
    let queued: Vec<String> = w.queued.borrow_mut().drain(..).collect();
    for text in queued {
        block_on(mailer_gets(&stepping, w, "later", &text));
    }
}

/// The receiver's D1 batch for a request with claim `token`.
async fn record_as(db: &Stepping<'_>, w: &World, token: &str, now: i64) {
    let r = outbox::record(db, accept(token, "n", now)).await.unwrap();
    w.note(format!("{token}:{r:?}"));
}

#[test]
fn a_message_sent_with_its_record_is_emailed_once_in_every_order() {
    // D1's commit, the mailer's claim and forget, and a cron run, in every
    // order: the message may reach the mailer before its outbox row exists.
    let runs = every_interleaving(
        nothing,
        &[
            |db, w| boxed(record_as(db, w, "t1", 0)),
            |db, w| boxed(mailer_gets(db, w, "hot", "n")),
            |db, w| boxed(cron_run(db, w)),
        ],
        |db, w, schedule| {
            next_minute(db, w);
            assert_eq!(w.email_count(), 1, "{schedule:?}: {w:?}");
            assert!(
                outbox_rows(db).is_empty(),
                "{schedule:?}: a row left behind"
            );
            assert_eq!(db.rows("SELECT key FROM idempotency_keys").len(), 1);
        },
    );
    assert!(runs >= 10, "{runs} interleavings");
}

#[test]
fn a_duplicate_sent_with_its_record_is_never_emailed_again() {
    fn sent_before(db: &Sqlite) {
        block_on(async {
            outbox::record(db, accept("t1", "n", 0)).await.unwrap();
            let stepping = Stepping { db };
            mailer_gets(&stepping, &World::default(), "first", "n").await;
        });
    }
    let runs = every_interleaving(
        sent_before,
        &[
            |db, w| boxed(record_as(db, w, "t2", 5)),
            |db, w| boxed(mailer_gets(db, w, "dup", "n")),
        ],
        |db, w, schedule| {
            next_minute(db, w);
            assert_eq!(w.email_count(), 0, "{schedule:?}: {w:?}");
            assert!(w.notes.borrow().iter().any(|n| n == "t2:Duplicate"));
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn a_duplicate_of_an_event_waiting_in_the_outbox_emails_it_once() {
    // The first request's queue send failed: its row waits for the cron.
    fn waiting(db: &Sqlite) {
        block_on(outbox::record(db, accept("t1", "n", 0))).unwrap();
    }
    let runs = every_interleaving(
        waiting,
        &[
            |db, w| boxed(record_as(db, w, "t2", 5)),
            |db, w| boxed(mailer_gets(db, w, "dup", "n")),
            |db, w| boxed(cron_run(db, w)),
        ],
        |db, w, schedule| {
            next_minute(db, w);
            assert_eq!(w.email_count(), 1, "{schedule:?}: {w:?}");
            assert!(outbox_rows(db).is_empty(), "{schedule:?}");
        },
    );
    assert!(runs >= 10);
}

#[test]
fn the_cron_never_deletes_a_newer_record_of_the_same_key() {
    let db = Sqlite::migrated();
    block_on(async {
        outbox::record(&db, accept("t1", "old", 0)).await.unwrap();
        let due = outbox::due(&db, 10, 10).await.unwrap();
        // Meanwhile the key expired and the event came anew.
        db.exec("UPDATE idempotency_keys SET expires_at = 0");
        outbox::record(&db, accept("t2", "new", 20)).await.unwrap();
        outbox::sent_rows(&db, &due).await.unwrap();
    });
    assert_eq!(outbox_rows(&db)[0]["notification"], "new");
}

#[test]
fn the_cron_takes_the_oldest_first_a_page_at_a_time_and_counts_refusals() {
    let db = Sqlite::migrated();
    block_on(async {
        for i in 0..5 {
            let key = format!("k{i}");
            let (claim, notification) = (ck(&key), nk(&key));
            let a = Accept {
                key: &claim,
                change: None,
                notification_key: &notification,
                repeat: None,
                trigger: "T",
                token: &key,
                notification: "n",
                now_ms: 100 - i,
                ttl_ms: TTL,
            };
            outbox::record(&db, a).await.unwrap();
        }
        let page = outbox::due(&db, 1_000, 2).await.unwrap();
        assert_eq!(
            page.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            ["k4", "k3"]
        );
        outbox::refused(&db, &page).await.unwrap();
        let depth = outbox::depth(&db).await.unwrap();
        assert_eq!((depth.count, depth.oldest_created_at), (5, Some(96)));
        let listed = outbox::list(&db, 1_000, 10).await.unwrap();
        assert_eq!(listed[0].attempts, 1);
        // Refused rows go behind the rest: they cannot stall the outbox.
        let next = outbox::due(&db, 1_000, 2).await.unwrap();
        assert_eq!(
            next.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            ["k2", "k1"]
        );
    });
}

#[test]
fn pruning_racing_a_new_record_of_an_expired_key_never_deletes_it() {
    fn expired(db: &Sqlite) {
        db.exec(&format!(
            "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) VALUES ('{KEY}', 'done', 'old', 'T', 0, 1000, 0)"
        ));
    }
    let runs = every_interleaving(
        expired,
        &[
            |db, w| boxed(receive(db, w, "a", 5_000)),
            |db, w| {
                boxed(async move {
                    let n = claims::prune(db, 5_000).await.unwrap();
                    w.note(format!("pruned:{n}"));
                })
            },
        ],
        |db, w, schedule| {
            assert_eq!(w.queued.borrow().len(), 1, "{schedule:?}");
            let rows = db.rows("SELECT state, claim_token FROM idempotency_keys");
            assert_eq!(rows.len(), 1, "{schedule:?}");
            assert_eq!(rows[0]["claim_token"], "a");
        },
    );
    assert!(runs >= 3);
}

#[test]
fn pruning_deletes_expired_keys_and_old_sent_deliveries_only() {
    let db = Sqlite::migrated();
    db.exec(&format!(
        "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) VALUES ('old', 'done', 't', 'T', 0, 1000, 0), ('live', 'done', 't', 'T', 0, 99000, 0);
         INSERT INTO deliveries (key, state, trigger, updated_at) VALUES ('s', 'sent', 'T', 10), ('f', 'failed', 'T', 10), ('p', 'pending', 'T', 10), ('{KEY}', 'sent', 'T', 5000);"
    ));
    block_on(async {
        assert_eq!(claims::prune(&db, 2_000).await.unwrap(), 1);
        assert_eq!(ledger::prune_sent(&db, 2_000).await.unwrap(), 1);
    });
    assert_eq!(db.rows("SELECT key FROM deliveries").len(), 3);
}

// ------------------------------------------------------------------- KV

#[test]
fn kv_writes_each_event_once_so_its_one_write_per_second_limit_never_bites() {
    let store = RateLimitedKv::default();
    let mut sends = 0;
    let outcome = block_on(kv::deliver_once(&store, &ck(KEY), None, 3600, async || {
        sends += 1;
        Ok::<(), ()>(())
    }))
    .unwrap();
    assert_eq!(
        outcome,
        KvOutcome::Queued {
            read_error: None,
            write_error: None
        }
    );
    assert_eq!(store.writes.get(), 1);
    assert_eq!(
        store.refused_writes.get(),
        0,
        "no second write to the key within the second"
    );
    // A retry 200 ms later, within the same second, is a duplicate (a read, no write).
    store.now_ms.set(200);
    let again = block_on(kv::deliver_once(&store, &ck(KEY), None, 3600, async || {
        sends += 1;
        Ok::<(), ()>(())
    }))
    .unwrap();
    assert_eq!(again, KvOutcome::Duplicate);
    assert_eq!(sends, 1);
}

#[test]
fn kv_refusing_a_write_fails_open_to_the_ledger_instead_of_losing_the_event() {
    let store = RateLimitedKv::default();
    // Two copies of one event read before either wrote (two locations at once).
    let both = round_robin(
        kv::deliver_once(&store, &ck(KEY), None, 3600, async || Ok::<(), ()>(())),
        kv::deliver_once(&store, &ck(KEY), None, 3600, async || Ok::<(), ()>(())),
    );
    // Both were queued (the mailer's ledger sends one email); the second write was refused, not fatal.
    assert!(matches!(both.0, Ok(KvOutcome::Queued { .. })));
    assert!(matches!(
        both.1,
        Ok(KvOutcome::Queued {
            write_error: Some(_),
            ..
        })
    ));
    assert_eq!(store.refused_writes.get(), 1);
}

#[test]
fn kv_records_nothing_when_the_queue_refused_the_event() {
    let store = RateLimitedKv::default();
    let r = block_on(kv::deliver_once(&store, &ck(KEY), None, 3600, async || {
        Err::<(), _>("queue down")
    }));
    assert_eq!(r, Err("queue down"));
    assert_eq!(
        store.writes.get(),
        0,
        "a retry is not taken for a duplicate"
    );
}

#[test]
fn redriving_an_empty_page_runs_no_batch() {
    // D1 refuses an empty batch; the model executor asserts the same.
    let db = Sqlite::migrated();
    block_on(async {
        let page = Selection::Page {
            after: None,
            limit: 10,
        };
        let rows = dead_letters::select_for_redrive(&db, &page).await.unwrap();
        assert!(dead_letters::reset_for_redrive(&db, &rows, 1)
            .await
            .unwrap()
            .is_empty());
        dead_letters::forget(&db, &[]).await.unwrap();
    });
}

// ------------------------------------------------------------ the mailer forgets the outbox row

fn claimed(db: &Sqlite, token: &str) -> ledger::Lease {
    match block_on(ledger::claim(
        db,
        &dk("copy-1"),
        &NOTIFICATION,
        "BOOKING_CREATED",
        token,
        10,
        60_000,
    ))
    .unwrap()
    {
        LedgerClaim::Claimed(lease) => lease,
        other => panic!("not claimed: {other:?}"),
    }
}

#[test]
fn the_mailers_first_write_forgets_the_receivers_outbox_row() {
    let db = Sqlite::migrated();
    block_on(outbox::record(&db, accept("t1", "{\"n\":1}", 0))).unwrap();
    let lease = claimed(&db, "m1");
    let forget = outbox::delivered_statement(&nk(KEY), "{\"n\":1}");
    let done = block_on(ledger::finish_with(
        &db,
        &lease,
        Finish::Retry {
            status: Some(500),
            error: "SendGrid 500",
        },
        20,
        vec![forget],
    ))
    .unwrap();
    assert_eq!(done, Finished::Yes);
    assert!(
        outbox_rows(&db).is_empty(),
        "the queue has the message: the cron must not send it again"
    );
}

#[test]
fn another_version_of_the_outbox_row_is_kept() {
    let db = Sqlite::migrated();
    block_on(outbox::record(&db, accept("t1", "newer", 0))).unwrap();
    assert!(
        !block_on(outbox::delivered(&db, &NOTIFICATION, "older")).unwrap(),
        "an older message of the same key"
    );
    assert_eq!(outbox_rows(&db)[0]["notification"], "newer");
}

#[test]
fn the_outbox_row_is_forgotten_even_by_a_mailer_that_lost_its_lease() {
    let db = Sqlite::migrated();
    block_on(outbox::record(&db, accept("t1", "n", 0))).unwrap();
    let lease = claimed(&db, "m1");
    // Another consumer took the delivery over (the lease ran out) and finished it.
    db.exec("UPDATE deliveries SET claim_token = 'm2', state = 'sent' WHERE key = 'copy-1'");
    let done = block_on(ledger::finish_with(
        &db,
        &lease,
        Finish::Retry {
            status: None,
            error: "timeout",
        },
        20,
        vec![outbox::delivered_statement(&nk(KEY), "n")],
    ))
    .unwrap();
    assert_eq!(done, Finished::LostLease);
    assert!(
        outbox_rows(&db).is_empty(),
        "the message did reach a mailer either way"
    );
}

#[test]
fn a_row_set_aside_leaves_the_outbox_for_the_dead_letters_with_its_reason() {
    let db = Sqlite::migrated();
    block_on(async {
        let (claim, notification) = (ck("k"), nk("k"));
        let a = Accept {
            key: &claim,
            change: None,
            notification_key: &notification,
            repeat: None,
            trigger: "BOOKING_CREATED",
            token: "t",
            notification: "{\"v\":1}",
            now_ms: 5,
            ttl_ms: TTL,
        };
        outbox::record(&db, a).await.unwrap();
        let due = outbox::due(&db, 1_000, 10).await.unwrap();
        outbox::set_aside(&db, &[&due[0]], "queue refused it 10 times", 50)
            .await
            .unwrap();
        assert!(outbox_rows(&db).is_empty());
        let (listed, _) = dead_letters::list(&db, None, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "k");
        assert_eq!(
            listed[0].reason.as_deref(),
            Some("queue refused it 10 times")
        );
    });
}

#[test]
fn a_tenant_over_its_emails_per_hour_is_held_and_counted_until_the_next_hour() {
    use calhook_core::store::usage::{self, Reserved};
    let db = Sqlite::migrated();
    let hour = 3_600_000;
    block_on(async {
        for _ in 0..2 {
            assert_eq!(
                usage::reserve(&db, "acme", 2, 10).await.unwrap(),
                Reserved::Yes
            );
        }
        assert_eq!(
            usage::reserve(&db, "acme", 2, 20).await.unwrap(),
            Reserved::OverLimit { limit: 2 }
        );
        assert_eq!(
            usage::reserve(&db, "globex", 2, 20).await.unwrap(),
            Reserved::Yes,
            "another tenant is not starved"
        );
        let now = usage::this_hour(&db, "acme", 30).await.unwrap();
        assert_eq!((now.sent, now.held), (2, 1));
        assert_eq!(
            usage::reserve(&db, "acme", 2, hour + 1).await.unwrap(),
            Reserved::Yes
        );
    });
}

#[test]
fn the_status_counts_what_waits_failed_was_held_and_unexpected_versions() {
    use calhook_core::store::status;
    let db = Sqlite::migrated();
    block_on(async {
        dead_letters::keep(&db, KEY, Some("T"), "{}", 1)
            .await
            .unwrap();
        calhook_core::store::usage::reserve(&db, "acme", 1, 10)
            .await
            .unwrap();
        calhook_core::store::usage::reserve(&db, "acme", 1, 20)
            .await
            .unwrap();
        for at in [30, 40] {
            db.run(status::count_version("2027-01-01", at))
                .await
                .unwrap();
        }
        let s = status::status(&db, 50).await.unwrap();
        assert_eq!(s.dead_letters, 1);
        assert_eq!(
            (s.tenant_emails_this_hour, s.tenant_emails_held_this_hour),
            (1, 1)
        );
        assert_eq!(s.unexpected_payload_versions.len(), 1);
        let v = &s.unexpected_payload_versions[0];
        assert_eq!((v.seen, v.first_seen_at, v.last_seen_at), (2, 30, 40));
        assert_eq!(s.outbox.count, 0);
    });
}

#[test]
fn alert_candidates_split_a_refused_api_key_from_other_dead_letters_and_a_claim_is_taken_once() {
    use calhook_core::alerts::Trouble;
    use calhook_core::store::alerts;
    let db = Sqlite::migrated();
    db.exec(
        "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) VALUES \
           ('acme/BOOKING_CREATED:booking:a', 'T', '{}', '400 from SendGrid: bad', 10), \
           ('acme/BOOKING_CREATED:booking:b', 'T', '{}', '400 from SendGrid: bad', 20), \
           ('BOOKING_CREATED:booking:c', 'T', '{}', '401 from SendGrid: The provided authorization grant is invalid', 30);",
    );
    block_on(async {
        let mut c = alerts::candidates(&db, 100, 600_000).await.unwrap();
        c.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            (c[0].trouble, c[0].tenant.as_str()),
            (Trouble::SendgridKeyRefused, "")
        );
        assert_eq!(
            (c[1].trouble, c[1].count, c[1].newest_at),
            (Trouble::DeadLetters, 2, 20)
        );
        assert!(alerts::claim(&db, Trouble::DeadLetters, "acme", None, 100)
            .await
            .unwrap());
        assert!(
            !alerts::claim(&db, Trouble::DeadLetters, "acme", None, 101)
                .await
                .unwrap(),
            "a second run that read the same state sends nothing"
        );
        assert_eq!(
            alerts::last_sent(&db, Trouble::DeadLetters, "acme")
                .await
                .unwrap(),
            Some(100)
        );
    });
}

#[test]
fn emails_held_over_a_quota_are_an_alert_candidate_once_per_hour() {
    use calhook_core::alerts::{self, Trouble};
    use calhook_core::store::{alerts as store_alerts, usage};
    let db = Sqlite::migrated();
    let hour = 3_600_000;
    block_on(async {
        usage::reserve(&db, "acme", 1, hour + 10).await.unwrap();
        usage::reserve(&db, "acme", 1, hour + 20).await.unwrap();
        let c = store_alerts::candidates(&db, hour + 30, 600_000)
            .await
            .unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].trouble, c[0].tenant.as_str(), c[0].count),
            (Trouble::QuotaHeld, "acme", 1)
        );
        // Reported at hour + 30 min: more holds in the same hour are not news.
        let sent = hour + 1_800_000;
        assert!(!alerts::due(&c[0], Some(sent), 2 * hour - 1, 60_000));
    });
}
