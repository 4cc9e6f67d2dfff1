//! Receiver worker: the HTTP surface for Cal.com webhooks.
//!
//! A thin shell. It reads the request, hands bytes to `calhook_core` for every
//! decision (signature, parsing, key, notification), and moves the results
//! into D1/KV and the queue. Status codes are decided once, in [`error`].

mod admin;
mod body;
mod error;
mod log;
mod settings;
mod store;
mod webhook;

use error::ReceiverError;
use serde_json::json;
use worker::{
    event, Context, Date, Env, Method, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

/// Where Cal.com posts.
pub const WEBHOOK_PATH: &str = "/webhooks/cal";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = Date::now().as_millis();
    let path = req.path();
    let mut line = log::RequestLog::new(req.method().to_string(), path.clone());
    let result = match (req.method(), path.as_str()) {
        (Method::Post, WEBHOOK_PATH) => webhook::handle(req, &env, &mut line).await,
        (_, WEBHOOK_PATH) => Err(ReceiverError::MethodNotAllowed),
        (Method::Get, admin::LIST_PATH) => admin::list(&req, &env).await,
        (Method::Post, admin::REDRIVE_PATH) => admin::redrive(req, &env).await,
        (Method::Post, admin::DELETE_PATH) => admin::delete(req, &env).await,
        (Method::Get | Method::Head, "/healthz") => Ok(webhook::Accepted::json(
            200,
            json!({"status": "ok", "service": "calhook-receiver"}),
        )),
        _ => Err(ReceiverError::NotFound),
    };
    let response = match result {
        Ok(accepted) => {
            line.outcome(accepted.outcome(), accepted.status);
            accepted.into_response()
        }
        Err(err) => {
            line.failure(&err);
            err.into_response()
        }
    };
    line.emit(Date::now().as_millis().saturating_sub(started));
    response
}

/// Deletes idempotency keys whose TTL has passed, and old "sent" ledger rows
/// (`[triggers] crons` in wrangler.toml). Expired keys are already ignored by
/// claims; this only keeps the tables small.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = Date::now().as_millis();
    let ttl = settings::Settings::from_env(&env)
        .map(|s| s.ttl_seconds)
        .unwrap_or(calhook_core::settings::DEFAULT_IDEMPOTENCY_TTL_SECONDS);
    match store::d1(&env) {
        Ok(db) => prune(&db, now as i64, ttl).await,
        Err(e) => worker::console_error!(
            "{}",
            json!({"svc": "calhook-receiver", "job": "prune_expired_keys", "error": e.to_string()})
        ),
    }
}

async fn prune(db: &calhook_d1::D1, now_ms: i64, ttl_seconds: u64) {
    use calhook_core::store::{claims, ledger};
    let keys = claims::prune(db, now_ms).await;
    // Sent ledger rows are kept as long as keys: by then the receiver would accept the event again anyway.
    let sent_before = now_ms.saturating_sub((ttl_seconds * 1000) as i64);
    let deliveries = ledger::prune_sent(db, sent_before).await;
    match keys.and_then(|k| deliveries.map(|d| (k, d))) {
        Ok((keys, deliveries)) => worker::console_log!(
            "{}",
            json!({"svc": "calhook-receiver", "job": "prune_expired_keys", "deleted": keys, "deliveries_deleted": deliveries})
        ),
        Err(e) => worker::console_error!(
            "{}",
            json!({"svc": "calhook-receiver", "job": "prune_expired_keys", "error": e.to_string()})
        ),
    }
}
