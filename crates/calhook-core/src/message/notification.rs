//! The queue message: a versioned, self-contained summary of one event with
//! every fact the email needs, so the mailer never sees Cal.com's raw body.

use crate::inbound::event::{Booking, Envelope, Event, Person, Trigger};
use crate::keys::NotificationKey;
use crate::tenants::TenantId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `v` this code writes. A mailer refuses versions it does not know.
pub const NOTIFICATION_VERSION: u32 = 1;

/// Longest text kept per field.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// Most attendees, links or form answers kept.
pub const MAX_LIST_ITEMS: usize = 25;
/// Largest serialized notification ([`Notification::to_message`]): half a
/// queue message's 128 KB, and well within a D1 row for the outbox. Characters
/// are not bytes: a character may take 4 bytes in UTF-8, or 6 as a JSON escape.
pub const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;
/// The trigger of calhook's own reminder before a booking starts.
pub const REMINDER_TRIGGER: &str = "BOOKING_REMINDER";
/// The trigger of calhook's own follow-up after a booking ended (staff only).
pub const FOLLOW_UP_TRIGGER: &str = "BOOKING_FOLLOW_UP";
/// The trigger of calhook's alerts to its operator (`ALERT_TO`).
pub const ALERT_TRIGGER: &str = "CALHOOK_ALERT";

/// What a notification is about: an event Cal.com sent, or calhook's own
/// reminder or follow-up. Matched on, never compared as text, so a new kind
/// fails to compile wherever it needs a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Event(Trigger),
    Reminder,
    FollowUp,
    /// calhook telling its operator something needs a person (`crate::alerts`).
    Alert,
}

impl Kind {
    pub fn parse(name: &str) -> Self {
        match name {
            REMINDER_TRIGGER => Kind::Reminder,
            FOLLOW_UP_TRIGGER => Kind::FollowUp,
            ALERT_TRIGGER => Kind::Alert,
            other => Kind::Event(Trigger::parse(other)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Kind::Event(trigger) => trigger.as_str(),
            Kind::Reminder => REMINDER_TRIGGER,
            Kind::FollowUp => FOLLOW_UP_TRIGGER,
            Kind::Alert => ALERT_TRIGGER,
        }
    }

    /// The Cal.com trigger, for an event.
    pub fn trigger(&self) -> Option<&Trigger> {
        match self {
            Kind::Event(trigger) => Some(trigger),
            Kind::Reminder | Kind::FollowUp | Kind::Alert => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On the wire (message v1) a kind is its name, as before it was typed.
impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Kind::parse(&name))
    }
}

/// Ever smaller (characters per field, items per list) until the message fits.
const SHEDDING_STEPS: &[(usize, usize)] = &[(500, 10), (200, 5), (80, 1), (20, 0)];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub v: u32,
    /// The idempotency key; also the notification's id in the mailer's ledger.
    pub key: NotificationKey,
    /// What it is about (`"trigger"` on the wire: Cal.com's trigger name, or
    /// [`REMINDER_TRIGGER`] / [`FOLLOW_UP_TRIGGER`]).
    pub trigger: Kind,
    /// The tenant whose webhook it came through (`None`: the single-tenant
    /// route); the mailer takes its recipients and sender from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default)]
    pub facts: Facts,
}

/// What happened, normalized across Cal.com's payload shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// BOOKING_RESCHEDULED: the old times and the old booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_end: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_booking_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Party>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<Party>,
    /// Human-readable location ("Cal Video", an address, a phone number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_url: Option<String>,
    /// Why it was cancelled or rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who cancelled or rescheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ooo: Option<OutOfOffice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// Seated events: the attendee whose seat was booked (BOOKING_CREATED) or
    /// cancelled (BOOKING_CANCELLED naming only that attendee).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<Party>,
    /// calhook's own reminders and follow-ups: how long before the start (or
    /// after the end) it is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder: Option<Reminder>,
    /// Recovered by a reconcile run (`crate::reconcile`): Cal.com's webhook
    /// never arrived. When the change happened in Cal.com.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<DateTime<Utc>>,
    /// Fields were shortened or left out to fit [`MAX_NOTIFICATION_BYTES`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shortened: bool,
    /// The zone to show times in when the organizer's is unknown: set by the
    /// mailer (the tenant's `time_zone`, else `DEFAULT_TIME_ZONE`); never queued.
    #[serde(skip)]
    pub fallback_zone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Party {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_show: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub minutes: u32,
}

impl Reminder {
    /// "1 hour", "24 hours", "90 minutes", "2 days".
    pub fn in_words(&self) -> String {
        let m = self.minutes;
        let plural = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
        if m >= 2 * 1440 && m.is_multiple_of(1440) {
            plural(m / 1440, "day")
        } else if m.is_multiple_of(60) {
            plural(m / 60, "hour")
        } else {
            plural(m, "minute")
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutOfOffice {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub person: Option<Party>,
    pub redirect_to: Option<Party>,
    pub reason: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Form {
    pub name: Option<String>,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub label: String,
    pub value: String,
}

impl Notification {
    /// Builds the message for an event that has a key.
    pub fn build(envelope: &Envelope, key: NotificationKey) -> Self {
        let facts = match &envelope.event {
            Event::Booking(b) => booking_facts(&envelope.trigger, b),
            Event::NoShowUpdated(n) => Facts {
                booking_uid: n.booking_uid.clone(),
                booking_id: n.booking_id.clone(),
                message: clean(&n.message),
                attendees: n.attendees.iter().map(party).collect(),
                ..Facts::default()
            },
            Event::VideoNoShow(v) => Facts {
                title: clean(&v.title),
                booking_uid: v.booking_uid.clone(),
                booking_id: v.booking_id.clone(),
                start: time(&v.start_time),
                end: time(&v.end_time),
                attendees: v.attendees.iter().map(party).collect(),
                organizer: v.host_email.as_ref().map(|e| Party {
                    email: Some(e.clone()),
                    ..Party::default()
                }),
                message: clean(&v.message),
                ..Facts::default()
            },
            Event::OutOfOffice(o) => Facts {
                ooo: o.ooo_entry.as_ref().map(|e| OutOfOffice {
                    start: time(&e.start),
                    end: time(&e.end),
                    person: e.user.as_ref().map(party),
                    redirect_to: e.to_user.as_ref().map(party),
                    reason: e.reason.as_ref().and_then(|r| {
                        let reason = r.reason.as_deref().map(ooo_reason);
                        let text = [r.emoji.as_deref(), reason]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ");
                        clean(&Some(text))
                    }),
                    notes: clean(&e.notes),
                }),
                ..Facts::default()
            },
            Event::Form(f) => Facts {
                form: Some(Form {
                    name: clean(&f.form_name),
                    answers: answers(f.responses.as_ref()),
                }),
                ..Facts::default()
            },
            Event::Ping | Event::Other(_) => Facts::default(),
        };
        Self {
            v: NOTIFICATION_VERSION,
            key,
            trigger: Kind::Event(envelope.trigger.clone()),
            tenant: None,
            created_at: envelope
                .created_at
                .as_deref()
                .map(|t| bounded(t, MAX_FIELD_CHARS)),
            facts: facts.bounded(MAX_FIELD_CHARS, MAX_LIST_ITEMS),
        }
    }

    /// The queue message: JSON of at most [`MAX_NOTIFICATION_BYTES`], whatever
    /// the webhook carried. Texts and lists are shortened step by step until
    /// it fits (`shortened` says so); the key, trigger and times always stay.
    pub fn to_message(&self) -> Result<String, serde_json::Error> {
        let json = serde_json::to_string(self)?;
        if json.len() <= MAX_NOTIFICATION_BYTES {
            return Ok(json);
        }
        let mut smaller = self.clone();
        smaller.facts.shortened = true;
        for &(chars, items) in SHEDDING_STEPS {
            smaller.facts = smaller.facts.bounded(chars, items);
            if chars <= 200 {
                smaller.facts.notes = None;
                smaller.facts.message = None;
            }
            let json = serde_json::to_string(&smaller)?;
            if json.len() <= MAX_NOTIFICATION_BYTES {
                return Ok(json);
            }
        }
        // Unreachable with the steps above (a few dozen 20-character fields);
        // kept so that the bound holds by construction.
        smaller.facts = Facts {
            start: self.facts.start,
            end: self.facts.end,
            shortened: true,
            ..Facts::default()
        };
        smaller.created_at = None;
        serde_json::to_string(&smaller)
    }
}

impl Facts {
    /// Cuts every text to `chars` characters and every list to `items`.
    pub(crate) fn bounded(mut self, chars: usize, items: usize) -> Self {
        let bounded = |text: &str| bounded(text, chars);
        let cut = |s: &mut Option<String>| {
            if let Some(text) = s {
                *text = bounded(text);
            }
        };
        let cut_party = |p: &mut Party| {
            for text in [&mut p.name, &mut p.email, &mut p.time_zone]
                .into_iter()
                .flatten()
            {
                *text = bounded(text);
            }
        };
        for field in [
            &mut self.title,
            &mut self.event_type,
            &mut self.booking_uid,
            &mut self.booking_id,
            &mut self.status,
            &mut self.previous_booking_uid,
            &mut self.location,
            &mut self.meeting_url,
            &mut self.reason,
            &mut self.actor,
            &mut self.notes,
            &mut self.message,
            &mut self.price,
        ] {
            cut(field);
        }
        if let Some(o) = &mut self.organizer {
            cut_party(o);
        }
        if let Some(seat) = &mut self.seat {
            cut_party(seat);
        }
        self.attendees.truncate(items);
        self.attendees.iter_mut().for_each(cut_party);
        self.links.truncate(items);
        // A cut URL is a broken link: a link that does not fit is left out.
        self.links.retain(|l| l.url.chars().count() <= chars);
        for l in &mut self.links {
            l.label = bounded(&l.label);
        }
        if let Some(ooo) = &mut self.ooo {
            ooo.person
                .iter_mut()
                .chain(ooo.redirect_to.iter_mut())
                .for_each(cut_party);
            cut(&mut ooo.reason);
            cut(&mut ooo.notes);
        }
        if let Some(form) = &mut self.form {
            cut(&mut form.name);
            form.answers.truncate(items);
            for a in &mut form.answers {
                a.label = bounded(&a.label);
                a.value = bounded(&a.value);
            }
        }
        self
    }
}

fn bounded(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The attendee a seated booking's delivery is about: the newest attendee of a
/// new seat, the only attendee of a seat cancellation.
fn seat(trigger: &Trigger, b: &Booking) -> Option<Party> {
    let seated = b.attendee_seat_id.is_some()
        || b.seats_per_time_slot
            .as_deref()
            .and_then(json_number)
            .is_some_and(|n| n > 0.0);
    if !seated {
        return None;
    }
    match (trigger, b.attendees.as_slice()) {
        (Trigger::BookingCreated, [.., newest]) => Some(party(newest)),
        (Trigger::BookingCancelled, [only]) => Some(party(only)),
        _ => None,
    }
}

fn booking_facts(trigger: &Trigger, b: &Booking) -> Facts {
    let video = b.metadata.as_ref().and_then(|m| m.video_call_url.clone());
    let (location, location_url) = describe_location(b.location.as_deref());
    let mut links = Vec::new();
    if let Some(url) = clean(&b.download_link) {
        links.push(Link {
            label: "Recording".into(),
            url,
        });
    }
    if let Some(l) = &b.download_links {
        if let Some(url) = clean(&l.recording) {
            links.push(Link {
                label: "Recording".into(),
                url,
            });
        }
        let transcripts = match &l.transcription {
            Some(Value::String(url)) => vec![url.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| {
                    i.get("link")
                        .or(Some(i))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect(),
            _ => Vec::new(),
        };
        for url in transcripts {
            links.push(Link {
                label: "Transcript".into(),
                url,
            });
        }
    }
    let price = clean(&b.price).and_then(|p| price(&p, clean(&b.currency).as_deref()));
    Facts {
        title: clean(&b.title)
            .or_else(|| clean(&b.event_title))
            .or_else(|| clean(&b.event_type_title)),
        event_type: clean(&b.event_type),
        booking_uid: clean(&b.uid),
        booking_id: clean(&b.booking_id).or_else(|| clean(&b.id)),
        status: clean(&b.status),
        start: time(&b.start_time),
        end: time(&b.end_time),
        previous_start: time(&b.reschedule_start_time),
        previous_end: time(&b.reschedule_end_time),
        previous_booking_uid: clean(&b.reschedule_uid),
        organizer: b.organizer.as_ref().or(b.user.as_ref()).map(party),
        attendees: b.attendees.iter().map(party).collect(),
        location,
        meeting_url: video
            .or(location_url)
            .or_else(|| clean(&b.connect_and_join_url))
            .or_else(|| clean(&b.url)),
        reason: clean(&b.cancellation_reason).or_else(|| clean(&b.rejection_reason)),
        actor: clean(&b.cancelled_by).or_else(|| clean(&b.rescheduled_by)),
        notes: clean(&b.additional_notes),
        message: clean(&b.body),
        price,
        links,
        ooo: None,
        form: None,
        seat: seat(trigger, b),
        reminder: None,
        recovered: None,
        shortened: false,
        fallback_zone: None,
    }
}

/// Turns Cal.com's location value into words and, where it is one, a link.
fn describe_location(location: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(loc) = location.map(str::trim).filter(|l| !l.is_empty()) else {
        return (None, None);
    };
    if loc.starts_with("https://") || loc.starts_with("http://") {
        return (Some(loc.to_owned()), Some(loc.to_owned()));
    }
    let named = match loc {
        "integrations:daily" => "Cal Video",
        "integrations:google:meet" => "Google Meet",
        "integrations:zoom" => "Zoom",
        "integrations:office365_video" => "Microsoft Teams",
        "integrations:whereby_video" => "Whereby",
        "integrations:jitsi" => "Jitsi",
        _ => "",
    };
    if !named.is_empty() {
        (Some(named.to_owned()), None)
    } else if let Some(app) = loc.strip_prefix("integrations:") {
        (Some(app.replace([':', '_'], " ")), None)
    } else {
        (Some(loc.to_owned()), None)
    }
}

fn party(p: &Person) -> Party {
    Party {
        name: clean(&p.name),
        email: clean(&p.email),
        time_zone: clean(&p.time_zone),
        no_show: p.no_show,
    }
}

/// Cal.com sends an out-of-office reason as its i18n key: the words for the
/// keys it ships, the text as it is otherwise (a custom reason).
fn ooo_reason(key: &str) -> &str {
    match key.trim() {
        "ooo_reasons_unspecified" => "Unspecified",
        "ooo_reasons_vacation" => "Vacation",
        "ooo_reasons_travel" => "Travel",
        "ooo_reasons_sick_leave" => "Sick leave",
        "ooo_reasons_public_holiday" => "Public holiday",
        other => other,
    }
}

/// A number as JSON writes it (`2`, `2.5`, `1e3`), read by serde_json's parser,
/// which the wasm links anyway (core's `f64` parser brings 14 KB of its own).
fn json_number(text: &str) -> Option<f64> {
    serde_json::from_str(text.trim()).ok()
}

/// Cal.com's `price` is in minor units of `currency` (4999 EUR = 49.99 EUR;
/// JPY has none): shown with the currency's ISO 4217 exponent. Zero is no price.
fn price(amount: &str, currency: Option<&str>) -> Option<String> {
    let minor: i64 = amount.trim().parse().ok().or_else(|| {
        // A float from a hand-made payload: take it as minor units too.
        json_number(amount).map(|f| f.round() as i64)
    })?;
    if minor == 0 {
        return None;
    }
    // ISO 4217 codes are ASCII: no Unicode case tables for them.
    let code = currency.map(str::to_ascii_uppercase);
    let exponent = code
        .as_deref()
        .and_then(iso_currency::Currency::from_code)
        .and_then(|c| c.exponent())
        .map(u32::from);
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs();
    Some(match (exponent, code) {
        (Some(e), Some(code)) if e > 0 => {
            let unit = 10u64.pow(e);
            let width = e as usize;
            format!("{sign}{}.{:0width$} {code}", digits / unit, digits % unit)
        }
        (_, Some(code)) => format!("{sign}{digits} {code}"),
        // No currency: the number as Cal.com sent it, labelled as what it is.
        (_, None) => format!("{sign}{digits} (minor units)"),
    })
}

fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.as_deref()?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Form responses `{field: {label?, value}}` as label/value text pairs, in field order.
fn answers(responses: Option<&Map<String, Value>>) -> Vec<Answer> {
    let Some(responses) = responses else {
        return Vec::new();
    };
    responses
        .iter()
        .filter_map(|(field, answer)| {
            let (label, value) = match answer {
                Value::Object(o) => (
                    o.get("label").and_then(Value::as_str).unwrap_or(field),
                    o.get("value").unwrap_or(&Value::Null),
                ),
                other => (field.as_str(), other),
            };
            let value = display_value(value)?;
            Some(Answer {
                label: label.to_owned(),
                value,
            })
        })
        .collect()
}

/// A response value as text: strings as they are, lists joined, location objects by their value.
fn display_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(display_value)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(o) => o
            .get("value")
            .or_else(|| o.get("optionValue"))
            .and_then(display_value)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    };
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {

    #[test]
    fn prices_are_minor_units_of_their_currency() {
        assert_eq!(price("4999", Some("eur")).as_deref(), Some("49.99 EUR"));
        assert_eq!(price("5000", Some("USD")).as_deref(), Some("50.00 USD"));
        assert_eq!(price("4999", Some("JPY")).as_deref(), Some("4999 JPY"));
        assert_eq!(price("12345", Some("BHD")).as_deref(), Some("12.345 BHD"));
        assert_eq!(price("5", Some("EUR")).as_deref(), Some("0.05 EUR"));
        assert_eq!(price("0", Some("EUR")), None);
        assert_eq!(price("4999", Some("XYZ")).as_deref(), Some("4999 XYZ"));
        assert_eq!(price("4999", None).as_deref(), Some("4999 (minor units)"));
    }

    #[test]
    fn a_kind_is_its_name_on_the_wire_as_in_message_v1() {
        for (kind, name) in [
            (Kind::Event(Trigger::BookingCreated), "BOOKING_CREATED"),
            (Kind::Reminder, REMINDER_TRIGGER),
            (Kind::FollowUp, FOLLOW_UP_TRIGGER),
            (Kind::Event(Trigger::Unknown("NEW_ONE".into())), "NEW_ONE"),
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Kind>(&json).unwrap(), kind);
        }
    }

    use super::*;
    use crate::inbound::{event::parse, identity::derive};

    fn build(body: &str) -> Notification {
        let env = parse(body.as_bytes()).unwrap();
        let key = derive(&env).unwrap().notification_key(1_000);
        Notification::build(&env, key)
    }

    #[test]
    fn booking_facts_are_normalized() {
        let n = build(
            r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-20T09:30:00.538Z","payload":{
            "title":" Intro ","uid":"u1","startTime":"2026-11-25T15:00:00Z","endTime":"2026-11-25T15:30:00.000Z",
            "location":"integrations:daily","metadata":{"videoCallUrl":"https://app.cal.com/video/u1"},
            "organizer":{"name":"Ada","email":"ada@example.com","timeZone":"Europe/London"},
            "attendees":[{"name":"Grace","email":"grace@example.org","timeZone":"America/New_York"}]}}"#,
        );
        assert_eq!(n.v, 1);
        assert!(n.key.as_str().starts_with("BOOKING_CREATED:booking:u1:"));
        assert_eq!(n.facts.title.as_deref(), Some("Intro"));
        assert_eq!(
            n.facts.start.unwrap().to_rfc3339(),
            "2026-11-25T15:00:00+00:00"
        );
        assert_eq!(n.facts.location.as_deref(), Some("Cal Video"));
        assert_eq!(
            n.facts.meeting_url.as_deref(),
            Some("https://app.cal.com/video/u1")
        );
        assert_eq!(
            n.facts.attendees[0].time_zone.as_deref(),
            Some("America/New_York")
        );
    }

    #[test]
    fn reschedule_keeps_old_times_and_cancellation_keeps_reason() {
        let r = build(
            r#"{"triggerEvent":"BOOKING_RESCHEDULED","payload":{"uid":"new","rescheduleUid":"old",
            "rescheduleStartTime":"2026-11-25T15:00:00Z","startTime":"2026-11-26T15:00:00Z","rescheduledBy":"grace@example.org"}}"#,
        );
        assert_eq!(r.facts.previous_booking_uid.as_deref(), Some("old"));
        assert!(r.facts.previous_start.unwrap() < r.facts.start.unwrap());
        assert_eq!(r.facts.actor.as_deref(), Some("grace@example.org"));
        let c = build(
            r#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"u","cancellationReason":"Sick","cancelledBy":"ada@example.com"}}"#,
        );
        assert_eq!(c.facts.reason.as_deref(), Some("Sick"));
    }

    #[test]
    fn form_answers_are_flattened() {
        let n = build(
            r#"{"triggerEvent":"FORM_SUBMITTED","payload":{"formName":"Contact","responses":{
            "name":{"label":"Your name","value":"Grace"},"topics":{"value":["a","b"]},"empty":{"value":""}}}}"#,
        );
        let form = n.facts.form.unwrap();
        assert_eq!(form.name.as_deref(), Some("Contact"));
        assert!(form.answers.contains(&Answer {
            label: "Your name".into(),
            value: "Grace".into()
        }));
        assert!(form.answers.contains(&Answer {
            label: "topics".into(),
            value: "a, b".into()
        }));
        assert_eq!(form.answers.len(), 2);
    }

    #[test]
    fn a_huge_webhook_still_makes_a_small_notification() {
        let big = "x".repeat(200_000);
        let attendees: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    r#"{{"name":"{big_name}","email":"a{i}@example.org"}}"#,
                    big_name = &big[..5_000]
                )
            })
            .collect();
        let body = format!(
            r#"{{"triggerEvent":"BOOKING_CREATED","payload":{{"uid":"u","title":"{big}","additionalNotes":"{big}","attendees":[{}]}}}}"#,
            attendees.join(",")
        );
        let n = build(&body);
        let json = serde_json::to_string(&n).unwrap();
        assert!(json.len() < 128 * 1024, "{} bytes", json.len());
        assert_eq!(n.facts.title.unwrap().chars().count(), MAX_FIELD_CHARS + 1);
        assert_eq!(n.facts.attendees.len(), MAX_LIST_ITEMS);
    }

    #[test]
    fn a_webhook_of_escapes_and_wide_characters_still_fits_a_queue_message() {
        // Every character a 6-byte JSON escape or 4 bytes of UTF-8: within the
        // per-field character limits, yet far over 128 KB serialized.
        let wide = "\\u0001😀".repeat(1_000);
        let attendees: Vec<String> = (0..40)
            .map(|i| {
                format!(r#"{{"name":"{wide}","email":"a{i}@example.org","timeZone":"{wide}"}}"#)
            })
            .collect();
        let answers: Vec<String> = (0..40)
            .map(|i| format!(r#""q{i}":{{"label":"{wide}","value":"{wide}"}}"#))
            .collect();
        let body = format!(
            r#"{{"triggerEvent":"BOOKING_CREATED","payload":{{"uid":"u","title":"{wide}","startTime":"2026-11-25T15:00:00Z","attendees":[{}],"responses":{{{}}}}}}}"#,
            attendees.join(","),
            answers.join(",")
        );
        let n = build(&body);
        assert!(serde_json::to_string(&n).unwrap().len() > 128 * 1024);
        let message = n.to_message().unwrap();
        assert!(
            message.len() <= MAX_NOTIFICATION_BYTES,
            "{} bytes",
            message.len()
        );
        let back: Notification = serde_json::from_str(&message).unwrap();
        assert!(back.facts.shortened);
        assert_eq!(back.key, n.key);
        assert_eq!(back.facts.start, n.facts.start);
    }

    #[test]
    fn a_small_notification_is_sent_as_it_is() {
        let n = build(r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u","title":"T"}}"#);
        assert_eq!(n.to_message().unwrap(), serde_json::to_string(&n).unwrap());
        assert!(!n.to_message().unwrap().contains("shortened"));
    }

    #[test]
    fn form_answers_keep_the_order_cal_com_sent() {
        let n = build(
            r#"{"triggerEvent":"FORM_SUBMITTED","payload":{"formId":"f","responses":{
            "Zip":{"value":"1"},"Budget":{"value":"2"},"Anything else":{"value":"3"}}}}"#,
        );
        let labels: Vec<_> = n
            .facts
            .form
            .unwrap()
            .answers
            .into_iter()
            .map(|a| a.label)
            .collect();
        assert_eq!(labels, ["Zip", "Budget", "Anything else"]);
    }

    #[test]
    fn a_new_seat_names_the_attendee_who_took_it() {
        let n = build(
            r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"shared","seatsPerTimeSlot":5,"attendeeSeatId":"s2",
            "attendees":[{"name":"Ada","email":"ada@x.org"},{"name":"Zoë Ångström","email":"zoe@x.org"}]}}"#,
        );
        assert_eq!(n.facts.seat.unwrap().name.as_deref(), Some("Zoë Ångström"));
    }

    #[test]
    fn a_seat_cancellation_names_the_cancelling_attendee_and_a_plain_booking_has_no_seat() {
        let c = build(
            r#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"shared","seatsPerTimeSlot":5,
            "attendees":[{"name":"Zoë","email":"zoe@x.org"}]}}"#,
        );
        assert_eq!(c.facts.seat.unwrap().name.as_deref(), Some("Zoë"));
        let plain = build(
            r#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"u","seatsPerTimeSlot":null,
            "attendees":[{"name":"Zoë","email":"zoe@x.org"}]}}"#,
        );
        assert_eq!(plain.facts.seat, None);
    }

    #[test]
    fn notification_round_trips_through_json() {
        let n = build(r#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u","title":"T"}}"#);
        let json = serde_json::to_string(&n).unwrap();
        assert!(
            json.starts_with(r#"{"v":1,"key":"BOOKING_CREATED:booking:u:"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), n);
    }
}
