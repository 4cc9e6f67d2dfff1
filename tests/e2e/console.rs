//! The operator console in a real browser: headless Chromium (Debian's, which
//! scripts/setup installs), driven by `tests/browser/console.mjs` through
//! playwright-core, against the three workers under `wrangler dev`. The
//! screenshots land in `target/console-screenshots/`.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use sendgrid_standin::{Fault, StandIn};
use std::time::Duration;

const TOKEN: &str = "console-admin-token-0123456789abcdef";

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "console::an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser",
        an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser,
    )]
}

async fn an_operator_finds_why_an_email_did_not_arrive_and_resends_it_from_the_browser() {
    // SendGrid refuses the first email for good (say, an unverified sender).
    let standin = StandIn::new(Some(SENDGRID_KEY.into()));
    standin.fail_next(Fault {
        status: 400,
        count: 1,
        retry_after: None,
        answer_after_ms: None,
    });
    let s = Stack::start(Options {
        receiver_vars: vec![("ADMIN_TOKEN", TOKEN.into())],
        standin: Some(standin),
        ..Options::default()
    })
    .await;
    let uid = unique("console");
    let (_, failed) = s.send(&fixture_for("BOOKING_CREATED", &uid)).await;
    let key = failed["key"].as_str().unwrap().to_owned();
    poll("the dead letter", Duration::from_secs(45), || {
        let rows = s.sql(&format!("SELECT key FROM dead_letters WHERE key = '{key}'"));
        async move { (!rows.is_empty()).then_some(()) }
    })
    .await;
    let (_, ok) = s
        .send(&fixture_for("BOOKING_CREATED", &unique("console-ok")))
        .await;
    s.wait_for_email(ok["key"].as_str().unwrap()).await;
    assert!(s.emails_for(&key).is_empty());

    let shots = root().join("target/console-screenshots");
    let run = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/console.mjs"))
        .args([s.base.as_str(), TOKEN])
        .arg(&shots)
        .args([key.as_str(), uid.as_str()])
        .current_dir(root())
        .output()
        .await
        .expect("node runs (scripts/setup installs playwright-core and chromium)");
    assert!(
        run.status.success(),
        "the browser test failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // Redriven from the page: the email now reaches SendGrid, once.
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    assert!(shots.join("2-overview.png").exists());
}
