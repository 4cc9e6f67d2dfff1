//! Receiver worker: the HTTP surface for Cal.com webhooks.
//!
//! A thin shell. It reads the request, hands bytes to `calhook_core` for every
//! decision (signature, parsing, key, notification), and moves the results
//! into D1/KV and the queue. Status codes are decided once, in [`error`].

mod admin;
mod body;
mod bookings;
mod cron;
mod error;
mod log;
mod settings;
mod store;
mod tenant;
mod tenants_admin;
mod webhook;

use error::ReceiverError;
use serde_json::json;
use worker::{
    event, Context, Date, Env, Method, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

/// Where Cal.com posts (the single-tenant route).
pub const WEBHOOK_PATH: &str = "/webhooks/cal";
/// `{TENANT_WEBHOOK_PREFIX}{tenant}`: a tenant's route.
pub const TENANT_WEBHOOK_PREFIX: &str = "/webhooks/cal/";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let started = Date::now().as_millis();
    let path = req.path();
    let mut line = log::RequestLog::new(req.method().to_string(), path.clone());
    let result = match (req.method(), path.as_str()) {
        (Method::Post, WEBHOOK_PATH) => webhook::handle(req, &env, &ctx, &mut line, None).await,
        (_, WEBHOOK_PATH) => Err(ReceiverError::MethodNotAllowed),
        (method, p) if p.starts_with(TENANT_WEBHOOK_PREFIX) => {
            match (method, &p[TENANT_WEBHOOK_PREFIX.len()..]) {
                (_, slug) if slug.is_empty() || slug.contains('/') => Err(ReceiverError::NotFound),
                (Method::Post, slug) => {
                    let slug = slug.to_owned();
                    webhook::handle(req, &env, &ctx, &mut line, Some(&slug)).await
                }
                _ => Err(ReceiverError::MethodNotAllowed),
            }
        }
        (_, p) if p == tenants_admin::PREFIX || p.starts_with("/admin/tenants/") => {
            tenants_admin::route(req, &env, &path).await
        }
        (Method::Get, admin::LIST_PATH) => admin::list(&req, &env).await,
        (Method::Post, admin::REDRIVE_PATH) => admin::redrive(req, &env).await,
        (Method::Post, admin::DELETE_PATH) => admin::delete(req, &env).await,
        (Method::Get, admin::OUTBOX_PATH) => admin::outbox(&req, &env).await,
        (Method::Get, bookings::LIST_PATH) => bookings::list(&req, &env).await,
        (Method::Get, p) if p.starts_with(bookings::SHOW_PREFIX) => {
            bookings::show(&req, &env, &p[bookings::SHOW_PREFIX.len()..]).await
        }
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
    let per_minute = settings::Settings::get(&env)
        .map(|s| s.log_refused_per_minute)
        .unwrap_or(log::DEFAULT_REFUSED_PER_MINUTE);
    let now = Date::now().as_millis();
    line.emit(now, now.saturating_sub(started), per_minute);
    response
}

/// Every minute: send the outbox; daily: prune (`[triggers] crons`).
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    cron::run(&event.cron(), &env, Date::now().as_millis() as i64).await;
}
