//! Tenants' webhook secrets sealed and opened with the runtime's WebCrypto
//! (`crypto.subtle`, AES-256-GCM), so neither worker's wasm carries AES
//! (aes-gcm was 10 KB of each). The format (`v1.<nonce>.<ciphertext+tag>`,
//! the tenant id as associated data) is `calhook_core::tenants`'; native
//! tests seal with the aes-gcm crate and an e2e test has the receiver open
//! such a row, so both read one format.

use calhook_core::answer::ApiError;
use calhook_core::settings::{SettingError, Vars};
use calhook_core::tenants::{open_in, Cipher, MasterKey, Slot, TenantError, TenantId};
use worker::Env;

use crate::vars::EnvVars;
use worker::js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &Uint8Array,
        algorithm: &str,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = encrypt, catch)]
    fn subtle_encrypt(
        algorithm: &Object,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = decrypt, catch)]
    fn subtle_decrypt(
        algorithm: &Object,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// A master key imported into WebCrypto (not extractable).
pub struct SubtleKey(JsValue);

impl SubtleKey {
    /// `None` if the runtime refuses the key (it does not for 32 bytes).
    pub async fn import(key: &MasterKey) -> Option<Self> {
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let bytes = Uint8Array::from(&key.bytes()[..]);
        let promise = import_key("raw", &bytes, "AES-GCM", false, &usages).ok()?;
        JsFuture::from(promise).await.ok().map(Self)
    }
}

/// `{name: "AES-GCM", iv, additionalData}` (the tag is WebCrypto's default 128 bits).
fn params(nonce: &[u8; 12], aad: &[u8]) -> Object {
    let params = Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = Reflect::set(&params, &k.into(), v);
    };
    set("name", &"AES-GCM".into());
    set("iv", &Uint8Array::from(&nonce[..]));
    set("additionalData", &Uint8Array::from(aad));
    params
}

async fn bytes(promise: Result<Promise, JsValue>) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(promise.ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

impl Cipher for SubtleKey {
    async fn encrypt(&self, nonce: &[u8; 12], plain: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        bytes(subtle_encrypt(
            &params(nonce, aad),
            &self.0,
            &Uint8Array::from(plain),
        ))
        .await
    }

    /// WebCrypto rejects (OperationError) when the tag does not verify.
    async fn decrypt(&self, nonce: &[u8; 12], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        bytes(subtle_decrypt(
            &params(nonce, aad),
            &self.0,
            &Uint8Array::from(sealed),
        ))
        .await
    }
}

/// The Worker secret that seals tenants' webhook secrets.
pub const MASTER_KEY: &str = "TENANT_SECRETS_KEY";
/// During a master-key rotation: the previous key, still opening old rows.
pub const PREVIOUS_MASTER_KEY: &str = "TENANT_SECRETS_KEY_PREVIOUS";

/// The master key, and the previous one during a rotation, imported into
/// the runtime's WebCrypto.
pub struct MasterKeys {
    pub current: SubtleKey,
    pub previous: Option<SubtleKey>,
}

/// Reads and imports `TENANT_SECRETS_KEY` (and `TENANT_SECRETS_KEY_PREVIOUS`).
pub async fn master_keys(env: &Env) -> Result<MasterKeys, ApiError> {
    let read = async |name: &'static str| -> Result<Option<SubtleKey>, ApiError> {
        let Some(t) = EnvVars(env).trimmed(name) else {
            return Ok(None);
        };
        let key = MasterKey::from_hex(&t).map_err(|e| SettingError::Invalid {
            name,
            reason: e.to_string(),
        })?;
        let imported = SubtleKey::import(&key).await.ok_or(ApiError::Unavailable {
            what: "crypto.subtle",
            detail: format!("importKey refused {name}"),
        })?;
        Ok(Some(imported))
    };
    let current = read(MASTER_KEY)
        .await?
        .ok_or(SettingError::Missing { name: MASTER_KEY })?;
    let previous = read(PREVIOUS_MASTER_KEY).await?;
    Ok(MasterKeys { current, previous })
}

impl MasterKeys {
    /// Opens a sealed webhook secret with the current key, else the previous one.
    pub async fn open(&self, id: &TenantId, sealed: &str) -> Result<String, TenantError> {
        self.open_in(id, Slot::WebhookSecret, sealed).await
    }

    /// Opens a value sealed for `slot` with the current key, else the previous one.
    pub async fn open_in(
        &self,
        id: &TenantId,
        slot: Slot,
        sealed: &str,
    ) -> Result<String, TenantError> {
        match open_in(&self.current, id, slot, sealed).await {
            Err(_) => self.open_with_previous_in(id, slot, sealed).await,
            opened => opened,
        }
    }

    /// Opens a sealed webhook secret with the previous key (none: it does not open).
    pub async fn open_with_previous(
        &self,
        id: &TenantId,
        sealed: &str,
    ) -> Result<String, TenantError> {
        self.open_with_previous_in(id, Slot::WebhookSecret, sealed)
            .await
    }

    /// [`MasterKeys::open_with_previous`] for `slot`.
    pub async fn open_with_previous_in(
        &self,
        id: &TenantId,
        slot: Slot,
        sealed: &str,
    ) -> Result<String, TenantError> {
        match &self.previous {
            Some(previous) => open_in(previous, id, slot, sealed).await,
            None => Err(TenantError::DoesNotOpen),
        }
    }
}
