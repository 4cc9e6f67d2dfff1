//! The delivery ledger in D1: at most one email per notification key, even
//! though the queue delivers at least once.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

pub const D1_BINDING: &str = "DB";

/// What the ledger says about a notification about to be sent.
pub enum Entry {
    /// This consumer holds it now; `attempts` counts this one.
    Claimed { attempts: u32 },
    /// Already accepted by SendGrid: ack without sending.
    AlreadySent,
    /// Failed permanently before (and was dead-lettered): ack.
    AlreadyFailed,
    /// Another consumer is sending it right now.
    Busy,
}

pub struct Ledger(pub D1Database);

impl Ledger {
    pub async fn claim(
        &self,
        key: &str,
        trigger: &str,
        now_ms: u64,
        lease_seconds: u64,
    ) -> worker::Result<Entry> {
        #[derive(Deserialize)]
        struct Won {
            attempts: u32,
        }
        #[derive(Deserialize)]
        struct Existing {
            state: String,
        }
        let won: Option<Won> = self
            .0
            .prepare(
                "INSERT INTO deliveries (key, state, trigger, attempts, lease_until, updated_at) \
                 VALUES (?1, 'sending', ?2, 1, ?3, ?4) \
                 ON CONFLICT(key) DO UPDATE SET state = 'sending', attempts = deliveries.attempts + 1, \
                   lease_until = excluded.lease_until, updated_at = excluded.updated_at \
                 WHERE deliveries.state = 'pending' \
                    OR (deliveries.state = 'sending' AND deliveries.lease_until <= ?4) \
                 RETURNING attempts",
            )
            .bind(&[
                key.into(),
                trigger.into(),
                JsValue::from_f64((now_ms + lease_seconds * 1000) as f64),
                JsValue::from_f64(now_ms as f64),
            ])?
            .first(None)
            .await?;
        if let Some(won) = won {
            return Ok(Entry::Claimed {
                attempts: won.attempts,
            });
        }
        let existing: Option<Existing> = self
            .0
            .prepare("SELECT state FROM deliveries WHERE key = ?1")
            .bind(&[key.into()])?
            .first(None)
            .await?;
        Ok(match existing.map(|e| e.state).as_deref() {
            Some("sent") => Entry::AlreadySent,
            Some("failed") => Entry::AlreadyFailed,
            _ => Entry::Busy,
        })
    }

    /// SendGrid accepted it.
    pub async fn sent(&self, key: &str, status: u16, now_ms: u64) -> worker::Result<()> {
        self.finish(key, "sent", Some(status), None, None, now_ms)
            .await
    }

    /// A transient failure: the queue will deliver it again.
    pub async fn pending(
        &self,
        key: &str,
        status: Option<u16>,
        error: &str,
        now_ms: u64,
    ) -> worker::Result<()> {
        self.finish(key, "pending", status, Some(error), None, now_ms)
            .await
    }

    /// A permanent failure, kept with the notification so it can be inspected and redriven.
    pub async fn failed(
        &self,
        key: &str,
        status: Option<u16>,
        error: &str,
        notification: &str,
        now_ms: u64,
    ) -> worker::Result<()> {
        self.finish(
            key,
            "failed",
            status,
            Some(error),
            Some(notification),
            now_ms,
        )
        .await
    }

    async fn finish(
        &self,
        key: &str,
        state: &str,
        status: Option<u16>,
        error: Option<&str>,
        notification: Option<&str>,
        now_ms: u64,
    ) -> worker::Result<()> {
        let opt = |v: Option<&str>| v.map(JsValue::from).unwrap_or(JsValue::NULL);
        self.0
            .prepare(
                "UPDATE deliveries SET state = ?2, last_status = ?3, last_error = ?4, \
                   notification = COALESCE(?5, notification), lease_until = 0, updated_at = ?6 \
                 WHERE key = ?1",
            )
            .bind(&[
                key.into(),
                state.into(),
                status
                    .map(|s| JsValue::from_f64(s as f64))
                    .unwrap_or(JsValue::NULL),
                opt(error),
                opt(notification),
                JsValue::from_f64(now_ms as f64),
            ])?
            .run()
            .await?;
        Ok(())
    }
}
