//! An outgoing `GET` through the runtime's `fetch`, in one crossing: the URL
//! and headers go over as text, and the status and the body's bytes come
//! back together. The bytes are copied into wasm as they came: no UTF-8
//! decoding in JS and encoding again on the way in, and no JSON string
//! around the body (its first version escaped the body into one and read
//! it back out, which doubled a reconcile page's parsing; BENCHMARKS.md).
//! `AbortSignal.timeout` gives up on a server that does not answer. Written
//! in a few lines of JS rather than with workers-rs's
//! `Fetch`/`Headers`/`AbortController` bindings and a `select` on a timer:
//! the admin worker's wasm is smaller for it.

use worker::js_sys::{Array, Error as JsError, Promise, Uint8Array};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "export function http_get(url, headers, ms) {\n\
  return fetch(url, { headers: JSON.parse(headers), signal: AbortSignal.timeout(ms) })\n\
    .then(async (r) => [r.status, new Uint8Array(await r.arrayBuffer())])\n\
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

/// `GET url` with `headers`; the status and the body.
pub async fn get_bytes(
    url: &str,
    headers: &[(&str, String)],
    timeout_ms: u64,
) -> Result<(u16, Vec<u8>), GetError> {
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
    let answer: Array = JsFuture::from(promise)
        .await
        .map_err(failed)?
        .unchecked_into();
    let status = answer.get(0).as_f64().unwrap_or_default() as u16;
    let body = answer.get(1).unchecked_into::<Uint8Array>().to_vec();
    Ok((status, body))
}
