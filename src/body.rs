//! Reads the raw body once, refusing anything over the cap without buffering it.

use calhook_core::answer::ApiError;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStreamDefaultReader, Request};

pub async fn read_capped(req: &Request, limit: u64) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let Some(stream) = req.body() else {
        return Ok(Vec::new());
    };
    let unreadable = |e: JsValue| ApiError::BodyUnreadable(format!("{e:?}"));
    if declared.is_some() {
        // The runtime ends the body at its declared length, which is within
        // the cap: one read of the whole, no reader round trip per chunk.
        let whole = req.array_buffer().map_err(unreadable)?;
        let bytes = JsFuture::from(whole).await.map_err(unreadable)?;
        return Ok(Uint8Array::new(&bytes).to_vec());
    }
    // Chunked: grown as bytes arrive (a forged length reserves nothing) and
    // cancelled past the cap.
    let mut body = Vec::new();
    // The reader is driven by hand so that, past the cap, the stream can be
    // cancelled explicitly: the client stops uploading and nothing is left
    // half-read when the response goes out.
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        if Reflect::get(&chunk, &"done".into())
            .map_err(unreadable)?
            .is_truthy()
        {
            return Ok(body);
        }
        let bytes: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(unreadable)?
            .unchecked_into();
        if body.len() as u64 + u64::from(bytes.length()) > limit {
            let _ = JsFuture::from(reader.cancel()).await;
            return Err(ApiError::BodyTooLarge { limit });
        }
        let start = body.len();
        body.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut body[start..]);
    }
}
