//! Tenants' webhook secrets sealed and opened with the runtime's WebCrypto
//! (`crypto.subtle`, AES-256-GCM), so neither worker's wasm carries AES
//! (aes-gcm was 10 KB of each). The format (`v1.<nonce>.<ciphertext+tag>`,
//! the tenant id as associated data) is `calhook_core::tenants`'; native
//! tests seal with the aes-gcm crate and an e2e test has the receiver open
//! such a row, so both read one format.

use calhook_core::tenants::{Cipher, MasterKey};
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
