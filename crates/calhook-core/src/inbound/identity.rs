//! Event identity: which deliveries are one event, and which are two.
//!
//! Why it is built this way (facts from Cal.com's source, `../shared/CALCOM.md`):
//!
//! - Cal.com builds each delivery as `{triggerEvent, createdAt, payload}` and
//!   computes `createdAt` per subscriber in one `subscribers.map(…)`, so the
//!   copies of one event sent to several webhooks (user-, team- and event-type
//!   level pointing at one URL) differ only in `createdAt`, by milliseconds,
//!   while the payload is identical. Cal.com never retries; a retrying proxy
//!   re-sends the same bytes.
//! - Different events about one booking differ in the payload: a new seat
//!   re-sends BOOKING_CREATED with the *same* uid but another attendee and seat
//!   id; a seat cancellation names only the cancelling attendee; a second
//!   payment has another payment id; a recording another link.
//! - Some triggers repeat with an identical payload as a new event (no-show
//!   true → false → true, location A → B → A, reassigned back, two people
//!   giving identical form answers): see
//!   [`Trigger::repeats_with_identical_payload`]. Only time tells those apart.
//!
//! So the identity is a mix:
//! 1. **Claim key** `TRIGGER:entity:digest`: the entity (booking uid, OOO
//!    entry, …) keeps keys readable and per-booking; the digest is RFC 8785
//!    canonical JSON of the payload, hashed ([`crate::inbound::digest`]), without the
//!    per-delivery `createdAt`. Copies share it; events that changed anything
//!    do not. A body hash would not do (createdAt, key order, white space).
//! 2. **Copy window** for repeatable triggers only: a delivery with the claim
//!    key of a recorded one is a copy when their signed `createdAt`s are within
//!    `COPY_WINDOW_MS` (default 1 s; copies are milliseconds apart, people
//!    clicking twice are not), and a new event otherwise. Once-only triggers
//!    merge whenever the key is known (within the TTL), whatever `createdAt`.
//! 3. **Notification key** (the mailer's ledger, the outbox): the claim key,
//!    plus for repeatable triggers the start of the copy window `createdAt`
//!    falls in (`@<ms>`). Two events are more than a window apart, so they
//!    never share one; copies almost always do, which keeps the ledger a
//!    second line of defence when D1 was down at the receiver.

use crate::inbound::event::{Booking, Envelope, Event, Trigger};
use crate::inbound::freshness::event_time_ms;
use crate::keys::{ClaimKey, NotificationKey};
use sha2::{Digest, Sha256};

/// A key (claim, notification, reminder) as its tenant owns it:
/// `<tenant>/<key>`; unchanged on the single-tenant route.
pub fn namespaced<T: std::fmt::Display>(tenant: Option<&T>, key: &str) -> String {
    match tenant {
        Some(t) => format!("{t}/{key}"),
        None => key.to_owned(),
    }
}

/// Which deliveries are one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventIdentity {
    /// `TRIGGER:entity:digest`, claimed in the idempotency store.
    pub claim: ClaimKey,
    /// Repeatable triggers only: Cal.com's signed `createdAt` (ms since the
    /// epoch). `None`: any delivery with this claim key is a copy.
    pub sent_at_ms: Option<i64>,
}

impl EventIdentity {
    /// The identity as `tenant` owns it (`<tenant>/<claim>`): two tenants
    /// forwarding one booking never suppress each other's email.
    pub fn for_tenant<T: std::fmt::Display>(self, tenant: Option<&T>) -> Self {
        Self {
            claim: ClaimKey::new(namespaced(tenant, self.claim.as_str())),
            ..self
        }
    }

    /// The notification's id: the claim key, plus the copy window `sent_at`
    /// falls in for repeatable triggers.
    pub fn notification_key(&self, copy_window_ms: u64) -> NotificationKey {
        match self.sent_at_ms {
            None => NotificationKey::new(self.claim.as_str()),
            Some(at) => {
                let window = copy_window_ms.max(1) as i64;
                NotificationKey::new(format!("{}@{}", self.claim, at - at.rem_euclid(window)))
            }
        }
    }
}

/// The key of a booking's change of status, which both its webhook and a
/// reconcile run that finds it ([`crate::reconcile`]) claim: whichever comes
/// second is a duplicate, though the two never share a payload digest.
/// `TRIGGER:booking:<uid>`, for the triggers that move a whole booking from
/// one status to another; `None` for every other (a seat's own event too).
pub fn change_key(trigger: &Trigger, booking_uid: &str) -> Option<ClaimKey> {
    use Trigger::*;
    match trigger {
        BookingCreated | BookingRequested | BookingCancelled | BookingRejected
        | BookingRescheduled => Some(ClaimKey::new(format!(
            "{}:{}",
            trigger.as_str(),
            shorten(&format!("booking:{booking_uid}"))
        ))),
        _ => None,
    }
}

/// Entity ids longer than this are hashed so keys stay short.
const MAX_ENTITY_LEN: usize = 96;

/// Derives the identity of a parsed event. Pings have none.
pub fn derive(envelope: &Envelope) -> Option<EventIdentity> {
    let entity = match &envelope.event {
        Event::Ping => return None,
        Event::Booking(b) => booking_entity(b),
        Event::NoShowUpdated(n) => first_some([
            n.booking_uid.as_deref().map(|u| format!("booking:{u}")),
            n.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
        ]),
        Event::VideoNoShow(v) => first_some([
            v.booking_uid.as_deref().map(|u| format!("booking:{u}")),
            v.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
        ]),
        Event::OutOfOffice(o) => o.ooo_entry.as_ref().and_then(|e| {
            first_some([
                e.uuid.as_deref().map(|u| format!("ooo:{u}")),
                e.id.as_deref().map(|i| format!("ooo-id:{i}")),
            ])
        }),
        Event::Form(f) => first_some([
            f.response_id
                .as_deref()
                .map(|r| format!("form-response:{r}")),
            f.form_id.as_deref().map(|id| format!("form:{id}")),
        ]),
        Event::Other(_) => None,
    }
    .unwrap_or_else(|| "content".to_owned());
    let claim = ClaimKey::new(format!(
        "{}:{}:{}",
        envelope.trigger.as_str(),
        shorten(&entity),
        envelope.content
    ));
    let sent_at_ms = if envelope.trigger.repeats_with_identical_payload() {
        envelope.created_at.as_deref().and_then(event_time_ms)
    } else {
        None
    };
    Some(EventIdentity { claim, sent_at_ms })
}

fn booking_entity(b: &Booking) -> Option<String> {
    first_some([
        b.uid.as_deref().map(|u| format!("booking:{u}")),
        b.booking_id.as_deref().map(|i| format!("booking-id:{i}")),
        b.id.as_deref().map(|i| format!("booking-id:{i}")),
    ])
}

fn first_some<const N: usize>(options: [Option<String>; N]) -> Option<String> {
    options.into_iter().flatten().find(|s| !s.trim().is_empty())
}

fn shorten(part: &str) -> String {
    if part.len() <= MAX_ENTITY_LEN && !part.contains('@') {
        part.to_owned()
    } else {
        // Long ids are hashed; so are ids with '@', which separates the window.
        format!("h-{}", hex::encode(&Sha256::digest(part.as_bytes())[..12]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::parse;
    use serde_json::{json, Value};

    const WINDOW: u64 = 1_000;

    fn identity(v: &Value) -> EventIdentity {
        derive(&parse(&serde_json::to_vec(v).unwrap()).unwrap()).unwrap()
    }

    /// The notification key the mailer would see for this delivery.
    fn key(v: &Value) -> String {
        identity(v).notification_key(WINDOW).to_string()
    }

    fn sent_at(mut v: Value, at: &str) -> Value {
        v["createdAt"] = json!(at);
        v
    }

    fn booking(trigger: &str, payload: Value) -> Value {
        json!({"triggerEvent": trigger, "createdAt": "2026-11-20T09:30:00.538Z", "payload": payload})
    }

    #[test]
    fn a_booking_key_names_the_trigger_the_booking_and_what_was_sent() {
        let k = key(&booking(
            "BOOKING_CREATED",
            json!({"uid": "u1", "bookingId": 3}),
        ));
        let (prefix, digest) = k.rsplit_once(':').unwrap();
        assert_eq!(prefix, "BOOKING_CREATED:booking:u1");
        assert_eq!(digest.len(), 24, "{k}");
    }

    #[test]
    fn copies_for_several_webhooks_are_one_event() {
        // Same payload, createdAt computed per subscriber (ms apart), keys in another order.
        let a = booking(
            "BOOKING_CREATED",
            json!({"uid": "u", "title": "T", "attendees": [{"name": "A"}]}),
        );
        let b: Value = serde_json::from_str(
            r#"{"createdAt":"2026-11-20T09:30:00.541Z","payload":{"attendees":[{"name":"A"}],"title":"T","uid":"u"},"triggerEvent":"BOOKING_CREATED"}"#,
        )
        .unwrap();
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn a_once_only_event_sent_again_much_later_is_still_the_same_event() {
        let a = booking("BOOKING_CANCELLED", json!({"uid": "u"}));
        let later = sent_at(a.clone(), "2026-11-20T10:45:09.000Z");
        assert_eq!(key(&a), key(&later));
    }

    #[test]
    fn a_new_seat_on_the_shared_booking_is_a_new_event() {
        let first = booking(
            "BOOKING_CREATED",
            json!({"uid": "shared", "bookingId": 9, "attendeeSeatId": "s1", "attendees": [{"name": "Ada", "email": "ada@x.org"}]}),
        );
        let second = booking(
            "BOOKING_CREATED",
            json!({"uid": "shared", "bookingId": 9, "attendeeSeatId": "s2", "attendees": [{"name": "Zoë Ångström", "email": "zoe@x.org"}]}),
        );
        assert_ne!(key(&first), key(&second));
    }

    #[test]
    fn two_seat_cancellations_on_one_booking_are_two_events() {
        let ada = booking(
            "BOOKING_CANCELLED",
            json!({"uid": "shared", "attendees": [{"name": "Ada", "email": "ada@x.org"}]}),
        );
        let zoe = booking(
            "BOOKING_CANCELLED",
            json!({"uid": "shared", "attendees": [{"name": "Zoë", "email": "zoe@x.org"}]}),
        );
        assert_ne!(key(&ada), key(&zoe));
    }

    #[test]
    fn a_no_show_set_cleared_and_set_again_is_three_events() {
        let state = |no_show: bool, at: &str| {
            sent_at(
                json!({"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "payload": {"message": "m",
                    "attendees": [{"email": "g@x.org", "noShow": no_show}], "bookingUid": "b", "bookingId": 4}}),
                at,
            )
        };
        let set = state(true, "2026-11-20T10:00:00.100Z");
        let set_copy = state(true, "2026-11-20T10:00:00.104Z");
        let cleared = state(false, "2026-11-20T10:00:07.000Z");
        let set_again = state(true, "2026-11-20T10:00:12.000Z");
        assert_eq!(key(&set), key(&set_copy));
        let keys = [key(&set), key(&cleared), key(&set_again)];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
        // The same claim key for both "set" events: the store's window decides.
        assert_eq!(identity(&set).claim, identity(&set_again).claim);
    }

    #[test]
    fn a_location_changed_back_is_a_new_event() {
        let at = |loc: &str, t: &str| {
            sent_at(
                booking(
                    "BOOKING_LOCATION_UPDATED",
                    json!({"uid": "u", "location": loc}),
                ),
                t,
            )
        };
        let a = at("Room A", "2026-11-20T10:00:00Z");
        let b = at("Room B", "2026-11-20T10:05:00Z");
        let a_again = at("Room A", "2026-11-20T10:09:00Z");
        assert_ne!(key(&a), key(&b));
        assert_ne!(key(&a), key(&a_again));
    }

    #[test]
    fn a_booking_reassigned_twice_is_two_events() {
        let to = |who: &str, t: &str| {
            sent_at(
                booking(
                    "BOOKING_REASSIGNED",
                    json!({"uid": "u", "organizer": {"email": who}}),
                ),
                t,
            )
        };
        let first = to("b@x.org", "2026-11-20T10:00:00Z");
        let second = to("c@x.org", "2026-11-20T11:00:00Z");
        let back = to("b@x.org", "2026-11-20T12:00:00Z");
        assert_ne!(key(&first), key(&second));
        assert_ne!(key(&first), key(&back));
    }

    #[test]
    fn two_people_giving_identical_form_answers_are_two_events() {
        let form = |t: &str| {
            sent_at(
                json!({"triggerEvent": "FORM_SUBMITTED", "Budget": "10k", "payload": {"formId": "f1", "formName": "Contact",
                    "responses": {"Budget": {"value": "10k"}}}}),
                t,
            )
        };
        let one = form("2026-11-20T10:00:00.000Z");
        let copy = form("2026-11-20T10:00:00.002Z");
        let another_person = form("2026-11-20T10:03:41.000Z");
        assert!(
            key(&one).starts_with("FORM_SUBMITTED:form:f1:"),
            "{}",
            key(&one)
        );
        assert_eq!(key(&one), key(&copy));
        assert_ne!(key(&one), key(&another_person));
    }

    #[test]
    fn events_more_than_a_window_apart_never_share_a_notification_key() {
        let base =
            json!({"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "payload": {"bookingUid": "b"}});
        for (a, b) in [
            ("2026-11-20T10:00:00.999Z", "2026-11-20T10:00:02.000Z"),
            ("2026-11-20T10:00:00.000Z", "2026-11-20T10:00:01.001Z"),
        ] {
            assert_ne!(
                key(&sent_at(base.clone(), a)),
                key(&sent_at(base.clone(), b))
            );
        }
    }

    #[test]
    fn a_repeatable_event_without_created_at_merges_like_a_once_only_one() {
        let v = json!({"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "payload": {"bookingUid": "b"}});
        assert_eq!(identity(&v).sent_at_ms, None);
        assert_eq!(
            identity(&v).notification_key(WINDOW).as_str(),
            identity(&v).claim.as_str()
        );
    }

    #[test]
    fn a_flat_meeting_body_is_keyed_by_its_booking_row() {
        let k = key(&json!({"triggerEvent": "MEETING_STARTED", "id": 12, "title": "t"}));
        assert!(k.starts_with("MEETING_STARTED:booking-id:12:"), "{k}");
    }

    #[test]
    fn ooo_is_keyed_by_entry_uuid() {
        let k = key(
            &json!({"triggerEvent": "OOO_CREATED", "payload": {"oooEntry": {"id": 4, "uuid": "abc"}}}),
        );
        assert!(k.starts_with("OOO_CREATED:ooo:abc:"), "{k}");
    }

    #[test]
    fn long_or_odd_entities_are_hashed() {
        let k = key(&booking("BOOKING_CREATED", json!({"uid": "u".repeat(500)})));
        assert!(k.len() < 96, "{k}");
        let k = key(&booking("BOOKING_CREATED", json!({"uid": "a@b"})));
        assert!(!k.contains('@'), "{k}");
    }

    #[test]
    fn ping_has_no_key() {
        assert_eq!(
            derive(&parse(br#"{"triggerEvent":"PING","payload":{}}"#).unwrap()),
            None
        );
    }
}
