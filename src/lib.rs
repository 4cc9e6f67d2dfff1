//! Two workers from one crate, both thin shells over `calhook_core`:
//!
//! - the **receiver** (default build): `POST /webhooks/cal[/{tenant}]` —
//!   verify, parse, record, queue — and nothing else on its hot path. It
//!   forwards `/admin/*` and its cron ticks to the admin worker through the
//!   `ADMIN` service binding, so its wasm carries none of that code.
//! - the **admin worker** (feature `admin-worker`, built from `admin/`): the
//!   operator API (dead letters, outbox, bookings, tenants) and the scheduled
//!   jobs (outbox, reminders, pruning). It has no public route.
//!
//! Each reads the request, hands bytes to `calhook_core` for every decision,
//! and moves the results into D1/KV and the queue. Status codes are decided
//! once, in [`error`].

mod answer;
// Each worker builds only its own routes: some variants and settings are the other's.
#[allow(dead_code)]
mod error;
mod json_response;
#[allow(dead_code)]
mod log;
#[allow(dead_code)]
mod queue;
mod sealing;
#[allow(dead_code)]
mod settings;
#[allow(dead_code)]
mod store;
#[cfg_attr(feature = "admin-worker", allow(dead_code))]
mod tenant;
mod url;

#[cfg(not(feature = "admin-worker"))]
mod body;
#[cfg(not(feature = "admin-worker"))]
mod canonical;
#[cfg(not(feature = "admin-worker"))]
mod receiver_worker;
#[cfg(not(feature = "admin-worker"))]
mod webhook;

#[cfg(feature = "admin-worker")]
mod admin;
#[cfg(feature = "admin-worker")]
mod admin_worker;
#[cfg(feature = "admin-worker")]
mod bookings;
#[cfg(feature = "admin-worker")]
mod cron;
#[cfg(feature = "admin-worker")]
mod tenants_admin;

use worker::{event, web_sys, Date, Env};

/// Where Cal.com posts (the single-tenant route).
pub const WEBHOOK_PATH: &str = "/webhooks/cal";
/// `{TENANT_WEBHOOK_PREFIX}{tenant}`: a tenant's route.
pub const TENANT_WEBHOOK_PREFIX: &str = "/webhooks/cal/";
/// The receiver's binding to the admin worker.
pub const ADMIN_BINDING: &str = "ADMIN";
/// Every path under it is the admin worker's.
pub const ADMIN_PREFIX: &str = "/admin";
/// The admin worker runs a cron job when the receiver posts here with the
/// cron expression in [`CRON_HEADER`]; never forwarded from outside.
pub const CRON_PATH: &str = "/internal/cron";
pub const CRON_HEADER: &str = "x-calhook-cron";

/// The `svc` of every log line and of `/healthz`.
#[cfg(not(feature = "admin-worker"))]
pub const SERVICE: &str = "calhook-receiver";
#[cfg(feature = "admin-worker")]
pub const SERVICE: &str = "calhook-admin";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Logs the request's one line and turns the result into the response.
fn respond(
    result: std::result::Result<answer::Accepted, error::ReceiverError>,
    mut line: log::RequestLog,
    env: &Env,
    started: u64,
) -> web_sys::Response {
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
    emit(line, env, started);
    response
}

fn emit(line: log::RequestLog, env: &Env, started: u64) {
    let per_minute = settings::Settings::get(env)
        .map(|s| s.log_refused_per_minute)
        .unwrap_or(log::DEFAULT_REFUSED_PER_MINUTE);
    let now = Date::now().as_millis();
    line.emit(now, now.saturating_sub(started), per_minute);
}
