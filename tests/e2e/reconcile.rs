//! Reconciling with Cal.com's API against the real workers: the Cal.com API
//! stand-in holds the bookings, and a webhook "goes missing" by not being
//! sent (the receiver's route was down). The minute cron is run by hand
//! (`/__scheduled`): each tick hands the admin worker its reconcile tick too.

use crate::support::*;
use crate::trial;
use calcom_standin::{new_booking, StandIn as CalApi};
use libtest_mimic::Trial;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::OnceCell;

const TOKEN: &str = "reconcile-admin-token-0123456789abcdef";
const CAL_KEY: &str = "cal_live_reconcile_0123456789";
const MASTER_KEY: &str = "8f1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const MINUTE: i64 = 60_000;

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "reconcile::a_booking_created_and_cancelled_while_the_route_was_down_is_emailed_both_ways_once_without_its_reminder",
            a_booking_created_and_cancelled_while_the_route_was_down_is_emailed_both_ways_once_without_its_reminder,
        ),
        trial(
            "reconcile::a_booking_whose_webhook_arrived_is_not_emailed_again",
            a_booking_whose_webhook_arrived_is_not_emailed_again,
        ),
        trial(
            "reconcile::a_tenant_key_cal_com_refuses_is_reported_and_not_tried_again",
            a_tenant_key_cal_com_refuses_is_reported_and_not_tried_again,
        ),
        trial(
            "reconcile::a_cal_com_that_does_not_answer_is_given_up_on_and_its_bookings_recovered_by_a_later_run",
            a_cal_com_that_does_not_answer_is_given_up_on_and_its_bookings_recovered_by_a_later_run,
        ),
        trial(
            "reconcile::the_cli_sets_a_tenants_key_runs_it_now_and_shows_the_last_run",
            the_cli_sets_a_tenants_key_runs_it_now_and_shows_the_last_run,
        ),
        trial(
            "reconcile::the_console_shows_each_sources_last_run_and_marks_recovered_events",
            the_console_shows_each_sources_last_run_and_marks_recovered_events,
        ),
    ]
}

struct Reconciled {
    stack: Stack,
    cal: CalApi,
}

async fn reconciled() -> &'static Reconciled {
    static STACK: OnceCell<Reconciled> = OnceCell::const_new();
    STACK.get_or_init(|| start(Vec::new())).await
}

/// The three workers reconciling the single route with a Cal.com stand-in
/// of their own, every minute.
async fn start(more_vars: Vec<(&'static str, String)>) -> Reconciled {
    let cal = CalApi::new(Some(CAL_KEY.into()));
    let (addr, _task) = cal
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the Cal.com stand-in listens");
    let mut receiver_vars = vec![
        ("ADMIN_TOKEN", TOKEN.into()),
        ("TENANT_SECRETS_KEY", MASTER_KEY.into()),
        ("CAL_API_KEY", CAL_KEY.into()),
        ("CAL_API_BASE", format!("http://{addr}")),
        ("RECONCILE_EVERY_MINUTES", "1".into()),
    ];
    receiver_vars.extend(more_vars);
    let stack = Stack::start(Options {
        receiver_vars,
        ..Options::default()
    })
    .await;
    Reconciled { stack, cal }
}

/// Emails at the SendGrid stand-in whose notification key starts with `prefix`.
fn emails_starting(s: &Stack, prefix: &str) -> usize {
    s.standin
        .accepted()
        .iter()
        .filter(|m| {
            m.custom_arg("notification_key")
                .is_some_and(|k| k.starts_with(prefix))
        })
        .count()
}

/// Ticks until `done` holds (every tick reconciles: RECONCILE_EVERY_MINUTES=1).
async fn tick_until(s: &Stack, what: &str, done: impl Fn() -> bool) {
    poll(what, Duration::from_secs(150), || async {
        s.tick().await;
        done().then_some(())
    })
    .await
}

/// A booking's timeline (`/admin/bookings/{uid}`).
async fn timeline(s: &Stack, uid: &str) -> Value {
    let path = format!("/admin/bookings/{uid}");
    let (status, t) = s.admin(reqwest::Method::GET, &path, TOKEN, None).await;
    assert_eq!(status, 200, "{t}");
    t
}

/// A booking made in Cal.com 3 minutes ago, starting `start_ms` from now.
fn booked(cal: &CalApi, uid: &str, start_ms: i64) -> Value {
    let mut b = new_booking(uid, &created_at(start_ms), 30);
    b["title"] = json!(format!("Intro {uid}"));
    b["createdAt"] = json!(created_at(-3 * MINUTE));
    cal.put_booking(b)
}

async fn a_booking_created_and_cancelled_while_the_route_was_down_is_emailed_both_ways_once_without_its_reminder(
) {
    let r = reconciled().await;
    let (s, cal) = (&r.stack, &r.cal);
    // Both start in 58 minutes: their 1-hour reminder came due a minute
    // after they were made, and is due now.
    let lost = unique("lost");
    let kept = unique("lost-kept");
    booked(cal, &lost, 58 * MINUTE);
    cal.cancel_by(&lost, "Found another time", Some("attendee@example.com"))
        .unwrap();
    booked(cal, &kept, 58 * MINUTE);

    let created = format!("BOOKING_CREATED:booking:{lost}");
    let cancelled = format!("BOOKING_CANCELLED:booking:{lost}");
    let kept_reminder = format!("BOOKING_REMINDER:booking:{kept}:60m@");
    for (what, prefix) in [
        ("the recovered creation", &created),
        ("the recovered cancellation", &cancelled),
        ("the kept booking's reminder", &kept_reminder),
    ] {
        tick_until(s, what, || emails_starting(s, prefix) > 0).await;
    }
    // Later runs send nothing again, and the cancelled booking no reminder.
    s.tick().await;
    s.tick().await;
    s.wait_for_email(&format!("BOOKING_CREATED:booking:{kept}"))
        .await;
    assert_eq!(s.emails_for(&created).len(), 1);
    assert_eq!(s.emails_for(&cancelled).len(), 1);
    assert_eq!(emails_starting(s, &kept_reminder), 1);
    assert_eq!(
        emails_starting(s, &format!("BOOKING_REMINDER:booking:{lost}:")),
        0
    );
    let email = &s.emails_for(&cancelled)[0];
    let text = email.content("text/plain");
    assert!(
        text.contains(
            "Recovered: by reconciliation: Cal.com's webhook for this change never arrived."
        ),
        "{text}"
    );
    assert!(text.contains("Found another time"), "{text}");

    // The timeline marks it; the console's overview shows the source's run.
    let t = timeline(s, &lost).await;
    assert_eq!(t["booking"]["status"], "cancelled", "{t}");
    let outcomes: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["recovered", "recovered"], "{t}");

    // The webhooks arrive after all: duplicates.
    for trigger in ["BOOKING_CREATED", "BOOKING_CANCELLED"] {
        let mut late = fixture_for(trigger, &lost);
        late["createdAt"] = json!(created_at(0));
        let (status, answer) = s.send(&late).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "duplicate", "{trigger}: {answer}");
    }
    s.tick().await;
    let t = timeline(s, &lost).await;
    assert_eq!(
        t["events"].as_array().unwrap().len(),
        2,
        "one event per change: {t}"
    );
    assert_eq!(
        emails_starting(s, &format!("BOOKING_CREATED:booking:{lost}")),
        1
    );
    assert_eq!(
        emails_starting(s, &format!("BOOKING_CANCELLED:booking:{lost}")),
        1
    );

    // Cal.com was asked as its API requires.
    let asked = cal.requests();
    let first = asked
        .iter()
        .find(|q| q.path == "/v2/bookings")
        .expect("the admin worker asked Cal.com");
    assert_eq!(first.header("cal-api-version"), Some("2024-08-13"));
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {CAL_KEY}").as_str())
    );
    assert_eq!(first.query_param("sortUpdatedAt").as_deref(), Some("asc"));
    assert!(first.query_param("afterUpdatedAt").is_some());
}

async fn a_booking_whose_webhook_arrived_is_not_emailed_again() {
    let r = reconciled().await;
    let (s, cal) = (&r.stack, &r.cal);
    let uid = unique("arrived");
    let mut webhook = fixture_for("BOOKING_CREATED", &uid);
    webhook["createdAt"] = json!(created_at(0));
    let start = webhook["payload"]["startTime"].as_str().unwrap().to_owned();
    let (status, answer) = s.send(&webhook).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("queued")),
        "{answer}"
    );
    // On a reconciled route the change's key names the notification.
    let key = answer["key"].as_str().unwrap().to_owned();
    assert_eq!(key, format!("BOOKING_CREATED:booking:{uid}"));
    s.wait_for_email(&key).await;
    // Cal.com lists the same booking; a sentinel booking whose webhook never
    // came proves a reconcile run read past it.
    cal.put_booking(new_booking(&uid, &start, 30));
    let sentinel = unique("arrived-sentinel");
    booked(cal, &sentinel, 3 * 24 * 60 * MINUTE);
    tick_until(s, "the sentinel's recovered email", || {
        emails_starting(s, &format!("BOOKING_CREATED:booking:{sentinel}")) > 0
    })
    .await;
    assert_eq!(
        emails_starting(s, &format!("BOOKING_CREATED:booking:{uid}")),
        1,
        "only the webhook's email"
    );
}

async fn a_tenant_key_cal_com_refuses_is_reported_and_not_tried_again() {
    let r = reconciled().await;
    let s = &r.stack;
    let tenant = unique("refused").to_lowercase();
    let (status, body) = s
        .admin(
            reqwest::Method::POST,
            "/admin/tenants",
            TOKEN,
            Some(json!({"id": tenant, "secret": "a-tenant-webhook-secret-123"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let wrong = "cal_live_revoked_key_000000";
    let (status, body) = s
        .admin(
            reqwest::Method::PUT,
            &format!("/admin/tenants/{tenant}/cal-api-key"),
            TOKEN,
            Some(json!({"key": wrong})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = s
        .admin(
            reqwest::Method::GET,
            &format!("/admin/tenants/{tenant}"),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(shown["cal_api_key"], true);
    assert!(
        !shown.to_string().contains(wrong),
        "the key is never shown: {shown}"
    );

    let with_wrong_key = || {
        r.cal
            .requests()
            .iter()
            .filter(|q| q.header("authorization") == Some(format!("Bearer {wrong}").as_str()))
            .count()
    };
    tick_until(s, "Cal.com asked with the tenant's key", || {
        with_wrong_key() > 0
    })
    .await;
    let state = poll("the refusal reported", Duration::from_secs(30), || async {
        let (_, v) = s
            .admin(reqwest::Method::GET, "/admin/reconcile", TOKEN, None)
            .await;
        v["sources"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["source"] == tenant.as_str()).cloned())
            .filter(|x| !x["key_refused_at"].is_null())
    })
    .await;
    assert!(
        state["error"].as_str().unwrap().contains("refused"),
        "{state}"
    );
    s.tick().await;
    s.tick().await;
    assert_eq!(
        with_wrong_key(),
        1,
        "a refused key is not tried again by the schedule"
    );
}

async fn the_console_shows_each_sources_last_run_and_marks_recovered_events() {
    let r = reconciled().await;
    let (s, cal) = (&r.stack, &r.cal);
    let uid = unique("console-lost");
    booked(cal, &uid, 2 * 24 * 60 * MINUTE);
    cal.cancel(&uid, "No longer needed").unwrap();
    tick_until(s, "the recovered cancellation", || {
        emails_starting(s, &format!("BOOKING_CANCELLED:booking:{uid}")) > 0
    })
    .await;
    let shots = browser_test("reconcile.mjs", &s.base, TOKEN, &[&uid]).await;
    assert!(shots.join("reconcile-1-overview.png").exists());
}

async fn a_cal_com_that_does_not_answer_is_given_up_on_and_its_bookings_recovered_by_a_later_run() {
    // A stack of its own: no other test's run may take the slow answer.
    let r = start(vec![("CAL_API_TIMEOUT_SECONDS", "1".into())]).await;
    let (s, cal) = (&r.stack, &r.cal);
    let uid = unique("slow");
    booked(cal, &uid, 2 * 24 * 60 * MINUTE);
    // The next request is answered after 5 s, past CAL_API_TIMEOUT_SECONDS (1).
    cal.delay_next(5_000);
    s.tick().await;
    s.wait_for_log(
        "a reconcile run giving up on Cal.com",
        Duration::from_secs(60),
        |l| l.contains("no answer within CAL_API_TIMEOUT_SECONDS (1 s)"),
    )
    .await;
    assert!(s
        .emails_for(&format!("BOOKING_CREATED:booking:{uid}"))
        .is_empty());
    // Its mark did not pass the unread booking: the next run recovers it.
    let (status, answer) = s
        .admin(
            reqwest::Method::POST,
            "/admin/reconcile",
            TOKEN,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["sources"][0]["recovered"], 1, "{answer}");
    assert_eq!(
        s.wait_for_email(&format!("BOOKING_CREATED:booking:{uid}"))
            .await
            .len(),
        1
    );
}

/// Runs the `calhook` CLI against the stack; its stdout, or the failure.
async fn cli(s: &Stack, args: &[&str], stdin: &str) -> Result<String, String> {
    s.calhook(TOKEN, args, stdin).await
}

async fn the_cli_sets_a_tenants_key_runs_it_now_and_shows_the_last_run() {
    let r = reconciled().await;
    let s = &r.stack;
    let tenant = unique("cli").to_lowercase();
    cli(
        s,
        &["tenant", "add", &tenant, "--secret-from-stdin"],
        "a-tenant-webhook-secret-456\n",
    )
    .await
    .unwrap();
    let revoked = "cal_live_revoked_by_cli_00000";
    cli(
        s,
        &["tenant", "cal-api-key", &tenant, "--key-from-stdin"],
        &format!("{revoked}\n"),
    )
    .await
    .unwrap();
    let shown = cli(s, &["tenant", "show", &tenant], "").await.unwrap();
    assert!(shown.contains("\"cal_api_key\": true"), "{shown}");
    assert!(!shown.contains(revoked), "the key is never shown: {shown}");

    // A run now, of that tenant: Cal.com refuses the key, and the table says so.
    let ran = cli(s, &["reconcile", "--tenant", &tenant], "")
        .await
        .unwrap();
    let row = ran
        .lines()
        .find(|l| l.starts_with(&tenant))
        .unwrap_or_else(|| panic!("{ran}"));
    assert!(row.contains("refused the API key (401)"), "{ran}");
    let last = cli(s, &["reconcile", "--last"], "").await.unwrap();
    assert!(
        last.lines()
            .any(|l| l.starts_with(&tenant) && l.contains("refused")),
        "{last}"
    );
    let wrong = cli(s, &["reconcile", "--since", "yesterday"], "")
        .await
        .unwrap_err();
    assert!(wrong.contains("an RFC 3339 time"), "{wrong}");

    cli(s, &["tenant", "cal-api-key", &tenant, "--remove"], "")
        .await
        .unwrap();
    let shown = cli(s, &["tenant", "show", &tenant], "").await.unwrap();
    assert!(shown.contains("\"cal_api_key\": false"), "{shown}");
    let gone = cli(s, &["reconcile", "--tenant", &tenant], "")
        .await
        .unwrap_err();
    assert!(gone.contains("404"), "no longer reconciled: {gone}");
}
