//! The mailer against SendGrid's failure modes: retries with backoff, permanent
//! failures dead-lettered, at most one email per notification.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use sendgrid_standin::{Fault, StandIn};
use serde_json::Value;
use std::time::Duration;

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "mailer::sendgrid_500_twice_then_202_sends_exactly_one_email",
            sendgrid_500_twice_then_202_sends_exactly_one_email,
        ),
        trial(
            "mailer::sendgrid_429_with_retry_after_is_retried_and_sends_one_email",
            sendgrid_429_with_retry_after_is_retried_and_sends_one_email,
        ),
        trial(
            "mailer::sendgrid_400_is_recorded_dead_lettered_and_not_retried",
            sendgrid_400_is_recorded_dead_lettered_and_not_retried,
        ),
        trial(
            "mailer::same_notification_delivered_twice_sends_one_email",
            same_notification_delivered_twice_sends_one_email,
        ),
        trial(
            "mailer::missing_sendgrid_api_key_keeps_the_message_and_says_so",
            missing_sendgrid_api_key_keeps_the_message_and_says_so,
        ),
        trial(
            "mailer::email_has_sendgrids_shape_and_the_rendered_booking",
            email_has_sendgrids_shape_and_the_rendered_booking,
        ),
        trial(
            "mailer::attendees_get_their_own_copy_when_enabled",
            attendees_get_their_own_copy_when_enabled,
        ),
        trial(
            "mailer::an_attendee_named_with_a_comma_gets_a_copy_sendgrid_would_not_drop",
            an_attendee_named_with_a_comma_gets_a_copy_sendgrid_would_not_drop,
        ),
        trial(
            "mailer::a_staff_address_among_the_attendees_still_gets_its_one_email",
            a_staff_address_among_the_attendees_still_gets_its_one_email,
        ),
        trial(
            "mailer::a_sendgrid_that_hangs_is_abandoned_after_the_timeout_and_retried",
            a_sendgrid_that_hangs_is_abandoned_after_the_timeout_and_retried,
        ),
        trial(
            "mailer::cal_coms_email_less_organizer_does_not_stop_the_email",
            cal_coms_email_less_organizer_does_not_stop_the_email,
        ),
        trial(
            "mailer::times_are_shown_in_zones_with_45_minute_offsets_and_half_hour_dst",
            times_are_shown_in_zones_with_45_minute_offsets_and_half_hour_dst,
        ),
    ]
}

/// Waits for the staff email and the attendee's copy of `key`.
async fn staff_and_attendee_copies(s: &Stack, key: &str) -> Vec<sendgrid_standin::Captured> {
    poll(
        "the staff email and the attendee's copy",
        Duration::from_secs(45),
        || {
            let e = s.emails_for(key);
            async move { (e.len() >= 2).then_some(e) }
        },
    )
    .await
}

fn key_of(answer: &Value) -> String {
    answer["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {answer}"))
        .to_owned()
}

async fn stack_failing_with(faults: Vec<Fault>) -> Stack {
    let standin = StandIn::new(Some(SENDGRID_KEY.into()));
    for f in faults {
        standin.fail_next(f);
    }
    Stack::start(Options {
        standin: Some(standin),
        ..Options::default()
    })
    .await
}

async fn sendgrid_500_twice_then_202_sends_exactly_one_email() {
    let s = stack_failing_with(vec![Fault {
        status: 500,
        count: 2,
        retry_after: None,
        answer_after_ms: None,
    }])
    .await;
    let (status, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("flaky")))
        .await;
    assert_eq!(status, 200, "{answer}");
    let key = key_of(&answer);
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    assert_eq!(
        s.standin.request_count(),
        3,
        "two failures, then the accepted one"
    );
    let rows = s.sql(&format!(
        "SELECT state, attempts FROM deliveries WHERE key = '{key}'"
    ));
    assert_eq!(rows[0]["state"], "sent");
    assert_eq!(rows[0]["attempts"], 3);
    // The backoff reads the queue's own delivery count of the message.
    for attempt in 1..=3 {
        s.wait_for_log(
            &format!("attempt {attempt}"),
            Duration::from_secs(10),
            |l| l.contains(&key) && l.contains(&format!("\"attempt\":{attempt},")),
        )
        .await;
    }
}

async fn sendgrid_429_with_retry_after_is_retried_and_sends_one_email() {
    // Retry-After 3 is longer than the backoff (1 s base, 2 s cap): it wins.
    let s = stack_failing_with(vec![Fault {
        status: 429,
        count: 1,
        retry_after: Some(3),
        answer_after_ms: None,
    }])
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CANCELLED", &unique("limited")))
        .await;
    let key = key_of(&answer);
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    assert_eq!(s.standin.request_count(), 2);
    s.wait_for_log("the retry log line", Duration::from_secs(5), |l| {
        l.contains(&key)
            && l.contains("\"outcome\":\"retry\"")
            && l.contains("\"retry_in_seconds\":3")
    })
    .await;
}

async fn sendgrid_400_is_recorded_dead_lettered_and_not_retried() {
    let s = stack_failing_with(vec![Fault {
        status: 400,
        count: 1,
        retry_after: None,
        answer_after_ms: None,
    }])
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("rejected")))
        .await;
    let key = key_of(&answer);
    let row = poll("a failed ledger row", Duration::from_secs(45), || {
        let rows = s.sql(&format!("SELECT state, last_status, last_error, notification FROM deliveries WHERE key = '{key}'"));
        async move { rows.into_iter().find(|r| r["state"] == "failed") }
    })
    .await;
    assert_eq!(row["last_status"], 400);
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("stand-in fault: 400"),
        "{row}"
    );
    assert!(row["notification"].as_str().unwrap().contains(&key));
    s.wait_for_log("the failure log line", Duration::from_secs(5), |l| {
        l.contains(&key) && l.contains("\"outcome\":\"failed\"")
    })
    .await;
    let dead = poll(
        "the dead letter kept in D1",
        Duration::from_secs(30),
        || {
            let rows = s.sql(&format!(
                "SELECT trigger, reason, notification FROM dead_letters WHERE key = '{key}'"
            ));
            async move { rows.into_iter().next() }
        },
    )
    .await;
    assert_eq!(dead["trigger"], "BOOKING_CREATED");
    assert!(dead["reason"].as_str().unwrap().contains("400"), "{dead}");
    assert!(dead["notification"].as_str().unwrap().contains(&key));
    // The mailer acked it (its log line has no retry), so nothing asks SendGrid again.
    let lines: Vec<String> = s
        .log()
        .lines()
        .filter(|l| l.contains(&key) && l.contains("calhook-mailer"))
        .map(str::to_owned)
        .collect();
    assert!(
        lines.iter().all(|l| !l.contains("retry_in_seconds")),
        "a permanent failure must not be retried: {lines:?}"
    );
    let attempts = s.sql(&format!(
        "SELECT attempts FROM deliveries WHERE key = '{key}'"
    ));
    assert_eq!(attempts[0]["attempts"], 1);
    assert_eq!(s.standin.request_count(), 1);
    assert!(s.emails_for(&key).is_empty());
}

async fn same_notification_delivered_twice_sends_one_email() {
    let s = Stack::start(Options::default()).await;
    let v = fixture_for("BOOKING_CREATED", &unique("twice"));
    let (_, first) = s.send(&v).await;
    let key = key_of(&first);
    s.wait_for_email(&key).await;
    // Forget the receiver's key (as after a KV race or an expired TTL): the same
    // notification is queued a second time.
    s.sql(&format!("DELETE FROM idempotency_keys WHERE key = '{key}'"));
    let (_, second) = s.send(&v).await;
    assert_eq!(second["status"], "queued");
    s.wait_for_log(
        "the mailer acking the second copy",
        Duration::from_secs(30),
        |l| l.contains(&key) && l.contains("\"outcome\":\"duplicate\""),
    )
    .await;
    assert_eq!(s.emails_for(&key).len(), 1);
    assert_eq!(s.standin.request_count(), 1);
}

/// Two retries instead of ten, so that exhausting them takes seconds.
fn two_retries(config: &mut toml::Table) {
    for consumer in config["queues"]["consumers"].as_array_mut().unwrap() {
        let c = consumer.as_table_mut().unwrap();
        if c["queue"].as_str() == Some("calhook-notifications") {
            c.insert("max_retries".into(), 2.into());
        }
    }
}

async fn missing_sendgrid_api_key_keeps_the_message_and_says_so() {
    let s = Stack::start(Options {
        mailer_unset: vec!["SENDGRID_API_KEY"],
        edit_mailer: Some(two_retries),
        ..Options::default()
    })
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("nokey")))
        .await;
    let key = key_of(&answer);
    // The message is retried (not dropped), each time with a line naming the setting.
    for attempt in 1..=2 {
        poll(
            &format!("misconfigured log line #{attempt}"),
            Duration::from_secs(30),
            || {
                let n = s
                    .log()
                    .lines()
                    .filter(|l| l.contains(&key) && l.contains("SENDGRID_API_KEY is not set"))
                    .count();
                async move { (n >= attempt).then_some(()) }
            },
        )
        .await;
    }
    // Once the retries are used up, the queue dead-letters it and it is kept in D1.
    poll(
        "the dead letter kept in D1",
        Duration::from_secs(60),
        || {
            let rows = s.sql(&format!("SELECT key FROM dead_letters WHERE key = '{key}'"));
            async move { (!rows.is_empty()).then_some(()) }
        },
    )
    .await;
    assert_eq!(s.standin.request_count(), 0);
    assert!(!s.log().contains(SENDGRID_KEY));
}

async fn email_has_sendgrids_shape_and_the_rendered_booking() {
    let s = Stack::start(Options::default()).await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_RESCHEDULED", &unique("shape")))
        .await;
    let key = key_of(&answer);
    let email = &s.wait_for_email(&key).await[0];
    let b = &email.body;
    assert_eq!(
        b["personalizations"][0]["to"][0]["email"],
        "team@example.com"
    );
    assert_eq!(b["from"]["email"], "bookings@example.com");
    assert_eq!(b["from"]["name"], "Bookings");
    assert_eq!(b["reply_to"]["email"], "ada@example.com");
    assert_eq!(b["content"][0]["type"], "text/plain");
    assert_eq!(b["content"][1]["type"], "text/html");
    assert_eq!(b["custom_args"]["notification_key"], key.as_str());
    assert!(
        email.subject().starts_with("Rescheduled: 30 Min Meeting"),
        "{}",
        email.subject()
    );
    let text = email.content("text/plain");
    assert!(
        text.contains("Was: Wednesday, 25 November 2026, 15:00–15:30 GMT"),
        "{text}"
    );
    assert!(
        text.contains("When: Thursday, 26 November 2026, 16:00–16:30 GMT"),
        "{text}"
    );
}

async fn attendees_get_their_own_copy_when_enabled() {
    let s = Stack::start(Options {
        mailer_vars: vec![("NOTIFY_ATTENDEES", "true".into())],
        ..Options::default()
    })
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("attendee")))
        .await;
    let key = key_of(&answer);
    let emails = staff_and_attendee_copies(&s, &key).await;
    assert_eq!(emails.len(), 2);
    let to =
        |e: &sendgrid_standin::Captured| e.body["personalizations"][0]["to"][0]["email"].clone();
    let staff = emails
        .iter()
        .find(|e| to(e) == "team@example.com")
        .expect("staff email");
    let copy = emails
        .iter()
        .find(|e| to(e) == "grace@example.org")
        .expect("attendee copy");
    assert_eq!(copy.body["personalizations"].as_array().unwrap().len(), 1);
    // The attendee's own view: their zone first, no staff instructions.
    let text = copy.content("text/plain");
    assert!(text.contains("Hi Grace Hopper,"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("When:") && l.contains("GMT-5 (America/New_York)")),
        "{text}"
    );
    assert!(!copy.content("text/html").contains(&key), "no staff footer");
    assert!(staff
        .content("text/plain")
        .contains("Attendees: Grace Hopper"));
}

async fn an_attendee_named_with_a_comma_gets_a_copy_sendgrid_would_not_drop() {
    // SendGrid accepts a to.name with ',' or ';' and then drops that copy; the
    // stand-in refuses it, so this passes only if the name is made sendable.
    let s = Stack::start(Options {
        mailer_vars: vec![("NOTIFY_ATTENDEES", "true".into())],
        ..Options::default()
    })
    .await;
    let mut event = fixture_for("BOOKING_CREATED", &unique("comma"));
    event["payload"]["attendees"][0]["name"] = "Hopper, Grace; Rear Admiral".into();
    let (_, answer) = s.send(&event).await;
    let key = key_of(&answer);
    let emails = staff_and_attendee_copies(&s, &key).await;
    let copy = emails
        .iter()
        .find(|e| e.body["personalizations"][0]["to"][0]["email"] == "grace@example.org")
        .expect("the attendee's copy");
    assert_eq!(
        copy.body["personalizations"][0]["to"][0]["name"],
        "Hopper Grace Rear Admiral"
    );
    assert_eq!(s.standin.request_count(), 2, "nothing refused on the way");
}

async fn a_staff_address_among_the_attendees_still_gets_its_one_email() {
    // Staff put themselves on EMAIL_TO and also booked (in another case): SendGrid
    // would refuse one address twice, so the attendee copy is left out.
    let s = Stack::start(Options {
        mailer_vars: vec![
            ("NOTIFY_ATTENDEES", "true".into()),
            (
                "EMAIL_TO",
                r#""Team, Front Desk" <team@example.com>, Grace@Example.org"#.into(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("staffbooked")))
        .await;
    let key = key_of(&answer);
    let email = &s.wait_for_email(&key).await[0];
    let to: Vec<&str> = email.body["personalizations"][0]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["team@example.com", "Grace@Example.org"]);
    // The comma SendGrid would drop the copy for is gone from the name.
    assert_eq!(
        email.body["personalizations"][0]["to"][0]["name"],
        "Team Front Desk"
    );
    let line = s
        .wait_for_log("the mailer's line", Duration::from_secs(30), |l| {
            l.contains(&key) && l.contains("\"outcome\":\"sent\"")
        })
        .await;
    assert!(line.contains("attendee_is_staff"), "{line}");
    assert_eq!(s.emails_for(&key).len(), 1);
    assert!(s
        .sql(&format!("SELECT key FROM dead_letters WHERE key = '{key}'"))
        .is_empty());
}

async fn cal_coms_email_less_organizer_does_not_stop_the_email() {
    let s = Stack::start(Options::default()).await;
    let mut v = fixture_for("BOOKING_CANCELLED", &unique("emailless"));
    v["payload"]["organizer"]["name"] = "Nameless".into();
    v["payload"]["organizer"]["email"] = "Email-less".into();
    let (_, answer) = s.send(&v).await;
    let key = key_of(&answer);
    let email = &s.wait_for_email(&key).await[0];
    assert!(email.body.get("reply_to").is_none(), "{}", email.body);
    s.wait_for_log("reply_to left out", Duration::from_secs(30), |l| {
        l.contains(&key) && l.contains("reply_to_invalid")
    })
    .await;
}

async fn a_sendgrid_that_hangs_is_abandoned_after_the_timeout_and_retried() {
    let standin = StandIn::new(Some(SENDGRID_KEY.into()));
    // The first answer comes only after 20 s; the mailer gives up after 5 s.
    // (At 2 s, a loaded CI machine once timed out the retry too, after the
    // stand-in had taken it: a second email, as a real timeout could cause.)
    standin.fail_next(Fault {
        status: 500,
        count: 1,
        retry_after: None,
        answer_after_ms: Some(20_000),
    });
    let s = Stack::start(Options {
        standin: Some(standin),
        mailer_vars: vec![
            ("SENDGRID_TIMEOUT_SECONDS", "5".into()),
            ("SEND_LEASE_SECONDS", "10".into()),
        ],
        ..Options::default()
    })
    .await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("hang")))
        .await;
    let key = key_of(&answer);
    s.wait_for_log("the timeout log line", Duration::from_secs(30), |l| {
        l.contains(&key) && l.contains("did not answer within SENDGRID_TIMEOUT_SECONDS (5 s)")
    })
    .await;
    // The retry (a new lease) sends it; the hanging request never became an email.
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    let rows = s.sql(&format!(
        "SELECT state, attempts FROM deliveries WHERE key = '{key}'"
    ));
    assert_eq!(rows[0]["state"], "sent");
    // At least the abandoned attempt and the one that sent (a loaded machine
    // may time out a second attempt too); never a second email.
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 2, "{rows:?}");
    assert_eq!(s.emails_for(&key).len(), 1);
}

/// The mailer's zone offsets come from workerd's Intl, the native tests' from
/// chrono-tz: the same odd zones must read the same through the real worker.
async fn times_are_shown_in_zones_with_45_minute_offsets_and_half_hour_dst() {
    let s = Stack::start(Options::default()).await;
    let booking = |uid: &str, start: &str, end: &str| {
        let mut body = fixture_for("BOOKING_CREATED", &unique(uid));
        let p = &mut body["payload"];
        p["startTime"] = start.into();
        p["endTime"] = end.into();
        p["organizer"]["timeZone"] = "Australia/Lord_Howe".into();
        p["attendees"][0]["timeZone"] = "Asia/Kathmandu".into();
        body
    };
    // Lord Howe in southern summer (+11), then in winter (+10:30).
    let summer = booking("summer", "2026-11-25T15:00:00Z", "2026-11-25T15:30:00Z");
    let winter = booking("winter", "2027-07-01T00:00:00Z", "2027-07-01T00:30:00Z");
    let mut texts = Vec::new();
    for body in [summer, winter] {
        let (_, answer) = s.send(&body).await;
        let key = key_of(&answer);
        texts.push(
            s.wait_for_email(&key).await[0]
                .content("text/plain")
                .to_owned(),
        );
    }
    let (summer, winter) = (&texts[0], &texts[1]);
    assert!(
        summer
            .contains("When: Thursday, 26 November 2026, 02:00–02:30 GMT+11 (Australia/Lord_Howe)"),
        "{summer}"
    );
    assert!(
        summer.contains(": Wednesday, 25 November 2026, 20:45–21:15 GMT+5:45 (Asia/Kathmandu)"),
        "{summer}"
    );
    assert!(
        winter.contains("When: Thursday, 1 July 2027, 10:30–11:00 GMT+10:30 (Australia/Lord_Howe)"),
        "{winter}"
    );
}
