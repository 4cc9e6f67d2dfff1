//! The admin worker: the operator API (dead letters, outbox, bookings,
//! tenants) and the scheduled jobs (outbox, reminders, pruning). It has no
//! public route: requests arrive through the receiver's `ADMIN` service
//! binding. A shell over `calhook_core` like the other two workers.

mod auth;
mod bookings;
mod console;
mod cron;
mod dead_letters;
mod reconcile;
mod settings;
mod status;
mod tenants;

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::routes::{CRON_HEADER, CRON_PATH, HEALTH_PATH};
use calhook_platform::log::RequestLog;
use calhook_platform::response::respond;
use calhook_platform::url::path_of;
use serde_json::json;
use worker::{event, Context, Env, Method, Request, Result, ScheduleContext, ScheduledEvent};

/// The `svc` of every log line and of `/healthz`.
pub const SERVICE: &str = "calhook-admin";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<worker::web_sys::Response> {
    let started = calhook_platform::now_ms();
    let path = path_of(&req.inner().url()).to_owned();
    let mut line = RequestLog::new(SERVICE, req.method().to_string(), path.clone());
    let per_minute = settings::get(&env).log_refused_per_minute;
    if calhook_core::console::is_console(&path) {
        match console::handle(req, &env, &path).await {
            Ok(page) => {
                line.outcome("console", page.status);
                line.emit_since(started, per_minute);
                return Ok(page.into_response()?.into());
            }
            Err(e) => return Ok(respond(Err(e), line, started, per_minute)),
        }
    }
    let result = route(req, &env, &path).await;
    Ok(respond(result, line, started, per_minute))
}

async fn route(req: Request, env: &Env, path: &str) -> std::result::Result<Accepted, ApiError> {
    match (req.method(), path) {
        (_, p) if p == tenants::PREFIX || p.starts_with("/admin/tenants/") => {
            tenants::route(req, env, path).await
        }
        (Method::Get, status::PATH) => status::show(&req, env).await,
        (Method::Get, dead_letters::LIST_PATH) => dead_letters::list(&req, env).await,
        (Method::Post, dead_letters::REDRIVE_PATH) => dead_letters::redrive(req, env).await,
        (Method::Post, dead_letters::DELETE_PATH) => dead_letters::delete(req, env).await,
        (Method::Get, dead_letters::OUTBOX_PATH) => dead_letters::outbox(&req, env).await,
        (Method::Get, bookings::LIST_PATH) => bookings::list(&req, env).await,
        (Method::Get, reconcile::PATH) => reconcile::show(&req, env).await,
        (Method::Post, reconcile::PATH) => reconcile::run_now(req, env).await,
        (Method::Get, p) if p.starts_with(bookings::SHOW_PREFIX) => {
            bookings::show(&req, env, &p[bookings::SHOW_PREFIX.len()..]).await
        }
        (Method::Post, CRON_PATH) => match req.headers().get(CRON_HEADER).ok().flatten() {
            Some(expr) => {
                cron::run(&expr, env, calhook_platform::now_ms()).await;
                Ok(Accepted::json(200, json!({"status": "ok", "job": expr})))
            }
            None => Err(ApiError::NotFound),
        },
        (Method::Get | Method::Head, HEALTH_PATH) => Ok(Accepted::json(
            200,
            json!({"status": "ok", "service": SERVICE}),
        )),
        _ => Err(ApiError::NotFound),
    }
}

/// When the admin worker is given `[triggers]` of its own instead: the
/// minute's tick runs the reconcile job after the minute job.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    cron::run(&cron, &env, calhook_platform::now_ms()).await;
    if calhook_core::jobs::Job::for_cron(&cron) == calhook_core::jobs::Job::Minute {
        cron::run(
            calhook_core::jobs::RECONCILE_TICK,
            &env,
            calhook_platform::now_ms(),
        )
        .await;
    }
}
