//! Operator routes for dead letters, off unless `ADMIN_TOKEN` is set:
//!
//! - `GET  /admin/dead-letters[?limit=&after=]`  newest first, with a cursor
//! - `POST /admin/dead-letters/redrive`  `{"key": "…"}`, or `{"all": true}` a page at a time
//!   (`"after"`: the `next` cursor of the previous answer)
//! - `POST /admin/dead-letters/delete`   `{"key": "…"}` (unreadable ones too)
//! - `GET  /admin/outbox[?older_than_minutes=N]`  events recorded but not yet queued
//!
//! What redrive may do to the ledger is decided in
//! `calhook_core::store::dead_letters`; this module moves its decisions to the queue.

use calhook_core::admin::bearer_matches;
use calhook_core::settings as core;
use calhook_core::store::dead_letters::{self, Cursor, Redrive, Selection, Stored};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Date, Env, Request};

use crate::answer::Accepted;
use crate::error::ReceiverError;
use crate::queue::send_batch;
use crate::settings;
use crate::store::d1;

pub const LIST_PATH: &str = "/admin/dead-letters";
pub const REDRIVE_PATH: &str = "/admin/dead-letters/redrive";
pub const DELETE_PATH: &str = "/admin/dead-letters/delete";
pub const OUTBOX_PATH: &str = "/admin/outbox";

/// Checks the bearer token; without `ADMIN_TOKEN` the routes do not exist.
pub(crate) fn authorize(req: &Request, env: &Env) -> Result<(), ReceiverError> {
    let token = env
        .secret("ADMIN_TOKEN")
        .map(|s| s.to_string())
        .unwrap_or_default();
    if token.trim().is_empty() {
        return Err(ReceiverError::NotFound);
    }
    let header = req.headers().get("authorization").ok().flatten();
    if bearer_matches(token.trim(), header.as_deref()) {
        Ok(())
    } else {
        Err(ReceiverError::AdminUnauthorized)
    }
}

/// An admin list's `?limit=` (1 to 500).
pub(crate) fn parse_limit(value: &str) -> Result<u32, ReceiverError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=500).contains(n))
        .ok_or(ReceiverError::BadAdminRequest("limit must be 1 to 500"))
}

fn page_size(env: &Env) -> Result<u32, ReceiverError> {
    Ok(settings::number(
        env,
        "REDRIVE_PAGE_SIZE",
        core::DEFAULT_REDRIVE_PAGE_SIZE,
        1,
        core::MAX_REDRIVE_PAGE_SIZE,
    )? as u32)
}

pub async fn list(req: &Request, env: &Env) -> Result<Accepted, ReceiverError> {
    authorize(req, env)?;
    let url = req.inner().url();
    let mut limit = 100;
    let mut after = None;
    for (name, value) in crate::url::query_pairs(&url) {
        match name.as_ref() {
            "limit" => limit = parse_limit(&value)?,
            "after" => {
                after = Some(Cursor::decode(&value).ok_or(ReceiverError::BadAdminRequest(
                    "after: not a cursor from \"next\"",
                ))?)
            }
            _ => {}
        }
    }
    let (rows, next) = dead_letters::list(&d1(env)?, after.as_ref(), limit).await?;
    Ok(Accepted::json(
        200,
        json!({"count": rows.len(), "dead_letters": rows, "next": next.map(|c| c.encode())}),
    ))
}

#[derive(Deserialize)]
struct KeyOrAll {
    key: Option<String>,
    #[serde(default)]
    all: bool,
    after: Option<String>,
}

pub async fn redrive(mut req: Request, env: &Env) -> Result<Accepted, ReceiverError> {
    authorize(&req, env)?;
    let ask: KeyOrAll = req.json().await.map_err(|_| {
        ReceiverError::BadAdminRequest("expected {\"key\": \"…\"} or {\"all\": true}")
    })?;
    let selection = match (ask.key, ask.all) {
        (Some(k), false) => Selection::One(k),
        (None, true) => Selection::Page {
            after: match ask.after.as_deref() {
                Some(c) => Some(Cursor::decode(c).ok_or(ReceiverError::BadAdminRequest(
                    "after: not a cursor from \"next\"",
                ))?),
                None => None,
            },
            limit: page_size(env)?,
        },
        _ => {
            return Err(ReceiverError::BadAdminRequest(
                "give exactly one of \"key\" or \"all\": true",
            ))
        }
    };
    let db = d1(env)?;
    let rows = dead_letters::select_for_redrive(&db, &selection).await?;
    if matches!(selection, Selection::One(_)) && rows.is_empty() {
        return Err(ReceiverError::NotFound);
    }
    let next = selection.next_cursor(&rows).map(|c| c.encode());
    let now = Date::now().as_millis() as i64;
    let decisions = dead_letters::reset_for_redrive(&db, &rows, now).await?;
    let pick = |want: Redrive| -> Vec<&Stored> {
        rows.iter()
            .zip(&decisions)
            .filter(|(_, d)| **d == want)
            .map(|(r, _)| r)
            .collect()
    };
    let queue = pick(Redrive::Queue);
    if !queue.is_empty() {
        send_batch(env, queue.iter().map(|r| r.notification.clone()).collect()).await?;
        dead_letters::forget(&db, &queue).await?;
    }
    let keys = |rows: Vec<&Stored>| -> Value { rows.iter().map(|r| r.key.clone()).collect() };
    Ok(Accepted::json(
        200,
        json!({
            "status": "redriven",
            "count": queue.len(),
            "keys": keys(queue),
            "resolved": keys(pick(Redrive::Resolved)),
            "busy": keys(pick(Redrive::Busy)),
            "next": next,
        }),
    ))
}

pub async fn delete(mut req: Request, env: &Env) -> Result<Accepted, ReceiverError> {
    authorize(&req, env)?;
    let ask: KeyOrAll = req
        .json()
        .await
        .map_err(|_| ReceiverError::BadAdminRequest("expected {\"key\": \"…\"}"))?;
    let Some(key) = ask.key else {
        return Err(ReceiverError::BadAdminRequest("expected {\"key\": \"…\"}"));
    };
    if !dead_letters::delete(&d1(env)?, &key).await? {
        return Err(ReceiverError::NotFound);
    }
    Ok(Accepted::json(
        200,
        json!({"status": "deleted", "key": key}),
    ))
}

/// Events recorded but not yet queued, older than `older_than_minutes` (default 0).
pub async fn outbox(req: &Request, env: &Env) -> Result<Accepted, ReceiverError> {
    use calhook_core::store::outbox;
    authorize(req, env)?;
    let url = req.inner().url();
    let minutes = match crate::url::query_pairs(&url).find(|(k, _)| k == "older_than_minutes") {
        Some((_, v)) => {
            v.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or(ReceiverError::BadAdminRequest(
                    "older_than_minutes must be a whole number",
                ))?
        }
        None => 0,
    };
    let db = d1(env)?;
    let now = Date::now().as_millis() as i64;
    let rows = outbox::list(&db, now - minutes * 60_000, 500).await?;
    let depth = outbox::depth(&db).await?;
    Ok(Accepted::json(
        200,
        json!({
            "count": rows.len(),
            "depth": depth.count,
            "oldest_age_seconds": depth.oldest_age_seconds(now),
            "outbox": rows,
        }),
    ))
}
