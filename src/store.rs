//! Where idempotency keys live: D1 (default, atomic claims) or KV (one write
//! per event, duplicates stopped by the mailer's ledger). The rules are
//! `calhook_core::store`'s; this module only picks the binding.

use calhook_core::store::StoreError;
use calhook_d1::{WorkersKv, D1};
use worker::Env;

use crate::error::ReceiverError;
use crate::settings::{Settings, StoreKind};

/// The D1 binding (shared with the mailer's delivery ledger).
pub const D1_BINDING: &str = "DB";
/// The KV binding, used when `IDEMPOTENCY_STORE=kv`.
pub const KV_BINDING: &str = "IDEMPOTENCY_KV";

pub enum IdempotencyStore {
    D1(D1),
    Kv(WorkersKv),
}

impl From<StoreError> for ReceiverError {
    fn from(e: StoreError) -> Self {
        ReceiverError::Unavailable {
            what: "D1",
            detail: e.to_string(),
        }
    }
}

/// The D1 database, or a 503 naming the missing binding.
pub(crate) fn d1(env: &Env) -> Result<D1, ReceiverError> {
    env.d1(D1_BINDING)
        .map(D1)
        .map_err(|e| ReceiverError::BindingMissing {
            binding: D1_BINDING,
            detail: e.to_string(),
        })
}

impl IdempotencyStore {
    pub fn from_env(env: &Env, settings: &Settings) -> Result<Self, ReceiverError> {
        match settings.store {
            StoreKind::D1 => d1(env).map(Self::D1),
            StoreKind::Kv => env
                .kv(KV_BINDING)
                .map(|kv| Self::Kv(WorkersKv(kv)))
                .map_err(|e| ReceiverError::BindingMissing {
                    binding: KV_BINDING,
                    detail: e.to_string(),
                }),
        }
    }
}

/// Unique per claim; it only has to tell two claims apart, not be secret.
pub fn claim_token(now_ms: u64) -> String {
    let random = (worker::js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    format!("{now_ms:x}-{random:x}")
}
