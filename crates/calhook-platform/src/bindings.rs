//! The bindings each worker's `wrangler.toml` declares, fetched from `Env` with
//! a 503 that names a missing one.

use calhook_core::answer::ApiError;
use worker::Env;

use crate::d1::{WorkersKv, D1};

/// The D1 database (keys, outbox, ledger, bookings, tenants).
pub const D1_BINDING: &str = "DB";
/// The KV namespace, used when `IDEMPOTENCY_STORE=kv`.
pub const KV_BINDING: &str = "IDEMPOTENCY_KV";
/// The KV namespace holding a copy of every tenant row (read when D1 fails).
pub const TENANTS_KV_BINDING: &str = "TENANTS_KV";
/// The notification queue's producer.
pub const QUEUE_BINDING: &str = "NOTIFICATIONS";
/// The mailer's producer for notifications that can never be sent.
pub const DEAD_LETTER_BINDING: &str = "DEAD_LETTERS";
/// The receiver's binding to the admin worker.
pub const ADMIN_BINDING: &str = "ADMIN";

fn missing(binding: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |e| ApiError::BindingMissing {
        binding,
        detail: e.to_string(),
    }
}

/// The D1 database, or a 503 naming the missing binding.
pub fn d1(env: &Env) -> Result<D1, ApiError> {
    env.d1(D1_BINDING).map(D1).map_err(missing(D1_BINDING))
}

/// The KV namespace that holds idempotency keys.
pub fn kv(env: &Env) -> Result<WorkersKv, ApiError> {
    env.kv(KV_BINDING)
        .map(WorkersKv)
        .map_err(missing(KV_BINDING))
}

/// The tenant rows' copy, or a 503 naming the missing binding.
pub fn tenants_kv(env: &Env) -> Result<WorkersKv, ApiError> {
    env.kv(TENANTS_KV_BINDING)
        .map(WorkersKv)
        .map_err(missing(TENANTS_KV_BINDING))
}

/// The admin worker, behind the receiver's service binding.
pub fn admin(env: &Env) -> Result<worker::Fetcher, ApiError> {
    env.service(ADMIN_BINDING).map_err(missing(ADMIN_BINDING))
}

/// Unique per claim; it only has to tell two claims apart, not be secret.
pub fn claim_token(now_ms: u64) -> String {
    let random = (worker::js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    format!("{now_ms:x}-{random:x}")
}
