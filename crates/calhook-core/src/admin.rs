//! The operator's bearer token for the admin routes (`ADMIN_TOKEN`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
