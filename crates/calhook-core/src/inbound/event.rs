//! What Cal.com sends: the envelope `{triggerEvent, createdAt, payload}` and a
//! typed model of each trigger's payload.
//!
//! Every field is optional because Cal.com omits fields freely across versions;
//! unknown fields are ignored and unknown trigger names parse to
//! [`Trigger::Unknown`] so that new Cal.com triggers are accepted, not refused.

use crate::inbound::digest::{Canonicalizer, ContentDigest};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use thiserror::Error;

macro_rules! triggers {
    ($($variant:ident => $name:literal,)*) => {
        /// A Cal.com `triggerEvent`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Trigger {
            $($variant,)*
            /// A name this version does not know (Cal.com adds triggers over time).
            Unknown(String),
        }

        impl Trigger {
            /// Every trigger this version knows, in Cal.com's spelling.
            pub const KNOWN: &'static [&'static str] = &[$($name,)*];

            pub fn parse(name: &str) -> Self {
                match name {
                    $($name => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Unknown(name) => name,
                }
            }
        }
    };
}

triggers! {
    BookingCreated => "BOOKING_CREATED",
    BookingRescheduled => "BOOKING_RESCHEDULED",
    BookingCancelled => "BOOKING_CANCELLED",
    BookingRequested => "BOOKING_REQUESTED",
    BookingRejected => "BOOKING_REJECTED",
    BookingPaymentInitiated => "BOOKING_PAYMENT_INITIATED",
    BookingPaid => "BOOKING_PAID",
    BookingNoShowUpdated => "BOOKING_NO_SHOW_UPDATED",
    BookingLocationUpdated => "BOOKING_LOCATION_UPDATED",
    BookingReassigned => "BOOKING_REASSIGNED",
    MeetingStarted => "MEETING_STARTED",
    MeetingEnded => "MEETING_ENDED",
    InstantMeeting => "INSTANT_MEETING",
    InstantMeetingAccepted => "INSTANT_MEETING_ACCEPTED",
    AfterHostsCalVideoNoShow => "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
    AfterGuestsCalVideoNoShow => "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
    RecordingReady => "RECORDING_READY",
    RecordingTranscriptionGenerated => "RECORDING_TRANSCRIPTION_GENERATED",
    OooCreated => "OOO_CREATED",
    FormSubmitted => "FORM_SUBMITTED",
    FormSubmittedNoEvent => "FORM_SUBMITTED_NO_EVENT",
    RoutingFormFallbackHit => "ROUTING_FORM_FALLBACK_HIT",
    WrongAssignmentReport => "WRONG_ASSIGNMENT_REPORT",
    CalendarEntryRejected => "CALENDAR_ENTRY_REJECTED",
    DelegationCredentialError => "DELEGATION_CREDENTIAL_ERROR",
    Ping => "PING",
}

impl Trigger {
    /// Whether Cal.com can send this trigger again, later, with a payload
    /// identical to an earlier one, as a *new* event: a no-show set, cleared and
    /// set again; a location changed A → B → A; a booking reassigned back; two
    /// people giving identical answers to a routing form. For these, only the
    /// time (the signed `createdAt`) tells a repeat from a copy.
    ///
    /// The others happen once per booking/entry with a given payload (a new seat
    /// or a new payment changes the payload), so an identical payload is always
    /// a copy or a replay of the same event, however late it arrives.
    pub fn repeats_with_identical_payload(&self) -> bool {
        use Trigger::*;
        match self {
            BookingNoShowUpdated
            | BookingLocationUpdated
            | BookingReassigned
            | FormSubmitted
            | FormSubmittedNoEvent
            | RoutingFormFallbackHit
            | WrongAssignmentReport
            | InstantMeeting
            | InstantMeetingAccepted
            | CalendarEntryRejected
            | DelegationCredentialError
            | Unknown(_) => true,
            BookingCreated
            | BookingRescheduled
            | BookingCancelled
            | BookingRequested
            | BookingRejected
            | BookingPaymentInitiated
            | BookingPaid
            | MeetingStarted
            | MeetingEnded
            | AfterHostsCalVideoNoShow
            | AfterGuestsCalVideoNoShow
            | RecordingReady
            | RecordingTranscriptionGenerated
            | OooCreated
            | Ping => false,
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a verified body is not a Cal.com webhook we can read. Every variant is a 400.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error(
        "body is not JSON ({0}); custom payload templates are not supported: use Cal.com's default payload"
    )]
    NotJson(String),
    #[error(
        "body is not a Cal.com webhook envelope: expected a JSON object with a string \
         \"triggerEvent\"; custom payload templates are not supported: use Cal.com's default payload"
    )]
    NotAnEnvelope,
    #[error("payload of {trigger} does not have Cal.com's shape: {detail}")]
    BadPayload { trigger: String, detail: String },
}

/// A parsed webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub trigger: Trigger,
    /// When Cal.com built this delivery (per subscriber, so copies of one event
    /// differ by milliseconds). Signed, so it bounds replays.
    pub created_at: Option<String>,
    /// What Cal.com sent, canonicalized (RFC 8785) and hashed: identical
    /// between the copies of one event, different for any changed value.
    pub content: ContentDigest,
    pub event: Event,
}

/// The payload, typed by the shape Cal.com uses for the trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Cal.com's "Ping test" button.
    Ping,
    /// Booking lifecycle, meetings, recordings, payments, instant meetings.
    Booking(Box<Booking>),
    NoShowUpdated(NoShowUpdate),
    VideoNoShow(VideoNoShow),
    OutOfOffice(Box<OooCreated>),
    Form(FormSubmission),
    /// A trigger whose payload this version does not model (kept raw).
    Other(Value),
}

/// A booking as Cal.com describes it in most triggers' payloads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Booking {
    /// Event-type slug.
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    pub event_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub additional_notes: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub start_time: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub end_time: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub uid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub booking_id: Option<String>,
    /// Flat MEETING_* bodies carry the booking row's `id`.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub location: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub metadata: Option<BookingMetadata>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_type_title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub length: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub organizer: Option<Person>,
    /// Flat MEETING_* bodies (the scheduled sender) name the organizer `user`.
    #[serde(deserialize_with = "lenient_value")]
    pub user: Option<Person>,
    #[serde(deserialize_with = "lenient_list")]
    pub attendees: Vec<Person>,
    /// Seated events: the seat this delivery is about (a new seat re-sends
    /// BOOKING_CREATED with the shared booking's uid).
    #[serde(deserialize_with = "lenient_string")]
    pub attendee_seat_id: Option<String>,
    /// Seated events carry the event type's seat count.
    #[serde(deserialize_with = "lenient_string")]
    pub seats_per_time_slot: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub team: Option<Team>,
    #[serde(deserialize_with = "lenient_value")]
    pub responses: Option<Map<String, Value>>,
    #[serde(deserialize_with = "lenient_string")]
    pub reschedule_uid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub reschedule_start_time: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub reschedule_end_time: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub rescheduled_by: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub cancellation_reason: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub cancelled_by: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub rejection_reason: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub payment_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub price: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub download_link: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub download_links: Option<DownloadLinks>,
    /// INSTANT_MEETING: the link that joins the meeting.
    #[serde(deserialize_with = "lenient_string")]
    pub connect_and_join_url: Option<String>,
    /// Newer notification-style INSTANT_MEETING payloads.
    #[serde(deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BookingMetadata {
    #[serde(deserialize_with = "lenient_string")]
    pub video_call_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DownloadLinks {
    /// A URL, or a list of `{format, link}` objects.
    pub transcription: Option<Value>,
    #[serde(deserialize_with = "lenient_string")]
    pub recording: Option<String>,
}

/// An organizer, attendee or OOO user.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Person {
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub time_zone: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub language: Option<Language>,
    #[serde(deserialize_with = "lenient_string")]
    pub time_format: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub no_show: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Language {
    #[serde(deserialize_with = "lenient_string")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Team {
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
}

/// BOOKING_NO_SHOW_UPDATED: the booking is `bookingUid`, and one booking can
/// get several of these (different attendees or states).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NoShowUpdate {
    #[serde(deserialize_with = "lenient_string")]
    pub message: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub booking_uid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub booking_id: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    pub attendees: Vec<Person>,
}

/// AFTER_HOSTS_CAL_VIDEO_NO_SHOW / AFTER_GUESTS_CAL_VIDEO_NO_SHOW.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoNoShow {
    #[serde(deserialize_with = "lenient_string")]
    pub title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub booking_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub booking_uid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub start_time: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub end_time: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    pub attendees: Vec<Person>,
    #[serde(deserialize_with = "lenient_string")]
    pub host_email: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

/// OOO_CREATED: `payload.oooEntry`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OooCreated {
    #[serde(deserialize_with = "lenient_value")]
    pub ooo_entry: Option<OooEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OooEntry {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub start: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub end: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub notes: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub reason: Option<OooReason>,
    #[serde(deserialize_with = "lenient_value")]
    pub user: Option<Person>,
    #[serde(deserialize_with = "lenient_value")]
    pub to_user: Option<Person>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OooReason {
    #[serde(deserialize_with = "lenient_string")]
    pub emoji: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub reason: Option<String>,
}

/// FORM_SUBMITTED / FORM_SUBMITTED_NO_EVENT / ROUTING_FORM_FALLBACK_HIT.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FormSubmission {
    #[serde(deserialize_with = "lenient_string")]
    pub form_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub form_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub team_id: Option<String>,
    /// Present in some Cal.com versions; the best idempotency anchor when it is.
    #[serde(deserialize_with = "lenient_string")]
    pub response_id: Option<String>,
    #[serde(deserialize_with = "lenient_value")]
    pub responses: Option<Map<String, Value>>,
}

/// Parses a verified body, digesting it with serde_json_canonicalizer.
#[cfg(feature = "jcs")]
pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    parse_with(body, &crate::inbound::digest::Jcs)
}

/// Parses a verified body; `jcs` gives the canonical JSON its digest hashes.
pub fn parse_with(body: &[u8], jcs: &dyn Canonicalizer) -> Result<Envelope, EnvelopeError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        EnvelopeError::NotJson(match e.classify() {
            serde_json::error::Category::Eof => "unexpected end of input".to_owned(),
            _ => format!("line {} column {}", e.line(), e.column()),
        })
    })?;
    let Value::Object(mut root) = root else {
        return Err(EnvelopeError::NotAnEnvelope);
    };
    let trigger = match root.remove("triggerEvent") {
        Some(Value::String(name)) if !name.trim().is_empty() => Trigger::parse(name.trim()),
        _ => return Err(EnvelopeError::NotAnEnvelope),
    };
    // MEETING_STARTED/ENDED from Cal.com's scheduled sender are flat: the booking
    // row sits at the root, and the root `createdAt` is the booking's, not the delivery's.
    let (created_at, payload, content) = match root.remove("payload") {
        Some(payload) => {
            let created_at = string_field(root.remove("createdAt"));
            let content = ContentDigest::of(&payload, &mut root, jcs);
            (created_at, payload, content)
        }
        None => {
            let payload = Value::Object(root);
            let content = ContentDigest::of(&payload, &mut Map::new(), jcs);
            (None, payload, content)
        }
    };
    let bad = |e: serde_json::Error| EnvelopeError::BadPayload {
        trigger: trigger.as_str().to_owned(),
        detail: e.to_string(),
    };
    use Trigger::*;
    let event = match &trigger {
        Ping => Event::Ping,
        BookingNoShowUpdated => Event::NoShowUpdated(from_payload(payload).map_err(bad)?),
        AfterHostsCalVideoNoShow | AfterGuestsCalVideoNoShow => {
            Event::VideoNoShow(from_payload(payload).map_err(bad)?)
        }
        OooCreated => Event::OutOfOffice(Box::new(from_payload(payload).map_err(bad)?)),
        FormSubmitted | FormSubmittedNoEvent | RoutingFormFallbackHit => {
            Event::Form(from_payload(payload).map_err(bad)?)
        }
        BookingCreated
        | BookingRescheduled
        | BookingCancelled
        | BookingRequested
        | BookingRejected
        | BookingPaymentInitiated
        | BookingPaid
        | BookingLocationUpdated
        | BookingReassigned
        | MeetingStarted
        | MeetingEnded
        | InstantMeeting
        | InstantMeetingAccepted
        | RecordingReady
        | RecordingTranscriptionGenerated => {
            Event::Booking(Box::new(from_payload(payload).map_err(bad)?))
        }
        WrongAssignmentReport | CalendarEntryRejected | DelegationCredentialError | Unknown(_) => {
            Event::Other(payload)
        }
    };
    Ok(Envelope {
        trigger,
        created_at,
        content,
        event,
    })
}

/// A payload that is `null` or absent reads as an empty object.
fn from_payload<T: serde::de::DeserializeOwned + Default>(payload: Value) -> serde_json::Result<T> {
    match payload {
        Value::Null => Ok(T::default()),
        Value::Object(_) => serde_json::from_value(payload),
        other => Err(serde::de::Error::custom(format!(
            "expected an object, found {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Strings, numbers and booleans read as text; anything else (null, objects) as absent.
/// Cal.com sends some ids as numbers in one version and strings in another.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A value of the wrong shape reads as absent instead of failing the whole payload.
fn lenient_value<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    })
}

/// A list whose unreadable items are skipped; a non-list reads as empty.
fn lenient_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_envelope_is_parsed() {
        let env = parse(
            br#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-20T09:30:00.538Z",
                "payload":{"uid":"u1","bookingId":91,"title":"Intro","attendees":[{"name":"G","email":"g@x.org"}]}}"#,
        )
        .unwrap();
        assert_eq!(env.trigger, Trigger::BookingCreated);
        assert_eq!(env.created_at.as_deref(), Some("2026-11-20T09:30:00.538Z"));
        let Event::Booking(b) = env.event else {
            panic!("not a booking")
        };
        assert_eq!(b.uid.as_deref(), Some("u1"));
        assert_eq!(b.booking_id.as_deref(), Some("91"));
        assert_eq!(b.attendees.len(), 1);
    }

    #[test]
    fn unknown_trigger_is_kept_not_refused() {
        let env = parse(br#"{"triggerEvent":"SOMETHING_NEW","payload":{"x":1}}"#).unwrap();
        assert_eq!(env.trigger, Trigger::Unknown("SOMETHING_NEW".into()));
        assert!(matches!(env.event, Event::Other(_)));
    }

    #[test]
    fn flat_meeting_body_is_read_from_the_root() {
        let env = parse(
            br#"{"triggerEvent":"MEETING_ENDED","id":12,"uid":"u2","title":"T","createdAt":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            env.created_at, None,
            "root createdAt of a flat body is the booking's"
        );
        let Event::Booking(b) = env.event else {
            panic!()
        };
        assert_eq!(b.uid.as_deref(), Some("u2"));
        assert_eq!(b.id.as_deref(), Some("12"));
    }

    #[test]
    fn ping_with_any_payload_is_a_ping() {
        let env = parse(br#"{"triggerEvent":"PING","payload":{"type":"Test"}}"#).unwrap();
        assert_eq!(env.event, Event::Ping);
    }

    #[test]
    fn non_json_body_mentions_custom_templates() {
        let err = parse(b"triggerEvent=BOOKING_CREATED&title=x").unwrap_err();
        assert!(matches!(err, EnvelopeError::NotJson(_)));
        assert!(err
            .to_string()
            .contains("custom payload templates are not supported"));
    }

    #[test]
    fn json_without_trigger_event_is_not_an_envelope() {
        for body in [
            &br#"{"payload":{}}"#[..],
            b"[]",
            b"42",
            br#"{"triggerEvent":7}"#,
        ] {
            assert_eq!(parse(body).unwrap_err(), EnvelopeError::NotAnEnvelope);
        }
    }

    #[test]
    fn payload_of_the_wrong_type_is_a_bad_payload() {
        let err = parse(br#"{"triggerEvent":"BOOKING_CREATED","payload":"nope"}"#).unwrap_err();
        assert!(matches!(err, EnvelopeError::BadPayload { .. }), "{err:?}");
    }

    #[test]
    fn odd_field_types_are_tolerated() {
        let env = parse(
            br#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":5,"title":null,"attendees":"x","organizer":{"name":["a"]}}}"#,
        )
        .unwrap();
        let Event::Booking(b) = env.event else {
            panic!()
        };
        assert_eq!(b.uid.as_deref(), Some("5"));
        assert!(b.attendees.is_empty());
        assert_eq!(b.organizer.unwrap().name, None);
    }

    #[test]
    fn every_known_trigger_round_trips_its_name() {
        for name in Trigger::KNOWN {
            assert_eq!(Trigger::parse(name).as_str(), *name);
            assert!(!matches!(Trigger::parse(name), Trigger::Unknown(_)));
        }
    }
}
