//! Idempotency in Workers KV (`IDEMPOTENCY_STORE=kv`): one read and at most one
//! write per event.
//!
//! KV allows one write per second to a key and propagates writes to other
//! locations within about 60 s. So there is no in-flight marker (its follow-up
//! write would land within the same second and be refused): an event is
//! written once, as done, after it is on the queue. What KV cannot give — an
//! atomic claim — the mailer's D1 ledger gives: a duplicate that slips past KV
//! is queued and then acked by the ledger without a second email. KV errors
//! therefore fail open (queue anyway) instead of refusing the event.

use super::claims::Repeat;
use super::{ClaimKey, StoreError};

/// How entries are named in the namespace (shared with earlier versions).
pub fn entry_key(key: &str) -> String {
    format!("idem:{key}")
}

/// The one value written per event: done, and for repeatable triggers when
/// Cal.com sent it (`sent_at`, ms), so a later repeat is told from a copy.
pub fn done_value(repeat: Option<Repeat>) -> String {
    match repeat {
        Some(r) => format!(r#"{{"state":"done","sent_at":{}}}"#, r.sent_at_ms),
        None => r#"{"state":"done"}"#.to_owned(),
    }
}

/// What a KV binding must provide.
#[allow(async_fn_in_trait)]
pub trait Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn put(&self, key: &str, value: &str, ttl_seconds: u64) -> Result<(), StoreError>;
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutcome {
    /// KV has it as done: not queued again.
    Duplicate,
    /// Queued. `read_error`/`write_error`: KV failed and the event was let
    /// through to the ledger (log them).
    Queued {
        read_error: Option<StoreError>,
        write_error: Option<StoreError>,
    },
}

/// Reads the key; unless it is done (for this event: see [`Repeat`]), runs
/// `send` and then writes it done once. `send`'s error is returned as is, and
/// nothing is written then.
pub async fn deliver_once<E>(
    kv: &impl Kv,
    key: &ClaimKey,
    repeat: Option<Repeat>,
    ttl_seconds: u64,
    send: impl AsyncFnOnce() -> Result<(), E>,
) -> Result<KvOutcome, E> {
    let entry = entry_key(key.as_str());
    let read_error = match kv.get(&entry).await {
        Ok(Some(value)) if is_done_for(&value, repeat) => return Ok(KvOutcome::Duplicate),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    send().await?;
    // KV's minimum expiration TTL is 60 s.
    let write_error = kv
        .put(&entry, &done_value(repeat), ttl_seconds.max(60))
        .await
        .err();
    Ok(KvOutcome::Queued {
        read_error,
        write_error,
    })
}

fn is_done_for(value: &str, repeat: Option<Repeat>) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(value) else {
        return false;
    };
    let done = v.get("state").and_then(|s| s.as_str()) == Some("done");
    done && repeat.is_none_or(|r| r.is_copy_of(v.get("sent_at").and_then(|t| t.as_i64())))
}
