//! Reconciling the booking ledger with Cal.com's API, run natively on SQLite
//! with the real `migrations/`: whichever comes first, a booking's webhook or
//! the reconcile run that finds its change, one email per change; a run that
//! stops halfway resumes without a gap or a repeat.

mod support;

use calhook_core::inbound::event::parse;
use calhook_core::ingest::{self, Plan, SendOrder};
use calhook_core::reconcile::api::{BookingsPage, CalApiError, CalBooking, Pagination};
use calhook_core::reconcile::{self, Asked, Bookings, Budget, Limits, Source};
use calhook_core::settings::{NotifyEvents, ReceiverSettings};
use calhook_core::store::outbox::{self, Recorded};
use calhook_core::store::reconcile as state;
use calhook_core::store::{Db, Statement, StoreError};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use support::*;

const UID: &str = "bFJeNb2uX8ANpT3JL5EfXw";
const NEW_UID: &str = "rs4Mn8KzQ1a";
/// 2026-11-20T09:40:00Z: ten minutes after the fixtures' events.
const NOW: i64 = 1_795_167_600_000;
const TTL: i64 = 7 * 24 * 3_600_000;
const LIMITS: Limits = Limits {
    page_size: 2,
    overlap_ms: 3_600_000,
    ttl_ms: TTL,
};

fn plenty() -> Budget {
    Budget {
        pages: 5,
        recoveries: 100,
    }
}

fn boxed<'a>(f: impl Future<Output = ()> + 'a) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(f)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(format!("{name}.json"));
    std::fs::read(path).unwrap()
}

/// The single route of a deployment that reconciles (`CAL_API_KEY` set).
fn settings() -> ReceiverSettings {
    let vars = [
        ("CAL_WEBHOOK_SECRET", "whsec"),
        ("CAL_API_KEY", "cal_live_k"),
        ("MAX_EVENT_AGE_SECONDS", "0"),
    ];
    ReceiverSettings::read(&|name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

/// A booking as Cal.com's API v2 (2024-08-13) answers it, the fixtures' one.
fn cal_booking(uid: &str, status: &str, updated: Option<&str>, extra: Value) -> CalBooking {
    let mut b = json!({"id": 91, "uid": uid, "title": "30 Min Meeting between Ada Lovelace and Grace Hopper",
        "status": status, "start": "2026-11-25T15:00:00.000Z", "end": "2026-11-25T15:30:00.000Z", "duration": 30,
        "hosts": [{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada", "timeZone": "Europe/London"}],
        "attendees": [{"name": "Grace Hopper", "email": "grace@example.org", "timeZone": "America/New_York", "language": "en", "absent": false}],
        "eventTypeId": 4, "eventType": {"id": 4, "slug": "30min"}, "location": "integrations:daily",
        "createdAt": "2026-11-20T09:30:00.000Z", "updatedAt": updated});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    serde_json::from_value(b).unwrap()
}

/// Cal.com's bookings list: changed at or after `after`, oldest first, paged.
struct Cal {
    bookings: Vec<CalBooking>,
    asked_from: RefCell<Vec<i64>>,
    /// Answers this instead of the page, once.
    refuse: Cell<Option<CalApiError>>,
}

impl Cal {
    fn new(mut bookings: Vec<CalBooking>) -> Self {
        bookings.sort_by_key(|b| b.changed_at());
        Self {
            bookings,
            asked_from: RefCell::default(),
            refuse: Cell::new(None),
        }
    }
}

impl Bookings for Cal {
    async fn page(&self, after: i64, take: u64, skip: u64) -> Result<BookingsPage, CalApiError> {
        self.asked_from.borrow_mut().push(after);
        if let Some(e) = self.refuse.take() {
            return Err(e);
        }
        let all: Vec<_> = self
            .bookings
            .iter()
            .filter(|b| b.changed_at().timestamp_millis() >= after)
            .collect();
        let data: Vec<CalBooking> = all
            .iter()
            .skip(skip as usize)
            .take(take as usize)
            .map(|b| (*b).clone())
            .collect();
        Ok(BookingsPage {
            pagination: Pagination {
                returned_items: data.len() as u64,
                has_next_page: (skip + take) < all.len() as u64,
            },
            data,
        })
    }
}

/// The receiver: a verified webhook, recorded as `ingest` plans it, and
/// queued at the same time.
async fn webhook(db: &impl Db, w: &World, name: &str) {
    let envelope = parse(&fixture(name)).unwrap();
    let s = settings();
    let Plan::Deliver(d) = ingest::plan(&envelope, None, &s, NOW).unwrap() else {
        panic!("{name} is delivered");
    };
    assert!(d.change.is_some(), "{name} claims its change");
    let token = format!("t-{name}");
    // Queued while D1 records it (one round trip): whatever D1 answers.
    assert_eq!(d.send, SendOrder::WithRecord, "{name}");
    w.queued.borrow_mut().push(d.key.to_string());
    if outbox::record_with(db, d.accept(&token, NOW), d.ledger_statements(NOW))
        .await
        .unwrap()
        == Recorded::New
    {
        w.note(format!("recorded by the webhook: {}", d.key));
    }
}

/// A run of the single route (emailing `notify`, or the default triggers)
/// against `cal`, within `left`.
async fn run_as(
    db: &impl Db,
    cal: &Cal,
    notify: Option<&str>,
    asked: Asked,
    left: &mut Budget,
) -> Result<reconcile::Run, StoreError> {
    let notify = NotifyEvents::parse(notify).unwrap();
    let last = state::get(db, state::SINGLE_ROUTE).await?;
    let source = Source {
        tenant: None,
        last: last.as_ref(),
        notify: &notify,
        key: reconcile::fingerprint("cal_live_k"),
    };
    reconcile::run_source(db, cal, &source, LIMITS, asked, left, NOW).await
}

/// A scheduled reconcile run of the single route against `cal`.
async fn reconcile_run(db: &impl Db, w: &World, cal: &Cal) -> reconcile::Run {
    let run = run_as(db, cal, None, Asked::Scheduled, &mut plenty())
        .await
        .unwrap();
    for (key, _) in &run.queued {
        w.queued.borrow_mut().push(key.to_string());
        w.note(format!("recorded by the run: {key}"));
    }
    run
}

/// How many times a change was recorded as new (its outbox row kept): once,
/// by whichever came first; the other is a duplicate.
fn recorded_once(w: &World, schedule: &[usize]) {
    let notes = w.notes.borrow();
    let recorded = notes
        .iter()
        .filter(|n| n.starts_with("recorded by"))
        .count();
    assert_eq!(recorded, 1, "{schedule:?}: {notes:?}");
}

/// The notifications that will be emailed: every key queued or left in the
/// outbox for the cron (the mailer's ledger sends a key once), by trigger.
fn emailed(db: &Sqlite, w: &World) -> Vec<(String, String)> {
    let mut keys: BTreeSet<String> = w.queued.borrow().iter().cloned().collect();
    keys.extend(
        db.rows("SELECT key FROM outbox")
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_owned()),
    );
    keys.into_iter()
        .map(|k| (k.split(':').next().unwrap().to_owned(), k))
        .collect()
}

fn triggers(db: &Sqlite, w: &World) -> Vec<String> {
    emailed(db, w).into_iter().map(|(t, _)| t).collect()
}

fn status(db: &Sqlite, uid: &str) -> String {
    db.rows(&format!("SELECT status FROM bookings WHERE uid = '{uid}'"))[0]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn created_before(db: &Sqlite) {
    let w = World::default();
    block_on(webhook(db, &w, "booking_created"));
    db.exec("DELETE FROM outbox");
}

// ------------------------------------------------ every order of (webhook, reconcile)

fn cal_created() -> Cal {
    Cal::new(vec![cal_booking(UID, "accepted", None, json!({}))])
}

fn cal_cancelled() -> Cal {
    Cal::new(vec![cal_booking(
        UID,
        "cancelled",
        Some("2026-11-20T09:35:00.000Z"),
        json!({"cancellationReason": "Conflict", "cancelledByEmail": "grace@example.org"}),
    )])
}

fn cal_rescheduled() -> Cal {
    Cal::new(vec![
        cal_booking(
            UID,
            "cancelled",
            Some("2026-11-20T09:35:00.000Z"),
            json!({"rescheduledToUid": NEW_UID, "cancellationReason": "Rescheduled"}),
        ),
        cal_booking(
            NEW_UID,
            "accepted",
            Some("2026-11-20T09:35:00.100Z"),
            json!({"id": 93, "start": "2026-11-26T16:00:00.000Z", "end": "2026-11-26T16:30:00.000Z",
                "rescheduledFromUid": UID, "createdAt": "2026-11-20T09:35:00.100Z"}),
        ),
    ])
}

/// The webhook and the reconcile run (`actors`) under every interleaving:
/// one email, of `trigger`, the change recorded once, and the ledger's
/// `statuses` after.
fn once_in_every_order(
    setup: fn(&Sqlite),
    actors: &[Actor],
    trigger: &str,
    statuses: &[(&str, &str)],
) {
    let runs = every_interleaving(setup, actors, |db, w, schedule| {
        assert_eq!(triggers(db, w), [trigger], "{schedule:?}");
        recorded_once(w, schedule);
        for (uid, expected) in statuses {
            assert_eq!(status(db, uid), *expected);
        }
    });
    assert!(runs >= 4, "{runs} interleavings");
}

#[test]
fn a_created_booking_is_emailed_once_whether_its_webhook_or_the_reconcile_run_comes_first() {
    once_in_every_order(
        |_| {},
        &[
            |db, w| boxed(webhook(db, w, "booking_created")),
            |db, w| boxed(async move { drop(reconcile_run(db, w, &cal_created()).await) }),
        ],
        "BOOKING_CREATED",
        &[(UID, "accepted")],
    );
}

#[test]
fn a_cancellation_is_emailed_once_whether_its_webhook_or_the_reconcile_run_comes_first() {
    once_in_every_order(
        created_before,
        &[
            |db, w| boxed(webhook(db, w, "booking_cancelled")),
            |db, w| boxed(async move { drop(reconcile_run(db, w, &cal_cancelled()).await) }),
        ],
        "BOOKING_CANCELLED",
        &[(UID, "cancelled")],
    );
}

#[test]
fn a_reschedule_is_emailed_once_whether_its_webhook_or_the_reconcile_run_comes_first() {
    // Not a cancellation of the old booking: its news is the reschedule.
    once_in_every_order(
        created_before,
        &[
            |db, w| boxed(webhook(db, w, "booking_rescheduled")),
            |db, w| boxed(async move { drop(reconcile_run(db, w, &cal_rescheduled()).await) }),
        ],
        "BOOKING_RESCHEDULED",
        &[(UID, "rescheduled"), (NEW_UID, "accepted")],
    );
}

#[test]
fn a_booking_created_and_cancelled_while_no_webhook_arrived_is_emailed_both_ways_once() {
    let db = Sqlite::migrated();
    let w = World::default();
    let run = block_on(reconcile_run(&db, &w, &cal_cancelled()));
    assert_eq!(run.state.recovered, 2);
    assert_eq!(triggers(&db, &w), ["BOOKING_CANCELLED", "BOOKING_CREATED"]);
    assert_eq!(status(&db, UID), "cancelled");
    // The webhooks arrive late after all: duplicates.
    block_on(webhook(&db, &w, "booking_created"));
    block_on(webhook(&db, &w, "booking_cancelled"));
    block_on(reconcile_run(&db, &w, &cal_cancelled()));
    assert_eq!(emailed(&db, &w).len(), 2, "{:?}", emailed(&db, &w));
}

#[test]
fn a_recovered_notification_is_marked_recovered_with_the_time_of_the_change() {
    let db = Sqlite::migrated();
    let w = World::default();
    let run = block_on(reconcile_run(&db, &w, &cal_cancelled()));
    let (_, cancelled) = run
        .queued
        .iter()
        .find(|(k, _)| k.as_str().starts_with("BOOKING_CANCELLED"))
        .unwrap();
    let n: Value = serde_json::from_str(cancelled).unwrap();
    assert_eq!(n["created_at"], "2026-11-20T09:35:00.000Z");
    assert_eq!(n["facts"]["recovered"], "2026-11-20T09:35:00Z");
    assert_eq!(n["facts"]["reason"], "Conflict");
    let timeline = db.rows(&format!(
        "SELECT trigger, outcome FROM booking_events WHERE uid = '{UID}' ORDER BY sent_at"
    ));
    assert_eq!(timeline[0]["outcome"], "recovered");
    assert_eq!(timeline[1]["trigger"], "BOOKING_CANCELLED");
}

#[test]
fn a_booking_the_ledger_already_has_costs_no_write() {
    let db = Sqlite::migrated();
    created_before(&db);
    let w = World::default();
    let run = block_on(reconcile_run(&db, &w, &cal_created()));
    assert_eq!((run.state.checked, run.state.recovered), (1, 0));
    assert!(emailed(&db, &w).is_empty());
}

// ------------------------------------------------ marks, budgets, refusals

/// Six bookings Cal.com has and the ledger does not, changed a minute apart.
fn six_unknown() -> Cal {
    Cal::new(
        (0..6)
            .map(|i| {
                cal_booking(
                    &format!("u{i}"),
                    "accepted",
                    Some(&format!("2026-11-20T09:3{i}:00.000Z")),
                    json!({"id": i}),
                )
            })
            .collect(),
    )
}

/// A database whose `batch` fails from the `n`th call on (a crash halfway).
struct CrashingAt<'a> {
    db: &'a Sqlite,
    n: usize,
    calls: Cell<usize>,
}

impl Db for CrashingAt<'_> {
    async fn first<T: DeserializeOwned>(&self, s: Statement) -> Result<Option<T>, StoreError> {
        self.db.first(s).await
    }
    async fn all<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>, StoreError> {
        self.db.all(s).await
    }
    async fn run(&self, s: Statement) -> Result<u64, StoreError> {
        self.db.run(s).await
    }
    async fn batch(&self, s: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        self.calls.set(self.calls.get() + 1);
        match self.calls.get() >= self.n {
            true => Err(StoreError::Unavailable("the isolate died".into())),
            false => self.db.batch(s).await,
        }
    }
    async fn batch_rows<T: DeserializeOwned>(
        &self,
        s: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError> {
        self.db.batch_rows(s).await
    }
}

#[test]
fn a_run_that_crashes_halfway_resumes_without_a_gap_or_a_repeat() {
    for crash_at in 1..=6 {
        let db = Sqlite::migrated();
        let w = World::default();
        let cal = six_unknown();
        let crashing = CrashingAt {
            db: &db,
            n: crash_at,
            calls: Cell::new(0),
        };
        let crashed = block_on(run_as(
            &crashing,
            &cal,
            None,
            Asked::Scheduled,
            &mut plenty(),
        ));
        assert!(crashed.is_err(), "crash at {crash_at}");
        // What it had recorded is in the outbox; the next run does the rest.
        block_on(reconcile_run(&db, &w, &cal));
        let keys = emailed(&db, &w);
        let uids: BTreeSet<_> = keys
            .iter()
            .map(|(_, k)| k.rsplit(':').next().unwrap().to_owned())
            .collect();
        assert_eq!(keys.len(), 6, "crash at {crash_at}: {keys:?}");
        assert_eq!(uids.len(), 6, "crash at {crash_at}: {keys:?}");
    }
}

#[test]
fn the_next_run_reads_from_the_mark_minus_the_overlap() {
    let db = Sqlite::migrated();
    let w = World::default();
    let cal = six_unknown();
    let run = block_on(reconcile_run(&db, &w, &cal));
    // It read everything Cal.com had: the mark is the run's time.
    assert_eq!(run.state.mark_at, Some(NOW));
    assert_eq!(run.state.checked, 6);
    let again = Cal::new(cal.bookings.clone());
    block_on(reconcile_run(&db, &w, &again));
    assert_eq!(again.asked_from.borrow()[0], NOW - LIMITS.overlap_ms);
    assert_eq!(emailed(&db, &w).len(), 6);
}

#[test]
fn a_run_out_of_recoveries_stops_before_the_next_change_and_says_more_is_waiting() {
    let db = Sqlite::migrated();
    let mut left = Budget {
        pages: 5,
        recoveries: 4,
    };
    let run = block_on(run_as(
        &db,
        &six_unknown(),
        None,
        Asked::Scheduled,
        &mut left,
    ))
    .unwrap();
    assert!(run.state.more);
    assert_eq!((run.state.recovered, left.recoveries), (4, 0));
    // The mark is the fourth booking's change (09:33), not the sixth's.
    assert_eq!(run.state.mark_at, Some(1_795_167_180_000));
    assert!(reconcile::due(Some(&run.state), 15 * 60_000, NOW + 60_000));
    let saved = block_on(state::get(&db, "")).unwrap().unwrap();
    assert!(saved.more, "kept for the next minute");
}

#[test]
fn a_source_is_due_every_interval_and_first_of_all_when_it_never_ran() {
    let ran = state::SourceState {
        last_run_at: Some(NOW),
        ..Default::default()
    };
    assert!(reconcile::due(None, 900_000, NOW));
    assert!(!reconcile::due(Some(&ran), 900_000, NOW + 899_999));
    assert!(reconcile::due(Some(&ran), 900_000, NOW + 900_000));
}

#[test]
fn a_run_that_read_everything_marks_now_so_a_quiet_source_leaves_no_gap() {
    let db = Sqlite::migrated();
    let w = World::default();
    let run = block_on(reconcile_run(&db, &w, &Cal::new(Vec::new())));
    assert_eq!(run.state.mark_at, Some(NOW));
    let run = block_on(reconcile_run(&db, &w, &six_unknown()));
    assert_eq!(run.state.mark_at, Some(NOW), "never behind what was read");
}

#[test]
fn a_run_out_of_pages_keeps_the_mark_of_what_it_read_and_the_next_run_goes_on() {
    let db = Sqlite::migrated();
    let w = World::default();
    let mut left = Budget {
        pages: 1,
        recoveries: 100,
    };
    let cal = six_unknown();
    let run = block_on(run_as(&db, &cal, None, Asked::Scheduled, &mut left)).unwrap();
    assert!(run.state.more);
    assert_eq!((run.state.checked, run.state.recovered), (2, 2));
    // 09:31, the second booking's change.
    assert_eq!(run.state.mark_at, Some(1_795_167_060_000));
    block_on(reconcile_run(&db, &w, &cal));
    assert_eq!(emailed(&db, &w).len(), 6, "each booking once");
}

#[test]
fn a_rate_limited_source_keeps_its_mark_and_waits_for_the_next_run() {
    let db = Sqlite::migrated();
    let w = World::default();
    block_on(reconcile_run(&db, &w, &six_unknown()));
    let mark = block_on(state::get(&db, "")).unwrap().unwrap().mark_at;
    let cal = six_unknown();
    cal.refuse.set(Some(CalApiError::RateLimited));
    let run = block_on(reconcile_run(&db, &w, &cal));
    assert_eq!(
        cal.asked_from.borrow().len(),
        1,
        "no second request after a 429"
    );
    assert_eq!(run.state.mark_at, mark);
    assert!(run.state.error.unwrap().contains("429"));
}

#[test]
fn a_refused_key_is_reported_and_not_tried_again_until_it_changes() {
    let db = Sqlite::migrated();
    let w = World::default();
    let cal = six_unknown();
    cal.refuse
        .set(Some(CalApiError::KeyRefused { status: 401 }));
    let run = block_on(reconcile_run(&db, &w, &cal));
    assert_eq!(
        run.state.refused_key,
        Some(reconcile::fingerprint("cal_live_k"))
    );
    assert_eq!(run.state.refused_at, Some(NOW));
    // It is alerted, once per occurrence.
    let candidates = block_on(calhook_core::store::alerts::candidates(&db, NOW, 600_000)).unwrap();
    let refused = candidates
        .iter()
        .find(|c| c.trouble == calhook_core::alerts::Trouble::ReconcileKeyRefused)
        .expect("an alert candidate");
    assert_eq!((refused.tenant.as_str(), refused.newest_at), ("", NOW));
    // The next scheduled run does not ask Cal.com with the same key.
    block_on(reconcile_run(&db, &w, &cal));
    assert_eq!(cal.asked_from.borrow().len(), 1);
    // A manual run does, and a key that reads again is no longer refused.
    let mut left = plenty();
    let run = block_on(run_as(
        &db,
        &cal,
        None,
        Asked::Manual { since_ms: None },
        &mut left,
    ))
    .unwrap();
    assert_eq!(run.state.refused_key, None);
    assert_eq!(run.state.recovered, 6);
}

#[test]
fn a_change_not_in_notify_events_reaches_the_ledger_without_an_email() {
    let db = Sqlite::migrated();
    created_before(&db);
    let mut left = plenty();
    let run = block_on(run_as(
        &db,
        &cal_cancelled(),
        Some("BOOKING_CREATED"),
        Asked::Scheduled,
        &mut left,
    ))
    .unwrap();
    assert!(run.queued.is_empty());
    assert!(db.rows("SELECT key FROM outbox").is_empty());
    assert_eq!(status(&db, UID), "cancelled");
}

#[test]
fn a_recovered_booking_costs_no_more_statements_than_the_run_budget_counts() {
    use calhook_core::jobs::{RECONCILE_PAGE, RECONCILE_RECOVERY};
    // Created and cancelled while no webhook arrived, one attendee: the
    // costliest recovery of a booking (two changes, the ledger's rows).
    let db = Sqlite::migrated();
    db.statements.set(0);
    let run = block_on(reconcile_run(&db, &World::default(), &cal_cancelled()));
    assert_eq!(run.state.recovered, 2);
    let counted = db.statements.get() as u32;
    assert!(
        counted <= RECONCILE_PAGE.queries + RECONCILE_RECOVERY.queries,
        "{counted} statements"
    );
    // A booking the ledger already has costs only its page's read.
    db.statements.set(0);
    block_on(reconcile_run(&db, &World::default(), &cal_cancelled()));
    assert!(db.statements.get() as u32 <= RECONCILE_PAGE.queries);
}
