//! The receiver worker: `POST /webhooks/cal[/{tenant}]` — verify, parse,
//! record, queue — and nothing else on its hot path. `/admin/*` and the cron
//! ticks are forwarded to the admin worker (`admin/`) through the `ADMIN`
//! service binding, so this wasm carries none of that code.
//!
//! A shell: `calhook_core::ingest` decides what each webhook does and what
//! it answers; `calhook_platform` touches the runtime. This crate wires them.

mod body;
mod forward;
mod settings;
mod tenant;
mod webhook;

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::routes::{self, HEALTH_PATH, TENANT_WEBHOOK_PREFIX, WEBHOOK_PATH};
use calhook_platform::log::RequestLog;
use calhook_platform::response::respond;
use calhook_platform::url::path_of;
use serde_json::json;
use worker::{event, web_sys, Context, Env, Result, ScheduleContext, ScheduledEvent};

/// The `svc` of every log line and of `/healthz`.
pub const SERVICE: &str = "calhook-receiver";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Takes the runtime's own request: workers-rs's `Request` would read the
/// method, URL, headers and `cf` object across the JS boundary up front (the
/// `cf` getter alone was 7 % of a refused request's CPU under `wrangler dev`).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let started = calhook_platform::now_ms();
    let path = path_of(&req.url()).to_owned();
    let method = req.method();
    let mut line = RequestLog::new(SERVICE, method.clone(), path.clone());
    if routes::is_admin(&path) {
        return forward::admin(req.into(), &env, line, started).await;
    }
    let post = method == "POST";
    let result = match path.as_str() {
        WEBHOOK_PATH if post => webhook::handle(&req, &env, &ctx, &mut line, None).await,
        WEBHOOK_PATH => Err(ApiError::MethodNotAllowed),
        p if p.starts_with(TENANT_WEBHOOK_PREFIX) => match &p[TENANT_WEBHOOK_PREFIX.len()..] {
            slug if slug.is_empty() || slug.contains('/') => Err(ApiError::NotFound),
            slug if post => webhook::handle(&req, &env, &ctx, &mut line, Some(slug)).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        HEALTH_PATH if method == "GET" || method == "HEAD" => Ok(Accepted::json(
            200,
            json!({"status": "ok", "service": SERVICE}),
        )),
        _ => Err(ApiError::NotFound),
    };
    Ok(respond(
        result,
        line,
        started,
        settings::refused_per_minute(&env),
    ))
}

/// The crons stay on the receiver's `[triggers]` (one place to set them);
/// their jobs run in the admin worker, which logs what they did. Each
/// minute also hands over the reconcile tick, an admin invocation of its own.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    use calhook_core::jobs::{Job, RECONCILE_TICK};
    let cron = event.cron();
    match Job::for_cron(&cron) {
        Job::Minute => {
            futures_util::future::join(
                forward::cron(&cron, &env),
                forward::cron(RECONCILE_TICK, &env),
            )
            .await;
        }
        Job::Prune | Job::Reconcile => forward::cron(&cron, &env).await,
    }
}
