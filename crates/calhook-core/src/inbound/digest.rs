//! A digest of what Cal.com sent, independent of how it was written down.
//!
//! The JSON is canonicalized with RFC 8785 (JCS: keys sorted by UTF-16 code
//! units, numbers as ECMAScript prints them, no white space), then hashed with
//! SHA-256. Key order, white space and number spelling do not change the
//! digest; any changed value does. It never depends on `Debug` output or on
//! our struct layout, so adding a field to the typed model does not change an
//! event's identity.
//!
//! Who canonicalizes is a [`Canonicalizer`]: JCS *is* ECMAScript's JSON
//! serialization with sorted keys, so the receiver asks its runtime (through
//! erdtman's `canonicalize`, by an author of RFC 8785) and carries no number
//! formatter of its own; native code uses serde_json_canonicalizer ([`Jcs`],
//! feature `jcs`). Before asking its runtime, the receiver tries
//! [`integral_jcs`], which answers in Rust whenever every number is an exact
//! integer (nearly every Cal.com event). End-to-end tests prove each path
//! gives the native key.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// RFC 8785's canonical form of a JSON value. Total: a value serde_json holds
/// always has one (no NaN, no lone surrogate).
pub trait Canonicalizer {
    fn canonical(&self, value: &Value) -> Vec<u8>;
}

/// serde_json_canonicalizer, for native code (tests, tools).
#[cfg(feature = "jcs")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Jcs;

#[cfg(feature = "jcs")]
impl Canonicalizer for Jcs {
    fn canonical(&self, value: &Value) -> Vec<u8> {
        // The fallback only keeps this total.
        serde_json_canonicalizer::to_vec(value).unwrap_or_else(|_| value.to_string().into_bytes())
    }
}

/// RFC 8785 without a number formatter, for values whose numbers are all
/// integers within ±2^53 (Cal.com's ids, prices in minor units, lengths):
/// there ECMAScript prints exactly the integer's digits, and serde_json's
/// string escapes are JSON.stringify's. `None` for any other number, where
/// only a real JCS number formatter (or the runtime) is right.
///
/// Lets the receiver skip the hand-over to its runtime's `canonicalize` for
/// nearly every event without carrying serde_json_canonicalizer (27 KB gzip);
/// a property test holds it to that crate.
pub fn integral_jcs(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    write_integral(value, &mut out).then_some(out)
}

/// ±2^53: every integer up to here is exactly one f64, printed as its digits.
const EXACT: u64 = 1 << 53;

fn write_integral(value: &Value, out: &mut Vec<u8>) -> bool {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let integral = if let Some(u) = n.as_u64() {
                (u <= EXACT).then_some(u as i64)
            } else if let Some(i) = n.as_i64() {
                (i.unsigned_abs() <= EXACT).then_some(i)
            } else {
                // 1.0, 1e3: integral floats print as integers in ECMAScript too.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT as f64)
                    .map(|f| f as i64)
            };
            let Some(i) = integral else {
                return false;
            };
            // serde_json's integer writer (itoa), shared with the strings'.
            let _ = serde_json::to_writer(&mut *out, &i);
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if !write_integral(item, out) {
                    return false;
                }
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // RFC 8785 §3.2.3: keys sorted by their UTF-16 code units (unique: no stability needed).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                if !write_integral(item, out) {
                    return false;
                }
            }
            out.push(b'}');
        }
    }
    true
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Infallible into a Vec; serde_json escapes exactly what JSON.stringify does.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Hex of the first 12 bytes of SHA-256 over the canonical JSON (96 bits: no
/// accidental collision among one booking's events).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentDigest(String);

impl ContentDigest {
    /// The payload plus any other root fields (routing forms copy answers to the
    /// root), without `triggerEvent` and the per-delivery `createdAt`.
    pub fn of(
        payload: &Value,
        root_rest: &mut Map<String, Value>,
        jcs: &dyn Canonicalizer,
    ) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(jcs.canonical(payload));
        if !root_rest.is_empty() {
            hasher.update(b"\n");
            // Lent as a value for the canonicalizer, then given back.
            let rest = Value::Object(std::mem::take(root_rest));
            hasher.update(jcs.canonical(&rest));
            if let Value::Object(map) = rest {
                *root_rest = map;
            }
        }
        Self(hex::encode(&hasher.finalize()[..12]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(all(test, feature = "jcs"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(v: Value) -> String {
        ContentDigest::of(&v, &mut Map::new(), &Jcs).to_string()
    }

    #[test]
    fn key_order_and_white_space_do_not_change_the_digest() {
        let a: Value =
            serde_json::from_str(r#"{"uid":"u","attendees":[{"name":"A","email":"a@x"}]}"#)
                .unwrap();
        let b: Value = serde_json::from_str(
            "{ \"attendees\" : [ { \"email\":\"a@x\", \"name\":\"A\" } ],\n \"uid\":\"u\" }",
        )
        .unwrap();
        assert_eq!(digest(a), digest(b));
    }

    #[test]
    fn number_spelling_does_not_change_the_digest() {
        let a: Value = serde_json::from_str(r#"{"price":1e3}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"price":1000.0}"#).unwrap();
        assert_eq!(digest(a), digest(b));
    }

    #[test]
    fn any_changed_value_changes_the_digest() {
        let base = json!({"uid":"u","attendees":[{"name":"A","noShow":true}]});
        let other = json!({"uid":"u","attendees":[{"name":"A","noShow":false}]});
        assert_ne!(digest(base), digest(other));
    }

    #[test]
    fn root_fields_beside_the_payload_count() {
        let p = json!({"formId":"f"});
        let mut rest = Map::new();
        assert_eq!(
            ContentDigest::of(&p, &mut rest, &Jcs),
            ContentDigest::of(&p, &mut Map::new(), &Jcs)
        );
        rest.insert("Your name".into(), json!("Ada"));
        assert_ne!(
            ContentDigest::of(&p, &mut rest, &Jcs),
            ContentDigest::of(&p, &mut Map::new(), &Jcs)
        );
    }

    #[test]
    fn integral_jcs_is_rfc_8785_for_integers_and_declines_other_numbers() {
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":1,"b":[true,null,-9007199254740992,2.0],"a":"\u0001\"\\\u007f\u2028","\ud83d\ude00":0,"\ufb01":{}}"#,
        )
        .unwrap();
        assert_eq!(integral_jcs(&v), Some(Jcs.canonical(&v)));
        for declined in [r#"{"a":1.5}"#, r#"[9007199254740993]"#, r#"[1e300]"#] {
            let v: Value = serde_json::from_str(declined).unwrap();
            assert_eq!(integral_jcs(&v), None, "{declined}");
        }
    }

    #[test]
    fn the_digest_is_a_known_vector() {
        // SHA-256 of RFC 8785's canonical form `{"a":1,"b":[true,null]}`.
        let v: Value = serde_json::from_str(r#"{ "b": [true, null], "a": 1.0 }"#).unwrap();
        let expected = hex::encode(&Sha256::digest(br#"{"a":1,"b":[true,null]}"#)[..12]);
        assert_eq!(digest(v), expected);
    }
}
