//! The notification queue's producer: the webhook, the outbox run, reminders
//! and redrives send here.

use calhook_core::answer::ApiError;
use worker::Env;

use crate::bindings::QUEUE_BINDING;

fn queue(env: &Env) -> Result<worker::Queue, ApiError> {
    env.queue(QUEUE_BINDING)
        .map_err(|e| ApiError::BindingMissing {
            binding: QUEUE_BINDING,
            detail: e.to_string(),
        })
}

fn queue_unavailable(e: worker::Error) -> ApiError {
    ApiError::Unavailable {
        what: "queue",
        detail: e.to_string(),
    }
}

/// Puts one notification (JSON text) on the queue.
pub async fn send(env: &Env, message: &str) -> Result<(), ApiError> {
    queue(env)?.send(message).await.map_err(queue_unavailable)
}

/// Puts several notifications on the queue in one request (all or none).
pub async fn send_batch(env: &Env, messages: Vec<String>) -> Result<(), ApiError> {
    queue(env)?
        .send_batch(messages)
        .await
        .map_err(queue_unavailable)
}

/// Queues notifications whose rows wait in the outbox, in as many batches as
/// the queue's limits need (`deliver::batches`), stopping at the first
/// refusal; how many it queued. One too large for any message is left to
/// the outbox run, which sets it aside.
pub async fn send_kept(env: &Env, messages: &[&str]) -> Result<usize, ApiError> {
    let split = calhook_core::deliver::batches::split(messages.iter().map(|m| (*m, false)));
    let mut queued = 0;
    for range in split.batches {
        let batch = messages[range.clone()]
            .iter()
            .map(|m| m.to_string())
            .collect();
        send_batch(env, batch).await?;
        queued += range.len();
    }
    Ok(queued)
}
