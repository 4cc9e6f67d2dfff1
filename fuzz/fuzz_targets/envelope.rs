//! Envelope parsing, key derivation, notification building and rendering on
//! arbitrary bytes: never a panic, never markup from input in the HTML, and a
//! notification that survives its own JSON round trip and fits a queue message.
#![no_main]

use calhook_core::event::parse;
use calhook_core::key::derive;
use calhook_core::notification::Notification;
use calhook_core::render::{only_template_tags, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse(data) else { return };
    let Some(key) = derive(&envelope) else { return };
    assert!(key.as_str().starts_with(envelope.trigger.as_str()));
    let n = Notification::build(&envelope, key);
    let json = serde_json::to_string(&n).unwrap();
    assert!(json.len() < 128 * 1024, "notification too large for a queue message");
    assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), n);
    let email = render(&n);
    assert!(only_template_tags(&email.html), "markup from input: {}", email.html);
    assert!(!email.subject.contains('\n'));
});
