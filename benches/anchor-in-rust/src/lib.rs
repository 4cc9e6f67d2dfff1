//! `../shared/anchors/ts-receiver/src/index.ts`, line by line, in Rust: the
//! same answers, the same one D1 statement and the same small queue message.
//! It uses what the receiver learnt to use (the runtime's own `Request`, the
//! body in one `arrayBuffer()`, a JSON answer built in one runtime call, a
//! D1 result read for `meta.changes` alone), so that comparing it with the
//! anchor measures Rust-in-wasm doing the anchor's work, not workers-rs's
//! convenience layers.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use worker::js_sys::{Array, Reflect, Uint8Array};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::D1Database;
use worker::{event, web_sys, Context, Date, Env, MessageBatch, MessageExt, Result};

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    js_sys = ::worker::js_sys,
    inline_js = "export function answer(text, status) { return new Response(text, { status, headers: { 'content-type': 'application/json' } }); }
export function plain(text, status, allow) { return new Response(text, allow ? { status, headers: { Allow: allow } } : { status }); }"
)]
extern "C" {
    fn answer(text: &str, status: u16) -> web_sys::Response;
    fn plain(text: &str, status: u16, allow: Option<&str>) -> web_sys::Response;
}

fn json_answer(status: u16, body: Value) -> web_sys::Response {
    answer(&body.to_string(), status)
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let url = req.url();
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if path != "/webhooks/cal" {
        return Ok(plain("not found", 404, None));
    }
    if req.method() != "POST" {
        return Ok(plain("method not allowed", 405, Some("POST")));
    }
    let buffer = JsFuture::from(req.array_buffer()?).await?;
    let body = Uint8Array::new(&buffer).to_vec();
    let header = req
        .headers()
        .get("x-cal-signature-256")?
        .unwrap_or_default();
    let sig_hex = header.strip_prefix("sha256=").unwrap_or(&header);
    let Ok(sig) = hex::decode(sig_hex) else {
        return Ok(json_answer(401, json!({"error": "invalid signature"})));
    };
    let secret = env.secret("CAL_WEBHOOK_SECRET")?.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(&body);
    if mac.verify_slice(&sig).is_err() {
        return Ok(json_answer(401, json!({"error": "invalid signature"})));
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return Ok(json_answer(400, json!({"error": "invalid JSON"})));
    };
    let payload = &event["payload"];
    let uid = payload["uid"].as_str().or(payload["bookingUid"].as_str());
    let (Some(trigger), Some(uid)) = (event["triggerEvent"].as_str(), uid) else {
        return Ok(json_answer(
            400,
            json!({"error": "not a Cal.com booking event"}),
        ));
    };
    let key = format!("cal:{trigger}:{uid}");
    let db: D1Database = env.d1("DB")?.as_ref().clone().into();
    let insert = db
        .prepare("INSERT INTO webhook_events (key, trigger, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
        .bind(Array::of3(&key.as_str().into(), &trigger.into(), &JsValue::from_f64(Date::now().as_millis() as f64)))?;
    let result = JsFuture::from(insert.run()?).await?;
    let meta = Reflect::get(&result, &"meta".into())?;
    let changes = Reflect::get(&meta, &"changes".into())?
        .as_f64()
        .unwrap_or(0.0);
    if changes == 0.0 {
        return Ok(json_answer(200, json!({"status": "duplicate", "key": key})));
    }
    let message = json!({"v": 1, "key": key, "event": trigger, "title": payload["title"], "start": payload["startTime"]});
    if env.queue("NOTIFY")?.send(message).await.is_err() {
        let delete = db
            .prepare("DELETE FROM webhook_events WHERE key = ?1")?
            .bind(Array::of1(&JsValue::from_str(&key)))?;
        JsFuture::from(delete.run()?).await?;
        return Ok(json_answer(503, json!({"error": "queue unavailable"})));
    }
    Ok(json_answer(
        200,
        json!({"status": "queued", "event": trigger, "key": key}),
    ))
}

/// The anchor's `queue()`: every message acked, none read.
#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, _env: Env, _ctx: Context) -> Result<()> {
    for m in batch.raw_iter() {
        m.ack();
    }
    Ok(())
}
