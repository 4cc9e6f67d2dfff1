//! What the HTTP edge answers: a 2xx [`Accepted`] or an [`ApiError`], each
//! with the outcome its log line names. The workers only serialize them.

mod error;

pub use error::ApiError;
use serde_json::Value;

/// A 2xx answer.
#[derive(Debug, Clone, PartialEq)]
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

    pub fn body(&self) -> &Value {
        &self.body
    }
}
