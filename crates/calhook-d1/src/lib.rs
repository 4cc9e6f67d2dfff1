//! Executes [`calhook_core::store`] statements on D1, and its KV model on
//! Workers KV. Every D1 or KV error becomes [`StoreError::Unavailable`].

use calhook_core::store::kv::Kv;
use calhook_core::store::{Db, Param, Statement, StoreError};
use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, KvStore};

/// A D1 binding as a [`Db`].
pub struct D1(pub D1Database);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn param(p: &Param) -> JsValue {
    match p {
        Param::Null => JsValue::NULL,
        // Times and counters stay far below 2^53.
        Param::Int(n) => JsValue::from_f64(*n as f64),
        Param::Text(t) => JsValue::from_str(t),
    }
}

impl D1 {
    fn prepare(&self, s: &Statement) -> Result<D1PreparedStatement, StoreError> {
        let params: Vec<JsValue> = s.params.iter().map(param).collect();
        self.0.prepare(s.sql).bind(&params).map_err(unavailable)
    }
}

fn changes(r: &D1Result) -> u64 {
    r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64
}

impl Db for D1 {
    async fn first<T: DeserializeOwned>(&self, s: Statement) -> Result<Option<T>, StoreError> {
        self.prepare(&s)?.first(None).await.map_err(unavailable)
    }

    async fn all<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>, StoreError> {
        self.prepare(&s)?
            .all()
            .await
            .map_err(unavailable)?
            .results()
            .map_err(|e| StoreError::Decode(e.to_string()))
    }

    async fn run(&self, s: Statement) -> Result<u64, StoreError> {
        let result = self.prepare(&s)?.run().await.map_err(unavailable)?;
        Ok(changes(&result))
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        // D1 refuses an empty batch.
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = statements
            .iter()
            .map(|s| self.prepare(s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(unavailable)?;
        Ok(results.iter().map(changes).collect())
    }
}

/// A KV namespace as the core's [`Kv`].
pub struct WorkersKv(pub KvStore);

impl Kv for WorkersKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(key).text().await.map_err(unavailable)
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: u64) -> Result<(), StoreError> {
        self.0
            .put(key, value)
            .map_err(unavailable)?
            .expiration_ttl(ttl_seconds)
            .execute()
            .await
            .map_err(unavailable)
    }
}
