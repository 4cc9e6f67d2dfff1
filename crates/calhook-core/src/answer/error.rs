//! The HTTP edge's one error type (the receiver's and the admin worker's),
//! mapped to a status, an outcome and a body exactly once, here.

use crate::inbound::event::EnvelopeError;
use crate::inbound::freshness::StaleEvent;
use crate::inbound::signature::{SecretNotConfigured, SignatureError};
use crate::settings::SettingError;
use crate::tenants::TenantRefusal;
use serde_json::{json, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("method not allowed: use POST")]
    MethodNotAllowed,
    #[error("not found")]
    NotFound,
    /// A tenant route that cannot verify anything (no such tenant, disabled,
    /// no secret): answered exactly as `answered`, what a known tenant with
    /// a wrong signature gets; only the log line says `why`.
    #[error("{answered}")]
    TenantRefused {
        why: TenantRefusal,
        answered: SignatureError,
    },
    #[error("conflict: {0}")]
    AdminConflict(&'static str),
    #[error("body is larger than MAX_BODY_BYTES ({limit} bytes)")]
    BodyTooLarge { limit: u64 },
    /// The runtime's error text is logged (`detail`), never answered.
    #[error("could not read the request body")]
    BodyUnreadable(String),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Signed, but its `createdAt` is outside the replay window.
    #[error(transparent)]
    Stale(#[from] StaleEvent),
    #[error("server misconfigured: {0}")]
    SecretMissing(#[from] SecretNotConfigured),
    /// The answer names the setting; its value (in the error) is only logged.
    #[error("server misconfigured: {} is missing or invalid; the receiver's log says why", .0.name())]
    Setting(#[from] SettingError),
    #[error("server misconfigured: binding {binding} is missing ({detail})")]
    BindingMissing {
        binding: &'static str,
        detail: String,
    },
    #[error("missing or wrong bearer token for the admin routes")]
    AdminUnauthorized,
    #[error("bad admin request: {0}")]
    BadAdminRequest(&'static str),
    #[error("{what} is unavailable; nothing was recorded, retry later")]
    Unavailable { what: &'static str, detail: String },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            MethodNotAllowed => 405,
            NotFound => 404,
            TenantRefused { .. } => 401,
            AdminConflict(_) => 409,
            BodyTooLarge { .. } => 413,
            BodyUnreadable(_) | BadAdminRequest(_) => 400,
            AdminUnauthorized => 401,
            Signature(_) | Stale(_) => 401,
            Envelope(_) => 400,
            SecretMissing(_) | Setting(_) => 500,
            BindingMissing { .. } | Unavailable { .. } => 503,
        }
    }

    /// Refused before anything about the request was verified: what a flood
    /// of forged requests produces (its log lines are rate-limited).
    pub fn is_unverified_refusal(&self) -> bool {
        use ApiError::*;
        matches!(
            self,
            MethodNotAllowed
                | NotFound
                | TenantRefused { .. }
                | BodyTooLarge { .. }
                | BodyUnreadable(_)
                | Signature(_)
                | AdminUnauthorized
        )
    }

    /// Short machine-readable name used in logs and error bodies.
    pub fn outcome(&self) -> &'static str {
        use ApiError::*;
        match self {
            MethodNotAllowed => "method_not_allowed",
            NotFound => "not_found",
            TenantRefused { why, .. } => why.outcome(),
            AdminConflict(_) => "conflict",
            BodyTooLarge { .. } => "too_large",
            BodyUnreadable(_) => "unreadable_body",
            AdminUnauthorized => "admin_unauthorized",
            BadAdminRequest(_) => "bad_admin_request",
            Signature(_) => "bad_signature",
            Envelope(_) => "bad_envelope",
            Stale(_) => "stale",
            SecretMissing(_) | Setting(_) => "misconfigured",
            BindingMissing { .. } => "binding_missing",
            Unavailable { .. } => "unavailable",
        }
    }

    /// Internal detail for the log line (never sent to the client).
    pub fn detail(&self) -> Option<String> {
        match self {
            ApiError::Unavailable { detail, .. }
            | ApiError::BindingMissing { detail, .. }
            | ApiError::BodyUnreadable(detail) => Some(detail.clone()),
            ApiError::Setting(e) => Some(e.to_string()),
            _ => None,
        }
    }

    /// The header that goes with the answer, if any.
    pub fn header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            ApiError::MethodNotAllowed => Some(("Allow", "POST")),
            ApiError::Unavailable { .. } => Some(("Retry-After", "5")),
            _ => None,
        }
    }

    /// The JSON body answered: the message and outcome, never a `detail`.
    pub fn body(&self) -> Value {
        // A refused tenant looks like a wrong signature (the log says why).
        if let ApiError::TenantRefused { answered, .. } = self {
            return ApiError::Signature(answered.clone()).body();
        }
        json!({ "error": self.to_string(), "outcome": self.outcome() })
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Unavailable {
            what: "D1",
            detail: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status the HTTP edge answers, decided here once.
    #[test]
    fn each_error_has_its_status_and_outcome() {
        let unavailable = ApiError::Unavailable {
            what: "D1",
            detail: "secret detail".into(),
        };
        let rows: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::TenantRefused {
                    why: TenantRefusal::Unknown,
                    answered: SignatureError::Mismatch,
                },
                401,
                "unknown_tenant",
            ),
            (
                ApiError::TenantRefused {
                    why: TenantRefusal::NoSecret,
                    answered: SignatureError::Mismatch,
                },
                401,
                "no_secret",
            ),
            (ApiError::AdminConflict("exists"), 409, "conflict"),
            (ApiError::BodyTooLarge { limit: 1 }, 413, "too_large"),
            (ApiError::BodyUnreadable("x".into()), 400, "unreadable_body"),
            (
                ApiError::Signature(SignatureError::Missing),
                401,
                "bad_signature",
            ),
            (ApiError::AdminUnauthorized, 401, "admin_unauthorized"),
            (ApiError::BadAdminRequest("x"), 400, "bad_admin_request"),
            (
                ApiError::Setting(SettingError::Missing { name: "X" }),
                500,
                "misconfigured",
            ),
            (unavailable, 503, "unavailable"),
        ];
        for (err, status, outcome) in rows {
            assert_eq!((err.status(), err.outcome()), (status, outcome), "{err:?}");
        }
    }

    #[test]
    fn a_refused_tenant_is_answered_as_a_wrong_signature() {
        for why in [
            TenantRefusal::Unknown,
            TenantRefusal::Disabled,
            TenantRefusal::NoSecret,
        ] {
            for answered in [SignatureError::Missing, SignatureError::Mismatch] {
                let refused = ApiError::TenantRefused {
                    why,
                    answered: answered.clone(),
                };
                let wrong = ApiError::Signature(answered);
                assert_eq!(refused.body(), wrong.body());
                assert_eq!(refused.status(), wrong.status());
                assert_eq!(refused.header(), wrong.header());
            }
        }
    }

    #[test]
    fn no_detail_is_ever_answered() {
        let err = ApiError::Unavailable {
            what: "D1",
            detail: "SQLITE secret detail".into(),
        };
        assert!(!err.body().to_string().contains("secret detail"));
        assert_eq!(err.detail().as_deref(), Some("SQLITE secret detail"));
    }
}
