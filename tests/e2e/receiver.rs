//! The receiver's HTTP contract (DESIGN.md's status-code table), idempotency
//! and queue hand-off, against the real worker.

use crate::support::*;
use crate::trial;
use calhook_core::inbound::event::Trigger;
use calhook_core::inbound::signature::sign;
use libtest_mimic::Trial;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The stack most receiver tests share: default settings, two active secrets.
pub(crate) async fn shared() -> &'static Stack {
    static STACK: OnceCell<Stack> = OnceCell::const_new();
    STACK.get_or_init(|| Stack::start(Options::default())).await
}

/// A stack that emails about every trigger (`NOTIFY_EVENTS=all`).
pub(crate) async fn notify_all() -> &'static Stack {
    static STACK: OnceCell<Stack> = OnceCell::const_new();
    STACK
        .get_or_init(|| {
            Stack::start(Options {
                receiver_vars: vec![("NOTIFY_EVENTS", "all".into())],
                ..Options::default()
            })
        })
        .await
}

pub fn trials() -> Vec<Trial> {
    let mut trials = vec![
        trial(
            "receiver::signed_booking_created_is_queued_and_emailed_once",
            signed_booking_created_is_queued_and_emailed_once,
        ),
        trial(
            "receiver::the_outbox_row_of_an_emailed_event_is_forgotten",
            the_outbox_row_of_an_emailed_event_is_forgotten,
        ),
        trial(
            "receiver::same_webhook_again_is_a_duplicate_and_sends_no_second_email",
            same_webhook_again_is_a_duplicate_and_sends_no_second_email,
        ),
        trial(
            "receiver::redelivery_with_a_new_created_at_is_a_duplicate",
            redelivery_with_a_new_created_at_is_a_duplicate,
        ),
        trial(
            "receiver::wrong_signature_is_401_and_sends_no_email",
            wrong_signature_is_401_and_sends_no_email,
        ),
        trial(
            "receiver::missing_signature_is_401",
            missing_signature_is_401,
        ),
        trial(
            "receiver::no_secret_provided_is_401_telling_to_set_a_secret",
            no_secret_provided_is_401_telling_to_set_a_secret,
        ),
        trial(
            "receiver::malformed_signature_is_401",
            malformed_signature_is_401,
        ),
        trial(
            "receiver::signature_with_sha256_prefix_and_upper_case_is_accepted",
            signature_with_sha256_prefix_and_upper_case_is_accepted,
        ),
        trial(
            "receiver::previous_secret_is_accepted_during_rotation",
            previous_secret_is_accepted_during_rotation,
        ),
        trial("receiver::removed_secret_is_401", removed_secret_is_401),
        trial("receiver::unknown_path_is_404", unknown_path_is_404),
        trial(
            "receiver::wrong_method_is_405_with_allow_post",
            wrong_method_is_405_with_allow_post,
        ),
        trial(
            "receiver::body_over_the_cap_is_413",
            body_over_the_cap_is_413,
        ),
        trial(
            "receiver::streamed_body_over_the_cap_is_413",
            streamed_body_over_the_cap_is_413,
        ),
        trial(
            "receiver::signed_body_that_is_not_json_is_400",
            signed_body_that_is_not_json_is_400,
        ),
        trial(
            "receiver::signed_json_that_is_not_an_envelope_is_400",
            signed_json_that_is_not_an_envelope_is_400,
        ),
        trial(
            "receiver::ping_is_answered_and_nothing_is_queued",
            ping_is_answered_and_nothing_is_queued,
        ),
        trial(
            "receiver::unknown_trigger_is_ignored_with_200",
            unknown_trigger_is_ignored_with_200,
        ),
        trial(
            "receiver::trigger_not_in_notify_events_is_ignored_with_200",
            trigger_not_in_notify_events_is_ignored_with_200,
        ),
        trial("receiver::healthz_answers_ok", healthz_answers_ok),
        trial(
            "receiver::error_bodies_never_echo_the_secret",
            error_bodies_never_echo_the_secret,
        ),
        trial(
            "receiver::missing_secret_setting_is_500_naming_it",
            missing_secret_setting_is_500_naming_it,
        ),
        trial(
            "receiver::a_short_secret_entry_is_refused_without_quoting_it",
            a_short_secret_entry_is_refused_without_quoting_it,
        ),
        trial(
            "receiver::a_bad_setting_is_500_naming_it_and_only_the_log_has_its_value",
            a_bad_setting_is_500_naming_it_and_only_the_log_has_its_value,
        ),
        trial(
            "receiver::concurrent_deliveries_of_one_event_queue_exactly_one_notification",
            concurrent_deliveries_of_one_event_queue_exactly_one_notification,
        ),
        trial(
            "receiver::queue_unavailable_is_accepted_and_the_cron_sends_each_event_once",
            queue_unavailable_is_accepted_and_the_cron_sends_each_event_once,
        ),
        trial(
            "receiver::d1_unavailable_still_queues_and_emails_once",
            d1_unavailable_still_queues_and_emails_once,
        ),
        trial(
            "receiver::d1_and_queue_unavailable_is_503_and_nothing_recorded",
            d1_and_queue_unavailable_is_503_and_nothing_recorded,
        ),
        trial(
            "receiver::a_crash_between_the_write_and_the_send_is_delivered_by_the_cron_once",
            a_crash_between_the_write_and_the_send_is_delivered_by_the_cron_once,
        ),
        trial(
            "receiver::a_claim_in_flight_from_an_older_version_is_a_duplicate",
            a_claim_in_flight_from_an_older_version_is_a_duplicate,
        ),
        trial(
            "receiver::claim_whose_lease_expired_is_taken_over",
            claim_whose_lease_expired_is_taken_over,
        ),
        trial(
            "receiver::scheduled_job_prunes_expired_keys",
            scheduled_job_prunes_expired_keys,
        ),
        trial(
            "receiver::log_line_has_the_facts_and_no_email_address",
            log_line_has_the_facts_and_no_email_address,
        ),
        trial(
            "receiver::test_sender_cli_signs_and_sends_a_fixture",
            test_sender_cli_signs_and_sends_a_fixture,
        ),
        trial(
            "receiver::kv_store_queues_once_and_reports_duplicates",
            kv_store_queues_once_and_reports_duplicates,
        ),
    ];
    for name in Trigger::KNOWN {
        let name = name.to_string();
        trials.push(trial(
            &format!("receiver::fixture_outcome::{}", name.to_lowercase()),
            move || fixture_has_the_expected_outcome(name),
        ));
    }
    for name in Trigger::KNOWN.iter().filter(|n| **n != "PING") {
        let name = name.to_string();
        trials.push(trial(
            &format!(
                "receiver::with_notify_all_every_trigger_is_emailed::{}",
                name.to_lowercase()
            ),
            move || with_notify_all_trigger_is_emailed_once(name),
        ));
    }
    trials
}

fn booking(uid: &str) -> Value {
    fixture_for("BOOKING_CREATED", uid)
}

pub(crate) fn key_of(answer: &Value) -> String {
    answer["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {answer}"))
        .to_owned()
}

async fn signed_booking_created_is_queued_and_emailed_once() {
    let s = shared().await;
    let uid = unique("created");
    let mut v = booking(&uid);
    v["payload"]["title"] = json!(format!("Intro call {uid}"));
    let (status, answer) = s.send(&v).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["event"], "BOOKING_CREATED");
    let key = key_of(&answer);
    assert!(
        key.starts_with(&format!("BOOKING_CREATED:booking:{uid}:")),
        "{key}"
    );
    let emails = s.wait_for_email(&key).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].subject().contains(&format!("Intro call {uid}")),
        "{}",
        emails[0].subject()
    );
    let auths = s.standin.authorizations();
    assert!(
        auths
            .iter()
            .all(|a| a.as_deref() == Some("Bearer SG.test-key")),
        "{auths:?}"
    );
}

async fn same_webhook_again_is_a_duplicate_and_sends_no_second_email() {
    let s = shared().await;
    let v = booking(&unique("dup"));
    let (_, first) = s.send(&v).await;
    assert_eq!(first["status"], "queued");
    let key = key_of(&first);
    s.wait_for_email(&key).await;
    let (status, second) = s.send(&v).await;
    assert_eq!(status, 200);
    assert_eq!(second["status"], "duplicate");
    assert_eq!(second["key"], first["key"]);
    // A later, unrelated notification is emailed; by then a second copy would have been too.
    let (_, later) = s.send(&booking(&unique("dup-later"))).await;
    s.wait_for_email(&key_of(&later)).await;
    assert_eq!(s.emails_for(&key).len(), 1);
}

async fn redelivery_with_a_new_created_at_is_a_duplicate() {
    let s = shared().await;
    let mut v = booking(&unique("retry"));
    v["createdAt"] = json!(created_at(-4 * 60_000));
    let (_, first) = s.send(&v).await;
    assert_eq!(first["status"], "queued");
    // Minutes later: a resend or a replay within the TTL, not a new booking.
    v["createdAt"] = json!(created_at(0));
    let (status, second) = s.send(&v).await;
    assert_eq!(status, 200);
    assert_eq!(second["status"], "duplicate");
}

async fn wrong_signature_is_401_and_sends_no_email() {
    let s = shared().await;
    let uid = unique("forged");
    let bytes = body(&booking(&uid));
    let (status, answer, _) = s
        .post_raw(bytes.clone(), Some(&sign("not-our-secret", &bytes)))
        .await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("does not match"));
    // The same event, correctly signed, is then processed: nothing was recorded for the forgery.
    let (_, ok) = s.send(&booking(&uid)).await;
    assert_eq!(ok["status"], "queued");
    let emails = s.wait_for_email(&key_of(&ok)).await;
    assert_eq!(emails.len(), 1);
}

async fn missing_signature_is_401() {
    let s = shared().await;
    let (status, answer, _) = s.post_raw(body(&booking(&unique("nosig"))), None).await;
    assert_eq!(status, 401);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("missing X-Cal-Signature-256"));
}

async fn no_secret_provided_is_401_telling_to_set_a_secret() {
    let s = shared().await;
    let (status, answer, _) = s
        .post_raw(
            body(&booking(&unique("nosecret"))),
            Some("no-secret-provided"),
        )
        .await;
    assert_eq!(status, 401);
    let msg = answer["error"].as_str().unwrap();
    assert!(
        msg.contains("set a secret on the webhook in Cal.com"),
        "{msg}"
    );
}

async fn malformed_signature_is_401() {
    let s = shared().await;
    let (status, answer, _) = s
        .post_raw(body(&booking(&unique("odd"))), Some("abc123"))
        .await;
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("64 hex digits"));
}

async fn signature_with_sha256_prefix_and_upper_case_is_accepted() {
    let s = shared().await;
    let bytes = body(&booking(&unique("prefix")));
    let sig = format!("sha256={}", sign(SECRET, &bytes).to_uppercase());
    let (status, answer, _) = s.post_raw(bytes, Some(&sig)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
}

async fn previous_secret_is_accepted_during_rotation() {
    let s = shared().await;
    let bytes = body(&booking(&unique("rotated")));
    let (status, answer, _) = s
        .post_raw(bytes.clone(), Some(&sign(PREVIOUS_SECRET, &bytes)))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
}

async fn removed_secret_is_401() {
    let s = shared().await;
    let bytes = body(&booking(&unique("removed")));
    let (status, _, _) = s
        .post_raw(
            bytes.clone(),
            Some(&sign("whsec_removed_last_month", &bytes)),
        )
        .await;
    assert_eq!(status, 401);
}

async fn unknown_path_is_404() {
    let s = shared().await;
    let r = http()
        .get(format!("{}/webhooks/calendly", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "not found");
}

async fn wrong_method_is_405_with_allow_post() {
    let s = shared().await;
    let r = http().get(s.webhook_url()).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("POST"));
}

async fn body_over_the_cap_is_413() {
    let s = shared().await;
    let mut v = booking(&unique("huge"));
    v["payload"]["description"] = json!("x".repeat(1024 * 1024 + 10));
    let (status, answer) = s.send(&v).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("MAX_BODY_BYTES"));
}

async fn streamed_body_over_the_cap_is_413() {
    // No Content-Length: the receiver must stop reading at the cap by itself.
    // Its own stack: under `wrangler dev` (miniflare), a response sent before the
    // upload ends breaks the *next* request on that worker ("Network connection
    // lost"), even for a plain JavaScript worker; the edge does not do this.
    let s = Stack::start(Options::default()).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let r = http()
        .post(s.webhook_url())
        .header("X-Cal-Signature-256", "0".repeat(64))
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::iter(chunks)
}

async fn signed_body_that_is_not_json_is_400() {
    let s = shared().await;
    let bytes = b"triggerEvent=BOOKING_CREATED&title=Intro".to_vec();
    let (status, answer, _) = s.post_raw(bytes.clone(), Some(&sign(SECRET, &bytes))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("custom payload templates are not supported"));
}

async fn signed_json_that_is_not_an_envelope_is_400() {
    let s = shared().await;
    let (status, answer) = s.send(&json!({"title": "Intro", "uid": "x"})).await;
    assert_eq!(status, 400);
    let msg = answer["error"].as_str().unwrap();
    assert!(msg.contains("not a Cal.com webhook envelope"), "{msg}");
    assert!(msg.contains("use Cal.com's default payload"), "{msg}");
}

async fn ping_is_answered_and_nothing_is_queued() {
    let s = shared().await;
    let (status, answer) = s.send(&fixture("PING")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "pong");
    assert!(answer.get("key").is_none());
}

async fn unknown_trigger_is_ignored_with_200() {
    let s = shared().await;
    let mut v = booking(&unique("future"));
    v["triggerEvent"] = json!("BOOKING_TELEPORTED");
    let (status, answer) = s.send(&v).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ignored");
    assert_eq!(answer["event"], "BOOKING_TELEPORTED");
}

async fn trigger_not_in_notify_events_is_ignored_with_200() {
    let s = shared().await;
    let (status, answer) = s
        .send(&fixture_for("MEETING_ENDED", &unique("ended")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ignored");
    assert!(answer["reason"].as_str().unwrap().contains("NOTIFY_EVENTS"));
}

async fn healthz_answers_ok() {
    let s = shared().await;
    let r = http()
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");
}

async fn error_bodies_never_echo_the_secret() {
    let s = shared().await;
    let bytes = body(&booking(&unique("leak")));
    let (_, answer, _) = s.post_raw(bytes, Some(&"f".repeat(64))).await;
    let text = answer.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains(PREVIOUS_SECRET),
        "{text}"
    );
    assert!(!s.log().contains(SECRET), "the secret reached the log");
}

async fn missing_secret_setting_is_500_naming_it() {
    let s = Stack::start(Options {
        receiver_unset: vec!["CAL_WEBHOOK_SECRET"],
        ..Options::default()
    })
    .await;
    let bytes = body(&booking(&unique("unconfigured")));
    let (status, answer, _) = s.post_raw(bytes.clone(), Some(&sign(SECRET, &bytes))).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("CAL_WEBHOOK_SECRET is not set"));
    // Fail closed: not even an unsigned ping gets through.
    let (status, _, _) = s.post_raw(body(&fixture("PING")), None).await;
    assert_eq!(status, 500);
    s.wait_for_log(
        "a log line naming the setting",
        Duration::from_secs(10),
        |l| l.contains("misconfigured") && l.contains("CAL_WEBHOOK_SECRET"),
    )
    .await;
}

async fn a_short_secret_entry_is_refused_without_quoting_it() {
    // A stray comma in a rotation: "current,abc" would accept "abc" as a secret.
    let s = Stack::start(Options {
        receiver_unset: vec!["CAL_WEBHOOK_SECRET"],
        receiver_vars: vec![("CAL_WEBHOOK_SECRET", format!("{SECRET},abc"))],
        ..Options::default()
    })
    .await;
    let bytes = body(&booking(&unique("short")));
    let (status, answer, _) = s.post_raw(bytes.clone(), Some(&sign("abc", &bytes))).await;
    assert_eq!(status, 500, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("CAL_WEBHOOK_SECRET") && error.contains("shorter than 16"),
        "{error}"
    );
    assert!(!answer.to_string().contains("abc"), "{answer}");
}

async fn a_bad_setting_is_500_naming_it_and_only_the_log_has_its_value() {
    let s = Stack::start(Options {
        receiver_vars: vec![("MAX_BODY_BYTES", "lots-of-bytes".into())],
        ..Options::default()
    })
    .await;
    // Even an unauthenticated caller gets only the name.
    let (status, answer, _) = s.post_raw(body(&fixture("PING")), None).await;
    assert_eq!(status, 500, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("MAX_BODY_BYTES"),
        "{answer}"
    );
    assert!(!answer.to_string().contains("lots-of-bytes"), "{answer}");
    s.wait_for_log("the value in the log", Duration::from_secs(10), |l| {
        l.contains("misconfigured") && l.contains("lots-of-bytes")
    })
    .await;
}

async fn concurrent_deliveries_of_one_event_queue_exactly_one_notification() {
    let s = shared().await;
    let v = booking(&unique("burst"));
    let sends = (0..20).map(|_| s.send(&v));
    let answers = futures_util::future::join_all(sends).await;
    let queued = answers
        .iter()
        .filter(|(st, a)| *st == 200 && a["status"] == "queued")
        .count();
    let others = answers
        .iter()
        .filter(|(st, a)| (*st == 200 && a["status"] == "duplicate") || *st == 409)
        .count();
    assert_eq!(queued, 1, "{answers:?}");
    assert_eq!(others, 19, "{answers:?}");
    let key = claim_key(&v);
    s.wait_for_email(&key).await;
    let (_, later) = s.send(&booking(&unique("burst-later"))).await;
    s.wait_for_email(&key_of(&later)).await;
    assert_eq!(s.emails_for(&key).len(), 1);
}

fn without_queue(config: &mut toml::Table) {
    config.remove("queues");
}

fn without_d1(config: &mut toml::Table) {
    config.remove("d1_databases");
}

fn without_queue_and_d1(config: &mut toml::Table) {
    config.remove("queues");
    config.remove("d1_databases");
}

async fn queue_unavailable_is_accepted_and_the_cron_sends_each_event_once() {
    // The receiver runs without its queue: every event is kept in the outbox.
    let broken = Stack::start(Options {
        edit_receiver: Some(without_queue),
        receiver_vars: vec![("ADMIN_TOKEN", "t".repeat(32))],
        ..Options::default()
    })
    .await;
    let events: Vec<Value> = (0..3).map(|_| booking(&unique("deferred"))).collect();
    let mut keys = Vec::new();
    for v in &events {
        let (status, answer) = broken.send(v).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "accepted", "{answer}");
        keys.push(key_of(&answer));
    }
    // A retry of one of them is a duplicate: it is recorded already.
    let (_, again) = broken.send(&events[0]).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    let listed: Value = http()
        .get(format!("{}/admin/outbox", broken.base))
        .bearer_auth("t".repeat(32))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["depth"], 3, "{listed}");
    broken
        .wait_for_log("the deferred outcome", Duration::from_secs(10), |l| {
            l.contains("\"outcome\":\"deferred\"")
        })
        .await;
    let state = broken.state.clone();
    broken.stop();
    // The queue is back: the next cron run sends all three, once each.
    let fixed = Stack::start(Options {
        state_dir: Some(state),
        receiver_vars: vec![("OUTBOX_GRACE_SECONDS", "0".into())],
        ..Options::default()
    })
    .await;
    fixed.tick().await;
    for key in &keys {
        assert_eq!(fixed.wait_for_email(key).await.len(), 1, "{key}");
    }
    assert!(fixed.sql("SELECT key FROM outbox").is_empty());
    fixed.tick().await;
    fixed
        .wait_for_log("the second outbox run", Duration::from_secs(10), |l| {
            l.contains("\"job\":\"outbox\"") && l.contains("\"sent\":0")
        })
        .await;
    for key in &keys {
        assert_eq!(fixed.emails_for(key).len(), 1, "{key}");
    }
    drop(broken);
}

async fn d1_unavailable_still_queues_and_emails_once() {
    let s = Stack::start(Options {
        edit_receiver: Some(without_d1),
        ..Options::default()
    })
    .await;
    let (status, answer) = s.send(&booking(&unique("nodb"))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["recorded"], false);
    assert_eq!(s.wait_for_email(&key_of(&answer)).await.len(), 1);
    s.wait_for_log("the loud log line", Duration::from_secs(10), |l| {
        l.contains("queued_without_d1") && l.contains("binding DB is missing")
    })
    .await;
}

async fn d1_and_queue_unavailable_is_503_and_nothing_recorded() {
    let s = Stack::start(Options {
        edit_receiver: Some(without_queue_and_d1),
        ..Options::default()
    })
    .await;
    let (status, answer) = s.send(&booking(&unique("nothing"))).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("NOTIFICATIONS"));
    assert!(s.sql("SELECT key FROM idempotency_keys").is_empty());
    assert!(s.sql("SELECT key FROM outbox").is_empty());
    s.wait_for_log("the loud log line", Duration::from_secs(10), |l| {
        l.contains("LOST unless Cal.com retries")
    })
    .await;
}

async fn a_crash_between_the_write_and_the_send_is_delivered_by_the_cron_once() {
    let s = Stack::start(Options {
        receiver_vars: vec![("OUTBOX_GRACE_SECONDS", "0".into())],
        ..Options::default()
    })
    .await;
    // What a receiver that died right after its D1 write leaves behind.
    let bytes = body(&booking(&unique("crash")));
    let envelope = calhook_core::inbound::event::parse(&bytes).unwrap();
    let identity = calhook_core::inbound::identity::derive(&envelope).unwrap();
    // A booking's claim key is its notification key (no copy window).
    let (key, notification_key) = (identity.claim.clone(), identity.notification_key(1_000));
    let notification =
        serde_json::to_string(&calhook_core::message::notification::Notification::build(
            &envelope,
            notification_key.clone(),
        ))
        .unwrap()
        .replace('\'', "''");
    let now = now_ms();
    s.sql(&format!(
        "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) \
         VALUES ('{key}', 'done', 'dead', 'BOOKING_CREATED', 0, {}, {now}); \
         INSERT INTO outbox (key, trigger, notification, created_at) VALUES ('{notification_key}', 'BOOKING_CREATED', '{notification}', {now})",
        now + 600_000
    ));
    // Cal.com's copy of the event (if it ever came) is a duplicate ...
    let (_, again, _) = s.post_raw(bytes.clone(), Some(&sign(SECRET, &bytes))).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    // ... and the cron delivers it, once.
    s.tick().await;
    assert_eq!(s.wait_for_email(key.as_str()).await.len(), 1);
    s.tick().await;
    assert!(s.sql("SELECT key FROM outbox").is_empty());
    assert_eq!(s.emails_for(key.as_str()).len(), 1);
}

fn with_kv(config: &mut toml::Table) {
    let kv: toml::Value = toml::from_str::<toml::Table>(
        "kv = { binding = \"IDEMPOTENCY_KV\", id = \"00000000000000000000000000000001\" }",
    )
    .unwrap()
    .remove("kv")
    .unwrap();
    config
        .entry("kv_namespaces")
        .or_insert_with(|| toml::Value::Array(Vec::new()))
        .as_array_mut()
        .unwrap()
        .push(kv);
}

async fn kv_store_queues_once_and_reports_duplicates() {
    let s = Stack::start(Options {
        receiver_vars: vec![("IDEMPOTENCY_STORE", "kv".into())],
        edit_receiver: Some(with_kv),
        ..Options::default()
    })
    .await;
    let v = booking(&unique("kv"));
    let (status, first) = s.send(&v).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "queued");
    let (_, second) = s.send(&v).await;
    assert_eq!(second["status"], "duplicate");
    assert_eq!(s.wait_for_email(&key_of(&first)).await.len(), 1);
}

/// Under the default NOTIFY_EVENTS: lifecycle triggers are queued, PING is
/// answered, everything else is acknowledged and ignored.
async fn fixture_has_the_expected_outcome(trigger: String) {
    let s = shared().await;
    let (status, answer) = s.send(&fixture_for(&trigger, &unique("fx"))).await;
    assert_eq!(status, 200, "{trigger}: {answer}");
    let expected = match trigger.as_str() {
        "PING" => "pong",
        t if calhook_core::settings::DEFAULT_NOTIFY_EVENTS.contains(&t) => "queued",
        _ => "ignored",
    };
    assert_eq!(answer["status"], expected, "{trigger}: {answer}");
}

async fn with_notify_all_trigger_is_emailed_once(trigger: String) {
    let s = notify_all().await;
    let (status, answer) = s.send(&fixture_for(&trigger, &unique("all"))).await;
    assert_eq!(status, 200, "{trigger}: {answer}");
    assert_eq!(answer["status"], "queued", "{trigger}: {answer}");
    let emails = s.wait_for_email(&key_of(&answer)).await;
    assert_eq!(emails.len(), 1, "{trigger}");
    assert!(!emails[0].subject().is_empty());
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Puts a claim into D1 as another request (or a crashed one) would have left it.
fn plant_claim(s: &Stack, key: &str, state: &str, lease_until: u64, expires_at: u64) {
    s.sql(&format!(
        "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) \
         VALUES ('{key}', '{state}', 'planted', 'BOOKING_CREATED', {lease_until}, {expires_at}, {lease_until})"
    ));
}

async fn a_claim_in_flight_from_an_older_version_is_a_duplicate() {
    // Earlier versions claimed keys "in flight" before queueing; during a
    // rollout such a request may still be running: it queues the event itself.
    let s = shared().await;
    let uid = unique("inflight");
    let key = claim_key(&booking(&uid));
    plant_claim(s, &key, "in_flight", now_ms() + 600_000, now_ms() + 600_000);
    let (status, answer) = s.send(&booking(&uid)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");
}

async fn claim_whose_lease_expired_is_taken_over() {
    let s = shared().await;
    let uid = unique("crashed");
    let key = claim_key(&booking(&uid));
    plant_claim(s, &key, "in_flight", now_ms() - 1_000, now_ms() + 600_000);
    let (status, answer) = s.send(&booking(&uid)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
}

async fn scheduled_job_prunes_expired_keys() {
    let s = shared().await;
    let expired = format!("BOOKING_CREATED:booking:{}", unique("expired"));
    let live = format!("BOOKING_CREATED:booking:{}", unique("live"));
    plant_claim(s, &expired, "done", 0, now_ms() - 1_000);
    plant_claim(s, &live, "done", 0, now_ms() + 600_000);
    // Ledger rows: sent 8 days ago (past the 7-day TTL), sent now, failed 8 days ago.
    let old = now_ms() - 8 * 24 * 3600 * 1000;
    let (old_sent, new_sent, old_failed) =
        (unique("old-sent"), unique("new-sent"), unique("old-failed"));
    for (key, state, at) in [
        (&old_sent, "sent", old),
        (&new_sent, "sent", now_ms()),
        (&old_failed, "failed", old),
    ] {
        s.sql(&format!(
            "INSERT INTO deliveries (key, state, trigger, updated_at) VALUES ('{key}', '{state}', 'BOOKING_CREATED', {at})"
        ));
    }
    s.run_cron(calhook_core::jobs::PRUNE_CRON).await;
    poll(
        "the expired key and old ledger row to be deleted",
        Duration::from_secs(20),
        || {
            let keys = s.sql(&format!(
                "SELECT key FROM idempotency_keys WHERE key IN ('{expired}', '{live}')"
            ));
            let rows = s.sql(&format!(
            "SELECT key FROM deliveries WHERE key IN ('{old_sent}', '{new_sent}', '{old_failed}')"
        ));
            async move { (keys.len() == 1 && rows.len() == 2).then_some(()) }
        },
    )
    .await;
    let left = s.sql(&format!(
        "SELECT key FROM idempotency_keys WHERE key = '{live}'"
    ));
    assert_eq!(left.len(), 1, "the live key must stay");
    let kept = s.sql(&format!(
        "SELECT key FROM deliveries WHERE key IN ('{new_sent}', '{old_failed}')"
    ));
    assert_eq!(kept.len(), 2, "recent and failed deliveries must stay");
}

async fn log_line_has_the_facts_and_no_email_address() {
    let s = shared().await;
    let uid = unique("logged");
    let (_, answer) = s.send(&booking(&uid)).await;
    let key = key_of(&answer);
    let line = s
        .wait_for_log("the receiver's line", Duration::from_secs(10), |l| {
            l.contains("calhook-receiver") && l.contains(&format!("\"booking_uid\":\"{uid}\""))
        })
        .await;
    let json: Value =
        serde_json::from_str(&line[line.find('{').unwrap()..line.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(json["trigger"], "BOOKING_CREATED");
    assert_eq!(json["outcome"], "queued");
    assert_eq!(json["status"], 200);
    assert_eq!(json["key"], key.as_str());
    assert!(json["duration_ms"].is_u64());
    s.wait_for_email(&key).await;
    // Every line our workers wrote (wrangler's own banner lists the vars, EMAIL_TO included).
    let ours: Vec<String> = s
        .log()
        .lines()
        .filter(|l| l.contains("\"svc\":\"calhook-"))
        .map(str::to_owned)
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("calhook-mailer")),
        "no mailer lines"
    );
    for address in [
        "grace@example.org",
        "ada@example.com",
        "team@example.com",
        "bookings@example.com",
    ] {
        assert!(
            !ours.iter().any(|l| l.contains(address)),
            "{address} appears in a worker log line"
        );
    }
}

async fn test_sender_cli_signs_and_sends_a_fixture() {
    let s = shared().await;
    let cli = root().join("target/debug/calhook");
    assert!(
        cli.exists(),
        "target/debug/calhook missing: scripts/test builds it"
    );
    let uid = unique("cli");
    let run = |args: Vec<String>| {
        let out = output_within(std::process::Command::new(&cli).args(args), CLI_DEADLINE);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = run(vec![
        "send".into(),
        "BOOKING_CANCELLED".into(),
        "--url".into(),
        s.webhook_url(),
        "--secret".into(),
        SECRET.into(),
        "--uid".into(),
        uid.clone(),
    ]);
    assert!(ok, "{out}");
    assert!(out.starts_with("200 "), "{out}");
    assert!(
        out.contains(&format!("BOOKING_CANCELLED:booking:{uid}")),
        "{out}"
    );
    let (ok, list) = run(vec!["fixtures".into()]);
    assert!(ok && list.lines().any(|l| l == "BOOKING_CREATED"), "{list}");
    let path = root().join("tests/fixtures/ping.json");
    let (ok, sig) = run(vec![
        "sign".into(),
        path.to_string_lossy().into(),
        "--secret".into(),
        "s".into(),
    ]);
    assert!(ok);
    assert_eq!(sig.trim(), sign("s", &std::fs::read(path).unwrap()));
}

async fn the_outbox_row_of_an_emailed_event_is_forgotten() {
    let s = shared().await;
    let (status, answer) = s.send(&booking(&unique("forget"))).await;
    assert_eq!(status, 200, "{answer}");
    let key = answer["key"].as_str().unwrap().to_owned();
    s.wait_for_email(&key).await;
    // The receiver answered without a second D1 call; the mailer forgot the row.
    poll("the outbox row forgotten", Duration::from_secs(20), || {
        let rows = s.sql(&format!("SELECT key FROM outbox WHERE key = '{key}'"));
        async move { rows.is_empty().then_some(()) }
    })
    .await;
}
