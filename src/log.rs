//! One structured JSON log line per request. It carries the trigger, booking
//! uid, key, outcome, status and duration; never secrets, signatures, bodies or
//! email addresses.

use crate::error::ReceiverError;
use serde::Serialize;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
}

impl RequestLog {
    pub fn new(method: String, path: String) -> Self {
        Self {
            svc: "calhook-receiver",
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

    pub fn failure(&mut self, err: &ReceiverError) {
        self.outcome = Some(err.outcome());
        self.status = Some(err.status());
        self.error = Some(err.to_string());
        // A note from the handler (e.g. both stores failing) says more; keep it.
        if self.detail.is_none() {
            self.detail = err.detail();
        }
    }

    pub fn emit(mut self, duration_ms: u64) {
        self.duration_ms = Some(duration_ms);
        let line = serde_json::to_string(&self).unwrap_or_default();
        match self.status {
            Some(s) if s >= 500 => worker::console_error!("{line}"),
            Some(s) if s >= 400 => worker::console_warn!("{line}"),
            _ => worker::console_log!("{line}"),
        }
    }
}
