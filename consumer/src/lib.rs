//! Mailer worker: consumes notifications and sends each as exactly one email.
//!
//! A thin shell: `calhook_core` renders the email, builds SendGrid's request and
//! classifies its answer; this crate moves messages between the queue, the D1
//! delivery ledger and SendGrid. Every message is handled on its own and the
//! handler never returns `Err` (workers-rs would turn that into a panic and
//! retry the whole batch).

mod dead_letters;
mod deliver;
mod ledger;
mod log;
mod settings;

use worker::{event, Context, Env, MessageBatch, Result};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    _ctx: Context,
) -> Result<()> {
    let settings = settings::Settings::from_env(&env);
    // One handler serves both queues: notifications, and the dead letters it keeps in D1.
    if batch.queue() == settings.dead_letter_queue {
        for message in batch.raw_iter() {
            dead_letters::keep(message, &env).await;
        }
        return Ok(());
    }
    for message in batch.raw_iter() {
        deliver::handle(message, &env, &settings).await;
    }
    Ok(())
}
