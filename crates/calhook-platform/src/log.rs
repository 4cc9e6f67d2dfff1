//! One structured JSON log line per request. It carries the trigger, booking
//! uid, key, outcome, status and duration; never secrets, signatures, bodies or
//! email addresses.
//!
//! Requests refused before anything was verified (bad signature, unknown
//! path or tenant, oversized body) are logged up to `LOG_REFUSED_PER_MINUTE`
//! per isolate and minute; the rest are counted, and the next line says how
//! many were left out (`refused_unlogged`). A flood of forged requests then
//! costs no log line each: measured under `wrangler dev`, a log line is most
//! of a 401's CPU (BENCHMARKS.md).

use calhook_core::answer::ApiError;
use serde::Serialize;
use std::cell::Cell;

/// Default of `LOG_REFUSED_PER_MINUTE`.
pub const DEFAULT_REFUSED_PER_MINUTE: u64 = 60;

thread_local! {
    /// (minute, refused lines logged in it, refused requests not logged yet).
    static REFUSED: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
}

/// Whether this line is logged, and how many refused requests went unlogged before it.
fn admit(refused: bool, now_ms: u64, per_minute: u64) -> (bool, u64) {
    REFUSED.with(|c| {
        let (mut minute, mut logged, mut unlogged) = c.get();
        if now_ms / 60_000 != minute {
            (minute, logged) = (now_ms / 60_000, 0);
        }
        let admitted = !refused || logged < per_minute;
        let report = if admitted {
            logged += u64::from(refused);
            std::mem::take(&mut unlogged)
        } else {
            unlogged += 1;
            0
        };
        c.set((minute, logged, unlogged));
        (admitted, report)
    })
}

#[derive(Serialize, Default)]
pub struct RequestLog {
    svc: &'static str,
    method: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    booking_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// `X-Cal-Webhook-Version` as sent (absent from scheduled senders).
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    /// Refused requests not logged since the previous line (see the module doc).
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_unlogged: Option<u64>,
    #[serde(skip)]
    refused: bool,
}

impl RequestLog {
    /// `svc`: the worker's name, as `wrangler.toml` has it.
    pub fn new(svc: &'static str, method: String, path: String) -> Self {
        Self {
            svc,
            method,
            path,
            ..Self::default()
        }
    }

    pub fn event(&mut self, trigger: &str, booking_uid: Option<&str>) {
        self.trigger = Some(trigger.to_owned());
        self.booking_uid = booking_uid.map(str::to_owned);
    }

    pub fn tenant(&mut self, slug: &str) {
        // Bounded: a slug from the URL is not yet known to be a tenant's.
        self.tenant = Some(slug.chars().take(64).collect());
    }

    pub fn payload_version(&mut self, version: Option<&str>) {
        self.payload_version = version.map(str::to_owned);
    }

    pub fn key(&mut self, key: &str) {
        self.key = Some(key.to_owned());
    }

    /// Something went wrong that the client does not see (logged loudly).
    pub fn note(&mut self, detail: String) {
        self.detail = Some(detail);
    }

    pub fn outcome(&mut self, outcome: &'static str, status: u16) {
        self.outcome = Some(outcome);
        self.status = Some(status);
    }

    pub fn failure(&mut self, err: &ApiError) {
        self.refused = err.is_unverified_refusal();
        self.outcome = Some(err.outcome());
        self.status = Some(err.status());
        self.error = Some(err.to_string());
        // A note from the handler (e.g. both stores failing) says more; keep it.
        if self.detail.is_none() {
            self.detail = err.detail();
        }
    }

    /// Writes the line, timed from `started_ms` (see [`Self::emit`]).
    pub fn emit_since(self, started_ms: i64, refused_per_minute: u64) {
        let now = crate::now_ms().max(0) as u64;
        self.emit(
            now,
            now.saturating_sub(started_ms.max(0) as u64),
            refused_per_minute,
        );
    }

    /// Writes the line (unless it is a refusal over `refused_per_minute`).
    pub fn emit(mut self, now_ms: u64, duration_ms: u64, refused_per_minute: u64) {
        let (admitted, unlogged) = admit(self.refused, now_ms, refused_per_minute);
        if !admitted {
            return;
        }
        self.refused_unlogged = (unlogged > 0).then_some(unlogged);
        self.duration_ms = Some(duration_ms);
        let line = serde_json::to_string(&self).unwrap_or_default();
        match self.status {
            Some(s) if s >= 500 => worker::console_error!("{line}"),
            Some(s) if s >= 400 => worker::console_warn!("{line}"),
            _ => worker::console_log!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::admit;

    #[test]
    fn refusals_past_the_limit_are_counted_and_reported_on_the_next_line() {
        let minute = 60_000 * 1_000;
        assert_eq!(admit(true, minute, 2), (true, 0));
        assert_eq!(admit(true, minute + 1, 2), (true, 0));
        assert_eq!(admit(true, minute + 2, 2), (false, 0));
        assert_eq!(admit(true, minute + 3, 2), (false, 0));
        assert_eq!(
            admit(false, minute + 4, 2),
            (true, 2),
            "a verified request is always logged"
        );
        assert_eq!(admit(true, minute + 5, 2), (false, 0));
        assert_eq!(admit(true, minute + 60_000, 2), (true, 1), "a new minute");
    }
}
