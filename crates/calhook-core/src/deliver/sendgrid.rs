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
#[error("{0:?} is not an email address list (expected name@example.com, \"Name <name@example.com>\" or several separated by commas)")]
pub struct BadMailbox(pub String);

impl Mailbox {
    /// Parses one mailbox: `addr@example.com`, `Display Name <addr@example.com>`
    /// or `"Doe, J" <j@example.com>` (RFC 5322).
    pub fn parse(text: &str) -> Result<Self, BadMailbox> {
        match Self::parse_list(text)?.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(BadMailbox(redact_addresses(text.trim()))),
        }
    }

    /// Parses an RFC 5322 address list (`EMAIL_TO`): commas inside quoted
    /// display names do not split, groups are flattened. Every address must be
    /// one SendGrid accepts.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, BadMailbox> {
        use mailparse::{addrparse, MailAddr};
        let line = text.trim().replace(['\r', '\n'], " ");
        let addrs: Vec<mailparse::SingleInfo> = match addrparse(&line) {
            Ok(list) => list
                .iter()
                .flat_map(|a| match a {
                    MailAddr::Single(one) => vec![one.clone()],
                    MailAddr::Group(group) => group.addrs.clone(),
                })
                .collect(),
            Err(_) => return Err(BadMailbox(redact_addresses(text.trim()))),
        };
        addrs
            .into_iter()
            .map(|a| {
                let email = a.addr.trim();
                if !is_valid_address(email) {
                    return Err(BadMailbox(redact_addresses(text.trim())));
                }
                Ok(Self {
                    email: email.to_owned(),
                    name: a
                        .display_name
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty()),
                })
            })
            .collect()
    }

    /// This mailbox as SendGrid delivers it. SendGrid's Mail Send limitations:
    /// a recipient's `name` must not contain `,` or `;`; such a request is
    /// accepted (202) and the copy then silently dropped. So those characters
    /// (and line breaks) become spaces; a name left empty is dropped.
    pub fn sendable(self) -> Self {
        let name = self.name.and_then(|n| {
            let clean = n
                .split(|c: char| c == ',' || c == ';' || c.is_control())
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ");
            (!clean.is_empty()).then_some(clean)
        });
        Self {
            email: self.email,
            name,
        }
    }

    /// The address, compared case-insensitively (as SendGrid does for duplicates).
    pub fn normalized(&self) -> String {
        self.email.trim().to_lowercase()
    }
}

/// Whether SendGrid would take `email` as an address: an RFC 5321 addr-spec
/// with a dotted domain (so `Email-less`, Cal.com's fallback, is not one).
pub fn is_valid_address(email: &str) -> bool {
    email_address::EmailAddress::is_valid(email)
        && email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.contains('.') && !domain.starts_with('['))
        && !email.contains(char::is_whitespace)
}

/// Replaces every email address in `text` with `[address]`: SendGrid quotes
/// addresses in its errors, and those texts reach logs and the admin API.
pub fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.contains('@') {
            out.push_str("[address]");
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '"' | '\'' | '(' | ')' | '[' | ']' | ',' | ';'
            )
        {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
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
            personalizations: vec![Personalization {
                to: to.into_iter().map(Mailbox::sendable).collect(),
            }],
            from: from.sendable(),
            reply_to: reply_to.map(Mailbox::sendable),
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

/// Classifies SendGrid's answer. `retry_after`: the header's value (seconds or
/// an HTTP date), read against `now_ms`.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, now_ms: i64) -> SendOutcome {
    let delay_seconds =
        retry_after.and_then(|r| crate::deliver::retry::retry_after_seconds(r, now_ms));
    match status {
        200..=299 => SendOutcome::Sent,
        429 => SendOutcome::Retry {
            delay_seconds,
            reason: format!("429 rate limited: {}", error_text(body)),
        },
        500..=599 => SendOutcome::Retry {
            delay_seconds,
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
    truncate(&redact_addresses(&text), MAX_REASON_LEN)
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
    fn no_name_sendgrid_would_silently_drop_reaches_the_request() {
        let m = MailSend::new(
            vec![
                Mailbox::parse("\"Smith, John\" <john@example.com>").unwrap(),
                Mailbox {
                    email: "ada@example.com".into(),
                    name: Some("Ada; Countess\r\nof Lovelace".into()),
                },
                Mailbox {
                    email: "grace@example.com".into(),
                    name: Some(" ,; ".into()),
                },
            ],
            Mailbox::parse("\"Desk, Front\" <desk@example.com>").unwrap(),
            Some(Mailbox::parse("\"Doe, J\" <j@example.com>").unwrap()),
            "Subject".into(),
            "text".into(),
            "<p>html</p>".into(),
            "BOOKING_CREATED:booking:u",
        );
        let names: Vec<_> = m.personalizations[0]
            .to
            .iter()
            .map(|t| t.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [Some("Smith John"), Some("Ada Countess of Lovelace"), None]
        );
        assert_eq!(m.from.name.as_deref(), Some("Desk Front"));
        assert_eq!(m.reply_to.unwrap().name.as_deref(), Some("Doe J"));
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
        assert_eq!(classify(202, None, "", 0), SendOutcome::Sent);
        assert!(matches!(
            classify(429, Some("7"), "", 0),
            SendOutcome::Retry {
                delay_seconds: Some(7),
                ..
            }
        ));
        assert!(matches!(
            classify(503, None, "", 0),
            SendOutcome::Retry {
                delay_seconds: None,
                ..
            }
        ));
        for status in [400, 401, 403, 413] {
            assert!(matches!(
                classify(status, None, "", 0),
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
    fn quoted_display_names_with_commas_do_not_split_the_list() {
        let list =
            Mailbox::parse_list(r#""Doe, J" <j@x.org>, Front Desk <desk@example.com>, a@b.co"#)
                .unwrap();
        assert_eq!(list.len(), 3, "{list:?}");
        assert_eq!(list[0].name.as_deref(), Some("Doe, J"));
        assert_eq!(list[0].email, "j@x.org");
        assert_eq!(list[1].email, "desk@example.com");
        assert_eq!(list[2].name, None);
    }

    #[test]
    fn a_from_with_a_quoted_comma_is_one_mailbox() {
        let from = Mailbox::parse(r#""Bookings, Acme" <bookings@acme.example>"#).unwrap();
        assert_eq!(from.name.as_deref(), Some("Bookings, Acme"));
        assert!(Mailbox::parse("a@b.co, c@d.co").is_err(), "two are not one");
    }

    #[test]
    fn cal_com_fallback_organizer_is_not_an_address() {
        assert!(!is_valid_address("Email-less"));
        assert!(!is_valid_address(""));
        assert!(is_valid_address("ada@example.com"));
    }

    #[test]
    fn sendgrid_errors_lose_the_addresses_they_quote() {
        let body = r#"{"errors":[{"message":"Each unique email address in the personalizations array should only be included once. You have included Team@Example.com more than once.","field":"personalizations.1.to.0.email"}]}"#;
        let text = error_text(body);
        assert!(!text.contains('@'), "{text}");
        assert!(text.contains("[address]"), "{text}");
        assert!(!BadMailbox(redact_addresses("x <a@b.co>"))
            .to_string()
            .contains("a@b.co"));
    }
}
