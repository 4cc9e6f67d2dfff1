//! Which deliveries are one event (one email) and which are two, with bodies
//! shaped as Cal.com really sends them; and replays refused by the signed
//! `createdAt`.

use crate::receiver::{key_of, notify_all, shared};
use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use serde_json::{json, Map, Value};

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "identity::copies_for_several_webhooks_are_one_email",
            copies_for_several_webhooks_are_one_email,
        ),
        trial(
            "identity::a_second_seat_gets_its_own_email_naming_the_attendee",
            a_second_seat_gets_its_own_email_naming_the_attendee,
        ),
        trial(
            "identity::two_seat_cancellations_on_one_booking_are_two_emails",
            two_seat_cancellations_on_one_booking_are_two_emails,
        ),
        trial(
            "identity::a_no_show_set_cleared_and_set_again_is_three_emails",
            a_no_show_set_cleared_and_set_again_is_three_emails,
        ),
        trial(
            "identity::two_people_giving_identical_form_answers_get_two_emails",
            two_people_giving_identical_form_answers_get_two_emails,
        ),
        trial(
            "identity::a_location_changed_back_is_emailed_again",
            a_location_changed_back_is_emailed_again,
        ),
        trial(
            "identity::the_receiver_claims_the_key_the_core_derives_natively",
            the_receiver_claims_the_key_the_core_derives_natively,
        ),
        trial(
            "identity::an_event_of_integers_is_canonicalized_in_rust_to_the_native_key",
            an_event_of_integers_is_canonicalized_in_rust_to_the_native_key,
        ),
        trial(
            "identity::a_delivery_older_than_max_event_age_is_401_stale",
            a_delivery_older_than_max_event_age_is_401_stale,
        ),
        trial(
            "identity::a_delivery_from_the_future_is_401_stale",
            a_delivery_from_the_future_is_401_stale,
        ),
        trial(
            "identity::a_scheduled_meeting_body_built_long_ago_is_accepted",
            a_scheduled_meeting_body_built_long_ago_is_accepted,
        ),
        trial(
            "identity::a_webhook_near_the_body_cap_is_emailed_shortened",
            a_webhook_near_the_body_cap_is_emailed_shortened,
        ),
    ]
}

/// `v` with its object keys in reverse order at every level: another JSON text
/// of the same content.
fn reordered(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reordered(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(reordered).collect()),
        other => other.clone(),
    }
}

fn at(mut v: Value, offset_ms: i64) -> Value {
    v["createdAt"] = json!(created_at(offset_ms));
    v
}

async fn queued(s: &Stack, v: &Value) -> String {
    let (status, answer) = s.send(v).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    key_of(&answer)
}

/// The receiver canonicalizes with its runtime's JSON, the core natively with
/// serde_json_canonicalizer: RFC 8785's hard cases must give both one key —
/// keys ordered by UTF-16 code units (an astral character before U+FB33),
/// numbers as ECMAScript prints them (exponents, -0, integers past 2^53,
/// the smallest and largest doubles), escapes in strings.
async fn the_receiver_claims_the_key_the_core_derives_natively() {
    let numbers = r#"{"\ud83d\ude00":1,"\ufb33":2,"\u20acuro":3,"a":1E21,"b":1.0e-7,"c":0.000001,"d":-0,"e":123456789012345678,"f":4.35,"g":5e-324,"h":1.7976931348623157e308,"i":0.1,"j":1e-6,"k":"tab\tline\u2028sep\u007f\u0001","l":[1.50,-2E+2,true,null]}"#;
    claims_the_native_key(numbers).await;
}

/// Numbers that are all exact integers (Cal.com's usual) skip the runtime:
/// `digest::integral_jcs` in the worker must still give the native key, with
/// the same hard cases for keys and strings, ±2^53, and integral floats.
async fn an_event_of_integers_is_canonicalized_in_rust_to_the_native_key() {
    let numbers = r#"{"\ud83d\ude00":1,"\ufb33":2,"\u20acuro":3,"max":9007199254740992,"min":-9007199254740992,"one":1.0,"thousand":1e3,"zero":-0,"k":"tab\tline\u2028sep\u007f\u0001\"\\","l":[0,-7,true,null,{"\u00e9":"","e":[]}]}"#;
    claims_the_native_key(numbers).await;
}

/// Sends a Cal.com body with `numbers` as written (not re-serialised) in its
/// payload; the receiver must claim the key the core derives natively.
async fn claims_the_native_key(numbers: &str) {
    let s = shared().await;
    let mut v = fixture_for("BOOKING_CREATED", &unique("jcs"));
    v["payload"]["jcs"] = json!("@");
    let text = String::from_utf8(body(&v))
        .unwrap()
        .replace(r#""jcs":"@""#, &format!(r#""jcs":{numbers}"#));
    let bytes = text.into_bytes();
    let envelope = calhook_core::inbound::event::parse(&bytes).expect("the body parses natively");
    let native = calhook_core::inbound::identity::derive(&envelope)
        .unwrap()
        .claim;
    let (status, answer, _) = s
        .post_raw(
            bytes.clone(),
            Some(&calhook_core::inbound::signature::sign(SECRET, &bytes)),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    let rows = s.sql(&format!(
        "SELECT key FROM idempotency_keys WHERE key = '{}'",
        native.as_str()
    ));
    assert_eq!(
        rows.len(),
        1,
        "the receiver claimed another key than {native}: {answer}"
    );
}

async fn copies_for_several_webhooks_are_one_email() {
    // User-, team- and event-type-level webhooks on one URL: one payload,
    // createdAt computed per subscriber a few milliseconds apart.
    let s = shared().await;
    let v = fixture_for("BOOKING_CREATED", &unique("copies"));
    let copies = [at(v.clone(), 0), reordered(&at(v.clone(), 2)), at(v, 5)];
    let answers = futures_util::future::join_all(copies.iter().map(|c| s.send(c))).await;
    let statuses: Vec<_> = answers.iter().map(|(_, a)| a["status"].clone()).collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "queued").count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "duplicate").count(),
        2,
        "{answers:?}"
    );
    let key = key_of(&answers[0].1);
    assert!(answers.iter().all(|(_, a)| key_of(a) == key), "{answers:?}");
    s.wait_for_email(&key).await;
    let (_, later) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("copies-later")))
        .await;
    s.wait_for_email(&key_of(&later)).await;
    assert_eq!(s.emails_for(&key).len(), 1);
}

/// A seated booking as Cal.com sends each seat: the shared booking's uid and
/// id, the seat's attendee and seat id.
fn seat(trigger: &str, uid: &str, seat_id: &str, name: &str, email: &str) -> Value {
    let mut v = fixture_for(trigger, uid);
    let p = &mut v["payload"];
    p["title"] = json!("Yoga class");
    p["seatsPerTimeSlot"] = json!(10);
    p["seatsShowAttendees"] = json!(false);
    if trigger == "BOOKING_CREATED" {
        p["attendeeSeatId"] = json!(seat_id);
    }
    p["attendees"] = json!([{"name": name, "email": email, "timeZone": "Europe/Stockholm",
        "language": {"locale": "sv"}, "utcOffset": 60}]);
    v
}

async fn a_second_seat_gets_its_own_email_naming_the_attendee() {
    let s = shared().await;
    let uid = unique("seated");
    let first = queued(
        s,
        &seat(
            "BOOKING_CREATED",
            &uid,
            "seat-1",
            "Grace Hopper",
            "grace@example.org",
        ),
    )
    .await;
    let second = queued(
        s,
        &at(
            seat(
                "BOOKING_CREATED",
                &uid,
                "seat-2",
                "Zoë Ångström",
                "zoe@example.se",
            ),
            1_500,
        ),
    )
    .await;
    assert_ne!(first, second);
    let email = &s.wait_for_email(&second).await[0];
    assert!(
        email
            .subject()
            .starts_with("New seat: Zoë Ångström on Yoga class"),
        "{}",
        email.subject()
    );
    assert_eq!(s.wait_for_email(&first).await.len(), 1);
}

async fn two_seat_cancellations_on_one_booking_are_two_emails() {
    let s = shared().await;
    let uid = unique("seat-cancel");
    let ada = queued(
        s,
        &seat(
            "BOOKING_CANCELLED",
            &uid,
            "",
            "Ada Lovelace",
            "ada@example.org",
        ),
    )
    .await;
    let zoe = queued(
        s,
        &at(
            seat(
                "BOOKING_CANCELLED",
                &uid,
                "",
                "Zoë Ångström",
                "zoe@example.se",
            ),
            900,
        ),
    )
    .await;
    assert_ne!(ada, zoe);
    let email = &s.wait_for_email(&zoe).await[0];
    assert!(
        email
            .subject()
            .starts_with("Seat cancelled: Zoë Ångström on Yoga class"),
        "{}",
        email.subject()
    );
    assert_eq!(s.wait_for_email(&ada).await.len(), 1);
}

async fn a_no_show_set_cleared_and_set_again_is_three_emails() {
    let s = shared().await;
    let uid = unique("noshow");
    let state = |no_show: bool, offset_ms: i64| {
        let mut v = fixture_for("BOOKING_NO_SHOW_UPDATED", &uid);
        v["payload"]["attendees"][0]["noShow"] = json!(no_show);
        at(v, offset_ms)
    };
    let set = queued(s, &state(true, -20_000)).await;
    let (_, copy) = s.send(&state(true, -19_997)).await;
    assert_eq!(copy["status"], "duplicate", "{copy}");
    let cleared = queued(s, &state(false, -10_000)).await;
    let set_again = queued(s, &state(true, 0)).await;
    let keys = [&set, &cleared, &set_again];
    assert!(
        keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2],
        "{keys:?}"
    );
    for key in keys {
        assert_eq!(s.wait_for_email(key).await.len(), 1, "{key}");
    }
}

async fn two_people_giving_identical_form_answers_get_two_emails() {
    let s = notify_all().await;
    let v = fixture_for("FORM_SUBMITTED", &unique("form"));
    let one = queued(s, &at(v.clone(), -5_000)).await;
    let (_, copy) = s.send(&at(v.clone(), -4_999)).await;
    assert_eq!(copy["status"], "duplicate", "{copy}");
    let other = queued(s, &at(v, 0)).await;
    assert_ne!(one, other);
    assert_eq!(s.wait_for_email(&one).await.len(), 1);
    assert_eq!(s.wait_for_email(&other).await.len(), 1);
}

async fn a_location_changed_back_is_emailed_again() {
    let s = notify_all().await;
    let uid = unique("location");
    let moved = |loc: &str, offset_ms: i64| {
        let mut v = fixture_for("BOOKING_LOCATION_UPDATED", &uid);
        v["payload"]["location"] = json!(loc);
        at(v, offset_ms)
    };
    let a = queued(s, &moved("Room A, 2nd floor", -60_000)).await;
    let b = queued(s, &moved("Room B, 3rd floor", -30_000)).await;
    let a_again = queued(s, &moved("Room A, 2nd floor", 0)).await;
    assert!(a != b && a != a_again && b != a_again);
    for key in [&a, &b, &a_again] {
        assert_eq!(s.wait_for_email(key).await.len(), 1, "{key}");
    }
}

async fn a_delivery_older_than_max_event_age_is_401_stale() {
    let s = shared().await;
    let v = at(
        fixture_for("BOOKING_CREATED", &unique("stale")),
        -25 * 3_600_000,
    );
    let (status, answer) = s.send(&v).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["outcome"], "stale");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("MAX_EVENT_AGE_SECONDS"),
        "{answer}"
    );
    let rows = s.sql(&format!(
        "SELECT key FROM idempotency_keys WHERE key = '{}'",
        claim_key(&v)
    ));
    assert!(rows.is_empty(), "a stale delivery records nothing");
}

async fn a_delivery_from_the_future_is_401_stale() {
    let s = shared().await;
    let v = at(
        fixture_for("BOOKING_CANCELLED", &unique("future")),
        10 * 60_000,
    );
    let (status, answer) = s.send(&v).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["outcome"], "stale");
}

async fn a_scheduled_meeting_body_built_long_ago_is_accepted() {
    // The scheduled sender's flat body: its root createdAt is the booking's.
    let s = notify_all().await;
    let mut v = fixture_for("MEETING_STARTED", &unique("scheduled"));
    v["createdAt"] = json!("2026-01-02T08:00:00.000Z");
    let key = queued(s, &v).await;
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
}

async fn a_webhook_near_the_body_cap_is_emailed_shortened() {
    // ~930 KB of escapes and wide characters: within MAX_BODY_BYTES, and many
    // times a queue message's 128 KB once turned into a notification naively.
    let s = shared().await;
    let wide = "\u{1}😀\"<".repeat(500);
    let mut v = fixture_for("BOOKING_CREATED", &unique("huge"));
    let p = &mut v["payload"];
    p["title"] = json!(format!("Huge {wide}"));
    p["additionalNotes"] = json!(wide);
    p["attendees"] = Value::Array(
        (0..70)
            .map(|i| json!({"name": wide, "email": format!("a{i}@example.org"), "timeZone": wide}))
            .collect(),
    );
    let size = body(&v).len();
    assert!(size > 800_000 && size < 1_048_576, "{size} bytes");
    let key = queued(s, &v).await;
    let email = &s.wait_for_email(&key).await[0];
    assert!(
        email
            .content("text/plain")
            .contains("some details were shortened"),
        "{}",
        email.content("text/plain")
    );
}
