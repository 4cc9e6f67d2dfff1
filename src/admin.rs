//! Operator routes for dead letters, off unless `ADMIN_TOKEN` is set:
//!
//! - `GET  /admin/dead-letters`          list what could not be sent, with the last error
//! - `POST /admin/dead-letters/redrive`  `{"key": "…"}` or `{"all": true}`: queue again
//!
//! Redrive first marks the delivery as pending (so the mailer's ledger lets it
//! through), then queues the stored notification, then forgets the dead letter:
//! a failure at any step leaves the dead letter in place to redrive again.

use calhook_core::admin::bearer_matches;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Request};

use crate::error::ReceiverError;
use crate::store::{d1, d1_run, d1_unavailable};
use crate::webhook::{send, Accepted};

pub const LIST_PATH: &str = "/admin/dead-letters";
pub const REDRIVE_PATH: &str = "/admin/dead-letters/redrive";

/// Checks the bearer token; without `ADMIN_TOKEN` the routes do not exist.
fn authorize(req: &Request, env: &Env) -> Result<(), ReceiverError> {
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

#[derive(Deserialize)]
struct DeadLetter {
    key: String,
    trigger: Option<String>,
    reason: Option<String>,
    dead_lettered_at: f64,
    notification: String,
}

async fn dead_letters(
    db: &D1Database,
    key: Option<&str>,
) -> Result<Vec<DeadLetter>, ReceiverError> {
    let statement = match key {
        Some(k) => db
            .prepare("SELECT * FROM dead_letters WHERE key = ?1")
            .bind(&[k.into()])
            .map_err(d1_unavailable)?,
        None => db.prepare("SELECT * FROM dead_letters ORDER BY dead_lettered_at LIMIT 500"),
    };
    statement
        .all()
        .await
        .map_err(d1_unavailable)?
        .results()
        .map_err(d1_unavailable)
}

pub async fn list(req: &Request, env: &Env) -> Result<Accepted, ReceiverError> {
    authorize(req, env)?;
    let rows = dead_letters(&d1(env)?, None).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "key": r.key,
                "trigger": r.trigger,
                "reason": r.reason,
                "dead_lettered_at": r.dead_lettered_at as u64,
            })
        })
        .collect();
    Ok(Accepted::json(
        200,
        json!({"count": items.len(), "dead_letters": items}),
    ))
}

#[derive(Deserialize)]
struct RedriveRequest {
    key: Option<String>,
    #[serde(default)]
    all: bool,
}

pub async fn redrive(mut req: Request, env: &Env) -> Result<Accepted, ReceiverError> {
    authorize(&req, env)?;
    let ask: RedriveRequest = req.json().await.map_err(|_| {
        ReceiverError::BadAdminRequest("expected {\"key\": \"…\"} or {\"all\": true}")
    })?;
    let key = match (&ask.key, ask.all) {
        (Some(k), false) => Some(k.as_str()),
        (None, true) => None,
        _ => {
            return Err(ReceiverError::BadAdminRequest(
                "give exactly one of \"key\" or \"all\": true",
            ))
        }
    };
    let db = d1(env)?;
    let rows = dead_letters(&db, key).await?;
    if key.is_some() && rows.is_empty() {
        return Err(ReceiverError::NotFound);
    }
    let mut redriven = Vec::new();
    for row in rows
        .into_iter()
        .filter(|r| !r.key.starts_with("unreadable:"))
    {
        let key = || [JsValue::from(row.key.as_str())];
        d1_run(
            &db,
            "UPDATE deliveries SET state = 'pending', lease_until = 0 WHERE key = ?1",
            &key(),
        )
        .await?;
        send(env, row.notification.clone()).await?;
        d1_run(&db, "DELETE FROM dead_letters WHERE key = ?1", &key()).await?;
        redriven.push(row.key);
    }
    Ok(Accepted::json(
        200,
        json!({"status": "redriven", "count": redriven.len(), "keys": redriven}),
    ))
}
