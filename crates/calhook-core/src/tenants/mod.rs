//! Tenants: several Cal.com accounts in one deployment.
//!
//! - [`TenantId`]: the URL-safe slug in `/webhooks/cal/{tenant}`.
//! - [`namespaced_key`] / [`ledger_uid`]: everything a tenant owns (claim and
//!   notification keys, booking uids, reminders, dead letters) is named
//!   `<tenant>/…`, so two tenants never share a row. The single-tenant route
//!   keeps today's names: its keys begin with an upper-case trigger and its
//!   uids never begin with `<slug>/` (one that contains a `/` is stored as
//!   `-/<uid>`; no slug starts with `-`), so no name is ever ambiguous.
//! - [`MasterKey`] / [`seal`] / [`open`]: each tenant's webhook secrets are
//!   stored in D1 sealed with AES-256-GCM under `TENANT_SECRETS_KEY` (a Worker
//!   secret), the tenant id as associated data, so a D1 export reveals no
//!   secret and a sealed secret copied to another tenant's row does not open.
//!   The 96-bit nonce is the caller's (the worker draws it from
//!   `crypto.getRandomValues`), so this crate needs no random source. The
//!   format is defined here; the AES itself is a [`Cipher`]: the workers ask
//!   WebCrypto (no AES in their wasm), native code the aes-gcm crate
//!   ([`MasterKey`] itself, feature `aes`).
//! - [`resolve`]: a tenant's field, else the deployment's environment value,
//!   else the default.

pub mod cache;
pub mod replica;

/// Why a tenant route verifies nothing. Answered as a wrong signature
/// (`ApiError::TenantRefused`): which one it was is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRefusal {
    Unknown,
    Disabled,
    /// Exists, but no secret was added yet.
    NoSecret,
}

impl TenantRefusal {
    /// The log line's outcome.
    pub fn outcome(self) -> &'static str {
        match self {
            TenantRefusal::Unknown => "unknown_tenant",
            TenantRefusal::Disabled => "tenant_disabled",
            TenantRefusal::NoSecret => "no_secret",
        }
    }
}

use thiserror::Error;

/// Why a tenant id, key or sealed secret is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TenantError {
    #[error("a tenant id is 1 to 40 characters of a-z, 0-9 and '-', not starting with '-'")]
    BadId,
    #[error("TENANT_SECRETS_KEY must be 64 hex characters (32 bytes)")]
    BadMasterKey,
    #[error("a sealed secret is not in the v1.<nonce>.<ciphertext> form")]
    Malformed,
    /// Wrong key, wrong tenant, or tampered: AES-GCM's tag did not verify.
    #[error(
        "a sealed secret did not open (wrong TENANT_SECRETS_KEY, another tenant's, or altered)"
    )]
    DoesNotOpen,
    #[error("the platform's AES-GCM refused to seal a secret")]
    CannotSeal,
}

/// A tenant's URL slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TryFrom<String> for TenantId {
    type Error = TenantError;
    fn try_from(text: String) -> Result<Self, TenantError> {
        Self::parse(&text)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key (claim, notification, reminder) as the tenant owns it: `<tenant>/<key>`;
/// unchanged on the single-tenant route.
pub fn namespaced_key(tenant: Option<&TenantId>, key: &str) -> String {
    crate::inbound::identity::namespaced(tenant, key)
}

/// A Cal.com booking uid as the ledger stores it: `<tenant>/<uid>` for a
/// tenant; the uid itself on the single-tenant route (or `-/<uid>` if it
/// contains a `/`, so it can never pass for a tenant's).
pub fn ledger_uid(tenant: Option<&TenantId>, uid: &str) -> String {
    match tenant {
        Some(t) => format!("{t}/{uid}"),
        None if uid.contains('/') => format!("-/{uid}"),
        None => uid.to_owned(),
    }
}

/// The tenant and Cal.com uid of a stored booking uid ([`ledger_uid`]'s inverse).
pub fn split_ledger_uid(stored: &str) -> (Option<TenantId>, &str) {
    match stored.split_once('/') {
        Some(("-", uid)) => (None, uid),
        Some((slug, uid)) => match TenantId::parse(slug) {
            Ok(t) => (Some(t), uid),
            Err(_) => (None, stored),
        },
        None => (None, stored),
    }
}

impl TenantId {
    pub fn parse(text: &str) -> Result<Self, TenantError> {
        let ok = (1..=40).contains(&text.len())
            && !text.starts_with('-')
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(text.to_owned())).ok_or(TenantError::BadId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `TENANT_SECRETS_KEY`: 32 bytes as 64 hex characters.
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_hex(text: &str) -> Result<Self, TenantError> {
        let bytes = hex::decode(text.trim()).map_err(|_| TenantError::BadMasterKey)?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| TenantError::BadMasterKey)
    }

    /// The raw key, for a platform's AES (WebCrypto's `importKey("raw", …)`).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// AES-256-GCM under one master key, the 16-byte tag appended to the
/// ciphertext (the layout of WebCrypto and of the aes-gcm crate alike).
#[allow(async_fn_in_trait)] // executed on one thread (wasm) or blocked on natively
pub trait Cipher {
    /// `None` only if the platform refuses to encrypt.
    async fn encrypt(&self, nonce: &[u8; 12], plain: &[u8], aad: &[u8]) -> Option<Vec<u8>>;
    /// `None` when the tag does not verify: another key, tenant, or altered.
    async fn decrypt(&self, nonce: &[u8; 12], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>>;
}

/// The aes-gcm crate, for native code (tests, tools).
#[cfg(feature = "aes")]
impl Cipher for MasterKey {
    async fn encrypt(&self, nonce: &[u8; 12], plain: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        aes_gcm::Aes256Gcm::new(&self.0.into())
            .encrypt(&(*nonce).into(), Payload { msg: plain, aad })
            .ok()
    }

    async fn decrypt(&self, nonce: &[u8; 12], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        aes_gcm::Aes256Gcm::new(&self.0.into())
            .decrypt(&(*nonce).into(), Payload { msg: sealed, aad })
            .ok()
    }
}

/// What a sealed value is for. Its associated data names the slot, so a
/// value sealed for one slot does not open in another (a Cal.com API key
/// moved into a tenant's webhook secrets is refused, and the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A webhook secret: the tenant id alone, as since tenants began.
    WebhookSecret,
    /// The tenant's Cal.com API key (`crate::reconcile`).
    CalApiKey,
}

impl Slot {
    fn associated_data(self, tenant: &TenantId) -> String {
        match self {
            Slot::WebhookSecret => tenant.as_str().to_owned(),
            Slot::CalApiKey => format!("{tenant}/cal-api-key"),
        }
    }
}

/// Seals a webhook secret for `tenant` ([`seal_in`] its slot).
pub async fn seal(
    cipher: &impl Cipher,
    tenant: &TenantId,
    nonce: [u8; 12],
    secret: &str,
) -> Result<String, TenantError> {
    seal_in(cipher, tenant, Slot::WebhookSecret, nonce, secret).await
}

/// Seals `secret` for `tenant`'s `slot`: `v1.<nonce hex>.<ciphertext+tag hex>`.
/// A nonce must never be used twice with one key (draw it at random).
pub async fn seal_in(
    cipher: &impl Cipher,
    tenant: &TenantId,
    slot: Slot,
    nonce: [u8; 12],
    secret: &str,
) -> Result<String, TenantError> {
    let aad = slot.associated_data(tenant);
    let sealed = cipher
        .encrypt(&nonce, secret.as_bytes(), aad.as_bytes())
        .await
        .ok_or(TenantError::CannotSeal)?;
    Ok(format!("v1.{}.{}", hex::encode(nonce), hex::encode(sealed)))
}

/// Opens a webhook secret sealed by [`seal`] for the same tenant and key.
pub async fn open(
    cipher: &impl Cipher,
    tenant: &TenantId,
    sealed: &str,
) -> Result<String, TenantError> {
    open_in(cipher, tenant, Slot::WebhookSecret, sealed).await
}

/// Opens a value sealed by [`seal_in`] for the same tenant, slot and key.
pub async fn open_in(
    cipher: &impl Cipher,
    tenant: &TenantId,
    slot: Slot,
    sealed: &str,
) -> Result<String, TenantError> {
    let mut parts = sealed.split('.');
    let (Some("v1"), Some(nonce), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TenantError::Malformed);
    };
    let nonce: [u8; 12] = hex::decode(nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(TenantError::Malformed)?;
    let body = hex::decode(body).map_err(|_| TenantError::Malformed)?;
    let aad = slot.associated_data(tenant);
    let plain = cipher
        .decrypt(&nonce, &body, aad.as_bytes())
        .await
        .ok_or(TenantError::DoesNotOpen)?;
    String::from_utf8(plain).map_err(|_| TenantError::DoesNotOpen)
}

/// Where a tenant's effective setting came from (shown by the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Tenant,
    Environment,
    Default,
}

/// A tenant's field, else the environment's value, else the default; blank
/// values count as unset at every level.
pub fn resolve<'a>(
    tenant: Option<&'a str>,
    environment: Option<&'a str>,
    default: &'a str,
) -> (&'a str, Source) {
    let set = |v: Option<&'a str>| v.map(str::trim).filter(|v| !v.is_empty());
    match (set(tenant), set(environment)) {
        (Some(t), _) => (t, Source::Tenant),
        (None, Some(e)) => (e, Source::Environment),
        (None, None) => (default, Source::Default),
    }
}

#[cfg(all(test, feature = "aes"))]
mod tests {
    use super::*;
    use pollster::block_on;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_hex(&hex::encode([byte; 32])).unwrap()
    }

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_tenant() {
        let sealed = block_on(seal(&key(7), &acme(), [1; 12], "whsec-acme-0123456789")).unwrap();
        assert!(sealed.starts_with("v1.010101010101010101010101."));
        assert!(!sealed.contains("whsec"), "no secret in clear");
        assert_eq!(
            block_on(open(&key(7), &acme(), &sealed)).unwrap(),
            "whsec-acme-0123456789"
        );
    }

    #[test]
    fn a_tampered_secret_is_refused() {
        let sealed = block_on(seal(&key(7), &acme(), [1; 12], "whsec-acme-0123456789")).unwrap();
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            block_on(open(&key(7), &acme(), &tampered)),
            Err(TenantError::DoesNotOpen)
        );
    }

    #[test]
    fn the_wrong_key_or_another_tenant_is_refused() {
        let sealed = block_on(seal(&key(7), &acme(), [2; 12], "whsec-acme-0123456789")).unwrap();
        assert_eq!(
            block_on(open(&key(8), &acme(), &sealed)),
            Err(TenantError::DoesNotOpen)
        );
        let other = TenantId::parse("globex").unwrap();
        assert_eq!(
            block_on(open(&key(7), &other, &sealed)),
            Err(TenantError::DoesNotOpen)
        );
    }

    #[test]
    fn a_value_sealed_for_one_slot_does_not_open_in_another() {
        let api_key = block_on(seal_in(
            &key(7),
            &acme(),
            Slot::CalApiKey,
            [3; 12],
            "cal_live_x",
        ))
        .unwrap();
        assert_eq!(
            block_on(open_in(&key(7), &acme(), Slot::CalApiKey, &api_key)).unwrap(),
            "cal_live_x"
        );
        // Moved into the webhook secrets (or back), it is refused.
        assert_eq!(
            block_on(open(&key(7), &acme(), &api_key)),
            Err(TenantError::DoesNotOpen)
        );
        let secret = block_on(seal(&key(7), &acme(), [4; 12], "whsec-acme-0123456789")).unwrap();
        assert_eq!(
            block_on(open_in(&key(7), &acme(), Slot::CalApiKey, &secret)),
            Err(TenantError::DoesNotOpen)
        );
    }

    #[test]
    fn malformed_sealed_text_is_refused_without_panicking() {
        for text in ["", "v1", "v2.00.00", "v1.zz.00", "v1.0101.00", "v1.a.b.c"] {
            assert!(block_on(open(&key(7), &acme(), text)).is_err(), "{text}");
        }
    }

    #[test]
    fn the_master_key_is_32_bytes_of_hex() {
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_ok());
        assert_eq!(
            MasterKey::from_hex("abcd").unwrap_err(),
            TenantError::BadMasterKey
        );
        assert_eq!(
            MasterKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            TenantError::BadMasterKey
        );
        assert_eq!(format!("{:?}", key(1)), "MasterKey(…)", "never printed");
    }

    #[test]
    fn tenant_ids_are_url_safe_slugs() {
        for ok in ["acme", "abc123", "team-7"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Acme", "a/b", "a b", "ä", &"x".repeat(41)] {
            assert_eq!(TenantId::parse(bad), Err(TenantError::BadId), "{bad}");
        }
    }

    #[test]
    fn a_tenants_keys_and_uids_carry_its_name_and_the_single_routes_do_not() {
        let acme = acme();
        assert_eq!(
            namespaced_key(Some(&acme), "BOOKING_CREATED:booking:u1:ab"),
            "acme/BOOKING_CREATED:booking:u1:ab"
        );
        assert_eq!(
            namespaced_key(None, "BOOKING_CREATED:x"),
            "BOOKING_CREATED:x"
        );
        assert_eq!(ledger_uid(Some(&acme), "u1"), "acme/u1");
        assert_eq!(ledger_uid(None, "u1"), "u1");
        assert_eq!(split_ledger_uid("acme/u1"), (Some(acme.clone()), "u1"));
        assert_eq!(split_ledger_uid("u1"), (None, "u1"));
    }

    #[test]
    fn a_single_route_uid_that_looks_like_a_tenants_cannot_land_in_its_rows() {
        // Signed with the deployment's own secret, but naming acme's booking.
        let forged = ledger_uid(None, "acme/u1");
        assert_eq!(forged, "-/acme/u1");
        assert_ne!(forged, ledger_uid(Some(&acme()), "u1"));
        assert_eq!(split_ledger_uid(&forged), (None, "acme/u1"));
    }

    #[test]
    fn a_tenant_id_read_from_json_is_validated() {
        assert_eq!(
            serde_json::from_str::<TenantId>("\"acme\"").unwrap(),
            acme()
        );
        assert!(serde_json::from_str::<TenantId>("\"../x\"").is_err());
    }

    #[test]
    fn a_tenant_field_wins_then_the_environment_then_the_default() {
        assert_eq!(
            resolve(Some("a@x.org"), Some("b@x.org"), "-"),
            ("a@x.org", Source::Tenant)
        );
        assert_eq!(
            resolve(None, Some("b@x.org"), "-"),
            ("b@x.org", Source::Environment)
        );
        assert_eq!(
            resolve(Some("  "), Some(""), "24h,1h"),
            ("24h,1h", Source::Default)
        );
    }
}
