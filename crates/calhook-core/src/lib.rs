//! Everything calhook decides, as pure Rust.
//!
//! The two workers are thin shells: they move bytes between Cloudflare bindings
//! and the functions here. Nothing in this crate depends on `worker`, so all of
//! it is tested natively with `cargo test` and can be fuzzed.
//!
//! Where to look:
//! - [`signature`]: is this request really from Cal.com?
//! - [`event`]: what did Cal.com send (every trigger, typed)?
//! - [`digest`]: what Cal.com sent, as an RFC 8785 canonical digest.
//! - [`key`]: which deliveries are one event (the idempotency key)?
//! - [`freshness`]: is the signed `createdAt` recent enough (replays)?
//! - [`notification`]: the versioned queue message the mailer consumes.
//! - [`settings`]: named limits and settings with their defaults.
//! - [`sendgrid`]: SendGrid's request shape and how its answers are classified.
//! - `render` (feature `render`): the email a person reads; `zones`: its
//!   local times, from the runtime's zone data or chrono-tz (feature `tzdb`).
//! - [`admin`]: the operator token for the dead-letter routes.
//! - [`store`]: every table's statements and transitions (claims, ledger,
//!   dead letters, KV), executed by the workers through a thin adapter.
//! - [`recipients`]: who gets which copy, de-duplicated, invalid ones left out.
//! - [`retry`]: how long a message waits before its next delivery.
//! - [`queues`]: which queue a batch came from.
//! - [`tenants`]: tenant ids, sealed webhook secrets, settings resolution.

pub mod admin;
pub mod answer;
pub mod cache;
pub mod digest;
pub mod event;
pub mod fold;
pub mod freshness;
pub mod ingest;
pub mod jobs;
pub mod key;
pub mod notification;
pub mod queues;
pub mod recipients;
#[cfg(feature = "render")]
pub mod render;
pub mod retry;
pub mod routes;
pub mod sendgrid;
pub mod settings;
pub mod signature;
pub mod store;
pub mod tenant_settings;
pub mod tenants;
#[cfg(feature = "render")]
pub mod zones;
