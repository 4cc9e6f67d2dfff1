//! The operator's bearer token for the admin routes (`ADMIN_TOKEN`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::SettingError;

/// Shortest `ADMIN_TOKEN` accepted: the token opens every operator route.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// `ADMIN_TOKEN` as set: `None` (unset or blank) turns the admin routes off;
/// a token shorter than [`MIN_ADMIN_TOKEN_CHARS`] is a misconfiguration
/// (500 naming the setting), never accepted.
pub fn admin_token(raw: Option<&str>) -> Result<Option<&str>, SettingError> {
    let Some(token) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        return Err(SettingError::Invalid {
            name: "ADMIN_TOKEN",
            reason: format!(
                "shorter than {MIN_ADMIN_TOKEN_CHARS} characters: make one with `openssl rand -hex 32`"
            ),
        });
    }
    Ok(Some(token))
}

/// Whether an `Authorization` header carries `Bearer <expected>`.
///
/// Both sides are hashed first, so the comparison takes the same time whatever
/// the lengths, and is then made in constant time.
pub fn bearer_matches(expected: &str, header: Option<&str>) -> bool {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let Some(given) = header.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token)
    }) else {
        return false;
    };
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.trim().as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_admin_token_is_refused_and_a_blank_one_turns_the_routes_off() {
        assert_eq!(admin_token(None), Ok(None));
        assert_eq!(admin_token(Some("  ")), Ok(None));
        let short = admin_token(Some("t0ken")).unwrap_err();
        assert_eq!(short.name(), "ADMIN_TOKEN");
        assert!(!short.to_string().contains("t0ken"), "never the value");
        let long = "x".repeat(MIN_ADMIN_TOKEN_CHARS);
        assert_eq!(admin_token(Some(&long)), Ok(Some(long.as_str())));
    }

    #[test]
    fn the_right_bearer_token_matches() {
        assert!(bearer_matches("t0ken", Some("Bearer t0ken")));
    }

    #[test]
    fn the_scheme_is_matched_case_insensitively() {
        assert!(bearer_matches("t0ken", Some("bearer t0ken")));
        assert!(bearer_matches("t0ken", Some("BEARER t0ken")));
        assert!(
            !bearer_matches("t0ken", Some("bearer T0KEN")),
            "the token itself is exact"
        );
    }

    #[test]
    fn anything_else_does_not() {
        assert!(!bearer_matches("t0ken", None));
        assert!(!bearer_matches("t0ken", Some("t0ken")));
        assert!(!bearer_matches("t0ken", Some("Bearer t0ke")));
        assert!(!bearer_matches("t0ken", Some("Basic t0ken")));
        assert!(!bearer_matches("", Some("Bearer ")));
    }
}
