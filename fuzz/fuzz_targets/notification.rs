//! Any queue message the mailer might read: decoding never panics, and
//! rendering whatever decodes never emits markup from input.
#![no_main]

use calhook_core::message::notification::Notification;
use calhook_core::message::render::{only_template_tags, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(n) = serde_json::from_slice::<Notification>(data) else { return };
    let email = render(&n, &calhook_core::message::zones::Tzdb);
    assert!(only_template_tags(&email.html), "markup from input: {}", email.html);
});
