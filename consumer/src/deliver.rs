//! One queue message → at most one SendGrid request → ack or retry.

use calhook_core::notification::{Notification, NOTIFICATION_VERSION};
use calhook_core::render::render;
use calhook_core::sendgrid::{
    self, backoff_seconds, classify, MailSend, Mailbox, Personalization, SendOutcome,
};
use worker::wasm_bindgen::JsValue;
use worker::{
    Date, Env, Fetch, Headers, MessageExt, Method, QueueRetryOptionsBuilder, RawMessage, Request,
    RequestInit,
};

use crate::ledger::{Entry, Ledger, D1_BINDING};
use crate::log::MessageLog;
use crate::settings::Settings;

/// Producer binding for notifications that can never be sent.
pub const DEAD_LETTER_BINDING: &str = "DEAD_LETTERS";

enum Action {
    Ack,
    Retry { delay_seconds: u64 },
}

pub async fn handle(message: RawMessage, env: &Env, settings: &Settings) {
    let mut log = MessageLog::new(message.id());
    match process(&message, env, settings, &mut log).await {
        Action::Ack => message.ack(),
        Action::Retry { delay_seconds } => {
            log.retry_in_seconds = Some(delay_seconds);
            let options = QueueRetryOptionsBuilder::new()
                .with_delay_seconds(delay_seconds.min(43_200) as u32)
                .build();
            message.retry_with_options(&options);
        }
    }
    log.emit();
}

async fn process(
    message: &RawMessage,
    env: &Env,
    settings: &Settings,
    log: &mut MessageLog,
) -> Action {
    let raw = message_text(message);
    let notification = match serde_json::from_str::<Notification>(&raw) {
        Ok(n) if n.v == NOTIFICATION_VERSION => n,
        Ok(n) => {
            return unusable(
                env,
                &raw,
                log,
                format!("unknown notification version {}", n.v),
            )
            .await
        }
        Err(e) => return unusable(env, &raw, log, format!("not a notification: {e}")).await,
    };
    let key = notification.key.to_string();
    log.key = Some(key.clone());
    log.trigger = Some(notification.trigger.clone());

    // Without its settings the mailer cannot send anything: keep the message
    // (retried, then dead-lettered by the queue) and say exactly what is missing.
    if let Some(err) = settings.blocking_error() {
        log.outcome = Some("misconfigured");
        log.error = Some(err.to_string());
        return Action::Retry {
            delay_seconds: settings.retry_base_seconds.max(1),
        };
    }
    let ledger = match env.d1(D1_BINDING) {
        Ok(db) => Ledger(db),
        Err(e) => {
            log.outcome = Some("misconfigured");
            log.error = Some(format!("binding {D1_BINDING} is missing: {e}"));
            return Action::Retry {
                delay_seconds: settings.retry_base_seconds.max(1),
            };
        }
    };
    let now = Date::now().as_millis();
    let attempts = match ledger
        .claim(&key, &notification.trigger, now, settings.lease_seconds)
        .await
    {
        Ok(Entry::Claimed { attempts }) => attempts,
        Ok(Entry::AlreadySent) => {
            log.outcome = Some("duplicate");
            return Action::Ack;
        }
        Ok(Entry::AlreadyFailed) => {
            log.outcome = Some("already_failed");
            return Action::Ack;
        }
        Ok(Entry::Busy) => {
            log.outcome = Some("busy");
            return Action::Retry {
                delay_seconds: settings.lease_seconds,
            };
        }
        Err(e) => {
            log.outcome = Some("ledger_unavailable");
            log.error = Some(e.to_string());
            return Action::Retry {
                delay_seconds: settings.retry_base_seconds.max(1),
            };
        }
    };
    log.attempt = Some(attempts);

    let mail = build_mail(&notification, settings);
    let api_key = settings.api_key.as_deref().unwrap_or_default();
    let outcome = match post(&settings.api_base, api_key, &mail).await {
        Ok((status, retry_after, text)) => {
            log.sendgrid_status = Some(status);
            classify(status, retry_after.as_deref(), &text)
        }
        Err(e) => SendOutcome::Retry {
            delay_seconds: None,
            reason: format!("could not reach SendGrid: {e}"),
        },
    };
    let now = Date::now().as_millis();
    match outcome {
        SendOutcome::Sent => {
            log.outcome = Some("sent");
            if let Err(e) = ledger
                .sent(&key, log.sendgrid_status.unwrap_or(202), now)
                .await
            {
                // The email went out; a redelivery of this message is all that could repeat it.
                log.error = Some(format!("sent, but recording it failed: {e}"));
            }
            Action::Ack
        }
        SendOutcome::Retry {
            delay_seconds,
            reason,
        } => {
            log.outcome = Some("retry");
            log.error = Some(reason.clone());
            let _ = ledger
                .pending(&key, log.sendgrid_status, &reason, now)
                .await;
            let delay = delay_seconds.unwrap_or_else(|| {
                backoff_seconds(
                    attempts,
                    settings.retry_base_seconds,
                    settings.retry_max_seconds,
                )
            });
            Action::Retry {
                delay_seconds: delay,
            }
        }
        SendOutcome::Permanent { reason } => {
            log.outcome = Some("failed");
            log.error = Some(reason.clone());
            if let Err(e) = ledger
                .failed(&key, log.sendgrid_status, &reason, &raw, now)
                .await
            {
                log.error = Some(format!("{reason}; recording the failure failed: {e}"));
            }
            dead_letter(env, &raw, log).await;
            Action::Ack
        }
    }
}

/// A queue message's body as text: the receiver sends JSON strings; anything
/// else (a message put on the queue by hand) is kept as its JSON form.
pub(crate) fn message_text(message: &RawMessage) -> String {
    let body = message.body();
    body.as_string().unwrap_or_else(|| {
        worker::js_sys::JSON::stringify(&body)
            .map(String::from)
            .unwrap_or_default()
    })
}

/// A message that is not a notification this version can read: keep it in the
/// dead-letter queue for a person to look at, and stop retrying it.
async fn unusable(env: &Env, raw: &str, log: &mut MessageLog, reason: String) -> Action {
    log.outcome = Some("unreadable");
    log.error = Some(reason);
    dead_letter(env, raw, log).await;
    Action::Ack
}

async fn dead_letter(env: &Env, raw: &str, log: &mut MessageLog) {
    let sent = match env.queue(DEAD_LETTER_BINDING) {
        Ok(q) => q.send(raw.to_owned()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        let previous = log.error.take().unwrap_or_default();
        log.error = Some(format!("{previous}; dead-lettering failed: {e}"));
    }
}

fn build_mail(n: &Notification, settings: &Settings) -> MailSend {
    let email = render(n);
    // Only called once `blocking_error()` said both are set and valid.
    let to = settings.to.clone().unwrap_or_default();
    let from = settings.from.clone().unwrap_or_else(|_| Mailbox {
        email: String::new(),
        name: None,
    });
    let reply_to = n.facts.organizer.as_ref().and_then(|o| {
        Some(Mailbox {
            email: o.email.clone()?,
            name: o.name.clone(),
        })
    });
    let mut mail = MailSend::new(
        to,
        from,
        reply_to,
        email.subject,
        email.text,
        email.html,
        n.key.as_str(),
    );
    if settings.notify_attendees {
        // One personalization each, so attendees do not see each other's addresses.
        for attendee in &n.facts.attendees {
            if let Some(email) = attendee
                .email
                .as_deref()
                .and_then(|e| Mailbox::parse(e).ok())
            {
                mail.personalizations.push(Personalization {
                    to: vec![Mailbox {
                        name: attendee.name.clone(),
                        ..email
                    }],
                });
            }
        }
    }
    mail
}

/// POSTs to SendGrid; returns status, Retry-After and the body text.
async fn post(
    api_base: &str,
    api_key: &str,
    mail: &MailSend,
) -> worker::Result<(u16, Option<String>, String)> {
    let headers = Headers::new();
    headers.set("Authorization", &format!("Bearer {api_key}"))?;
    headers.set("Content-Type", "application/json")?;
    let body = serde_json::to_string(mail).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&body)));
    let request =
        Request::new_with_init(&format!("{api_base}{}", sendgrid::MAIL_SEND_PATH), &init)?;
    let mut response = Fetch::Request(request).send().await?;
    let status = response.status_code();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let text = response.text().await.unwrap_or_default();
    Ok((status, retry_after, text))
}
