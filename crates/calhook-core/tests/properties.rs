//! Property tests: the invariants behind "nothing let in, nothing sent twice",
//! checked on generated input on every `cargo test`.

use calhook_core::inbound::event::parse;
use calhook_core::inbound::identity::derive;
use calhook_core::inbound::signature::{sign, WebhookSecrets};
use calhook_core::message::notification::{Notification, MAX_NOTIFICATION_BYTES};
use calhook_core::settings::DEFAULT_COPY_WINDOW_MS;
use proptest::prelude::*;
use serde_json::{json, Value};

fn secrets(s: &str) -> WebhookSecrets {
    WebhookSecrets::parse(Some(s)).unwrap()
}

/// Secrets as an operator would type them: no commas, not blank.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_!@#$%^&*.-]{1,64}"
}

proptest! {
    #[test]
    fn a_body_signed_with_the_secret_verifies(s in secret(), body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(secrets(&s).verify(Some(&sign(&s, &body)), &body).is_ok());
    }

    #[test]
    fn a_body_signed_with_another_secret_never_verifies(
        s in secret(), other in secret(), body in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        prop_assume!(s != other);
        prop_assert!(secrets(&s).verify(Some(&sign(&other, &body)), &body).is_err());
    }

    #[test]
    fn any_change_to_the_body_breaks_the_signature(
        s in secret(), body in proptest::collection::vec(any::<u8>(), 1..512), at in any::<prop::sample::Index>(), flip in 1u8..=255
    ) {
        let sig = sign(&s, &body);
        let mut tampered = body.clone();
        let i = at.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert!(secrets(&s).verify(Some(&sig), &tampered).is_err());
    }

    #[test]
    fn an_arbitrary_header_never_verifies(s in secret(), header in ".{0,100}", body in ".{0,100}") {
        prop_assume!(header.trim().to_lowercase().trim_start_matches("sha256=") != sign(&s, body.as_bytes()));
        prop_assert!(secrets(&s).verify(Some(&header), body.as_bytes()).is_err());
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse(&body);
    }

    #[test]
    fn parsing_arbitrary_envelopes_never_panics(trigger in "[A-Z_]{1,30}", payload in arb_json(3)) {
        let body = serde_json::to_vec(&json!({"triggerEvent": trigger, "payload": payload})).unwrap();
        if let Ok(env) = parse(&body) {
            if let Some(id) = derive(&env) {
                let n = Notification::build(&env, id.notification_key(DEFAULT_COPY_WINDOW_MS));
                prop_assert!(n.to_message().unwrap().len() <= MAX_NOTIFICATION_BYTES);
            }
        }
    }

    #[test]
    fn the_key_ignores_created_at_and_key_order(uid in "[A-Za-z0-9]{1,40}", a in ".{0,30}", b in ".{0,30}") {
        let one = format!(r#"{{"triggerEvent":"BOOKING_CREATED","createdAt":{},"payload":{{"uid":{},"title":"t"}}}}"#, json!(a), json!(uid));
        let two = format!(r#"{{"payload":{{"title":"t","uid":{}}},"createdAt":{},"triggerEvent":"BOOKING_CREATED"}}"#, json!(uid), json!(b));
        prop_assert_eq!(derive(&parse(one.as_bytes()).unwrap()), derive(&parse(two.as_bytes()).unwrap()));
    }

    #[test]
    fn different_bookings_get_different_keys(u1 in "[A-Za-z0-9]{1,40}", u2 in "[A-Za-z0-9]{1,40}") {
        prop_assume!(u1 != u2);
        let k = |u: &str| derive(&parse(json!({"triggerEvent":"BOOKING_CREATED","payload":{"uid":u}}).to_string().as_bytes()).unwrap());
        prop_assert_ne!(k(&u1), k(&u2));
    }
}

#[cfg(feature = "tzdb")]
proptest! {
    #[test]
    fn rendering_never_emits_markup_from_input(
        title in ".{0,80}", name in ".{0,40}", notes in ".{0,120}", reason in ".{0,60}", url in ".{0,60}", tz in ".{0,20}"
    ) {
        let body = json!({"triggerEvent": "BOOKING_CANCELLED", "payload": {
            "uid": "u", "title": title, "additionalNotes": notes, "cancellationReason": reason, "cancelledBy": name,
            "location": url, "startTime": "2026-11-25T15:00:00Z", "endTime": "2026-11-25T15:30:00Z",
            "organizer": {"name": name, "email": name, "timeZone": tz},
            "attendees": [{"name": name, "email": "a@example.org", "timeZone": tz}],
            "metadata": {"videoCallUrl": url}
        }});
        let env = parse(body.to_string().as_bytes()).unwrap();
        let email = calhook_core::message::render::render(&Notification::build(&env, derive(&env).unwrap().notification_key(DEFAULT_COPY_WINDOW_MS)), &calhook_core::message::zones::Tzdb);
        prop_assert!(calhook_core::message::render::only_template_tags(&email.html), "{}", email.html);
        prop_assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
    }
}

fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("uid".to_string()),
                    Just("title".to_string()),
                    Just("attendees".to_string()),
                    Just("organizer".to_string()),
                    Just("startTime".to_string()),
                    Just("responses".to_string()),
                    Just("oooEntry".to_string()),
                    "[a-zA-Z]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON whose numbers are integers (`exact`: all within ±2^53), with keys and
/// strings from all of Unicode (control characters, astral planes: where
/// UTF-16 and UTF-8 order differ).
fn arb_integral_json(exact: bool) -> impl Strategy<Value = Value> {
    let int = if exact {
        (-(1i64 << 53)..=(1i64 << 53))
            .prop_map(|n| json!(n))
            .boxed()
    } else {
        prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n))
        ]
        .boxed()
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int,
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn integral_jcs_is_rfc_8785_for_exact_integers(v in arb_integral_json(true)) {
        use calhook_core::inbound::digest::{integral_jcs, Canonicalizer, Jcs};
        let fast = integral_jcs(&v).expect("answers for exact integers");
        prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(Jcs.canonical(&v)).unwrap());
    }

    #[test]
    fn integral_jcs_never_answers_differently_from_rfc_8785(v in arb_integral_json(false)) {
        use calhook_core::inbound::digest::{integral_jcs, Canonicalizer, Jcs};
        if let Some(fast) = integral_jcs(&v) {
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(Jcs.canonical(&v)).unwrap());
        }
    }
}
