//! What one page of the minute job's drains costs an invocation, counted on
//! SQLite (D1 is SQLite): statements (D1 counts each as a query), round
//! trips and `sendBatch` calls (subrequests). `jobs::OUTBOX_PAGE` and
//! `jobs::REMINDER_PAGE` are the budget a run is planned with; these tests
//! hold the code to it at a page's full size.

mod support;

use calhook_core::deliver::batches;
use calhook_core::jobs::{Cost, OUTBOX_PAGE, REMINDER_PAGE};
use calhook_core::store::outbox::{self, Accept};
use calhook_core::store::reminders::{self, Kind};
use calhook_core::store::{ClaimKey, Db, NotificationKey, Statement, StoreError};
use serde::de::DeserializeOwned;
use std::cell::Cell;
use support::*;

const PAGE: u32 = 100;
const MINUTE: i64 = 60_000;
const NOW: i64 = 1_795_618_800_000;

/// Counts round trips to the database; the SQLite under it counts statements.
struct Counted<'a> {
    db: &'a Sqlite,
    round_trips: Cell<u32>,
}

impl<'a> Counted<'a> {
    /// Counts from zero what runs on `db` from here on.
    fn from_now_on(db: &'a Sqlite) -> Self {
        db.statements.set(0);
        Counted {
            db,
            round_trips: Cell::new(0),
        }
    }

    fn trip(&self) {
        self.round_trips.set(self.round_trips.get() + 1);
    }
}

impl Db for Counted<'_> {
    async fn first<T: DeserializeOwned>(&self, s: Statement) -> Result<Option<T>, StoreError> {
        self.trip();
        self.db.first(s).await
    }
    async fn all<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>, StoreError> {
        self.trip();
        self.db.all(s).await
    }
    async fn run(&self, s: Statement) -> Result<u64, StoreError> {
        self.trip();
        self.db.run(s).await
    }
    async fn batch(&self, s: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        self.trip();
        self.db.batch(s).await
    }
    async fn batch_rows<T: DeserializeOwned>(
        &self,
        s: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError> {
        self.trip();
        self.db.batch_rows(s).await
    }
}

/// What a page cost, as the plan counts it.
fn cost(db: &Counted, sends: usize) -> Cost {
    Cost {
        queries: db.db.statements.get() as u32,
        subrequests: db.round_trips.get() + sends as u32,
    }
}

/// A notification of about the size a real one has (1.5 KB).
fn notification(i: u32) -> String {
    format!(
        "{{\"v\":1,\"key\":\"BOOKING_CREATED:booking:u{i}\",\"facts\":\"{}\"}}",
        "x".repeat(1_500)
    )
}

fn record_outbox_rows(db: &Sqlite, n: u32) {
    block_on(async {
        for i in 0..n {
            let key = format!("BOOKING_CREATED:booking:u{i}");
            let (claim, nkey) = (ClaimKey::new(&key), NotificationKey::new(&key));
            let text = notification(i);
            let a = Accept {
                key: &claim,
                change: None,
                notification_key: &nkey,
                repeat: None,
                trigger: "BOOKING_CREATED",
                token: "t",
                notification: &text,
                now_ms: i as i64,
                ttl_ms: 7 * 86_400_000,
            };
            outbox::record(db, a).await.unwrap();
        }
    });
}

#[test]
fn an_outbox_page_of_a_hundred_costs_two_statements_and_one_send() {
    let sqlite = Sqlite::migrated();
    record_outbox_rows(&sqlite, 250);
    let db = Counted::from_now_on(&sqlite);
    let sends = block_on(async {
        let due = outbox::due(&db, NOW, PAGE).await.unwrap();
        assert_eq!(due.len(), PAGE as usize);
        let split = batches::split(due.iter().map(|r| (r.notification.as_str(), false)));
        outbox::sent_rows(&db, &due).await.unwrap();
        split.batches.len()
    });
    let page = cost(&db, sends);
    assert_eq!(sends, 1, "100 rows of 1.5 KB are one sendBatch");
    assert_eq!(page.queries, 2);
    assert!(page.fits(OUTBOX_PAGE), "{page:?} within {OUTBOX_PAGE:?}");
    let left = sqlite.rows("SELECT COUNT(*) AS n FROM outbox")[0]["n"].clone();
    assert_eq!(left, 150, "exactly the page's rows were forgotten");
}

#[test]
fn forgetting_a_page_keeps_a_row_recorded_anew_since_it_was_read() {
    let db = Sqlite::migrated();
    record_outbox_rows(&db, 3);
    let due = block_on(outbox::due(&db, NOW, PAGE)).unwrap();
    db.exec("UPDATE outbox SET created_at = 99 WHERE key = 'BOOKING_CREATED:booking:u1'");
    block_on(outbox::sent_rows(&db, &due)).unwrap();
    let left = db.rows("SELECT key FROM outbox");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["key"], "BOOKING_CREATED:booking:u1");
}

#[test]
fn a_refused_page_counts_and_sets_aside_in_one_statement_each() {
    let db = Sqlite::migrated();
    record_outbox_rows(&db, 120);
    let due = block_on(outbox::due(&db, NOW, PAGE)).unwrap();
    db.statements.set(0);
    block_on(outbox::refused(&db, &due)).unwrap();
    assert_eq!(db.statements.get(), 1);
    let refs: Vec<_> = due.iter().collect();
    block_on(outbox::set_aside(&db, &refs, "refused", NOW)).unwrap();
    assert_eq!(db.statements.get(), 3);
    assert_eq!(
        db.rows("SELECT COUNT(*) AS n FROM dead_letters")[0]["n"],
        100
    );
    assert_eq!(db.rows("SELECT COUNT(*) AS n FROM outbox")[0]["n"], 20);
    assert_eq!(
        db.rows("SELECT MIN(attempts) AS a FROM outbox")[0]["a"],
        0,
        "rows outside the page were not counted"
    );
}

/// `n` accepted bookings starting an hour from `NOW`, seen a day before.
fn bookings_due_a_reminder(db: &Sqlite, n: u32) {
    for i in 0..n {
        db.exec(&format!(
            "INSERT INTO bookings (uid, status, status_rank, status_at, title, start_at, end_at, \
               facts_at, first_seen_at, updated_at) \
             VALUES ('b{i:04}', 'accepted', 0, 0, 'Intro {i}', {start}, {end}, 0, {seen}, 0)",
            start = NOW + 60 * MINUTE,
            end = NOW + 90 * MINUTE,
            seen = NOW - 1_440 * MINUTE,
        ));
    }
}

#[test]
fn a_reminder_page_of_a_hundred_costs_three_statements_in_two_round_trips() {
    let sqlite = Sqlite::migrated();
    bookings_due_a_reminder(&sqlite, 250);
    let db = Counted::from_now_on(&sqlite);
    let (claimed, sends) = block_on(async {
        let due = reminders::due_reminders(&db, NOW, &[60], PAGE)
            .await
            .unwrap();
        let decisions = reminders::decide(due, Kind::Reminder);
        let claimed = reminders::claim(&db, &decisions, "run-1", NOW)
            .await
            .unwrap();
        let split = batches::split(claimed.iter().map(|(_, m)| (m.as_str(), false)));
        (claimed.len(), split.batches.len())
    });
    let page = cost(&db, sends);
    assert_eq!(claimed, PAGE as usize);
    assert_eq!(page.queries, 3);
    assert_eq!(db.round_trips.get(), 2);
    assert!(
        page.fits(REMINDER_PAGE),
        "{page:?} within {REMINDER_PAGE:?}"
    );
    assert_eq!(
        sqlite.rows("SELECT COUNT(*) AS n FROM outbox")[0]["n"],
        100,
        "each claimed reminder waits in the outbox until the mailer has it"
    );
    // The next page is the next hundred: nothing claimed twice.
    let next = block_on(reminders::due_reminders(&sqlite, NOW, &[60], PAGE)).unwrap();
    assert_eq!(next.len(), 100);
    assert!(next.iter().all(|d| d.uid.as_str() >= "b0100"));
}

#[test]
fn a_reminder_page_claimed_by_another_run_first_queues_nothing() {
    let db = Sqlite::migrated();
    bookings_due_a_reminder(&db, 5);
    let due = block_on(reminders::due_reminders(&db, NOW, &[60], PAGE)).unwrap();
    let decisions = reminders::decide(due, Kind::Reminder);
    let first = block_on(reminders::claim(&db, &decisions, "run-1", NOW)).unwrap();
    let second = block_on(reminders::claim(&db, &decisions, "run-2", NOW)).unwrap();
    assert_eq!(first.len(), 5);
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(db.rows("SELECT COUNT(*) AS n FROM outbox")[0]["n"], 5);
}
