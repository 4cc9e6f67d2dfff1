//! An outgoing `GET` through the runtime's `fetch`, in one crossing: the URL
//! and headers go over as text, and the status and body come back as one
//! JSON text. `AbortSignal.timeout` gives up on a server that does not
//! answer. Written in a few lines of JS rather than with workers-rs's
//! `Fetch`/`Headers`/`AbortController` bindings and a `select` on a timer:
//! the admin worker's wasm is smaller for it.

use worker::js_sys::{Error as JsError, Promise};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "export function http_get(url, headers, ms) {\n\
  return fetch(url, { headers: JSON.parse(headers), signal: AbortSignal.timeout(ms) })\n\
    .then(async (r) => JSON.stringify([r.status, await r.text()]))\n\
    .catch((e) => { throw new Error(e && e.name === 'TimeoutError' ? 'timeout' : String(e)); });\n\
}"
)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn http_get(url: &str, headers: &str, ms: f64) -> Result<Promise, JsValue>;
}

/// Why a `GET` has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// Nothing within the timeout.
    Timeout,
    Failed(String),
}

/// `GET url` with `headers`; the status and the body as text.
pub async fn get_text(
    url: &str,
    headers: &[(&str, String)],
    timeout_ms: u64,
) -> Result<(u16, String), GetError> {
    let failed = |e: JsValue| {
        let text = e
            .dyn_ref::<JsError>()
            .map(|err| String::from(err.message()))
            .unwrap_or_else(|| "fetch threw a non-Error value".to_owned());
        match text.as_str() {
            "timeout" => GetError::Timeout,
            _ => GetError::Failed(text),
        }
    };
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_str().into()))
        .collect();
    let headers = serde_json::Value::Object(headers).to_string();
    let promise = http_get(url, &headers, timeout_ms as f64).map_err(failed)?;
    let answer = JsFuture::from(promise).await.map_err(failed)?;
    let text = answer
        .as_string()
        .ok_or_else(|| GetError::Failed("fetch answered no text".into()))?;
    serde_json::from_str::<(u16, String)>(&text).map_err(|e| GetError::Failed(e.to_string()))
}
