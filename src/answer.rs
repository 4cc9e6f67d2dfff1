//! A 2xx answer of either worker, and the outcome its log line names.

use serde_json::Value;
use worker::web_sys;

/// A 2xx answer.
pub struct Accepted {
    pub status: u16,
    body: Value,
}

impl Accepted {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body }
    }

    pub fn outcome(&self) -> &'static str {
        match self.body["status"].as_str() {
            Some("queued") if self.body["recorded"] == false => "queued_without_d1",
            Some("queued") => "queued",
            Some("accepted") => "deferred",
            Some("duplicate") => "duplicate",
            Some("ignored") => "ignored",
            Some("pong") => "pong",
            _ => "ok",
        }
    }

    pub fn into_response(self) -> web_sys::Response {
        crate::json_response::json(self.status, &self.body, None)
    }
}
