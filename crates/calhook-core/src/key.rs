//! Idempotency keys: which entity an event is about, so that Cal.com retries,
//! "resend" presses and concurrent duplicates claim the same key.
//!
//! A key is `TRIGGER:entity[:discriminator]`. It is never derived from the raw
//! body, because Cal.com's `createdAt` changes between deliveries of one event.
//! When a payload names no entity at all, the key falls back to a hash of the
//! payload's *content* (without the envelope), which is stable across retries.

use crate::event::{Booking, Envelope, Event, Person};
use sha2::{Digest, Sha256};
use std::fmt;

/// The key an event claims in the idempotency store; also the notification's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Entity ids longer than this are hashed so keys stay short.
const MAX_ENTITY_LEN: usize = 96;

/// Derives the key for a parsed event. Pings have no key.
pub fn derive(envelope: &Envelope) -> Option<IdempotencyKey> {
    let trigger = envelope.trigger.as_str();
    let (entity, discriminator) = match &envelope.event {
        Event::Ping => return None,
        Event::Booking(b) => (booking_entity(b), booking_discriminator(trigger, b)),
        Event::NoShowUpdated(n) => (
            first_some([
                n.booking_uid.as_deref().map(|u| format!("booking:{u}")),
                n.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
            ]),
            // One booking legitimately gets several no-show updates: the set of
            // (attendee, state) pairs tells them apart.
            Some(no_show_states(&n.attendees)),
        ),
        Event::VideoNoShow(v) => (
            first_some([
                v.booking_uid.as_deref().map(|u| format!("booking:{u}")),
                v.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
            ]),
            None,
        ),
        Event::OutOfOffice(o) => (
            o.ooo_entry.as_ref().and_then(|e| {
                first_some([
                    e.uuid.as_deref().map(|u| format!("ooo:{u}")),
                    e.id.as_deref().map(|i| format!("ooo-id:{i}")),
                ])
            }),
            None,
        ),
        Event::Form(f) => (
            f.response_id
                .as_deref()
                .map(|r| format!("form-response:{r}")),
            None,
        ),
        Event::Other(_) => (None, None),
    };
    let entity = entity.unwrap_or_else(|| format!("content:{}", content_hash(&envelope.event)));
    let mut key = format!("{trigger}:{}", shorten(&entity));
    if let Some(d) = discriminator {
        key.push(':');
        key.push_str(&shorten(&d));
    }
    Some(IdempotencyKey(key))
}

fn booking_entity(b: &Booking) -> Option<String> {
    first_some([
        b.uid.as_deref().map(|u| format!("booking:{u}")),
        b.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
        b.id.as_deref().map(|i| format!("booking-id:{i}")),
    ])
}

/// Booking triggers that can repeat for one booking with different facts.
fn booking_discriminator(trigger: &str, b: &Booking) -> Option<String> {
    match trigger {
        "RECORDING_READY" => b
            .download_link
            .as_deref()
            .map(|l| format!("rec-{}", short_hash(l))),
        "RECORDING_TRANSCRIPTION_GENERATED" => b.download_links.as_ref().map(|l| {
            let joined = format!(
                "{}|{}",
                l.transcription.as_ref().map(canonical).unwrap_or_default(),
                l.recording.as_deref().unwrap_or_default()
            );
            format!("tr-{}", short_hash(&joined))
        }),
        "BOOKING_PAYMENT_INITIATED" | "BOOKING_PAID" => {
            b.payment_id.as_deref().map(|p| format!("payment-{p}"))
        }
        "BOOKING_LOCATION_UPDATED" => b
            .location
            .as_deref()
            .map(|l| format!("loc-{}", short_hash(l))),
        _ => None,
    }
}

fn no_show_states(attendees: &[Person]) -> String {
    let mut pairs: Vec<String> = attendees
        .iter()
        .map(|a| {
            format!(
                "{}={}",
                a.email.as_deref().unwrap_or_default().to_lowercase(),
                a.no_show.unwrap_or(false)
            )
        })
        .collect();
    pairs.sort();
    format!("noshow-{}", short_hash(&pairs.join(",")))
}

fn first_some<const N: usize>(options: [Option<String>; N]) -> Option<String> {
    options.into_iter().flatten().find(|s| !s.trim().is_empty())
}

fn shorten(part: &str) -> String {
    if part.len() <= MAX_ENTITY_LEN {
        part.to_owned()
    } else {
        format!("h-{}", short_hash(part))
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// A hash of what the event says (not its bytes: key order and white space do
/// not matter), for payloads that name no entity.
fn content_hash(event: &Event) -> String {
    match event {
        Event::Form(f) => short_hash(&format!(
            "{:?}|{}",
            f.form_id,
            canonical(&serde_json::Value::Object(
                f.responses.clone().unwrap_or_default()
            ))
        )),
        Event::Other(v) => short_hash(&canonical(v)),
        other => short_hash(&format!("{other:?}")),
    }
}

/// JSON with object keys sorted at every level, whatever map order serde_json uses.
fn canonical(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;

    fn key(body: &str) -> String {
        derive(&parse(body.as_bytes()).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn booking_created_is_keyed_by_booking_uid() {
        assert_eq!(
            key(
                r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"a","payload":{"uid":"u1","bookingId":3}}"#
            ),
            "BOOKING_CREATED:booking:u1"
        );
    }

    #[test]
    fn created_at_does_not_change_the_key() {
        let a = key(
            r#"{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":"u"}}"#,
        );
        let b = key(
            r#"{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-01-01T00:00:09Z","payload":{"uid":"u"}}"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn same_booking_different_triggers_differ() {
        let a = key(r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u"}}"#);
        let b = key(r#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"u"}}"#);
        assert_ne!(a, b);
    }

    #[test]
    fn booking_id_is_the_fallback_entity() {
        assert_eq!(
            key(r#"{"triggerEvent":"BOOKING_PAID","payload":{"bookingId":7,"paymentId":9}}"#),
            "BOOKING_PAID:booking-id:7:payment-9"
        );
        assert_eq!(
            key(r#"{"triggerEvent":"MEETING_STARTED","id":12,"title":"t"}"#),
            "MEETING_STARTED:booking-id:12"
        );
    }

    #[test]
    fn no_show_updates_for_one_booking_are_told_apart_by_state() {
        let a = key(
            r#"{"triggerEvent":"BOOKING_NO_SHOW_UPDATED","payload":{"bookingUid":"b","attendees":[{"email":"x@y","noShow":true}]}}"#,
        );
        let b = key(
            r#"{"triggerEvent":"BOOKING_NO_SHOW_UPDATED","payload":{"bookingUid":"b","attendees":[{"email":"x@y","noShow":false}]}}"#,
        );
        let a_again = key(
            r#"{"triggerEvent":"BOOKING_NO_SHOW_UPDATED","payload":{"message":"m","bookingUid":"b","attendees":[{"email":"X@Y","noShow":true}]}}"#,
        );
        assert!(a.starts_with("BOOKING_NO_SHOW_UPDATED:booking:b:noshow-"));
        assert_ne!(a, b);
        assert_eq!(a, a_again);
    }

    #[test]
    fn ooo_is_keyed_by_entry_uuid() {
        assert_eq!(
            key(r#"{"triggerEvent":"OOO_CREATED","payload":{"oooEntry":{"id":4,"uuid":"abc"}}}"#),
            "OOO_CREATED:ooo:abc"
        );
    }

    #[test]
    fn recordings_of_one_booking_are_told_apart_by_link() {
        let a = key(
            r#"{"triggerEvent":"RECORDING_READY","payload":{"uid":"u","downloadLink":"https://a"}}"#,
        );
        let b = key(
            r#"{"triggerEvent":"RECORDING_READY","payload":{"uid":"u","downloadLink":"https://b"}}"#,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn form_without_response_id_is_keyed_by_content_not_created_at() {
        let a = key(
            r#"{"triggerEvent":"FORM_SUBMITTED","createdAt":"1","payload":{"formId":"f","responses":{"q":{"value":"a"}}}}"#,
        );
        let b = key(
            r#"{"createdAt":"2","triggerEvent":"FORM_SUBMITTED","payload":{"responses":{"q":{"value":"a"}},"formId":"f"}}"#,
        );
        let c = key(
            r#"{"triggerEvent":"FORM_SUBMITTED","createdAt":"1","payload":{"formId":"f","responses":{"q":{"value":"b"}}}}"#,
        );
        assert!(a.starts_with("FORM_SUBMITTED:content:"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn long_entities_are_hashed() {
        let uid = "u".repeat(500);
        let k = key(&format!(
            r#"{{"triggerEvent":"BOOKING_CREATED","payload":{{"uid":"{uid}"}}}}"#
        ));
        assert!(k.len() < 64, "{k}");
    }

    #[test]
    fn ping_has_no_key() {
        assert_eq!(
            derive(&parse(br#"{"triggerEvent":"PING","payload":{}}"#).unwrap()),
            None
        );
    }
}
