//! The console's sign-in: a session cookie signed with a key derived from
//! `ADMIN_TOKEN` (so rotating the token signs everyone out), expiring, and a
//! same-origin check on every form post.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "calhook_session";
/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;

fn key(admin_token: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"calhook console session v1\0")
        .chain_update(admin_token.as_bytes())
        .finalize()
        .into()
}

fn mac(admin_token: &str, payload: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(&key(admin_token)).expect("any key length");
    m.update(payload.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// A session value for a sign-in at `now_ms`: `v1.<expires ms>.<hmac>`.
pub fn issue(admin_token: &str, now_ms: i64) -> String {
    let payload = format!("v1.{}", now_ms + SESSION_SECONDS * 1000);
    let tag = mac(admin_token, &payload);
    format!("{payload}.{tag}")
}

/// Whether `value` is a session this token signed that has not expired.
pub fn valid(admin_token: &str, value: &str, now_ms: i64) -> bool {
    let Some((payload, tag)) = value.rsplit_once('.') else {
        return false;
    };
    let Some(expires) = payload
        .strip_prefix("v1.")
        .and_then(|e| e.parse::<i64>().ok())
    else {
        return false;
    };
    let expected = mac(admin_token, payload);
    bool::from(expected.as_bytes().ct_eq(tag.as_bytes())) && now_ms < expires
}

/// A session's tag (what signing out records) and when it expires.
pub fn tag_and_expiry(value: &str) -> Option<(&str, i64)> {
    let (payload, tag) = value.rsplit_once('.')?;
    let expires = payload.strip_prefix("v1.")?.parse().ok()?;
    Some((tag, expires))
}

/// The `Set-Cookie` value that signs in.
pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE}={value}; Max-Age={SESSION_SECONDS}; Path=/admin; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value that signs out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Max-Age=0; Path=/admin; HttpOnly; Secure; SameSite=Strict")
}

/// The session cookie's value in a `Cookie` header.
pub fn from_header(cookie_header: Option<&str>) -> Option<&str> {
    cookie_header?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v)
}

/// A form post is taken only from the console's own origin: `Origin` (or,
/// without it, `Referer`) must name `https?://{host}`.
pub fn same_origin(origin: Option<&str>, referer: Option<&str>, host: &str) -> bool {
    let from = origin.or(referer).unwrap_or_default();
    ["https://", "http://"].iter().any(|scheme| {
        from.strip_prefix(scheme).is_some_and(|rest| {
            rest == host || rest.strip_prefix(host).is_some_and(|r| r.starts_with('/'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_session_is_valid_until_it_expires() {
        let s = issue(TOKEN, 1_000);
        assert!(valid(TOKEN, &s, 1_000 + SESSION_SECONDS * 1000 - 1));
        assert!(!valid(TOKEN, &s, 1_000 + SESSION_SECONDS * 1000));
    }

    #[test]
    fn rotating_the_token_signs_everyone_out_and_a_forged_session_is_refused() {
        let s = issue(TOKEN, 0);
        assert!(!valid("another-token-0123456789abcdef0123", &s, 1));
        let forged = s.replace("v1.", "v1.9");
        assert!(!valid(TOKEN, &forged, 1));
        assert!(!valid(TOKEN, "v1.99999999999999.00", 1));
        assert!(!valid(TOKEN, "", 1));
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_the_console() {
        let c = set_cookie("v");
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"] {
            assert!(c.contains(part), "{c}");
        }
        assert_eq!(
            from_header(Some("a=b; calhook_session=v1.5.ab; c=d")),
            Some("v1.5.ab")
        );
        assert_eq!(from_header(Some("a=b")), None);
    }

    #[test]
    fn only_the_consoles_own_origin_may_post_a_form() {
        let host = "127.0.0.1:8787";
        assert!(same_origin(Some("http://127.0.0.1:8787"), None, host));
        assert!(same_origin(
            None,
            Some("https://127.0.0.1:8787/admin/"),
            host
        ));
        assert!(!same_origin(Some("https://evil.example"), None, host));
        assert!(!same_origin(Some("http://127.0.0.1:87870"), None, host));
        assert!(!same_origin(None, None, host));
    }
}
