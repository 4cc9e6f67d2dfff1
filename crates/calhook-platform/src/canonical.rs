//! RFC 8785 in the receiver: the runtime's own JSON, with keys sorted by
//! erdtman's `canonicalize` (npm, by an author of RFC 8785; bundled by
//! wrangler). JCS is defined as ECMAScript's `JSON.stringify` with sorted keys,
//! so the runtime is the reference for numbers and strings, and this wasm
//! carries no number formatter for it (serde_json_canonicalizer cost 27 KB
//! gzip here). Native code uses `calhook_core::inbound::digest::Jcs`; the e2e tests
//! prove both derive the same key.
//!
//! Values whose numbers are all exact integers (nearly every Cal.com event)
//! are canonicalized in Rust first (`digest::integral_jcs`): the hand-over to
//! the runtime was 7 % of a new event's CPU in this isolate.

use calhook_core::inbound::digest::{integral_jcs, Canonicalizer};
use serde_json::Value;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;

// Text in, text out, in one call: one crossing each way, no parsed object
// held across the boundary. A line of JS is also how wasm-bindgen imports a
// default export.
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "import canonicalize from 'canonicalize'; export function canonical_json(text) { return canonicalize(JSON.parse(text)); }"
)]
extern "C" {
    /// Throws only for what JSON cannot hold (NaN, lone surrogates): never
    /// for serde_json's output, and caught all the same.
    #[wasm_bindgen(catch)]
    fn canonical_json(text: &str) -> Result<String, JsValue>;
}

/// The runtime's JSON as a [`Canonicalizer`].
pub struct RuntimeJcs;

impl Canonicalizer for RuntimeJcs {
    fn canonical(&self, value: &Value) -> Vec<u8> {
        if let Some(canonical) = integral_jcs(value) {
            return canonical;
        }
        let text = value.to_string();
        match canonical_json(&text) {
            Ok(canonical) => canonical.into_bytes(),
            // Unreachable for serde_json's output; the text keeps the digest total.
            Err(_) => text.into_bytes(),
        }
    }
}
