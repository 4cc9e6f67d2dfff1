//! The receiver's decision, as data: from a verified, parsed event (its
//! source, the settings and the time) a [`Plan`] of effects; from the
//! effects' outcomes the answer Cal.com gets ([`settle_d1`], [`settle_kv`]).
//! The receiver's shell only executes the plan against D1, KV and the queue.
//!
//! The answers, by what happened (every row is a test below):
//!
//! | D1 record | queue send | answer |
//! | --- | --- | --- |
//! | duplicate | not tried | 200 `duplicate` |
//! | new | ok | 200 `queued` |
//! | new | refused | 200 `accepted` (the outbox cron sends it) |
//! | failed | ok | 200 `queued`, `recorded: false` (the mailer's ledger deduplicates) |
//! | failed | refused | 503: lost unless Cal.com retries |

use serde_json::json;

use crate::answer::{Accepted, ApiError};
use crate::inbound::event::{Envelope, Event, Trigger};
use crate::inbound::freshness;
use crate::inbound::identity;
use crate::inbound::signature::{refusal, WebhookSecrets};
use crate::keys::{ClaimKey, NotificationKey};
use crate::message::notification::Notification;
use crate::settings::{NotifyEvents, ReceiverSettings};
use crate::store::bookings::{self, BookingUpdate};
use crate::store::claims::Repeat;
use crate::store::kv::KvOutcome;
use crate::store::outbox::{Accept, Recorded};
use crate::store::Statement;
use crate::tenants::{TenantId, TenantRefusal};

/// A tenant ready to verify a webhook (its secrets opened).
pub struct Tenant {
    pub id: TenantId,
    /// `None`: it has no secret, and refuses every request.
    pub secrets: Option<WebhookSecrets>,
    pub notify: NotifyEvents,
    /// It has a Cal.com API key: its booking changes are reconciled, so their
    /// webhooks claim the change's key too ([`identity::change_key`]).
    pub reconciles: bool,
}

/// The secrets that verify a request: the tenant's on its route, else
/// `CAL_WEBHOOK_SECRET`. Never falls back from one to the other. A tenant
/// route that can verify nothing is refused as a wrong signature would be
/// (the request's `signature` header decides which).
pub fn secrets<'a>(
    tenant: Option<Result<&'a Tenant, TenantRefusal>>,
    settings: &'a ReceiverSettings,
    signature: Option<&str>,
) -> Result<&'a WebhookSecrets, ApiError> {
    let refused = |why| ApiError::TenantRefused {
        why,
        answered: refusal(signature),
    };
    match tenant {
        Some(Ok(t)) => t
            .secrets
            .as_ref()
            .ok_or_else(|| refused(TenantRefusal::NoSecret)),
        Some(Err(why)) => Err(refused(why)),
        None => settings.secrets.as_ref().map_err(|e| e.clone().into()),
    }
}

/// The booking an event is about, for the log line.
pub fn booking_uid(event: &Event) -> Option<&str> {
    match event {
        Event::Booking(b) => b.uid.as_deref(),
        Event::NoShowUpdated(n) => n.booking_uid.as_deref(),
        Event::VideoNoShow(v) => v.booking_uid.as_deref(),
        _ => None,
    }
}

/// What the receiver does with one verified event.
#[derive(Debug)]
pub enum Plan {
    /// Nothing to record: answer at once (a ping, an unknown trigger, an
    /// event without a key).
    Answer(Accepted),
    /// Not emailed about, but the booking ledger still learns of it (a
    /// meeting that ended, a location change …); answered whatever D1 says.
    LedgerOnly {
        updates: Vec<BookingUpdate>,
        answer: Accepted,
    },
    /// Claim the key, keep the notification, queue it.
    Deliver(Box<Delivery>),
}

/// An event to deliver: what is claimed, and what is queued.
#[derive(Debug)]
pub struct Delivery {
    /// Decides duplicates (`TRIGGER:entity:digest`, the tenant's own).
    pub claim: ClaimKey,
    /// A reconciled source's change of a booking's status
    /// ([`identity::change_key`], the tenant's own), claimed with `claim`:
    /// taken already when a reconcile run recovered this change first. Then
    /// it is also the notification's key, as a recovered one's is.
    pub change: Option<ClaimKey>,
    /// Names this notification: the outbox row and the mailer's ledger.
    pub key: NotificationKey,
    pub repeat: Option<Repeat>,
    /// How long the claim is kept: the TTL, and for a trigger exempt from the
    /// age check at least the TTL past its meeting (`freshness::key_expiry_ms`).
    pub key_ttl_ms: i64,
    pub trigger: String,
    /// The queue message (notification v1), as JSON text.
    pub message: String,
    /// The booking ledger's statements ride with the claim; they are
    /// order-independent and safe to repeat, so duplicates run them too.
    pub booking_updates: Vec<BookingUpdate>,
    /// Whether the queue send waits for the D1 record.
    pub send: SendOrder,
}

/// When the receiver sends the queue message, relative to its D1 record.
///
/// Together, a request takes one round trip instead of two (D1 and the queue
/// at the same time). That is safe only where the mailer's ledger stops a
/// duplicate's message exactly as the claim would have: the notification key
/// is the claim key (not a repeatable trigger's copy-window key, whose two
/// copies may fall in two windows), and the ledger keeps its sent row as long
/// as the claim lives (the TTL: not a key kept until a meeting's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOrder {
    /// Send while D1 records; a duplicate's message reaches the mailer, whose
    /// ledger acks it unsent.
    WithRecord,
    /// Send only after D1 recorded the event as new (or failed).
    AfterRecord,
}

impl SendOrder {
    /// On a reconciled source a booking's change of status is named by its
    /// change's key ([`Delivery::change`]): claimed by this request or by a
    /// reconcile run, its notification key is the key that decides it, so
    /// the mailer's ledger stops the second message as the claim would.
    fn for_key(repeat: Option<Repeat>, key_ttl_ms: i64, ttl_ms: i64) -> Self {
        match repeat.is_none() && key_ttl_ms <= ttl_ms {
            true => SendOrder::WithRecord,
            false => SendOrder::AfterRecord,
        }
    }
}

/// Decides what to do with a verified event received at `now_ms`. A stale
/// event is refused here (401), before anything is recorded.
pub fn plan(
    envelope: &Envelope,
    tenant: Option<&Tenant>,
    settings: &ReceiverSettings,
    now_ms: i64,
) -> Result<Plan, ApiError> {
    freshness::check(envelope, now_ms, settings.max_event_age_seconds)?;
    let trigger = envelope.trigger.as_str();
    let ignored = |reason: &str| {
        Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": reason}),
        )
    };
    if envelope.event == Event::Ping {
        return Ok(Plan::Answer(Accepted::json(
            200,
            json!({"status": "pong", "event": "PING"}),
        )));
    }
    if let Trigger::Unknown(_) = envelope.trigger {
        return Ok(Plan::Answer(ignored(
            "unknown trigger; this version does not handle it",
        )));
    }
    let tenant_id = tenant.map(|t| &t.id);
    let notify = tenant.map_or(&settings.notify, |t| &t.notify);
    // A tenant's keys are its own: never a duplicate of another tenant's.
    let identity = identity::derive(envelope).map(|i| i.for_tenant(tenant_id));
    let notification_for = |key| {
        let mut n = Notification::build(envelope, key);
        n.tenant = tenant_id.cloned();
        n
    };
    if !notify.includes(&envelope.trigger) {
        let answer = ignored("not in NOTIFY_EVENTS");
        let Some(identity) = identity else {
            return Ok(Plan::Answer(answer));
        };
        let n = notification_for(identity.notification_key(settings.copy_window_ms));
        let mut updates = bookings::updates(&n, now_ms);
        updates.iter_mut().for_each(|u| u.emailed = false);
        return Ok(match updates.is_empty() {
            true => Plan::Answer(answer),
            false => Plan::LedgerOnly { updates, answer },
        });
    }
    let Some(identity) = identity else {
        return Ok(Plan::Answer(ignored("no key")));
    };
    let mut key = identity.notification_key(settings.copy_window_ms);
    let mut notification = notification_for(key.clone());
    let reconciles = tenant.map_or(settings.reconciles, |t| t.reconciles);
    let change = match (&notification.facts, reconciles) {
        (facts, true) if facts.seat.is_none() => facts
            .booking_uid
            .as_deref()
            .and_then(|uid| identity::change_key(&envelope.trigger, uid))
            .map(|k| ClaimKey::new(identity::namespaced(tenant_id, k.as_str()))),
        _ => None,
    };
    // A change a reconcile run may recover is named by the change's key, as
    // the recovered notification is: whichever reaches the mailer second,
    // its ledger acks it unsent (and the timeline keeps one event).
    if let Some(c) = &change {
        key = NotificationKey::new(c.as_str());
        notification.key = key.clone();
    }
    let message = notification
        .to_message()
        .map_err(|e| ApiError::Unavailable {
            what: "serializer",
            detail: e.to_string(),
        })?;
    let repeat = identity.sent_at_ms.map(|sent_at_ms| Repeat {
        sent_at_ms,
        window_ms: settings.copy_window_ms as i64,
    });
    let ttl_ms = (settings.ttl_seconds * 1000) as i64;
    let key_ttl_ms = freshness::key_expiry_ms(envelope, now_ms, ttl_ms) - now_ms;
    Ok(Plan::Deliver(Box::new(Delivery {
        repeat,
        send: SendOrder::for_key(repeat, key_ttl_ms, ttl_ms),
        change,
        claim: identity.claim,
        key,
        key_ttl_ms,
        trigger: trigger.to_owned(),
        message,
        booking_updates: bookings::updates(&notification, now_ms),
    })))
}

/// An answer, and what the log line must say that the client does not see.
#[derive(Debug)]
pub struct Settled {
    pub answer: Result<Accepted, ApiError>,
    pub note: Option<String>,
}

impl Settled {
    fn ok(body: serde_json::Value) -> Self {
        Self {
            answer: Ok(Accepted::json(200, body)),
            note: None,
        }
    }

    fn noted(mut self, note: String) -> Self {
        self.note = Some(note);
        self
    }
}

impl Delivery {
    /// What the D1 record claims and keeps, for the request holding `token`.
    pub fn accept<'a>(&'a self, token: &'a str, now_ms: i64) -> Accept<'a> {
        Accept {
            key: &self.claim,
            change: self.change.as_ref(),
            notification_key: &self.key,
            repeat: self.repeat,
            trigger: &self.trigger,
            token,
            notification: &self.message,
            now_ms,
            ttl_ms: self.key_ttl_ms,
        }
    }

    /// The booking ledger's statements, run in the same round trip.
    pub fn ledger_statements(&self, now_ms: i64) -> Vec<Statement> {
        self.booking_updates
            .iter()
            .flat_map(|u| bookings::statements(u, now_ms))
            .collect()
    }

    fn queued(&self) -> serde_json::Value {
        json!({"status": "queued", "event": self.trigger, "key": self.key.as_str()})
    }

    fn duplicate(&self) -> Settled {
        Settled::ok(json!({"status": "duplicate", "event": self.trigger, "key": self.key.as_str()}))
    }
}

/// Whether the queue send follows a D1 record with this outcome, for a
/// delivery sent [`SendOrder::AfterRecord`]: not for a duplicate, which was
/// queued by its first delivery.
pub fn sends_after(recorded: &Result<Recorded, ApiError>) -> bool {
    !matches!(recorded, Ok(Recorded::Duplicate))
}

/// The answer after the D1 record and the queue send (`sent` is `None` when
/// it was not tried). Whichever went first, the same outcomes answer the same.
pub fn settle_d1(
    d: &Delivery,
    recorded: Result<Recorded, ApiError>,
    sent: Option<Result<(), ApiError>>,
) -> Settled {
    match (recorded, sent) {
        // Sent with the record or not: the mailer's ledger acks it unsent.
        (Ok(Recorded::Duplicate), _) => d.duplicate(),
        // The queue has it: the mailer forgets the outbox row when it gets it.
        (Ok(Recorded::New), Some(Ok(()))) => Settled::ok(d.queued()),
        // Durable in the outbox: the cron sends it. Cal.com must not see an error.
        (Ok(Recorded::New), refused) => {
            let why = match refused {
                Some(Err(e)) => e.to_string(),
                _ => "not sent".to_owned(),
            };
            Settled::ok(
                json!({"status": "accepted", "event": d.trigger, "key": d.key.as_str(),
                "detail": "recorded; it will be queued by the next outbox run"}),
            )
            .noted(format!(
                "queue refused it, kept in the outbox for the cron: {why}"
            ))
        }
        // Not recorded, but queued: the mailer's ledger still stops a second email.
        (Err(d1), Some(Ok(()))) => {
            let mut body = d.queued();
            body["recorded"] = false.into();
            Settled::ok(body).noted(format!("D1 failed, queued without recording: {d1}"))
        }
        (Err(d1), Some(Err(queue))) => Settled {
            note: Some(format!(
                "LOST unless Cal.com retries: D1 failed ({d1}) and the queue failed ({queue})"
            )),
            answer: Err(queue),
        },
        (Err(d1), None) => Settled {
            note: None,
            answer: Err(d1),
        },
    }
}

/// The answer after KV's read, the queue send and KV's write
/// ([`crate::store::kv::deliver_once`]).
pub fn settle_kv(d: &Delivery, outcome: Result<KvOutcome, ApiError>) -> Settled {
    match outcome {
        Ok(KvOutcome::Duplicate) => d.duplicate(),
        Ok(KvOutcome::Queued {
            read_error,
            write_error,
        }) => {
            let settled = Settled::ok(d.queued());
            // Let through to the mailer's ledger, which stops a second email.
            match read_error.or(write_error) {
                Some(e) => settled.noted(format!("KV failed, event queued anyway: {e}")),
                None => settled,
            }
        }
        Err(e) => Settled {
            answer: Err(e),
            note: None,
        },
    }
}
