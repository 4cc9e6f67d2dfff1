//! The operator console in a real browser: headless Chromium (Debian's, which
//! scripts/setup installs), driven by `tests/browser/console.mjs` through
//! playwright-core, against the three workers under `wrangler dev`. The
//! screenshots land in `target/console-screenshots/`.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use std::time::Duration;

const TOKEN: &str = "console-admin-token-0123456789abcdef";

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "console::an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser",
            an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser,
        ),
        trial(
            "console::a_dead_letter_is_alerted_to_alert_to_once_with_a_link_to_the_console",
            a_dead_letter_is_alerted_to_alert_to_once_with_a_link_to_the_console,
        ),
    ]
}

async fn an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser() {
    // SendGrid refuses the first email for good (say, an unverified sender).
    let standin = standin_refusing_the_first_send();
    let s = Stack::start(Options {
        receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
        standin: Some(standin),
        ..Options::default()
    })
    .await;
    let uid = unique("console");
    let (_, failed) = s.send(&fixture_for("BOOKING_CREATED", &uid)).await;
    let key = failed["key"].as_str().unwrap().to_owned();
    s.wait_for_dead_letter(&key).await;
    let (_, ok) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("console-ok")))
        .await;
    s.wait_for_email(ok["key"].as_str().unwrap()).await;
    assert!(s.emails_for(&key).is_empty());

    let shots = browser_test("console.mjs", &s.base, TOKEN, &[&key, &uid]).await;
    // Redriven from the page: the email now reaches SendGrid, once.
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    assert!(shots.join("2-overview.png").exists());
}

async fn a_dead_letter_is_alerted_to_alert_to_once_with_a_link_to_the_console() {
    let standin = standin_refusing_the_first_send();
    let s = Stack::start(Options {
        receiver_vars: vec![
            ("ADMIN_TOKEN", TOKEN.into()),
            ("ALERT_TO", "ops@example.com".into()),
            ("CONSOLE_URL", "https://hooks.example.com".into()),
        ],
        mailer_vars: vec![("ALERT_TO", "ops@example.com".into())],
        standin: Some(standin),
        ..Options::default()
    })
    .await;
    let (_, failed) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("alerted")))
        .await;
    let key = failed["key"].as_str().unwrap().to_owned();
    s.wait_for_dead_letter(&key).await;
    s.tick().await;
    let to_ops = |e: &sendgrid_standin::Captured| {
        e.body["personalizations"][0]["to"][0]["email"] == "ops@example.com"
    };
    let alert = poll("the alert email", Duration::from_secs(45), || {
        let found: Vec<_> = s.standin.accepted().into_iter().filter(to_ops).collect();
        async move { found.into_iter().next() }
    })
    .await;
    assert!(
        alert.subject().contains("could not be sent"),
        "{}",
        alert.subject()
    );
    assert!(alert
        .content("text/html")
        .contains("https://hooks.example.com/admin/ui/dead-letters"));
    // The next minute: nothing new, nothing sent.
    s.tick().await;
    s.wait_for_log("the second run's line", Duration::from_secs(20), |l| {
        l.contains("\"alerts\":{\"queued\":0}")
    })
    .await;
    assert_eq!(s.standin.accepted().into_iter().filter(to_ops).count(), 1);
}
