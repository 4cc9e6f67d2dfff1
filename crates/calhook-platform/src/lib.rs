//! Everything the three workers need from the Workers runtime, in one crate:
//! bindings ([`bindings`], [`d1`], [`queue`]), settings from vars and secrets
//! ([`vars`]), answers ([`response`]) and their log line ([`log`]), the
//! request's URL ([`url`]), and the runtime's own JSON, WebCrypto and `Intl`
//! where they save the wasm a library ([`canonical`], [`sealing`], [`zones`]).
//!
//! Nothing here decides: each function moves values between the runtime and
//! `calhook_core`, which is tested natively.

pub mod bindings;
#[cfg(feature = "runtime-jcs")]
pub mod canonical;
pub mod d1;
pub mod http;
pub mod log;
pub mod message_log;
pub mod queue;
pub mod response;
pub mod sealing;
pub mod url;
pub mod vars;
#[cfg(feature = "intl-zones")]
pub mod zones;

/// Milliseconds since the epoch, as the runtime's clock has it.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}
