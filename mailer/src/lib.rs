//! Mailer worker: consumes notifications and sends each as exactly one email
//! per recipient copy.
//!
//! A thin shell: `calhook_core` decides recipients, renders the emails, builds
//! SendGrid's request, classifies its answer, computes retry delays and owns
//! every ledger and dead-letter statement; this crate moves messages between
//! the queue, D1 and SendGrid. Every message is handled on its own and the
//! handler never fails (a failing handler would retry the whole batch).

mod dead_letters;
mod deliver;
mod tenant;

use calhook_core::deliver::queues::{role, QueueRole};
use calhook_core::settings::MailerSettings;
use calhook_platform::vars::EnvVars;
use serde_json::json;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{Context as ContextSys, Message as MessageSys, MessageBatch};
use worker::{event, Env, MessageExt, QueueRetryOptionsBuilder, RawMessage};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// One message of a batch, with the queue's count of its deliveries
/// (`attempts`, 1 on the first), which workers-rs does not expose.
pub struct Delivery {
    pub message: RawMessage,
    pub attempts: u32,
}

/// The queue handler, exported by hand instead of `#[event(queue)]` so that it
/// can read each message's `attempts` from the JS object.
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
pub async fn queue(batch: MessageBatch, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    let queue_name: String = batch.queue().map(String::from).unwrap_or_default();
    let deliveries: Vec<Delivery> = batch
        .messages()
        .map(|a| a.iter().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let attempts = worker::js_sys::Reflect::get(&m, &JsValue::from_str("attempts"))
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(1.0)
                .max(1.0) as u32;
            Delivery {
                message: RawMessage::from(m.unchecked_into::<MessageSys>()),
                attempts,
            }
        })
        .collect();
    let settings = MailerSettings::read(&EnvVars(&env));
    match role(
        &queue_name,
        &settings.notifications_queue,
        &settings.dead_letter_queue,
    ) {
        QueueRole::Notifications => {
            for d in deliveries {
                deliver::handle(d, &env, &settings).await;
            }
        }
        // The dead letters it keeps in D1.
        QueueRole::DeadLetters => {
            for d in deliveries {
                dead_letters::keep(d, &env, &settings).await;
            }
        }
        QueueRole::Unknown => {
            // Never guess: keep the messages (retried, then the queue's own
            // dead-letter queue) and say which settings to fix.
            worker::console_error!(
                "{}",
                json!({"svc": "calhook-mailer", "queue": queue_name, "outcome": "unknown_queue",
                       "error": "this queue is neither NOTIFICATIONS_QUEUE nor DEAD_LETTER_QUEUE; fix the settings or the consumer binding"})
            );
            for d in deliveries {
                let delay = settings.retry_delay(d.attempts, None);
                d.message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay as u32)
                        .build(),
                );
            }
        }
    }
    Ok(JsValue::UNDEFINED)
}
