//! `POST /webhooks/cal`: verify, parse, claim, queue, complete (D1), or read,
//! queue, write once (KV).
//!
//! The order matters: the claim is released on any failure after it, and the
//! key is marked done only once the notification is on the queue, so a retry
//! after a 503 always gets through and nothing is recorded that was not queued.

use calhook_core::event::{self, Event, Trigger};
use calhook_core::key;
use calhook_core::notification::Notification;
use calhook_core::signature::SIGNATURE_HEADER;
use serde_json::{json, Value};
use worker::{Date, Env, Request, Response, Result};

use crate::body::read_capped;
use crate::error::ReceiverError;
use crate::log::RequestLog;
use crate::settings::Settings;
use crate::store::{claim_token, IdempotencyStore};
use calhook_core::store::claims::{self, Claim, ClaimTimes};
use calhook_core::store::kv::{self, KvOutcome};

/// The queue producer binding.
pub const QUEUE_BINDING: &str = "NOTIFICATIONS";

/// A 2xx answer.
pub struct Accepted {
    pub status: u16,
    body: Value,
}

impl Accepted {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body }
    }

    pub fn outcome(&self) -> &'static str {
        match self.body["status"].as_str() {
            Some("queued") => "queued",
            Some("duplicate") => "duplicate",
            Some("ignored") => "ignored",
            Some("pong") => "pong",
            _ => "ok",
        }
    }

    pub fn into_response(self) -> Result<Response> {
        Ok(Response::from_json(&self.body)?.with_status(self.status))
    }
}

pub async fn handle(
    req: Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Accepted, ReceiverError> {
    let settings = Settings::from_env(env)?;
    let body = read_capped(&req, settings.max_body_bytes).await?;
    let signature = req.headers().get(SIGNATURE_HEADER).ok().flatten();
    settings.secrets.verify(signature.as_deref(), &body)?;

    let envelope = event::parse(&body)?;
    let trigger = envelope.trigger.as_str().to_owned();
    log.event(&trigger, booking_uid(&envelope.event));

    if envelope.event == Event::Ping {
        return Ok(Accepted::json(
            200,
            json!({"status": "pong", "event": "PING"}),
        ));
    }
    if let Trigger::Unknown(_) = envelope.trigger {
        return Ok(Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": "unknown trigger; this version does not handle it"}),
        ));
    }
    if !settings.notify.includes(&envelope.trigger) {
        return Ok(Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": "not in NOTIFY_EVENTS"}),
        ));
    }
    let Some(key) = key::derive(&envelope) else {
        return Ok(Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": "no key"}),
        ));
    };
    log.key(key.as_str());

    let store = IdempotencyStore::from_env(env, &settings)?;
    let queued = json!({"status": "queued", "event": trigger, "key": key.as_str()});
    // Built only once the event is known to be new: duplicates never pay for it.
    let message = || {
        serde_json::to_string(&Notification::build(&envelope, key.clone())).map_err(|e| {
            ReceiverError::Unavailable {
                what: "serializer",
                detail: e.to_string(),
            }
        })
    };
    let db = match store {
        IdempotencyStore::Kv(kv) => {
            let outcome = kv::deliver_once(&kv, key.as_str(), settings.ttl_seconds, async || {
                send(env, message()?).await
            })
            .await?;
            return Ok(match outcome {
                KvOutcome::Duplicate => Accepted::json(
                    200,
                    json!({"status": "duplicate", "event": trigger, "key": key.as_str()}),
                ),
                KvOutcome::Queued {
                    read_error,
                    write_error,
                } => {
                    // Let through to the mailer's ledger, which stops a second email.
                    if let Some(e) = read_error.or(write_error) {
                        log.note(format!("KV failed, event queued anyway: {e}"));
                    }
                    Accepted::json(200, queued)
                }
            });
        }
        IdempotencyStore::D1(db) => db,
    };

    let now = Date::now().as_millis();
    let token = claim_token(now);
    let times = ClaimTimes {
        now_ms: now as i64,
        lease_ms: (settings.lease_seconds * 1000) as i64,
        ttl_ms: (settings.ttl_seconds * 1000) as i64,
    };
    match claims::claim(&db, key.as_str(), &trigger, &token, times).await? {
        Claim::Claimed => {}
        Claim::AlreadyDone => {
            return Ok(Accepted::json(
                200,
                json!({"status": "duplicate", "event": trigger, "key": key.as_str()}),
            ))
        }
        Claim::InFlight => {
            return Err(ReceiverError::InFlight {
                key: key.to_string(),
            })
        }
    }

    let sent = match message() {
        Ok(message) => send(env, message).await,
        Err(err) => Err(err),
    };
    if let Err(err) = sent {
        // Give the key back so Cal.com's retry (or a resend) is processed.
        if let Err(release) = claims::release(&db, key.as_str(), &token).await {
            log.note(format!("release after failed send also failed: {release}"));
        }
        return Err(err);
    }
    let now = Date::now().as_millis() as i64;
    match claims::complete(&db, key.as_str(), &token, now, times.ttl_ms).await {
        Ok(true) => {}
        // The notification is on the queue: answering an error now would invite a
        // second copy. The mailer's ledger stops a duplicate email if one is queued later.
        Ok(false) => log.note("queued, but the claim's lease had been taken over".to_owned()),
        Err(err) => log.note(format!("queued, but marking the key done failed: {err}")),
    }
    Ok(Accepted::json(200, queued))
}

fn queue(env: &Env) -> Result<worker::Queue, ReceiverError> {
    env.queue(QUEUE_BINDING)
        .map_err(|e| ReceiverError::BindingMissing {
            binding: QUEUE_BINDING,
            detail: e.to_string(),
        })
}

fn queue_unavailable(e: worker::Error) -> ReceiverError {
    ReceiverError::Unavailable {
        what: "queue",
        detail: e.to_string(),
    }
}

/// Puts one notification (JSON text) on the queue.
pub async fn send(env: &Env, message: String) -> Result<(), ReceiverError> {
    queue(env)?.send(message).await.map_err(queue_unavailable)
}

/// Puts several notifications on the queue in one request (all or none).
pub async fn send_batch(env: &Env, messages: Vec<String>) -> Result<(), ReceiverError> {
    queue(env)?
        .send_batch(messages)
        .await
        .map_err(queue_unavailable)
}

fn booking_uid(event: &Event) -> Option<&str> {
    match event {
        Event::Booking(b) => b.uid.as_deref(),
        Event::NoShowUpdated(n) => n.booking_uid.as_deref(),
        Event::VideoNoShow(v) => v.booking_uid.as_deref(),
        _ => None,
    }
}
