//! The admin worker's entry points: the operator API and the scheduled jobs.
//! It has no public route: requests arrive through the receiver's `ADMIN`
//! service binding.

use serde_json::json;
use worker::{event, Context, Date, Env, Method, Request, Result, ScheduleContext, ScheduledEvent};

use crate::answer::Accepted;
use crate::error::ReceiverError;
use crate::log::RequestLog;
use crate::{admin, bookings, cron, respond, tenants_admin, CRON_HEADER, CRON_PATH};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<worker::web_sys::Response> {
    let started = Date::now().as_millis();
    let path = crate::url::path_of(&req.inner().url()).to_owned();
    let line = RequestLog::new(req.method().to_string(), path.clone());
    let result = match (req.method(), path.as_str()) {
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
        (Method::Post, CRON_PATH) => match req.headers().get(CRON_HEADER).ok().flatten() {
            Some(expr) => {
                cron::run(&expr, &env, Date::now().as_millis() as i64).await;
                Ok(Accepted::json(200, json!({"status": "ok", "job": expr})))
            }
            None => Err(ReceiverError::NotFound),
        },
        (Method::Get | Method::Head, "/healthz") => Ok(Accepted::json(
            200,
            json!({"status": "ok", "service": crate::SERVICE}),
        )),
        _ => Err(ReceiverError::NotFound),
    };
    Ok(respond(result, line, &env, started))
}

/// When the admin worker is given `[triggers]` of its own instead.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    cron::run(&event.cron(), &env, Date::now().as_millis() as i64).await;
}
