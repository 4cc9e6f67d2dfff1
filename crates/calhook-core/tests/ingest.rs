//! The receiver's decision (`calhook_core::ingest`), one row each: what a
//! verified event from Cal.com (its real shapes, `tests/fixtures/`) plans,
//! and what each outcome of D1 and the queue answers.

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::inbound::event::{parse, Envelope};
use calhook_core::inbound::signature::WebhookSecrets;
use calhook_core::ingest::{self, Delivery, Plan, SendOrder, Settled, Tenant};
use calhook_core::settings::{NotifyEvents, ReceiverSettings};
use calhook_core::store::kv::KvOutcome;
use calhook_core::store::outbox::Recorded;
use calhook_core::store::StoreError;
use calhook_core::tenants::{TenantId, TenantRefusal};
use serde_json::Value;
use std::path::Path;

const SECRET: &str = "whsec-test-secret-0123456789";

fn fixture(name: &str) -> Envelope {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(format!("{name}.json"));
    parse(&std::fs::read(path).unwrap()).unwrap()
}

fn settings(vars: &[(&str, &str)]) -> ReceiverSettings {
    let mut all = vec![
        ("CAL_WEBHOOK_SECRET", SECRET),
        // Fixtures carry fixed dates: replay checks get their own row.
        ("MAX_EVENT_AGE_SECONDS", "0"),
    ];
    all.extend_from_slice(vars);
    ReceiverSettings::read(&|name: &str| {
        all.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn now() -> i64 {
    1_780_000_000_000
}

fn plan(name: &str, s: &ReceiverSettings) -> Plan {
    ingest::plan(&fixture(name), None, s, now()).unwrap()
}

fn answered(plan: Plan) -> Value {
    match plan {
        Plan::Answer(a) => a.body().clone(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn delivery(name: &str) -> Delivery {
    match plan(name, &settings(&[])) {
        Plan::Deliver(d) => *d,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

fn body(settled: &Settled) -> &Value {
    settled.answer.as_ref().map(Accepted::body).unwrap()
}

fn down(what: &'static str) -> ApiError {
    ApiError::Unavailable {
        what,
        detail: "down".into(),
    }
}

fn d1_down() -> Result<Recorded, ApiError> {
    Err(StoreError::Unavailable("D1 is down".into()).into())
}

#[test]
fn a_ping_is_answered_pong_and_nothing_is_recorded() {
    let body = answered(plan("ping", &settings(&[])));
    assert_eq!(body["status"], "pong");
}

#[test]
fn an_event_in_notify_events_is_claimed_and_queued_with_its_keys() {
    let d = delivery("booking_created");
    assert_eq!(d.trigger, "BOOKING_CREATED");
    assert!(d.claim.as_str().starts_with("BOOKING_CREATED:"));
    assert!(d.message.contains(d.key.as_str()));
    assert!(!d.booking_updates.is_empty(), "the ledger learns of it");
}

#[test]
fn an_event_left_out_of_notify_events_only_updates_the_booking_ledger() {
    let s = settings(&[("NOTIFY_EVENTS", "BOOKING_CREATED")]);
    match plan("booking_cancelled", &s) {
        Plan::LedgerOnly { updates, answer } => {
            assert!(updates.iter().all(|u| !u.emailed));
            assert_eq!(answer.body()["status"], "ignored");
            assert_eq!(answer.body()["reason"], "not in NOTIFY_EVENTS");
        }
        other => panic!("expected the ledger alone, got {other:?}"),
    }
}

#[test]
fn an_event_left_out_that_the_ledger_does_not_track_is_only_answered() {
    let s = settings(&[("NOTIFY_EVENTS", "BOOKING_CREATED")]);
    let body = answered(plan("form_submitted", &s));
    assert_eq!(body["reason"], "not in NOTIFY_EVENTS");
}

#[test]
fn an_unknown_trigger_is_ignored_not_refused() {
    let body =
        br#"{"triggerEvent":"SOMETHING_NEW","createdAt":"2026-01-01T00:00:00.000Z","payload":{}}"#;
    let envelope = parse(body).unwrap();
    let plan = ingest::plan(&envelope, None, &settings(&[]), now()).unwrap();
    assert_eq!(answered(plan)["status"], "ignored");
}

#[test]
fn a_stale_event_is_refused_before_anything_is_recorded() {
    let s = settings(&[("MAX_EVENT_AGE_SECONDS", "3600")]);
    let err = ingest::plan(&fixture("booking_created"), None, &s, now()).unwrap_err();
    assert_eq!((err.status(), err.outcome()), (401, "stale"));
}

#[test]
fn a_tenants_keys_are_its_own_and_its_message_names_it() {
    let tenant = Tenant {
        id: TenantId::parse("acme").unwrap(),
        secrets: None,
        notify: NotifyEvents::parse(None).unwrap(),
        reconciles: false,
    };
    let single = delivery("booking_created");
    let Plan::Deliver(own) = ingest::plan(
        &fixture("booking_created"),
        Some(&tenant),
        &settings(&[]),
        now(),
    )
    .unwrap() else {
        panic!("expected a delivery")
    };
    assert_ne!(own.claim, single.claim);
    assert!(own.claim.as_str().starts_with("acme/"));
    assert!(own.message.contains("\"tenant\":\"acme\""));
}

#[test]
fn a_tenant_without_a_secret_refuses_and_never_falls_back_to_the_single_secret() {
    let tenant = Tenant {
        id: TenantId::parse("acme").unwrap(),
        secrets: None,
        notify: NotifyEvents::parse(None).unwrap(),
        reconciles: false,
    };
    let s = settings(&[]);
    let err = ingest::secrets(Some(Ok(&tenant)), &s, Some(&"0".repeat(64))).unwrap_err();
    assert_eq!(err.status(), 401);
    assert_eq!(err.outcome(), "no_secret");
    let with = Tenant {
        secrets: WebhookSecrets::from_list(vec![SECRET.into()]),
        ..tenant
    };
    assert!(ingest::secrets(Some(Ok(&with)), &s, None).is_ok());
}

#[test]
fn an_unknown_tenant_is_refused_exactly_as_a_known_one_with_a_wrong_signature() {
    let known = Tenant {
        id: TenantId::parse("acme").unwrap(),
        secrets: WebhookSecrets::from_list(vec![SECRET.into()]),
        notify: NotifyEvents::parse(None).unwrap(),
        reconciles: false,
    };
    let s = settings(&[]);
    let body = b"{}";
    for header in [
        None,
        Some("zz"),
        Some("no-secret-provided"),
        Some(&*"ab".repeat(32)),
    ] {
        let wrong = ingest::secrets(Some(Ok(&known)), &s, header)
            .unwrap()
            .verify(header, body)
            .map_err(ApiError::from)
            .unwrap_err();
        for why in [TenantRefusal::Unknown, TenantRefusal::Disabled] {
            let refused = ingest::secrets(Some(Err(why)), &s, header).err().unwrap();
            assert_eq!(
                (refused.status(), refused.body()),
                (wrong.status(), wrong.body()),
                "{header:?}"
            );
            assert_eq!(refused.outcome(), why.outcome(), "the log still says why");
        }
    }
}

#[test]
fn the_single_route_without_cal_webhook_secret_is_misconfigured() {
    let s = settings(&[("CAL_WEBHOOK_SECRET", "")]);
    assert_eq!(ingest::secrets(None, &s, None).unwrap_err().status(), 500);
}

#[test]
fn d1_new_and_queue_ok_answers_queued() {
    let d = delivery("booking_created");
    let settled = ingest::settle_d1(&d, Ok(Recorded::New), Some(Ok(())));
    assert_eq!(body(&settled)["status"], "queued");
    assert_eq!(body(&settled)["key"], d.key.as_str());
    assert!(settled.note.is_none());
}

#[test]
fn d1_duplicate_answers_duplicate_and_sends_nothing() {
    let d = delivery("booking_created");
    assert!(!ingest::sends_after(&Ok(Recorded::Duplicate)));
    let settled = ingest::settle_d1(&d, Ok(Recorded::Duplicate), None);
    assert_eq!(body(&settled)["status"], "duplicate");
}

#[test]
fn d1_new_and_queue_refused_answers_accepted_for_the_outbox_cron() {
    let d = delivery("booking_created");
    assert!(ingest::sends_after(&Ok(Recorded::New)));
    let settled = ingest::settle_d1(&d, Ok(Recorded::New), Some(Err(down("queue"))));
    assert_eq!(body(&settled)["status"], "accepted");
    assert!(settled.note.unwrap().contains("kept in the outbox"));
}

#[test]
fn d1_down_and_queue_ok_answers_queued_unrecorded() {
    let d = delivery("booking_created");
    assert!(ingest::sends_after(&d1_down()));
    let settled = ingest::settle_d1(&d, d1_down(), Some(Ok(())));
    assert_eq!(body(&settled)["status"], "queued");
    assert_eq!(body(&settled)["recorded"], false);
    assert!(settled.note.unwrap().contains("D1 failed"));
}

#[test]
fn d1_down_and_queue_refused_answers_503_and_logs_the_loss() {
    let d = delivery("booking_created");
    let settled = ingest::settle_d1(&d, d1_down(), Some(Err(down("queue"))));
    let err = settled.answer.unwrap_err();
    assert_eq!(err.status(), 503);
    assert_eq!(err.header(), Some(("Retry-After", "5")));
    assert!(settled.note.unwrap().starts_with("LOST"));
}

#[test]
fn kv_duplicate_answers_duplicate() {
    let d = delivery("booking_created");
    let settled = ingest::settle_kv(&d, Ok(KvOutcome::Duplicate));
    assert_eq!(body(&settled)["status"], "duplicate");
}

#[test]
fn kv_failing_lets_the_event_through_to_the_mailers_ledger_and_says_so() {
    let d = delivery("booking_created");
    let outcome = KvOutcome::Queued {
        read_error: Some(StoreError::Unavailable("kv".into())),
        write_error: None,
    };
    let settled = ingest::settle_kv(&d, Ok(outcome));
    assert_eq!(body(&settled)["status"], "queued");
    assert!(settled.note.unwrap().contains("KV failed"));
}

#[test]
fn kv_with_the_queue_refusing_answers_503() {
    let d = delivery("booking_created");
    let settled = ingest::settle_kv(&d, Err(down("queue")));
    assert_eq!(settled.answer.unwrap_err().status(), 503);
}

// ------------------------------------------------ when the queue send goes

#[test]
fn a_booking_event_is_queued_while_d1_records_it() {
    for name in [
        "booking_created",
        "booking_cancelled",
        "booking_rescheduled",
    ] {
        assert_eq!(delivery(name).send, SendOrder::WithRecord, "{name}");
    }
}

#[test]
fn a_repeatable_trigger_is_queued_only_after_d1_recorded_it_as_new() {
    // Two copies may fall in two copy windows (two notification keys): only
    // the claim tells them apart.
    let d = delivery("booking_no_show_updated");
    assert!(d.repeat.is_some());
    assert_eq!(d.send, SendOrder::AfterRecord);
}

#[test]
fn an_event_whose_key_outlives_the_ledger_is_queued_only_after_d1_recorded_it() {
    // MEETING_STARTED keeps its key until the TTL after the meeting ends,
    // longer than the ledger keeps the sent row.
    let envelope = fixture("meeting_started");
    let notified = settings(&[("NOTIFY_EVENTS", "MEETING_STARTED")]);
    let before_it_ends = ingest::plan(&envelope, None, &notified, 1_600_000_000_000);
    let Ok(Plan::Deliver(d)) = before_it_ends else {
        panic!("{before_it_ends:?}")
    };
    assert_eq!(d.send, SendOrder::AfterRecord);
}

// ------------------------------------------------ reconciled sources (issue #31)

fn reconciled(name: &str) -> Delivery {
    let s = settings(&[("CAL_API_KEY", "cal_live_k")]);
    match ingest::plan(&fixture(name), None, &s, now()).unwrap() {
        Plan::Deliver(d) => *d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_status_change_on_a_reconciled_source_claims_its_change_key_too() {
    for (name, change) in [
        (
            "booking_created",
            "BOOKING_CREATED:booking:bFJeNb2uX8ANpT3JL5EfXw",
        ),
        (
            "booking_cancelled",
            "BOOKING_CANCELLED:booking:bFJeNb2uX8ANpT3JL5EfXw",
        ),
        (
            "booking_rescheduled",
            "BOOKING_RESCHEDULED:booking:rs4Mn8KzQ1a",
        ),
        ("booking_requested", "BOOKING_REQUESTED:booking:"),
        ("booking_rejected", "BOOKING_REJECTED:booking:"),
    ] {
        let d = reconciled(name);
        let key = d.change.unwrap_or_else(|| panic!("{name}: no change key"));
        assert!(key.as_str().starts_with(change), "{name}: {key}");
    }
}

#[test]
fn a_change_a_reconcile_run_may_recover_is_named_by_its_change_and_queued_while_d1_records_it() {
    // The recovered notification has the same key: the mailer's ledger stops
    // whichever message comes second, so one round trip stays safe.
    let d = reconciled("booking_created");
    assert_eq!(Some(d.key.as_str()), d.change.as_ref().map(|c| c.as_str()));
    assert_eq!(d.send, SendOrder::WithRecord);
    let message: Value = serde_json::from_str(&d.message).unwrap();
    assert_eq!(message["key"], d.key.as_str());
}

#[test]
fn a_source_without_an_api_key_claims_no_change_key() {
    assert_eq!(delivery("booking_created").change, None);
}

#[test]
fn other_triggers_and_a_seats_own_event_claim_no_change_key() {
    assert_eq!(reconciled("booking_paid").change, None);
    let seat = parse(br#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-20T09:30:00.538Z",
        "payload":{"uid":"shared","attendeeSeatId":"s2","seatsPerTimeSlot":4,"attendees":[{"name":"Zoe","email":"zoe@x.org"}]}}"#).unwrap();
    let s = settings(&[("CAL_API_KEY", "cal_live_k")]);
    let Ok(Plan::Deliver(d)) = ingest::plan(&seat, None, &s, now()) else {
        panic!("a seat is delivered")
    };
    assert_eq!(d.change, None);
}

#[test]
fn a_duplicate_answers_duplicate_whether_or_not_its_message_was_queued() {
    let d = delivery("booking_created");
    for sent in [Some(Ok(())), Some(Err(down("queue"))), None] {
        let settled = ingest::settle_d1(&d, Ok(Recorded::Duplicate), sent);
        assert_eq!(body(&settled)["status"], "duplicate");
    }
}
