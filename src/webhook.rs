//! `POST /webhooks/cal`: verify, parse, then record + queue.
//!
//! D1: one round trip marks the key done and stores the notification in the
//! outbox; the queue send follows, and the answer (the mailer forgets the
//! outbox row). Queue down → 200 `accepted` (the cron sends it). D1 down →
//! queue directly (the mailer's ledger deduplicates). Both down → 503.
//! KV: read, queue, write once.
//!
use calhook_core::event::{self, Event, Trigger};
use calhook_core::freshness;
use calhook_core::key;
use calhook_core::notification::Notification;
use calhook_core::signature::SIGNATURE_HEADER;
use calhook_core::store::claims::Repeat;
use serde_json::json;
use worker::web_sys::Request;
use worker::{Context, Date, Env, Result};

use crate::answer::Accepted;
use crate::body::read_capped;
use crate::canonical::RuntimeJcs;
use crate::error::ReceiverError;
use crate::log::RequestLog;
use crate::queue::send;
use crate::settings::Settings;
use crate::store::{self, claim_token, IdempotencyStore};
use calhook_core::store::bookings;
use calhook_core::store::kv::{self, KvOutcome};
use calhook_core::store::outbox::{self, Accept, Recorded};

/// `tenant`: the slug of `/webhooks/cal/{tenant}`; `None` on the single-tenant route.
pub async fn handle(
    req: &Request,
    env: &Env,
    ctx: &Context,
    log: &mut RequestLog,
    tenant: Option<&str>,
) -> Result<Accepted, ReceiverError> {
    let settings = Settings::get(env)?;
    // Found (or refused) before the body is read: an unknown tenant costs nothing.
    let tenant = match tenant {
        Some(slug) => {
            log.tenant(slug);
            Some(crate::tenant::find(env, &settings, slug).await?)
        }
        None => None,
    };
    let secrets = match &tenant {
        Some(t) => t.secrets.as_ref().ok_or(ReceiverError::TenantHasNoSecret)?,
        None => settings.secrets.as_ref().map_err(|e| e.clone())?,
    };
    let body = read_capped(req, settings.max_body_bytes).await?;
    let signature = req.headers().get(SIGNATURE_HEADER).ok().flatten();
    secrets.verify(signature.as_deref(), &body)?;
    let tenant_id = tenant.as_ref().map(|t| &t.id);
    let notify = tenant.as_ref().map_or(&settings.notify, |t| &t.notify);

    let envelope = event::parse_with(&body, &RuntimeJcs)?;
    let trigger = envelope.trigger.as_str().to_owned();
    log.event(&trigger, booking_uid(&envelope.event));
    let now = Date::now().as_millis() as i64;
    freshness::check(&envelope, now, settings.max_event_age_seconds)?;

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
    // A tenant's keys are its own: never a duplicate of another tenant's.
    let identity = key::derive(&envelope).map(|i| i.for_tenant(tenant_id));
    let notification_for = |key| {
        let mut n = Notification::build(&envelope, key);
        n.tenant = tenant_id.cloned();
        n
    };
    if !notify.includes(&envelope.trigger) {
        // Not emailed about, but the booking ledger still learns of it (a
        // meeting that ended, a location change …).
        if let Some(identity) = &identity {
            let n = notification_for(identity.notification_key(settings.copy_window_ms));
            let mut updates = bookings::updates(&n, now);
            updates.iter_mut().for_each(|u| u.emailed = false);
            if !updates.is_empty() {
                let applied = match store::d1(env) {
                    Ok(db) => bookings::apply(&db, &updates, now)
                        .await
                        .map_err(ReceiverError::from),
                    Err(e) => Err(e),
                };
                if let Err(e) = applied {
                    log.note(format!("booking ledger not updated: {e}"));
                }
            }
        }
        return Ok(Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": "not in NOTIFY_EVENTS"}),
        ));
    }
    let Some(identity) = identity else {
        return Ok(Accepted::json(
            200,
            json!({"status": "ignored", "event": trigger, "reason": "no key"}),
        ));
    };
    // The claim key decides duplicates; the notification key names this event.
    let key = identity.notification_key(settings.copy_window_ms);
    let repeat = identity.sent_at_ms.map(|sent_at_ms| Repeat {
        sent_at_ms,
        window_ms: settings.copy_window_ms as i64,
    });
    log.key(key.as_str());

    let queued = json!({"status": "queued", "event": trigger, "key": key.as_str()});
    let duplicate = || {
        Accepted::json(
            200,
            json!({"status": "duplicate", "event": trigger, "key": key.as_str()}),
        )
    };
    let notification = notification_for(key.clone());
    let message = notification
        .to_message()
        .map_err(|e| ReceiverError::Unavailable {
            what: "serializer",
            detail: e.to_string(),
        })?;
    // The booking ledger's statements ride in the same D1 round trip; they
    // are order-independent and safe to repeat, so duplicates run them too.
    let booking_updates = bookings::updates(&notification, now);

    let db = match IdempotencyStore::from_env(env, &settings) {
        Ok(IdempotencyStore::Kv(kv)) => {
            // KV holds the keys; the ledger is D1's, written off the response path.
            let env2 = env.clone();
            ctx.wait_until(async move {
                if let Ok(db) = store::d1(&env2) {
                    let _ = bookings::apply(&db, &booking_updates, now).await;
                }
            });
            let outcome = kv::deliver_once(
                &kv,
                identity.claim.as_str(),
                repeat,
                settings.ttl_seconds,
                async || send(env, message).await,
            )
            .await?;
            return Ok(match outcome {
                KvOutcome::Duplicate => duplicate(),
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
        Ok(IdempotencyStore::D1(db)) => Ok(db),
        Err(e) => Err(e),
    };

    // One round trip: the key is done and the notification is in the outbox.
    let token = claim_token(now as u64);
    let accept = Accept {
        key: identity.claim.as_str(),
        notification_key: key.as_str(),
        repeat,
        trigger: &trigger,
        token: &token,
        notification: &message,
        now_ms: now,
        ttl_ms: (settings.ttl_seconds * 1000) as i64,
    };
    let recorded = match db {
        Ok(db) => {
            let also = booking_updates
                .iter()
                .flat_map(|u| bookings::statements(u, now))
                .collect();
            outbox::record_with(&db, accept, also)
                .await
                .map_err(ReceiverError::from)
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(Recorded::Duplicate) => Ok(duplicate()),
        // The queue has it: the mailer forgets the outbox row when it gets it.
        Ok(Recorded::New) => match send(env, message).await {
            Ok(()) => Ok(Accepted::json(200, queued)),
            Err(err) => {
                // Durable in the outbox: the cron sends it. Cal.com must not see an error.
                log.note(format!(
                    "queue refused it, kept in the outbox for the cron: {err}"
                ));
                Ok(Accepted::json(
                    200,
                    json!({"status": "accepted", "event": trigger, "key": key.as_str(),
                           "detail": "recorded; it will be queued by the next outbox run"}),
                ))
            }
        },
        Err(d1_error) => match send(env, message).await {
            // Not recorded, but queued: the mailer's ledger still stops a second email.
            Ok(()) => {
                log.note(format!("D1 failed, queued without recording: {d1_error}"));
                let mut body = queued;
                body["recorded"] = false.into();
                Ok(Accepted::json(200, body))
            }
            Err(queue_error) => {
                log.note(format!(
                    "LOST unless Cal.com retries: D1 failed ({d1_error}) and the queue failed ({queue_error})"
                ));
                Err(queue_error)
            }
        },
    }
}

fn booking_uid(event: &Event) -> Option<&str> {
    match event {
        Event::Booking(b) => b.uid.as_deref(),
        Event::NoShowUpdated(n) => n.booking_uid.as_deref(),
        Event::VideoNoShow(v) => v.booking_uid.as_deref(),
        _ => None,
    }
}
