//! Every table's statements and transition rules, as plain Rust.
//!
//! The workers never write SQL of their own: they execute the [`Statement`]s
//! built here through a thin adapter that implements [`Db`] over D1. The same
//! functions run natively on SQLite with the real `migrations/` in
//! `tests/state_machines.rs`, where every transition and the interleavings that
//! matter are proven (D1 is SQLite).
//!
//! Rules shared by all tables:
//! - a transition is one conditional statement; whether it happened is read
//!   from its `changes` (or its `RETURNING` row), never from a read before it;
//! - every write after a claim names the claim's token (fencing), so a writer
//!   whose lease ran out changes nothing;
//! - times are milliseconds since the Unix epoch, passed in (no clock here).

pub use crate::keys::{ClaimKey, DeliveryKey, NotificationKey};
/// `column`'s tenant: the part before a `/` that comes before any `:` (keys)
/// and is not `-` (the single route's uids that contain a `/`).
macro_rules! tenant_of {
    ($column:literal) => {
        concat!(
            "CASE WHEN instr(",
            $column,
            ", '/') > 1 AND (instr(",
            $column,
            ", ':') = 0 OR instr(",
            $column,
            ", '/') < instr(",
            $column,
            ", ':')) AND substr(",
            $column,
            ", 1, 1) != '-' THEN substr(",
            $column,
            ", 1, instr(",
            $column,
            ", '/') - 1) ELSE '' END"
        )
    };
}

pub mod alerts;
pub mod bookings;
pub mod claims;
pub mod dead_letters;
pub mod kv;
pub mod ledger;
pub mod outbox;
pub mod overview;
pub mod reconcile;
pub mod reminders;
pub mod sessions;
pub mod status;
pub mod tenants;
pub mod timeline;
pub mod usage;

use serde::de::DeserializeOwned;
use thiserror::Error;

/// One bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<u32> for Param {
    fn from(v: u32) -> Self {
        Param::Int(v.into())
    }
}
impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Param::Null)
    }
}

/// SQL text with its parameters (`?1`, `?2`, … in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<Param>) -> Self {
        Self { sql, params }
    }
}

/// Why a statement did not run or its rows could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database did not answer or refused the statement (a D1 outage).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row did not have the expected shape (a schema mismatch).
    #[error("unexpected row: {0}")]
    Decode(String),
}

/// What a worker (D1) or a native test (SQLite) must provide to execute statements.
///
/// Rows are decoded with serde from an object keyed by column name, so both
/// executors decode identically.
#[allow(async_fn_in_trait)] // executed on one thread (wasm) or blocked on natively
pub trait Db {
    /// The first row, if any.
    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError>;
    /// Every row.
    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError>;
    /// Runs a write; returns how many rows it changed.
    async fn run(&self, statement: Statement) -> Result<u64, StoreError>;
    /// Runs writes in one transaction (D1 `batch`); returns each one's changes.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, StoreError>;
    /// [`Db::batch`], whose last statement returns rows (`RETURNING`): those
    /// rows, read in the same round trip.
    async fn batch_rows<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError>;
}

/// Decodes a row given as JSON (what both adapters produce).
pub fn decode_row<T: DeserializeOwned>(row: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(row).map_err(|e| StoreError::Decode(e.to_string()))
}
