//! Cal.com webhook signatures: `X-Cal-Signature-256` is the lowercase hex
//! HMAC-SHA256 of the raw request body, keyed with the webhook's secret.
//!
//! Verification runs over the bytes exactly as received (never re-serialised
//! JSON), accepts an optional `sha256=` prefix and either hex case, and compares
//! in constant time against every active secret so that secrets can be rotated
//! without downtime.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The header Cal.com puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Cal-Signature-256";

/// What Cal.com sends in the signature header when its webhook has no secret.
pub const NO_SECRET_SENTINEL: &str = "no-secret-provided";

/// The setting that holds the accepted secrets.
pub const SECRET_SETTING: &str = "CAL_WEBHOOK_SECRET";

/// Why a request's signature was not accepted. Every variant is a 401.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing X-Cal-Signature-256 header")]
    Missing,
    #[error(
        "Cal.com sent no signature because this webhook has no secret: set a secret on the \
         webhook in Cal.com (Settings > Developer > Webhooks) and the same value in {SECRET_SETTING}"
    )]
    NoSecretProvided,
    #[error(
        "X-Cal-Signature-256 is not a hex HMAC-SHA256 (64 hex digits, optional sha256= prefix)"
    )]
    Malformed,
    #[error("signature does not match the body for any configured secret")]
    Mismatch,
}

/// Shortest secret accepted in `CAL_WEBHOOK_SECRET`: a stray comma must not
/// create a short, guessable secret.
pub const MIN_SECRET_CHARS: usize = 16;

/// The server has no usable secret to verify with: refuse everything (fail
/// closed). The message names the setting, never a value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretNotConfigured {
    #[error("{SECRET_SETTING} is not set: the receiver refuses every webhook until it is")]
    Missing,
    #[error("{SECRET_SETTING}: secret number {entry} is shorter than {MIN_SECRET_CHARS} characters (a stray comma?): the receiver refuses every webhook until it is fixed")]
    TooShort { entry: usize },
}

/// The webhook secrets accepted right now. More than one during a rotation.
///
/// `Debug` shows only how many there are: secrets never reach a log.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<Vec<u8>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

impl WebhookSecrets {
    /// Reads `CAL_WEBHOOK_SECRET`: one secret, or several separated by commas
    /// (surrounding white space is ignored, so a secret cannot contain a comma).
    pub fn parse(raw: Option<&str>) -> Result<Self, SecretNotConfigured> {
        let secrets: Vec<Vec<u8>> = raw
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if secrets.is_empty() {
            Err(SecretNotConfigured::Missing)
        } else {
            Ok(Self(secrets))
        }
    }

    /// Reads the receiver's setting: as [`WebhookSecrets::parse`], and every
    /// secret must have at least [`MIN_SECRET_CHARS`] characters.
    pub fn from_setting(raw: Option<&str>) -> Result<Self, SecretNotConfigured> {
        let secrets = Self::parse(raw)?;
        match secrets
            .0
            .iter()
            .position(|s| String::from_utf8_lossy(s).chars().count() < MIN_SECRET_CHARS)
        {
            Some(i) => Err(SecretNotConfigured::TooShort { entry: i + 1 }),
            None => Ok(secrets),
        }
    }

    /// A tenant's secrets (each checked on write); `None` when it has none,
    /// and then every request is refused.
    pub fn from_list(secrets: Vec<String>) -> Option<Self> {
        let secrets: Vec<Vec<u8>> = secrets.into_iter().map(String::into_bytes).collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// How many secrets are active.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty set cannot be built.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the signature header against the raw body.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let expected = parse_header(header)?;
        let mut matched = Choice::from(0);
        // Every secret is tried, so the time taken does not depend on which one matched.
        for secret in &self.0 {
            matched |= hmac_sha256(secret, body).ct_eq(&expected);
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// What [`WebhookSecrets::verify`] answers a request that no secret can
/// verify (an unknown, disabled or secretless tenant's route): the same
/// header checks, then `Mismatch`, so such a route cannot be told apart
/// from a known tenant's with a wrong signature.
pub fn refusal(header: Option<&str>) -> SignatureError {
    parse_header(header)
        .err()
        .unwrap_or(SignatureError::Mismatch)
}

/// The 32 signature bytes a header carries.
fn parse_header(header: Option<&str>) -> Result<[u8; 32], SignatureError> {
    let header = header.map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    if header.eq_ignore_ascii_case(NO_SECRET_SENTINEL) {
        return Err(SignatureError::NoSecretProvided);
    }
    let digits = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
        _ => header,
    };
    if digits.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| SignatureError::Malformed)?;
    Ok(bytes)
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Signs a body exactly as Cal.com does (`createHmac("sha256", secret).update(body).digest("hex")`).
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(raw: &str) -> WebhookSecrets {
        WebhookSecrets::parse(Some(raw)).unwrap()
    }

    // RFC 4231 test case 2 (key "Jefe").
    const RFC4231_2_DATA: &[u8] = b"what do ya want for nothing?";
    const RFC4231_2_MAC: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn rfc4231_case_2_vector() {
        assert_eq!(sign("Jefe", RFC4231_2_DATA), RFC4231_2_MAC);
        assert!(secrets("Jefe")
            .verify(Some(RFC4231_2_MAC), RFC4231_2_DATA)
            .is_ok());
    }

    #[test]
    fn rfc4231_case_1_vector() {
        // Key = 0x0b * 20, data = "Hi There".
        let key = [0x0bu8; 20];
        let mac = hex::encode(hmac_sha256(&key, b"Hi There"));
        assert_eq!(
            mac,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn rfc4231_case_6_vector_long_key() {
        // Key longer than the block size is hashed first.
        let key = [0xaau8; 131];
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let mac = hex::encode(hmac_sha256(&key, data));
        assert_eq!(
            mac,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn body_signed_as_calcom_signs_it_verifies() {
        // echo -n "$body" | openssl dgst -sha256 -hmac "whsec_test"
        let body = br#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-11-20T09:30:00.538Z","payload":{"uid":"bFJeNb2uX8ANpT3JL5EfXw"}}"#;
        let openssl = "d33818107ee1f854e8c3fdbc8030273c1ddff9d1ed2cb3f707b4cf32ac138cd7";
        assert_eq!(sign("whsec_test", body), openssl);
        assert!(secrets("whsec_test").verify(Some(openssl), body).is_ok());
    }

    #[test]
    fn sha256_prefix_and_upper_case_are_accepted() {
        let sig = sign("s", b"body");
        let s = secrets("s");
        assert!(s.verify(Some(&format!("sha256={sig}")), b"body").is_ok());
        assert!(s
            .verify(Some(&format!("SHA256={}", sig.to_uppercase())), b"body")
            .is_ok());
        assert!(s.verify(Some(&format!("  {sig} ")), b"body").is_ok());
    }

    #[test]
    fn empty_body_can_be_signed_and_verified() {
        let sig = sign("s", b"");
        assert!(secrets("s").verify(Some(&sig), b"").is_ok());
        assert_eq!(
            secrets("s").verify(Some(&sig), b" "),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_blank_header_is_missing() {
        assert_eq!(
            secrets("s").verify(None, b"x"),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            secrets("s").verify(Some("  "), b"x"),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn no_secret_provided_sentinel_is_its_own_error() {
        assert_eq!(
            secrets("s").verify(Some("no-secret-provided"), b"x"),
            Err(SignatureError::NoSecretProvided)
        );
        assert!(SignatureError::NoSecretProvided
            .to_string()
            .contains("set a secret"));
    }

    #[test]
    fn odd_length_wrong_length_and_non_hex_are_malformed() {
        let sig = sign("s", b"x");
        let s = secrets("s");
        assert_eq!(
            s.verify(Some(&sig[..63]), b"x"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(Some(&sig[..62]), b"x"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(Some(&format!("{sig}00")), b"x"),
            Err(SignatureError::Malformed)
        );
        let non_hex = format!("{}zz", &sig[..62]);
        assert_eq!(
            s.verify(Some(&non_hex), b"x"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(Some("sha256="), b"x"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_signature_for_another_body_or_secret_is_a_mismatch() {
        let sig = sign("s", b"x");
        assert_eq!(
            secrets("s").verify(Some(&sig), b"y"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secrets("t").verify(Some(&sig), b"x"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies_during_rotation() {
        let s = secrets(" old-secret , new-secret ");
        assert_eq!(s.len(), 2);
        assert!(s.verify(Some(&sign("old-secret", b"b")), b"b").is_ok());
        assert!(s.verify(Some(&sign("new-secret", b"b")), b"b").is_ok());
        assert_eq!(
            s.verify(Some(&sign("gone", b"b")), b"b"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn no_configured_secret_fails_closed() {
        assert_eq!(
            WebhookSecrets::parse(None).unwrap_err(),
            SecretNotConfigured::Missing
        );
        assert_eq!(
            WebhookSecrets::parse(Some(" , ,")).unwrap_err(),
            SecretNotConfigured::Missing
        );
        assert!(SecretNotConfigured::Missing
            .to_string()
            .contains("CAL_WEBHOOK_SECRET"));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let s = secrets("very-secret-value");
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret-value"));
        assert!(shown.contains('1'));
    }

    #[test]
    fn the_setting_refuses_a_short_secret_without_quoting_it() {
        let err = WebhookSecrets::from_setting(Some("whsec_current_test_secret,abc")).unwrap_err();
        assert_eq!(err, SecretNotConfigured::TooShort { entry: 2 });
        assert!(!err.to_string().contains("abc"), "{err}");
        assert!(err.to_string().contains("CAL_WEBHOOK_SECRET"));
        assert!(WebhookSecrets::from_setting(Some("0123456789abcdef")).is_ok());
        assert_eq!(
            WebhookSecrets::from_setting(Some(" ")).unwrap_err(),
            SecretNotConfigured::Missing
        );
    }
}
