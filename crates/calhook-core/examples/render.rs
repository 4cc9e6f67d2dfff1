//! Prints the email a fixture (or any body) turns into:
//! `cargo run -p calhook-core --features render --example render -- BOOKING_CREATED [--html]`

use calhook_core::inbound::{event::parse, identity::derive};
use calhook_core::message::{notification::Notification, render::render};

fn main() {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "BOOKING_CREATED".into());
    let html = std::env::args().any(|a| a == "--html");
    let path = if std::path::Path::new(&arg).exists() {
        arg.clone()
    } else {
        format!(
            "{}/../../tests/fixtures/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            arg.to_lowercase()
        )
    };
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let envelope = parse(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
    let Some(key) = derive(&envelope).map(|id| id.notification_key(1_000)) else {
        println!("{} produces no email (no key)", envelope.trigger);
        return;
    };
    let email = render(
        &Notification::build(&envelope, key),
        &calhook_core::message::zones::Tzdb,
    );
    println!(
        "Subject: {}\n\n{}",
        email.subject,
        if html { &email.html } else { &email.text }
    );
}
