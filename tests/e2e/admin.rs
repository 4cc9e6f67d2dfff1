//! The operator's dead-letter routes: list, then redrive after the cause is fixed.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use sendgrid_standin::StandIn;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "adm-test-token-0123456789abcdef0123";

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "admin::dead_letter_is_listed_then_redriven_into_one_email",
            dead_letter_is_listed_then_redriven_into_one_email,
        ),
        trial(
            "admin::routes_do_not_exist_without_admin_token",
            routes_do_not_exist_without_admin_token,
        ),
        trial("admin::wrong_token_is_401", wrong_token_is_401),
        trial(
            "admin::the_cli_shows_status_dead_letters_outbox_and_a_booking_and_counts_an_unexpected_payload_version",
            the_cli_shows_status_dead_letters_outbox_and_a_booking_and_counts_an_unexpected_payload_version,
        ),
        trial(
            "admin::list_is_newest_first_and_an_unreadable_dead_letter_can_be_deleted",
            list_is_newest_first_and_an_unreadable_dead_letter_can_be_deleted,
        ),
    ]
}

async fn admin_stack(standin: StandIn) -> Stack {
    Stack::start(Options {
        receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
        standin: Some(standin),
        ..Options::default()
    })
    .await
}

async fn list(s: &Stack, token: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}/admin/dead-letters", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn dead_letter_is_listed_then_redriven_into_one_email() {
    // SendGrid refuses the first send (say, an unverified sender) ...
    let s = admin_stack(standin_refusing_the_first_send()).await;
    let (_, answer) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("redrive")))
        .await;
    let key = answer["key"].as_str().unwrap().to_owned();
    // ... the operator lists the dead letters and sees why ...
    let listed = poll(
        "the dead letter to be listed",
        Duration::from_secs(45),
        || async {
            let (status, v) = list(&s, TOKEN).await;
            assert_eq!(status, 200, "{v}");
            v["dead_letters"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["key"] == key.as_str()).cloned())
        },
    )
    .await;
    assert!(
        listed["reason"].as_str().unwrap().contains("400"),
        "{listed}"
    );
    assert!(s.emails_for(&key).is_empty());
    // ... fixes the cause (the stand-in now accepts) and redrives it.
    let r = http()
        .post(format!("{}/admin/dead-letters/redrive", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    let (_, after) = list(&s, TOKEN).await;
    assert!(!after["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["key"] == key.as_str()));
    let rows = s.sql(&format!("SELECT state FROM deliveries WHERE key = '{key}'"));
    assert_eq!(rows[0]["state"], "sent");
    // Redriving everything again (the natural retry) sends nothing more.
    let r = http()
        .post(format!("{}/admin/dead-letters/redrive", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["count"], 0, "{v}");
    assert_eq!(s.emails_for(&key).len(), 1);
}

async fn list_is_newest_first_and_an_unreadable_dead_letter_can_be_deleted() {
    let s = admin_stack(StandIn::new(Some(SENDGRID_KEY.into()))).await;
    s.sql(
        "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) VALUES \
         ('unreadable:m-old', NULL, 'garbage', 'not a notification', 1000), \
         ('BOOKING_CREATED:booking:newer', 'BOOKING_CREATED', '{}', '400 from SendGrid', 2000)",
    );
    let (status, v) = list(&s, TOKEN).await;
    assert_eq!(status, 200, "{v}");
    let keys: Vec<&str> = v["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["BOOKING_CREATED:booking:newer", "unreadable:m-old"]);
    let delete = |key: &'static str| {
        http()
            .post(format!("{}/admin/dead-letters/delete", s.base))
            .header("authorization", format!("bearer {TOKEN}"))
            .json(&json!({ "key": key }))
            .send()
    };
    assert_eq!(delete("unreadable:m-old").await.unwrap().status(), 200);
    assert_eq!(delete("unreadable:m-old").await.unwrap().status(), 404);
    let (_, v) = list(&s, TOKEN).await;
    assert_eq!(v["count"], 1, "{v}");
}

async fn routes_do_not_exist_without_admin_token() {
    let s = Stack::start(Options::default()).await;
    let (status, _) = list(&s, "anything").await;
    assert_eq!(status, 404);
}

async fn wrong_token_is_401() {
    let s = admin_stack(StandIn::new(Some(SENDGRID_KEY.into()))).await;
    let (status, v) = list(&s, "not-the-token").await;
    assert_eq!(status, 401, "{v}");
    let r = http()
        .post(format!("{}/admin/dead-letters/redrive", s.base))
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Runs the `calhook` CLI against the stack; its stdout, or the failure.
async fn cli(s: &Stack, args: &[&str]) -> Result<String, String> {
    s.calhook(TOKEN, args, "").await
}

async fn the_cli_shows_status_dead_letters_outbox_and_a_booking_and_counts_an_unexpected_payload_version(
) {
    let s = admin_stack(StandIn::new(Some(SENDGRID_KEY.into()))).await;
    // Cal.com's header on every delivery; a version calhook was not written for is counted.
    let uid = unique("cli");
    let bytes = body(&fixture_for("BOOKING_CREATED", &uid));
    let r = http()
        .post(s.webhook_url())
        .header("content-type", "application/json")
        .header(
            "X-Cal-Signature-256",
            calhook_core::inbound::signature::sign(SECRET, &bytes),
        )
        .header("X-Cal-Webhook-Version", "2099-01-01")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = poll(
        "the unexpected version counted",
        Duration::from_secs(30),
        || async {
            let out = cli(&s, &["status", "--json"]).await;
            let v: Value = serde_json::from_str(&out.ok()?).ok()?;
            (v["unexpected_payload_versions"][0]["version"] == "2099-01-01").then_some(v)
        },
    )
    .await;
    assert_eq!(status["payload_version"], "2021-10-20");
    let human = cli(&s, &["status"]).await.unwrap();
    assert!(human.contains("UNEXPECTED 2099-01-01"), "{human}");
    s.wait_for_log("the version logged", Duration::from_secs(10), |l| {
        l.contains("\"payload_version\":\"2099-01-01\"")
    })
    .await;

    let timeline = cli(&s, &["bookings", "show", &uid]).await.unwrap();
    assert!(timeline.contains("BOOKING_CREATED"), "{timeline}");
    // A hostile uid stays one path segment: not found, never another route.
    let err = cli(&s, &["bookings", "show", "../dead-letters"])
        .await
        .unwrap_err();
    assert!(err.contains("404"), "{err}");

    s.sql(
        "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) VALUES \
         ('BOOKING_CREATED:booking:cli-dead', 'BOOKING_CREATED', '{}', '400 from SendGrid: from: not verified', 2000)",
    );
    let listed = cli(&s, &["dead-letters", "list"]).await.unwrap();
    assert!(
        listed.contains("BOOKING_CREATED:booking:cli-dead") && listed.contains("not verified"),
        "{listed}"
    );
    let shown = cli(
        &s,
        &[
            "dead-letters",
            "show",
            "BOOKING_CREATED:booking:cli-dead",
            "--json",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&shown).unwrap()["trigger"],
        "BOOKING_CREATED"
    );
    let outbox = cli(&s, &["outbox", "--json"]).await.unwrap();
    assert!(serde_json::from_str::<Value>(&outbox).unwrap()["depth"].is_number());
    // Without a token, no prompt off a terminal: a clear error.
    let out = output_within(
        std::process::Command::new(root().join("target/debug/calhook"))
            .args(["status"])
            .env("CALHOOK_URL", &s.base)
            .env_remove("CALHOOK_ADMIN_TOKEN")
            .env_remove("ADMIN_TOKEN"),
        CLI_DEADLINE,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CALHOOK_ADMIN_TOKEN"));
}
