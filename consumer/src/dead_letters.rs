//! Keeps what reaches the dead-letter queue in D1 (`dead_letters`), with the
//! last error the ledger recorded, so an operator can list and redrive it.

use calhook_core::notification::Notification;
use serde::Deserialize;
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Date, Env, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::ledger::D1_BINDING;

pub async fn keep(message: RawMessage, env: &Env) {
    let raw = crate::deliver::message_text(&message);
    let parsed = serde_json::from_str::<Notification>(&raw).ok();
    let key = parsed
        .as_ref()
        .map(|n| n.key.to_string())
        .unwrap_or_else(|| format!("unreadable:{}", message.id()));
    let trigger = parsed.as_ref().map(|n| n.trigger.clone());
    match store(env, &key, trigger.as_deref(), &raw).await {
        Ok(()) => {
            worker::console_warn!(
                "{}",
                json!({"svc": "calhook-mailer", "key": key, "trigger": trigger, "outcome": "dead_lettered"})
            );
            message.ack();
        }
        Err(e) => {
            worker::console_error!(
                "{}",
                json!({"svc": "calhook-mailer", "key": key, "outcome": "dead_letter_store_failed", "error": e.to_string()})
            );
            message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(30)
                    .build(),
            );
        }
    }
}

async fn store(env: &Env, key: &str, trigger: Option<&str>, raw: &str) -> worker::Result<()> {
    #[derive(Deserialize)]
    struct Last {
        last_error: Option<String>,
    }
    let db = env.d1(D1_BINDING)?;
    let reason = db
        .prepare("SELECT last_error FROM deliveries WHERE key = ?1")
        .bind(&[key.into()])?
        .first::<Last>(None)
        .await?
        .and_then(|l| l.last_error)
        .or_else(|| {
            // No ledger row: the mailer never got as far as claiming it.
            Some("retries used up before a send was attempted: see the mailer's \"misconfigured\" or \"ledger_unavailable\" log lines".to_owned())
        });
    db.prepare(
        "INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(key) DO UPDATE SET notification = excluded.notification, reason = excluded.reason, \
           dead_lettered_at = excluded.dead_lettered_at",
    )
    .bind(&[
        key.into(),
        trigger.map(JsValue::from).unwrap_or(JsValue::NULL),
        raw.into(),
        reason.map(JsValue::from).unwrap_or(JsValue::NULL),
        JsValue::from_f64(Date::now().as_millis() as f64),
    ])?
    .run()
    .await?;
    Ok(())
}
