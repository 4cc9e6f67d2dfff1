//! Executes [`calhook_core::store`] statements on D1, and its KV model on
//! Workers KV. Every D1 or KV error becomes [`StoreError::Unavailable`].
//!
//! A write's answer is read for its `meta.changes` alone (two property reads),
//! not decoded whole into workers-rs's `D1ResultMeta` on every statement.
//!
//! A batch crosses into the runtime once: its statements and parameters go
//! over as one JSON text, and a few lines of JS prepare, bind and run them
//! and hand back the changes as text. Bound one by one from wasm, the
//! receiver's batch of six statements was 110 of a new event's 200 calls
//! between wasm and JS (BENCHMARKS.md, "Runtime crossings").

use calhook_core::store::kv::Kv;
use calhook_core::store::{Db, Param, Statement, StoreError};
use calhook_core::tenants::replica::ReplicaStore;
use serde::de::DeserializeOwned;
use worker::js_sys::{Error as JsError, Promise, Reflect};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement, KvStore};

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "function prepared(db, text) { return JSON.parse(text).map(([sql, params]) => db.prepare(sql).bind(...params)); }\n\
export function d1_batch_changes(db, text) { return db.batch(prepared(db, text)).then((rs) => rs.map((r) => r.meta.changes).join(',')); }\n\
export function d1_batch_last_rows(db, text) { return db.batch(prepared(db, text)).then((rs) => JSON.stringify(rs[rs.length - 1].results)); }"
)]
extern "C" {
    /// Runs the batch; resolves to each statement's changes, comma-separated.
    #[wasm_bindgen(catch)]
    fn d1_batch_changes(db: &JsValue, statements: &str) -> Result<Promise, JsValue>;
    /// Runs the batch; resolves to the last statement's rows as JSON text.
    #[wasm_bindgen(catch)]
    fn d1_batch_last_rows(db: &JsValue, statements: &str) -> Result<Promise, JsValue>;
}

/// `[[sql, [params…]], …]`: a batch as one JSON text.
fn batch_text(statements: &[Statement]) -> String {
    use serde_json::Value;
    let list: Vec<(&str, Vec<Value>)> = statements
        .iter()
        .map(|s| {
            let params = s
                .params
                .iter()
                .map(|p| match p {
                    Param::Null => Value::Null,
                    Param::Int(n) => Value::from(*n),
                    Param::Text(t) => Value::from(t.as_str()),
                })
                .collect();
            (s.sql, params)
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// A D1 binding as a [`Db`].
pub struct D1(pub D1Database);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// What D1 threw: its cause's message when it names one (D1's own errors
/// carry the SQLite message there), else the error's message.
fn thrown(e: JsValue) -> StoreError {
    let message = |v: &JsValue| v.dyn_ref::<JsError>().map(|e| String::from(e.message()));
    let text = e
        .dyn_ref::<JsError>()
        .and_then(|err| message(&err.cause()))
        .or_else(|| message(&e))
        .unwrap_or_else(|| "D1 threw a non-Error value".to_owned());
    StoreError::Unavailable(text)
}

async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    JsFuture::from(promise.map_err(thrown)?)
        .await
        .map_err(thrown)
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
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

/// `meta.changes` of a D1 result.
fn changes(result: &JsValue) -> u64 {
    get(&get(result, "meta"), "changes")
        .as_f64()
        .map_or(0, |n| n as u64)
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
        let result = settle(self.prepare(&s)?.inner().run()).await?;
        Ok(changes(&result))
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        // D1 refuses an empty batch.
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let changes = settle(d1_batch_changes(self.0.as_ref(), &batch_text(&statements)))
            .await?
            .as_string()
            .unwrap_or_default();
        Ok(changes.split(',').map(|n| n.parse().unwrap_or(0)).collect())
    }

    async fn batch_rows<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let text = settle(d1_batch_last_rows(
            self.0.as_ref(),
            &batch_text(&statements),
        ))
        .await?
        .as_string()
        .unwrap_or_else(|| "[]".into());
        serde_json::from_str(&text).map_err(|e| StoreError::Decode(e.to_string()))
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

impl ReplicaStore for WorkersKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Kv::get(self, key).await
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.0
            .put(key, value)
            .map_err(unavailable)?
            .execute()
            .await
            .map_err(unavailable)
    }
}
