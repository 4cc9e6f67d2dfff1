//! Keeps what reaches the dead-letter queue in D1 (`dead_letters`), with the
//! last error the ledger recorded, so an operator can list and redrive it.
//! While D1 is down the message backs off like any other (and past its
//! retries goes to the dead-letter queue's own dead-letter queue), so a long
//! D1 outage does not lose it.

use calhook_core::message::notification::Notification;
use calhook_core::settings::MailerSettings as Settings;
use calhook_core::store::dead_letters::{self, UNREADABLE_PREFIX};
use calhook_platform::bindings::D1_BINDING;
use calhook_platform::d1::D1;
use serde_json::json;
use worker::{Date, Env, MessageExt, QueueRetryOptionsBuilder};

use crate::deliver::message_text;
use crate::Delivery;

pub async fn keep(d: Delivery, env: &Env, settings: &Settings) {
    let raw = message_text(&d.message);
    let parsed = serde_json::from_str::<Notification>(&raw).ok();
    let key = parsed
        .as_ref()
        .map(|n| n.key.to_string())
        .unwrap_or_else(|| format!("{UNREADABLE_PREFIX}{}", d.message.id()));
    let trigger = parsed.as_ref().map(|n| n.trigger.to_string());
    let stored = match env.d1(D1_BINDING) {
        Ok(db) => dead_letters::keep(
            &D1(db),
            &key,
            trigger.as_deref(),
            &raw,
            Date::now().as_millis() as i64,
        )
        .await
        .map_err(|e| e.to_string()),
        Err(e) => Err(format!("binding {D1_BINDING} is missing: {e}")),
    };
    match stored {
        Ok(()) => {
            worker::console_warn!(
                "{}",
                json!({"svc": "calhook-mailer", "key": key, "trigger": trigger, "outcome": "dead_lettered"})
            );
            d.message.ack();
        }
        Err(e) => {
            let delay = settings.retry_delay(d.attempts, None);
            worker::console_error!(
                "{}",
                json!({"svc": "calhook-mailer", "key": key, "outcome": "dead_letter_store_failed",
                       "attempt": d.attempts, "retry_in_seconds": delay, "error": e})
            );
            d.message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay as u32)
                    .build(),
            );
        }
    }
}
