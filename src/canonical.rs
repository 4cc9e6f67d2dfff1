//! RFC 8785 in the receiver: the runtime's own JSON, with keys sorted by
//! erdtman's `canonicalize` (npm, by an author of RFC 8785; bundled by
//! wrangler). JCS is defined as ECMAScript's `JSON.stringify` with sorted keys,
//! so the runtime is the reference for numbers and strings, and this wasm
//! carries no number formatter for it (serde_json_canonicalizer cost 27 KB
//! gzip here). Native code uses `calhook_core::digest::Jcs`; the e2e tests
//! prove both derive the same key.

use calhook_core::digest::Canonicalizer;
use serde_json::Value;
use worker::js_sys::JSON;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;

// wasm-bindgen cannot import a default export by itself: one line names it.
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "export { default as canonicalize } from 'canonicalize';"
)]
extern "C" {
    /// Throws only for what JSON cannot hold (NaN, lone surrogates, cycles):
    /// never for a parsed value, and caught all the same.
    #[wasm_bindgen(catch)]
    fn canonicalize(value: &JsValue) -> Result<String, JsValue>;
}

/// The runtime's JSON as a [`Canonicalizer`].
pub struct RuntimeJcs;

impl Canonicalizer for RuntimeJcs {
    fn canonical(&self, value: &Value) -> Vec<u8> {
        let text = value.to_string();
        match JSON::parse(&text).and_then(|v| canonicalize(&v)) {
            Ok(canonical) => canonical.into_bytes(),
            // Unreachable for serde_json's output; the text keeps the digest total.
            Err(_) => text.into_bytes(),
        }
    }
}
