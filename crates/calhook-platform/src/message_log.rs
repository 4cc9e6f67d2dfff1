//! One structured JSON log line per message: key, trigger, outcome, attempt,
//! SendGrid status. Never the API key, message bodies or email addresses.

use serde::Serialize;

#[derive(Serialize, Default)]
pub struct MessageLog {
    svc: &'static str,
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sendgrid_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copies_sent: Option<u32>,
    /// Optional recipients left out, by reason (never their addresses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MessageLog {
    pub fn new(message_id: String) -> Self {
        Self {
            svc: "calhook-mailer",
            message_id,
            ..Self::default()
        }
    }

    pub fn emit(&self) {
        let line = serde_json::to_string(self).unwrap_or_default();
        match self.outcome {
            Some("sent" | "duplicate" | "already_failed" | "lost_lease") => {
                worker::console_log!("{line}")
            }
            Some("retry" | "busy") => worker::console_warn!("{line}"),
            _ => worker::console_error!("{line}"),
        }
    }
}
