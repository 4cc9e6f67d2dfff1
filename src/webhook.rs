//! `POST /webhooks/cal[/{tenant}]`: read, verify, parse, then execute the
//! core's plan (`calhook_core::ingest`): one D1 round trip claims the key,
//! keeps the notification in the outbox and updates the booking ledger; the
//! queue send runs at the same time, or after it where the core says so
//! (`SendOrder`). What each outcome answers is the core's decision.

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::inbound::event;
use calhook_core::inbound::signature::SIGNATURE_HEADER;
use calhook_core::inbound::version::{PayloadVersion, VERSION_HEADER};
use calhook_core::ingest::{self, Delivery, Plan, SendOrder, Settled};
use calhook_core::settings::StoreKind;
use calhook_core::store::outbox;
use calhook_core::store::{bookings, kv, status, Db};
use calhook_platform::bindings::{self, claim_token};
use calhook_platform::canonical::RuntimeJcs;
use calhook_platform::log::RequestLog;
use calhook_platform::queue::send;
use futures_util::future::join;
use worker::web_sys::Request;
use worker::{Context, Env};

use crate::body::read_capped;

/// `tenant`: the slug of `/webhooks/cal/{tenant}`; `None` on the single-tenant route.
pub async fn handle(
    req: &Request,
    env: &Env,
    ctx: &Context,
    log: &mut RequestLog,
    tenant: Option<&str>,
) -> Result<Accepted, ApiError> {
    let settings = crate::settings::get(env)?;
    // Found (or refused) before the body is read; a refused route is answered
    // after it, exactly as a wrong signature (`ingest::secrets`).
    let tenant = match tenant {
        Some(slug) => {
            log.tenant(slug);
            Some(crate::tenant::find(env, &settings, slug).await?)
        }
        None => None,
    };
    let body = read_capped(req, settings.max_body_bytes).await?;
    let signature = req.headers().get(SIGNATURE_HEADER).ok().flatten();
    let route = tenant.as_ref().map(|t| t.as_deref().map_err(|why| *why));
    let secrets = ingest::secrets(route, &settings, signature.as_deref())?;
    secrets.verify(signature.as_deref(), &body)?;
    let tenant = tenant.and_then(Result::ok);

    let envelope = event::parse_with(&body, &RuntimeJcs)?;
    log.event(
        envelope.trigger.as_str(),
        ingest::booking_uid(&envelope.event),
    );
    let now = calhook_platform::now_ms();
    count_unexpected_version(req, env, ctx, log, now);
    match ingest::plan(&envelope, tenant.as_deref(), &settings, now)? {
        Plan::Answer(answer) => Ok(answer),
        Plan::LedgerOnly { updates, answer } => {
            let applied = match bindings::d1(env) {
                Ok(db) => bookings::apply(&db, &updates, now)
                    .await
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = applied {
                log.note(format!("booking ledger not updated: {e}"));
            }
            Ok(answer)
        }
        Plan::Deliver(delivery) => {
            log.key(delivery.key.as_str());
            let settled = match settings.store {
                StoreKind::D1 => through_d1(env, &delivery, now).await,
                StoreKind::Kv => through_kv(env, ctx, *delivery, now).await,
            };
            if let Some(note) = settled.note {
                log.note(note);
            }
            settled.answer
        }
    }
}

/// Logs `X-Cal-Webhook-Version`; one other than calhook was written for is
/// counted in D1 off the response path (rare: it costs the usual path nothing).
fn count_unexpected_version(
    req: &Request,
    env: &Env,
    ctx: &Context,
    log: &mut RequestLog,
    now: i64,
) {
    let header = req.headers().get(VERSION_HEADER).ok().flatten();
    let version = PayloadVersion::of(header.as_deref());
    log.payload_version(version.as_logged());
    if let PayloadVersion::Other(v) = version {
        let env = env.clone();
        ctx.wait_until(async move {
            if let Ok(db) = bindings::d1(&env) {
                let _ = db.run(status::count_version(&v, now)).await;
            }
        });
    }
}

/// One D1 round trip (claim, outbox row, ledger) and the queue send: at the
/// same time, or the send after the record (`SendOrder`).
async fn through_d1(env: &Env, d: &Delivery, now: i64) -> Settled {
    let token = claim_token(now as u64);
    let record = async {
        let db = bindings::d1(env)?;
        outbox::record_with(&db, d.accept(&token, now), d.ledger_statements(now))
            .await
            .map_err(ApiError::from)
    };
    match d.send {
        SendOrder::WithRecord => {
            let (recorded, sent) = join(record, send(env, &d.message)).await;
            ingest::settle_d1(d, recorded, Some(sent))
        }
        SendOrder::AfterRecord => {
            let recorded = record.await;
            let sent = match ingest::sends_after(&recorded) {
                true => Some(send(env, &d.message).await),
                false => None,
            };
            ingest::settle_d1(d, recorded, sent)
        }
    }
}

/// KV holds the key: read, queue, write once. The ledger is D1's, written
/// off the response path.
async fn through_kv(env: &Env, ctx: &Context, d: Delivery, now: i64) -> Settled {
    let env2 = env.clone();
    let updates = d.booking_updates.clone();
    ctx.wait_until(async move {
        if let Ok(db) = bindings::d1(&env2) {
            let _ = bookings::apply(&db, &updates, now).await;
        }
    });
    let outcome = match bindings::kv(env) {
        Ok(store) => {
            kv::deliver_once(
                &store,
                &d.claim,
                d.repeat,
                (d.key_ttl_ms / 1000) as u64,
                async || send(env, &d.message).await,
            )
            .await
        }
        Err(e) => Err(e),
    };
    ingest::settle_kv(&d, outcome)
}
