//! Envelope parsing, key derivation, notification building and rendering on
//! arbitrary bytes: never a panic, never markup from input in the HTML, and a
//! notification that survives its own JSON round trip and fits a queue message.
#![no_main]

use calhook_core::inbound::event::parse;
use calhook_core::inbound::identity::derive;
use calhook_core::message::notification::{Notification, MAX_NOTIFICATION_BYTES};
use calhook_core::message::render::{only_template_tags, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse(data) else { return };
    let Some(id) = derive(&envelope) else { return };
    assert!(id.claim.as_str().starts_with(envelope.trigger.as_str()));
    let n = Notification::build(&envelope, id.notification_key(1_000));
    // The queue message, bounded by bytes whatever the body carried.
    let json = n.to_message().unwrap();
    assert!(json.len() <= MAX_NOTIFICATION_BYTES, "notification too large: {} bytes", json.len());
    let back = serde_json::from_str::<Notification>(&json).unwrap();
    assert_eq!(back.key, n.key);
    assert_eq!(serde_json::to_string(&back).unwrap(), json, "does not round-trip");
    let n = back;
    let email = render(&n, &calhook_core::message::zones::Tzdb);
    assert!(only_template_tags(&email.html), "markup from input: {}", email.html);
    assert!(!email.subject.contains('\n'));
});
