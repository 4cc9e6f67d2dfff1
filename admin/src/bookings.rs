//! Operator routes for the booking ledger, behind `ADMIN_TOKEN` like the others:
//!
//! - `GET /admin/bookings/{uid}`  the booking's state, events, emails, reminders
//!   and reschedule chain (`calhook_core::store::timeline`); a tenant's
//!   booking is `{tenant}/{uid}`
//! - `GET /admin/bookings[?from=&to=&status=&limit=]`  bookings starting in
//!   `[from, to)` (ISO 8601 or ms; default now to 30 days ahead), soonest first

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::inbound::freshness::event_time_ms;
use calhook_core::store::{tenants, timeline};
use calhook_core::tenants::split_ledger_uid;
use calhook_platform::bindings::d1;
use calhook_platform::url::query_pairs;
use serde_json::{json, Value};
use worker::{Env, Request};

use crate::auth::{authorize, parse_limit};

pub const LIST_PATH: &str = "/admin/bookings";
/// `GET {SHOW_PREFIX}{uid}`.
pub const SHOW_PREFIX: &str = "/admin/bookings/";

const STATUSES: &[&str] = &[
    "requested",
    "accepted",
    "ended",
    "rejected",
    "cancelled",
    "rescheduled",
];

pub async fn show(req: &Request, env: &Env, uid: &str) -> Result<Accepted, ApiError> {
    authorize(req, env)?;
    if uid.is_empty() || uid.matches('/').count() > 1 {
        return Err(ApiError::NotFound);
    }
    let settings = crate::settings::get(env);
    let mut offsets = settings
        .reminders
        .as_ref()
        .map_err(Clone::clone)?
        .offsets
        .clone();
    let db = d1(env)?;
    if let (Some(tenant), _) = split_ledger_uid(uid) {
        if let Some(row) = tenants::get(&db, tenant.as_str()).await? {
            offsets = row.settings.reminder_offsets(&offsets);
        }
    }
    let now = calhook_platform::now_ms();
    let Some(t) = timeline::timeline(&db, uid, &offsets, now).await? else {
        return Err(ApiError::NotFound);
    };
    let mut body = serde_json::to_value(&t).unwrap_or(Value::Null);
    // Say which copy each email is (the staff email or an attendee's).
    if let Some(emails) = body["emails"].as_array_mut() {
        for (row, email) in emails.iter_mut().zip(&t.emails) {
            row["copy"] = email.copy().into();
        }
    }
    Ok(Accepted::json(200, body))
}

pub async fn list(req: &Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(req, env)?;
    let url = req.inner().url();
    let now = calhook_platform::now_ms();
    let (mut from, mut to, mut status, mut limit) = (now, now + 30 * 86_400_000, None, 100);
    for (name, value) in query_pairs(&url) {
        let time = || {
            value
                .parse::<i64>()
                .ok()
                .or_else(|| event_time_ms(&value))
                .ok_or(ApiError::BadAdminRequest(
                    "from/to: an ISO 8601 time or milliseconds since the epoch",
                ))
        };
        match name.as_ref() {
            "from" => from = time()?,
            "to" => to = time()?,
            "status" => {
                status = Some(STATUSES.iter().find(|s| **s == value).copied().ok_or(
                    ApiError::BadAdminRequest(
                        "status: requested, accepted, ended, rejected, cancelled or rescheduled",
                    ),
                )?)
            }
            "limit" => limit = parse_limit(&value)?,
            _ => {}
        }
    }
    let rows = timeline::list(&d1(env)?, from, to, status, limit).await?;
    Ok(Accepted::json(
        200,
        json!({"count": rows.len(), "from": from, "to": to, "bookings": rows}),
    ))
}
