//! Operator routes for dead letters, off unless `ADMIN_TOKEN` is set:
//!
//! - `GET  /admin/dead-letters[?limit=&after=]`  newest first, with a cursor
//! - `POST /admin/dead-letters/redrive`  `{"key": "…"}`, or `{"all": true}` a page at a time
//!   (`"after"`: the `next` cursor of the previous answer); a page is queued in
//!   batches within `sendBatch`'s limits (100 messages, 256 KB encoded)
//! - `POST /admin/dead-letters/delete`   `{"key": "…"}` (unreadable ones too)
//! - `GET  /admin/outbox[?older_than_minutes=N]`  events recorded but not yet queued
//!
//! What redrive may do to the ledger is decided in
//! `calhook_core::store::dead_letters`; this module moves its decisions to the queue.

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::deliver::batches;
use calhook_core::store::dead_letters::{self, Cursor, Redrive, Selection, Stored};
use calhook_platform::bindings::d1;
use calhook_platform::d1::D1;
use calhook_platform::queue::send_batch;
use calhook_platform::url::query_pairs;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Request};

use crate::auth::{authorize, parse_limit};

pub const LIST_PATH: &str = "/admin/dead-letters";
pub const REDRIVE_PATH: &str = "/admin/dead-letters/redrive";
pub const DELETE_PATH: &str = "/admin/dead-letters/delete";
pub const OUTBOX_PATH: &str = "/admin/outbox";

pub fn page_size(env: &Env) -> Result<u32, ApiError> {
    let size = crate::settings::get(env).redrive_page_size.clone()?;
    Ok(size as u32)
}

pub async fn list(req: &Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(req, env)?;
    let url = req.inner().url();
    let mut limit = 100;
    let mut after = None;
    for (name, value) in query_pairs(&url) {
        match name.as_ref() {
            "limit" => limit = parse_limit(&value)?,
            "after" => {
                after = Some(Cursor::decode(&value).ok_or(ApiError::BadAdminRequest(
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

pub async fn redrive(mut req: Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(&req, env)?;
    let ask: KeyOrAll = req
        .json()
        .await
        .map_err(|_| ApiError::BadAdminRequest("expected {\"key\": \"…\"} or {\"all\": true}"))?;
    let selection = match (ask.key, ask.all) {
        (Some(k), false) => Selection::One(k),
        (None, true) => Selection::Page {
            after: match ask.after.as_deref() {
                Some(c) => Some(Cursor::decode(c).ok_or(ApiError::BadAdminRequest(
                    "after: not a cursor from \"next\"",
                ))?),
                None => None,
            },
            limit: page_size(env)?,
        },
        _ => {
            return Err(ApiError::BadAdminRequest(
                "give exactly one of \"key\" or \"all\": true",
            ))
        }
    };
    Ok(Accepted::json(
        200,
        redrive_selection(env, selection).await?,
    ))
}

/// Redrives one dead letter or a page of them (the JSON route and the
/// console's button): the answer the JSON route gives.
pub async fn redrive_selection(env: &Env, selection: Selection) -> Result<Value, ApiError> {
    let db = d1(env)?;
    let rows = dead_letters::select_for_redrive(&db, &selection).await?;
    if matches!(selection, Selection::One(_)) && rows.is_empty() {
        return Err(ApiError::NotFound);
    }
    let next = selection.next_cursor(&rows).map(|c| c.encode());
    let now = calhook_platform::now_ms();
    let decisions = dead_letters::reset_for_redrive(&db, &rows, now).await?;
    let pick = |want: Redrive| -> Vec<&Stored> {
        rows.iter()
            .zip(&decisions)
            .filter(|(_, d)| **d == want)
            .map(|(r, _)| r)
            .collect()
    };
    let (queued, too_large) = queue_all(&db, env, pick(Redrive::Queue)).await?;
    let keys = |rows: Vec<&Stored>| -> Value { rows.iter().map(|r| r.key.clone()).collect() };
    Ok(json!({
        "status": "redriven",
        "count": queued.len(),
        "keys": keys(queued),
        "too_large": keys(too_large),
        "resolved": keys(pick(Redrive::Resolved)),
        "busy": keys(pick(Redrive::Busy)),
        "next": next,
    }))
}

/// Queues `rows` in batches within the queue's limits, forgetting each batch's
/// dead letters once queued. A refusal answers 503 after forgetting what was
/// queued before it; what is left stays listed. Rows too large for a queue
/// message stay listed too, and are returned apart.
async fn queue_all<'a>(
    db: &D1,
    env: &Env,
    rows: Vec<&'a Stored>,
) -> Result<(Vec<&'a Stored>, Vec<&'a Stored>), ApiError> {
    let split = batches::split(rows.iter().map(|r| (r.notification.as_str(), false)));
    let too_large = split.too_large.iter().map(|&i| rows[i]).collect();
    let mut queued = Vec::with_capacity(rows.len());
    for range in split.batches {
        let batch = &rows[range];
        send_batch(env, batch.iter().map(|r| r.notification.clone()).collect()).await?;
        dead_letters::forget(db, batch).await?;
        queued.extend_from_slice(batch);
    }
    Ok((queued, too_large))
}

pub async fn delete(mut req: Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(&req, env)?;
    let ask: KeyOrAll = req
        .json()
        .await
        .map_err(|_| ApiError::BadAdminRequest("expected {\"key\": \"…\"}"))?;
    let Some(key) = ask.key else {
        return Err(ApiError::BadAdminRequest("expected {\"key\": \"…\"}"));
    };
    if !dead_letters::delete(&d1(env)?, &key).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Accepted::json(
        200,
        json!({"status": "deleted", "key": key}),
    ))
}

/// Events recorded but not yet queued, older than `older_than_minutes` (default 0).
pub async fn outbox(req: &Request, env: &Env) -> Result<Accepted, ApiError> {
    use calhook_core::store::outbox;
    authorize(req, env)?;
    let url = req.inner().url();
    let minutes = match query_pairs(&url).find(|(k, _)| k == "older_than_minutes") {
        Some((_, v)) => {
            v.parse::<i64>()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or(ApiError::BadAdminRequest(
                    "older_than_minutes must be a whole number",
                ))?
        }
        None => 0,
    };
    let db = d1(env)?;
    let now = calhook_platform::now_ms();
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
