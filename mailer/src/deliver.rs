//! One queue message → one email per recipient copy, each at most once → ack or retry.

use calhook_core::deliver::fold::{Action, CopyOutcome, Tally};
use calhook_core::deliver::recipients::{self, Audience, Copy};
use calhook_core::deliver::retry;
use calhook_core::deliver::sendgrid::{self, classify, MailSend, SendOutcome};
use calhook_core::message::notification::{Kind, Notification, NOTIFICATION_VERSION};
use calhook_core::message::render::{render, render_for_attendee};
use calhook_core::settings::MailerSettings as Settings;
use calhook_core::store::ledger::{self, Finish, LedgerClaim, Recorded};
use calhook_core::store::reminders::{self, Dropped};
use calhook_core::store::usage::{self, Reserved};
use calhook_core::store::{bookings, dead_letters, outbox, Db};
use calhook_core::tenants::ledger_uid;
use calhook_platform::bindings::{D1_BINDING, DEAD_LETTER_BINDING};
use calhook_platform::d1::D1;
use calhook_platform::message_log::MessageLog;
use calhook_platform::zones::IntlZones;
use futures_util::future::{select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Date, Delay, Env, Fetch, Headers, MessageExt, Method,
    QueueRetryOptionsBuilder, RawMessage, Request, RequestInit,
};

use crate::tenant::{self, Mail};
use crate::Delivery;

pub async fn handle(d: Delivery, env: &Env, settings: &Settings) {
    let mut log = MessageLog::new(d.message.id());
    log.attempt = Some(d.attempts);
    match process(&d, env, settings, &mut log).await {
        Action::Ack => d.message.ack(),
        Action::Retry { delay_seconds } => {
            log.retry_in_seconds = Some(delay_seconds);
            let options = QueueRetryOptionsBuilder::new()
                .with_delay_seconds(delay_seconds as u32)
                .build();
            d.message.retry_with_options(&options);
        }
    }
    log.emit();
}

/// What every copy of one message needs.
struct Message<'a> {
    d: &'a Delivery,
    settings: &'a Settings,
    db: D1,
    notification: Notification,
    mail: Mail,
    raw: &'a str,
}

async fn process(d: &Delivery, env: &Env, settings: &Settings, log: &mut MessageLog) -> Action {
    let raw = message_text(&d.message);
    let notification = match read(&raw) {
        Ok(n) => n,
        Err(reason) => return unusable(env, &raw, log, reason).await,
    };
    log.key = Some(notification.key.to_string());
    log.trigger = Some(notification.trigger.to_string());
    if notification.trigger == Kind::Alert && settings.alert_to.is_none() {
        // Never retried into a dead letter (which would alert again).
        log.outcome = Some("dropped");
        log.error = Some("an alert, but ALERT_TO is not set on the mailer".into());
        return Action::Ack;
    }
    let backoff = |retry_after| Action::Retry {
        delay_seconds: settings.retry_delay(d.attempts, retry_after),
    };
    let (db, mail) = match prepare(env, settings, &notification).await {
        Ok(ready) => ready,
        Err(error) => {
            log.outcome = Some("misconfigured");
            log.error = Some(error);
            return backoff(None);
        }
    };
    match drop_if_unwanted(&db, &mail, &notification, &raw).await {
        Ok(None) => {}
        Ok(Some(why)) => {
            log.outcome = Some("dropped");
            log.error = Some(why.reason());
            return Action::Ack;
        }
        Err(error) => {
            log.outcome = Some("ledger_unavailable");
            log.error = Some(error);
            return backoff(None);
        }
    }
    let mut notification = notification;
    notification.facts.fallback_zone = mail.zone.clone();
    let plan = recipients::plan(&notification, &mail.to, mail.notify_attendees);
    log.left_out = plan.left_out.iter().map(|l| l.as_str()).collect();
    let m = Message {
        d,
        settings,
        db,
        notification,
        mail,
        raw: &raw,
    };
    let mut tally = Tally::default();
    for copy in &plan.copies {
        match send_copy(&m, &plan.reply_to, copy, log).await {
            Ok(outcome) => tally.add(outcome),
            Err(e) => {
                // D1 is down: nothing can be sent safely; back off and keep the message.
                log.outcome = Some("ledger_unavailable");
                log.error = Some(e);
                return backoff(None);
            }
        }
    }
    log.copies_sent = Some(tally.sent);
    let verdict = tally.decide(
        |retry_after| settings.retry_delay(d.attempts, retry_after),
        settings.lease_seconds.max(retry::MIN_RETRY_DELAY_SECONDS),
    );
    log.outcome = Some(verdict.outcome);
    if verdict.error.is_some() {
        log.error = verdict.error;
    }
    if verdict.dead_letter && !dead_letter(env, Some(&m.db), &raw, log).await {
        // Kept nowhere: the message comes back, and its failed copy is
        // dead-lettered again then (`fold`), never acked unseen.
        return backoff(None);
    }
    verdict.action
}

/// The notification in a message, or why this version cannot read it.
fn read(raw: &str) -> Result<Notification, String> {
    match serde_json::from_str::<Notification>(raw) {
        Ok(n) if n.v == NOTIFICATION_VERSION => Ok(n),
        Ok(n) => Err(format!("unknown notification version {}", n.v)),
        Err(e) => Err(format!("not a notification: {e}")),
    }
}

/// The database and whom and from whom to mail (the tenant's settings, else
/// the environment's). `Err`: what is missing; nothing can be sent without it.
async fn prepare(
    env: &Env,
    settings: &Settings,
    notification: &Notification,
) -> Result<(D1, Mail), String> {
    if let Some(err) = settings.blocking_error() {
        return Err(err.to_string());
    }
    let db = env
        .d1(D1_BINDING)
        .map(D1)
        .map_err(|e| format!("binding {D1_BINDING} is missing: {e}"))?;
    if notification.trigger == Kind::Alert {
        return Ok((db, alert_mail(settings)?));
    }
    let mail = tenant::mail(&db, settings, notification.tenant.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    Ok((db, mail))
}

/// calhook's alerts go to `ALERT_TO`, from `EMAIL_FROM`, whatever the tenant.
fn alert_mail(settings: &Settings) -> Result<Mail, String> {
    let to = match &settings.alert_to {
        Some(Ok(to)) => to.clone(),
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("ALERT_TO is not set on the mailer".into()),
    };
    Ok(Mail {
        to,
        from: settings.from.clone().map_err(|e| e.to_string())?,
        notify_attendees: false,
        subject_prefix: Some("[calhook] ".into()),
        zone: None,
        tenant_enabled: true,
        emails_per_hour: None,
    })
}

/// A reminder or follow-up is checked again against the booking now (it may
/// have waited in the outbox or in retries since the cron decided it): one no
/// longer wanted is recorded as dropped, with why, for the timeline, and its
/// outbox row forgotten. Any other notification is sent as it is.
async fn drop_if_unwanted(
    db: &D1,
    mail: &Mail,
    n: &Notification,
    raw: &str,
) -> Result<Option<Dropped>, String> {
    if matches!(n.trigger, Kind::Event(_)) {
        return Ok(None);
    }
    let booking = match n.facts.booking_uid.as_deref() {
        Some(uid) => bookings::get(db, &ledger_uid(n.tenant.as_ref(), uid))
            .await
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let start_ms = n.facts.start.map(|t| t.timestamp_millis());
    let now = Date::now().as_millis() as i64;
    let Some(why) = reminders::recheck(
        &n.trigger,
        start_ms,
        booking.as_ref(),
        mail.tenant_enabled,
        now,
    ) else {
        return Ok(None);
    };
    db.batch(vec![
        outbox::delivered_statement(&n.key, raw),
        reminders::dropped_statement(n.key.as_str(), why),
    ])
    .await
    .map_err(|e| e.to_string())?;
    Ok(Some(why))
}

/// Counts the copy against its tenant's emails per hour; `Some(why)`: over
/// the limit, held (`store::usage`).
async fn over_quota(m: &Message<'_>, now: i64) -> Result<Option<String>, String> {
    let (Some(tenant), Some(limit)) = (m.notification.tenant.as_ref(), m.mail.emails_per_hour)
    else {
        return Ok(None);
    };
    match usage::reserve(&m.db, tenant.as_str(), limit, now).await {
        Ok(Reserved::Yes) => Ok(None),
        Ok(Reserved::OverLimit { limit }) => Ok(Some(format!(
            "held: tenant {tenant} sent its {limit} emails this hour (emails_per_hour / EMAILS_PER_HOUR); sent when the next hour starts"
        ))),
        Err(e) => Err(e.to_string()),
    }
}

/// One copy: claimed in the ledger, sent, its result recorded. `Err`: the
/// ledger is unavailable, and nothing was sent.
async fn send_copy(
    m: &Message<'_>,
    reply_to: &Option<sendgrid::Mailbox>,
    copy: &Copy,
    log: &mut MessageLog,
) -> Result<CopyOutcome, String> {
    let now = Date::now().as_millis() as i64;
    let token = format!("{:x}-{}", now, m.d.message.id());
    let claim = ledger::claim(
        &m.db,
        &copy.delivery_key,
        &m.notification.key,
        m.notification.trigger.as_str(),
        &token,
        now,
        (m.settings.lease_seconds * 1000) as i64,
    )
    .await;
    let lease = match claim.map_err(|e| e.to_string())? {
        LedgerClaim::Claimed(lease) => lease,
        LedgerClaim::AlreadySent => return Ok(CopyOutcome::AlreadySent),
        LedgerClaim::AlreadyFailed => return Ok(CopyOutcome::AlreadyFailed),
        LedgerClaim::Busy => return Ok(CopyOutcome::Busy),
    };
    if let Some(held) = over_quota(m, now).await? {
        // Not sent: pending again, retried when the tenant's next hour starts.
        let finish = Finish::Retry {
            status: None,
            error: &held,
        };
        let forget = outbox::delivered_statement(&m.notification.key, m.raw);
        if let Ok(Recorded::LostLease) =
            ledger::finish_with(&m.db, &lease, finish, now, vec![forget]).await
        {
            return Ok(CopyOutcome::LostLease);
        }
        return Ok(CopyOutcome::Retry {
            delay_seconds: Some(usage::seconds_to_next_hour(now)),
            reason: held,
        });
    }
    let request = build_mail(&m.notification, &m.mail, reply_to, copy);
    let (outcome, message_id) = match post(m.settings, &request).await {
        Ok(answer) => {
            log.sendgrid_status = Some(answer.status);
            let retry_after = answer.retry_after.as_deref();
            let outcome = classify(answer.status, retry_after, &answer.text, now);
            (outcome, answer.message_id)
        }
        Err(reason) => {
            let delay_seconds = None;
            (
                SendOutcome::Retry {
                    delay_seconds,
                    reason,
                },
                None,
            )
        }
    };
    let finish = finish_for(
        &outcome,
        log.sendgrid_status,
        message_id.as_deref(),
        copy,
        m.raw,
    );
    // The message reached the mailer: the receiver's outbox row can go.
    let forget = outbox::delivered_statement(&m.notification.key, m.raw);
    let now = Date::now().as_millis() as i64;
    match ledger::finish_with(&m.db, &lease, finish, now, vec![forget]).await {
        // Another consumer took the delivery over; its result stands.
        Ok(Recorded::LostLease) => return Ok(CopyOutcome::LostLease),
        // The email went out; a redelivery of this message is all that could repeat it.
        Err(e) if outcome == SendOutcome::Sent => {
            log.error = Some(format!("sent, but recording it failed: {e}"));
        }
        _ => {}
    }
    Ok(outcome.into())
}

/// What the ledger records for a copy SendGrid answered.
fn finish_for<'a>(
    outcome: &'a SendOutcome,
    status: Option<u16>,
    message_id: Option<&'a str>,
    copy: &Copy,
    raw: &'a str,
) -> Finish<'a> {
    match outcome {
        SendOutcome::Sent => Finish::Sent {
            status: status.unwrap_or(202),
            message_id,
            recipients: copy.to.len() as u32,
        },
        SendOutcome::Retry { reason, .. } => Finish::Retry {
            status,
            error: reason,
        },
        SendOutcome::Permanent { reason } => Finish::Failed {
            status,
            error: reason,
            notification: raw,
        },
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
    let db = env.d1(D1_BINDING).map(D1).ok();
    match dead_letter(env, db.as_ref(), raw, log).await {
        true => Action::Ack,
        false => Action::Retry {
            delay_seconds: retry::MIN_RETRY_DELAY_SECONDS,
        },
    }
}

/// Keeps `raw` for an operator: the dead-letter queue, else (the queue
/// refused) straight in D1's dead letters. `false`: kept nowhere.
async fn dead_letter(env: &Env, db: Option<&D1>, raw: &str, log: &mut MessageLog) -> bool {
    let sent = match env.queue(DEAD_LETTER_BINDING) {
        Ok(q) => q.send(raw.to_owned()).await,
        Err(e) => Err(e),
    };
    let Err(queue_error) = sent else {
        return true;
    };
    let stored = match (db, read(raw)) {
        (Some(db), Ok(n)) => {
            let trigger = n.trigger.to_string();
            dead_letters::keep(
                db,
                n.key.as_str(),
                Some(&trigger),
                raw,
                Date::now().as_millis() as i64,
            )
            .await
            .map_err(|e| e.to_string())
        }
        _ => Err("no database to keep it in".to_owned()),
    };
    let previous = log.error.take().unwrap_or_default();
    log.error = Some(match &stored {
        Ok(()) => format!("{previous}; the dead-letter queue refused it ({queue_error}): kept in D1's dead letters"),
        Err(e) => format!("{previous}; dead-lettering failed: queue: {queue_error}; D1: {e}"),
    });
    stored.is_ok()
}

fn build_mail(
    n: &Notification,
    sender: &Mail,
    reply_to: &Option<sendgrid::Mailbox>,
    copy: &Copy,
) -> MailSend {
    let email = match copy.audience {
        Audience::Staff => render(n, &IntlZones),
        Audience::Attendee(i) => render_for_attendee(n, i, &IntlZones),
    };
    let subject = match &sender.subject_prefix {
        Some(prefix) => format!("{prefix}{}", email.subject),
        None => email.subject,
    };
    let mut mail = MailSend::new(
        copy.to.clone(),
        sender.from.clone(),
        reply_to.clone(),
        subject,
        email.text,
        email.html,
        n.key.as_str(),
    );
    mail.custom_args
        .insert("delivery_key".to_owned(), copy.delivery_key.to_string());
    mail
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    message_id: Option<String>,
    text: String,
}

/// POSTs to SendGrid, giving up after `SENDGRID_TIMEOUT_SECONDS` (shorter than
/// the delivery lease, so no send outlives the lease that fences it).
async fn post(settings: &Settings, mail: &MailSend) -> Result<Answer, String> {
    let api_key = settings.api_key.as_deref().unwrap_or_default();
    let request = (|| {
        let headers = Headers::new();
        headers.set("Authorization", &format!("Bearer {api_key}"))?;
        headers.set("Content-Type", "application/json")?;
        let body =
            serde_json::to_string(mail).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&body)));
        Request::new_with_init(
            &format!("{}{}", settings.api_base, sendgrid::MAIL_SEND_PATH),
            &init,
        )
    })()
    .map_err(|e| format!("could not build the SendGrid request: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    // The timeout's result is the answer; `select` returns when either is done.
    let fetch = Fetch::Request(request);
    let send = Box::pin(async move {
        let mut response = fetch.send_with_signal(&signal).await?;
        let status = response.status_code();
        let header = |name| response.headers().get(name).ok().flatten();
        let retry_after = header("retry-after");
        let message_id = header("x-message-id");
        let text = response.text().await.unwrap_or_default();
        Ok::<_, worker::Error>(Answer {
            status,
            retry_after,
            message_id,
            text,
        })
    });
    let timeout = Delay::from(std::time::Duration::from_secs(settings.timeout_seconds));
    match select(send, timeout).await {
        Either::Left((answer, _)) => answer.map_err(|e| format!("could not reach SendGrid: {e}")),
        Either::Right(_) => {
            controller.abort();
            Err(format!(
                "SendGrid did not answer within SENDGRID_TIMEOUT_SECONDS ({} s)",
                settings.timeout_seconds
            ))
        }
    }
}
