//! SendGrid v3 `/mail/send`: the request body as SendGrid documents it, and
//! what each answer means for the queue message (sent, retry later, or give up).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Path of the send endpoint under `SENDGRID_API_BASE`.
pub const MAIL_SEND_PATH: &str = "/v3/mail/send";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0:?} is not an email address (expected name@example.com or \"Name <name@example.com>\")")]
pub struct BadMailbox(pub String);

impl Mailbox {
    /// Parses `addr@example.com` or `Display Name <addr@example.com>`.
    pub fn parse(text: &str) -> Result<Self, BadMailbox> {
        let text = text.trim();
        let (name, email) = match (text.rfind('<'), text.ends_with('>')) {
            (Some(open), true) => (
                Some(text[..open].trim().trim_matches('"').trim()),
                text[open + 1..text.len() - 1].trim(),
            ),
            _ => (None, text),
        };
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }) && !email.contains(char::is_whitespace)
            && !email.contains(['<', '>', ',']);
        if !valid {
            return Err(BadMailbox(text.to_owned()));
        }
        Ok(Self {
            email: email.to_owned(),
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
        })
    }

    /// Parses a comma-separated list (`EMAIL_TO`).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, BadMailbox> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Personalization {
    pub to: Vec<Mailbox>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(rename = "type")]
    pub mime_type: String,
    pub value: String,
}

/// The JSON body of `POST /v3/mail/send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailSend {
    pub personalizations: Vec<Personalization>,
    pub from: Mailbox,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    /// text/plain first, then text/html, as SendGrid requires.
    pub content: Vec<Content>,
    /// Carries the notification key so a sent email can be traced back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_args: BTreeMap<String, String>,
}

impl MailSend {
    pub fn new(
        to: Vec<Mailbox>,
        from: Mailbox,
        reply_to: Option<Mailbox>,
        subject: String,
        text: String,
        html: String,
        notification_key: &str,
    ) -> Self {
        Self {
            personalizations: vec![Personalization { to }],
            from,
            reply_to,
            subject,
            content: vec![
                Content {
                    mime_type: "text/plain".into(),
                    value: text,
                },
                Content {
                    mime_type: "text/html".into(),
                    value: html,
                },
            ],
            custom_args: BTreeMap::from([(
                "notification_key".to_owned(),
                notification_key.to_owned(),
            )]),
        }
    }
}

/// What to do with a queue message after SendGrid answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx: record as sent and ack.
    Sent,
    /// 429, 5xx or no answer: retry, after `delay_seconds` if SendGrid said so.
    Retry {
        delay_seconds: Option<u64>,
        reason: String,
    },
    /// Any other 4xx: retrying cannot help; record, dead-letter, ack.
    Permanent { reason: String },
}

/// Longest error text kept from a SendGrid answer.
const MAX_REASON_LEN: usize = 500;

/// Classifies SendGrid's answer.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> SendOutcome {
    match status {
        200..=299 => SendOutcome::Sent,
        429 => SendOutcome::Retry {
            delay_seconds: retry_after.and_then(|r| r.trim().parse::<u64>().ok()),
            reason: format!("429 rate limited: {}", error_text(body)),
        },
        500..=599 => SendOutcome::Retry {
            delay_seconds: retry_after.and_then(|r| r.trim().parse::<u64>().ok()),
            reason: format!("{status} from SendGrid: {}", error_text(body)),
        },
        _ => SendOutcome::Permanent {
            reason: format!("{status} from SendGrid: {}", error_text(body)),
        },
    }
}

/// SendGrid's `{"errors":[{"message":…,"field":…}]}` as one line; other bodies as they are.
pub fn error_text(body: &str) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        message: Option<String>,
        field: Option<String>,
    }
    let text = match serde_json::from_str::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|i| match (&i.field, &i.message) {
                (Some(f), Some(m)) => format!("{f}: {m}"),
                (None, Some(m)) => m.clone(),
                (Some(f), None) => f.clone(),
                (None, None) => "unknown error".into(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ if body.trim().is_empty() => "(empty body)".into(),
        _ => body.trim().to_owned(),
    };
    truncate(&text, MAX_REASON_LEN)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Delay before retry number `attempt` (1-based): doubles from `base`, capped at `max`.
pub fn backoff_seconds(attempt: u32, base: u64, max: u64) -> u64 {
    let factor = 1u64
        .checked_shl(attempt.saturating_sub(1).min(32))
        .unwrap_or(u64::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_with_and_without_name() {
        assert_eq!(
            Mailbox::parse("Front Desk <desk@example.com>").unwrap(),
            Mailbox {
                email: "desk@example.com".into(),
                name: Some("Front Desk".into())
            }
        );
        assert_eq!(Mailbox::parse(" a@b.co ").unwrap().name, None);
        assert!(Mailbox::parse("not an address").is_err());
        assert!(Mailbox::parse("a@localhost").is_err());
        assert_eq!(Mailbox::parse_list("a@b.co, c@d.co").unwrap().len(), 2);
    }

    #[test]
    fn request_json_has_sendgrids_shape() {
        let m = MailSend::new(
            vec![Mailbox::parse("to@example.com").unwrap()],
            Mailbox::parse("Cal <from@example.com>").unwrap(),
            Some(Mailbox::parse("ada@example.com").unwrap()),
            "Subject".into(),
            "text".into(),
            "<p>html</p>".into(),
            "BOOKING_CREATED:booking:u",
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["personalizations"][0]["to"][0]["email"], "to@example.com");
        assert_eq!(v["from"]["name"], "Cal");
        assert_eq!(v["reply_to"]["email"], "ada@example.com");
        assert_eq!(v["content"][0]["type"], "text/plain");
        assert_eq!(v["content"][1]["type"], "text/html");
        assert_eq!(
            v["custom_args"]["notification_key"],
            "BOOKING_CREATED:booking:u"
        );
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(202, None, ""), SendOutcome::Sent);
        assert!(matches!(
            classify(429, Some("7"), ""),
            SendOutcome::Retry {
                delay_seconds: Some(7),
                ..
            }
        ));
        assert!(matches!(
            classify(503, None, ""),
            SendOutcome::Retry {
                delay_seconds: None,
                ..
            }
        ));
        for status in [400, 401, 403, 413] {
            assert!(matches!(
                classify(status, None, ""),
                SendOutcome::Permanent { .. }
            ));
        }
    }

    #[test]
    fn sendgrid_error_json_becomes_one_line() {
        let body = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}"#;
        assert_eq!(
            error_text(body),
            "from: The from address does not match a verified Sender Identity."
        );
        assert_eq!(
            error_text(&"x".repeat(2000)).chars().count(),
            MAX_REASON_LEN + 1
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_seconds(1, 10, 3600), 10);
        assert_eq!(backoff_seconds(2, 10, 3600), 20);
        assert_eq!(backoff_seconds(4, 10, 3600), 80);
        assert_eq!(backoff_seconds(40, 10, 3600), 3600);
        assert_eq!(backoff_seconds(0, 10, 3600), 10);
    }
}
