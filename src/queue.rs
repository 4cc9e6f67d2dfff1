//! The notification queue's producer: the webhook, the outbox run and redrives send here.

use worker::Env;

use crate::error::ReceiverError;

/// The queue producer binding.
pub const QUEUE_BINDING: &str = "NOTIFICATIONS";

fn queue(env: &Env) -> Result<worker::Queue, ReceiverError> {
    env.queue(QUEUE_BINDING)
        .map_err(|e| ReceiverError::BindingMissing {
            binding: QUEUE_BINDING,
            detail: e.to_string(),
        })
}

fn queue_unavailable(e: worker::Error) -> ReceiverError {
    ReceiverError::Unavailable {
        what: "queue",
        detail: e.to_string(),
    }
}

/// Puts one notification (JSON text) on the queue.
pub async fn send(env: &Env, message: String) -> Result<(), ReceiverError> {
    queue(env)?.send(message).await.map_err(queue_unavailable)
}

/// Puts several notifications on the queue in one request (all or none).
pub async fn send_batch(env: &Env, messages: Vec<String>) -> Result<(), ReceiverError> {
    queue(env)?
        .send_batch(messages)
        .await
        .map_err(queue_unavailable)
}
