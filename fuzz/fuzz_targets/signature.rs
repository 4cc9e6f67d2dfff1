//! Header parsing + verification: a body verifies only with a signature made
//! from a configured secret, whatever the header and body bytes are.
#![no_main]

use calhook_core::inbound::signature::{sign, WebhookSecrets};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret";

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or_default();
    let header = String::from_utf8_lossy(header);
    let secrets = WebhookSecrets::parse(Some(SECRET)).unwrap();
    if secrets.verify(Some(&header), body).is_ok() {
        let digits = header.trim();
        let digits = if digits.len() > 7 && digits[..7].eq_ignore_ascii_case("sha256=") { &digits[7..] } else { digits };
        assert_eq!(digits.to_ascii_lowercase(), sign(SECRET, body), "verified a signature not made with the secret");
    }
    // The correct signature always verifies.
    assert!(secrets.verify(Some(&sign(SECRET, body)), body).is_ok());
});
