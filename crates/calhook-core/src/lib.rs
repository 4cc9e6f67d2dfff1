//! Everything calhook decides, as pure Rust, by the flow of one event.
//!
//! The three workers are thin shells: they move bytes between Cloudflare
//! bindings (through `calhook-platform`) and the functions here. Nothing in
//! this crate depends on `worker`, so all of it is tested natively with
//! `cargo test` and can be fuzzed. Follow one webhook:
//!
//! 1. [`inbound`]: signature, envelope and events, freshness, identity, digest.
//! 2. [`ingest`]: the receiver's decision: a plan of effects, and the answer
//!    from their outcomes ([`answer`]: every status, once).
//! 3. [`message`]: the queued notification, and the email rendered from it.
//! 4. [`deliver`]: recipients, SendGrid, retries, a message's copies folded
//!    into ack / retry / dead letter.
//! 5. [`store`]: every table's statements and transitions (claims, outbox,
//!    ledger, bookings, reminders, dead letters, tenants, KV).
//! 6. [`jobs`]: what the scheduled runs send, remind and prune.
//!
//! Beside the flow: [`keys`] (one type per stored key), [`tenants`] (ids, sealed secrets, per-tenant settings),
//! [`settings`] (one table of every setting, read per worker), [`routes`]
//! (the paths the workers share) and [`admin`] (the operator's token).

pub mod admin;
pub mod alerts;
pub mod answer;
#[cfg(feature = "console")]
pub mod console;
pub mod deliver;
pub mod inbound;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod message;
pub mod reconcile;
pub mod routes;
pub mod settings;
pub mod store;
pub mod tenants;
