//! Every fixture in `tests/fixtures/` (one per Cal.com trigger) parses, gets the
//! key its trigger calls for, and (with `render`) renders to a usable email.

use calhook_core::inbound::event::{parse, Event, Trigger};
use calhook_core::inbound::identity::derive;
use calhook_core::message::notification::Notification;
use std::path::Path;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut all: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_uppercase();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    all.sort();
    all
}

#[test]
fn there_is_a_fixture_for_every_known_trigger() {
    let names: Vec<String> = fixtures().into_iter().map(|(n, _)| n).collect();
    for trigger in Trigger::KNOWN {
        assert!(
            names.iter().any(|n| n == trigger),
            "no fixture for {trigger}"
        );
    }
}

#[test]
fn every_fixture_parses_as_its_own_trigger() {
    for (name, body) in fixtures() {
        let env = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(env.trigger.as_str(), name);
        assert!(!matches!(env.trigger, Trigger::Unknown(_)), "{name}");
    }
}

#[test]
fn every_fixture_but_ping_has_a_key_naming_its_trigger() {
    for (name, body) in fixtures() {
        let env = parse(&body).unwrap();
        match derive(&env) {
            None => assert_eq!(env.event, Event::Ping, "{name} has no key"),
            Some(id) => assert!(
                id.claim.as_str().starts_with(&format!("{name}:")),
                "{name}: {}",
                id.claim
            ),
        }
    }
}

#[test]
fn booking_fixtures_are_keyed_by_their_booking() {
    for (name, body) in fixtures() {
        let env = parse(&body).unwrap();
        if let (Event::Booking(_) | Event::NoShowUpdated(_) | Event::VideoNoShow(_), Some(key)) =
            (&env.event, derive(&env).map(|id| id.claim))
        {
            assert!(key.as_str().contains(":booking:"), "{name}: {key}");
        }
    }
}

#[cfg(feature = "tzdb")]
#[test]
fn every_fixture_renders_an_email_with_a_subject_and_both_bodies() {
    for (name, body) in fixtures() {
        let env = parse(&body).unwrap();
        let Some(key) = derive(&env).map(|id| id.notification_key(1_000)) else {
            continue;
        };
        let email = calhook_core::message::render::render(
            &Notification::build(&env, key),
            &calhook_core::message::zones::Tzdb,
        );
        assert!(!email.subject.is_empty(), "{name}");
        assert!(!email.html.contains("rendering failed"), "{name}");
        assert!(email.text.len() > 40, "{name}: {}", email.text);
        assert!(email.html.starts_with("<!DOCTYPE html>"), "{name}");
    }
}

#[test]
fn every_notification_fits_a_queue_message() {
    for (name, body) in fixtures() {
        let env = parse(&body).unwrap();
        let Some(key) = derive(&env).map(|id| id.notification_key(1_000)) else {
            continue;
        };
        let n = Notification::build(&env, key);
        let json = n.to_message().unwrap();
        assert_eq!(
            json,
            serde_json::to_string(&n).unwrap(),
            "{name} was shortened"
        );
        assert!(json.len() < 128 * 1024, "{name}");
    }
}
