//! Idempotency keys in D1 (default, atomic) or KV (eventually consistent).
//!
//! A claim moves a key to *in flight* with a lease; completing it marks it
//! *done* until the TTL passes; releasing it (any failure after the claim)
//! deletes it so that Cal.com's retry succeeds. A claim whose request crashed
//! is taken over once its lease has passed.

use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, KvStore};

use crate::error::ReceiverError;
use crate::settings::{Settings, StoreKind};

/// The D1 binding (shared with the mailer's delivery ledger).
pub const D1_BINDING: &str = "DB";
/// The KV binding, used when `IDEMPOTENCY_STORE=kv`.
pub const KV_BINDING: &str = "IDEMPOTENCY_KV";

/// What a claim found.
pub enum Claim {
    /// This request owns the key; `token` proves it on complete/release.
    Claimed { token: String },
    /// Processed before (within the TTL).
    AlreadyDone,
    /// Another request holds a live lease.
    InFlight,
}

pub enum IdempotencyStore {
    D1(D1Database),
    Kv(KvStore),
}

pub(crate) fn d1_unavailable(e: worker::Error) -> ReceiverError {
    ReceiverError::Unavailable {
        what: "D1",
        detail: e.to_string(),
    }
}

/// Runs one statement; any D1 error is "unavailable" (503).
pub(crate) async fn d1_run(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<(), ReceiverError> {
    db.prepare(sql)
        .bind(args)
        .map_err(d1_unavailable)?
        .run()
        .await
        .map_err(d1_unavailable)?;
    Ok(())
}

/// The first row of one statement, if any.
async fn d1_first<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
) -> Result<Option<T>, ReceiverError> {
    db.prepare(sql)
        .bind(args)
        .map_err(d1_unavailable)?
        .first(None)
        .await
        .map_err(d1_unavailable)
}

/// The D1 database, or a 503 naming the missing binding.
pub(crate) fn d1(env: &Env) -> Result<D1Database, ReceiverError> {
    env.d1(D1_BINDING)
        .map_err(|e| ReceiverError::BindingMissing {
            binding: D1_BINDING,
            detail: e.to_string(),
        })
}

impl IdempotencyStore {
    pub fn from_env(env: &Env, settings: &Settings) -> Result<Self, ReceiverError> {
        match settings.store {
            StoreKind::D1 => d1(env).map(Self::D1),
            StoreKind::Kv => {
                env.kv(KV_BINDING)
                    .map(Self::Kv)
                    .map_err(|e| ReceiverError::BindingMissing {
                        binding: KV_BINDING,
                        detail: e.to_string(),
                    })
            }
        }
    }

    /// Atomically claims `key` for this request.
    pub async fn claim(
        &self,
        key: &str,
        trigger: &str,
        now_ms: u64,
        lease_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<Claim, ReceiverError> {
        let token = claim_token(now_ms);
        let lease_until = now_ms + lease_seconds * 1000;
        match self {
            Self::D1(db) => {
                #[derive(Deserialize)]
                struct Won {
                    claim_token: String,
                }
                #[derive(Deserialize)]
                struct Existing {
                    state: String,
                }
                // One statement: insert, or take over an expired key or a stale lease.
                let won: Option<Won> = d1_first(
                    db,
                    "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at) \
                     VALUES (?1, 'in_flight', ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT(key) DO UPDATE SET state = 'in_flight', claim_token = excluded.claim_token, \
                       lease_until = excluded.lease_until, expires_at = excluded.expires_at, updated_at = excluded.updated_at \
                     WHERE (idempotency_keys.state = 'in_flight' AND idempotency_keys.lease_until <= ?6) \
                        OR idempotency_keys.expires_at <= ?6 \
                     RETURNING claim_token",
                    &[
                        key.into(),
                        token.as_str().into(),
                        trigger.into(),
                        JsValue::from_f64(lease_until as f64),
                        JsValue::from_f64((now_ms + ttl_seconds * 1000) as f64),
                        JsValue::from_f64(now_ms as f64),
                    ],
                )
                .await?;
                if won.is_some_and(|w| w.claim_token == token) {
                    return Ok(Claim::Claimed { token });
                }
                let existing: Option<Existing> = d1_first(
                    db,
                    "SELECT state FROM idempotency_keys WHERE key = ?1",
                    &[key.into()],
                )
                .await?;
                Ok(match existing.map(|e| e.state) {
                    Some(state) if state == "done" => Claim::AlreadyDone,
                    _ => Claim::InFlight,
                })
            }
            Self::Kv(kv) => {
                // KV has no compare-and-set: read, write, read back. Two requests in
                // different locations can both win inside KV's propagation window;
                // the mailer's ledger still stops a second email.
                if let Some(entry) = kv_get(kv, key).await? {
                    if entry.state == "done" {
                        return Ok(Claim::AlreadyDone);
                    }
                    if entry.lease_until > now_ms {
                        return Ok(Claim::InFlight);
                    }
                }
                let entry = KvEntry {
                    state: "in_flight".into(),
                    claim_token: token.clone(),
                    lease_until,
                };
                kv_put(kv, key, &entry, lease_seconds.max(60)).await?;
                match kv_get(kv, key).await? {
                    Some(e) if e.claim_token == token => Ok(Claim::Claimed { token }),
                    _ => Ok(Claim::InFlight),
                }
            }
        }
    }

    /// Marks a claimed key as processed until its TTL passes.
    pub async fn complete(
        &self,
        key: &str,
        token: &str,
        now_ms: u64,
        ttl_seconds: u64,
    ) -> Result<(), ReceiverError> {
        match self {
            Self::D1(db) => {
                d1_run(
                    db,
                    "UPDATE idempotency_keys SET state = 'done', expires_at = ?3, updated_at = ?4 \
                     WHERE key = ?1 AND claim_token = ?2",
                    &[
                        key.into(),
                        token.into(),
                        JsValue::from_f64((now_ms + ttl_seconds * 1000) as f64),
                        JsValue::from_f64(now_ms as f64),
                    ],
                )
                .await
            }
            Self::Kv(kv) => {
                let entry = KvEntry {
                    state: "done".into(),
                    claim_token: token.into(),
                    lease_until: 0,
                };
                kv_put(kv, key, &entry, ttl_seconds.max(60)).await
            }
        }
    }

    /// Gives a claimed key back so that a retry can claim it.
    pub async fn release(&self, key: &str, token: &str) -> Result<(), ReceiverError> {
        match self {
            Self::D1(db) => {
                d1_run(
                    db,
                    "DELETE FROM idempotency_keys WHERE key = ?1 AND claim_token = ?2 AND state = 'in_flight'",
                    &[key.into(), token.into()],
                )
                .await
            }
            Self::Kv(kv) => {
                if kv_get(kv, key)
                    .await?
                    .is_some_and(|e| e.claim_token == token)
                {
                    kv.delete(&kv_key(key)).await.map_err(kv_unavailable)?;
                }
                Ok(())
            }
        }
    }
}

/// Deletes expired keys from D1 (KV expires its own), and the mailer's ledger
/// rows for emails sent longer ago than the key TTL (by then the receiver would
/// accept the event again anyway). Pending and failed deliveries are kept.
/// Returns (keys, deliveries) deleted.
pub async fn prune_expired(env: &Env, now_ms: u64, ttl_seconds: u64) -> worker::Result<(u64, u64)> {
    let Ok(db) = env.d1(D1_BINDING) else {
        return Ok((0, 0));
    };
    let changes =
        |r: worker::D1Result| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64;
    let keys = db
        .prepare("DELETE FROM idempotency_keys WHERE expires_at <= ?1")
        .bind(&[JsValue::from_f64(now_ms as f64)])?
        .run()
        .await?;
    let deliveries = db
        .prepare("DELETE FROM deliveries WHERE state = 'sent' AND updated_at <= ?1")
        .bind(&[JsValue::from_f64(
            now_ms.saturating_sub(ttl_seconds * 1000) as f64
        )])?
        .run()
        .await?;
    Ok((changes(keys), changes(deliveries)))
}

/// Unique per claim; it only has to tell two claims apart, not be secret.
fn claim_token(now_ms: u64) -> String {
    let random = (worker::js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    format!("{now_ms:x}-{random:x}")
}

#[derive(Serialize, Deserialize)]
struct KvEntry {
    state: String,
    claim_token: String,
    lease_until: u64,
}

fn kv_unavailable(e: impl std::fmt::Display) -> ReceiverError {
    ReceiverError::Unavailable {
        what: "KV",
        detail: e.to_string(),
    }
}

fn kv_key(key: &str) -> String {
    format!("idem:{key}")
}

async fn kv_get(kv: &KvStore, key: &str) -> Result<Option<KvEntry>, ReceiverError> {
    kv.get(&kv_key(key))
        .json::<KvEntry>()
        .await
        .map_err(kv_unavailable)
}

async fn kv_put(
    kv: &KvStore,
    key: &str,
    entry: &KvEntry,
    ttl_seconds: u64,
) -> Result<(), ReceiverError> {
    kv.put(&kv_key(key), entry)
        .map_err(kv_unavailable)?
        .expiration_ttl(ttl_seconds)
        .execute()
        .await
        .map_err(kv_unavailable)
}
