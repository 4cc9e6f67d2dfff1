//! A local stand-in for SendGrid's v3 mail API.
//!
//! It accepts `POST /v3/mail/send` the way SendGrid does (bearer key, required
//! fields, SendGrid-shaped error JSON, `202 Accepted`), records every accepted
//! message, and can be told to fail the next requests. A page at `/` shows the
//! captured emails so a person running `scripts/dev` can see what would have
//! been sent. Control endpoints live under `/_standin/`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A message SendGrid would have accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Captured {
    /// 1-based order of arrival among all requests.
    pub request_number: u64,
    pub body: Value,
}

impl Captured {
    pub fn subject(&self) -> &str {
        self.body["subject"].as_str().unwrap_or_default()
    }

    pub fn content(&self, mime: &str) -> &str {
        self.body["content"]
            .as_array()
            .and_then(|c| c.iter().find(|p| p["type"] == mime))
            .and_then(|p| p["value"].as_str())
            .unwrap_or_default()
    }

    pub fn custom_arg(&self, name: &str) -> Option<&str> {
        self.body["custom_args"][name].as_str()
    }
}

/// One scripted failure: answer `status` (with `Retry-After` if set) instead of accepting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Hold the answer this long first (a slow or hanging SendGrid).
    #[serde(default)]
    pub answer_after_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

/// A share of requests that fail for a while (for fault and load runs): every
/// `every_nth` request until `until` fails, alternating 500 and 429
/// (`Retry-After: retry_after`).
#[derive(Debug, Clone)]
pub struct Chaos {
    pub every_nth: u64,
    pub until: std::time::Instant,
    pub retry_after: u64,
}

#[derive(Default)]
struct Inner {
    chaos: Option<Chaos>,
    requests: u64,
    rejected: u64,
    accepted: Vec<Captured>,
    faults: VecDeque<Fault>,
    /// Every Authorization header value seen, in order (for tests).
    authorizations: Vec<Option<String>>,
}

/// Shared state; cloning gives another handle to the same recordings.
#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    api_key: Option<String>,
}

impl StandIn {
    /// `api_key`: the only key accepted; `None` accepts any non-empty bearer key.
    pub fn new(api_key: Option<String>) -> Self {
        Self {
            inner: Arc::default(),
            api_key,
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/v3/mail/send", post(mail_send))
            .route("/_standin/messages", get(messages).delete(reset))
            .route("/_standin/faults", post(add_fault))
            .route("/_standin/stats", get(stats))
            .with_state(self.clone())
    }

    /// Serves on `addr` until the returned task is dropped or the runtime ends.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((local, task))
    }

    pub fn accepted(&self) -> Vec<Captured> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// Every request to /v3/mail/send, accepted or not.
    pub fn request_count(&self) -> u64 {
        self.inner.lock().unwrap().requests
    }

    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.inner.lock().unwrap().authorizations.clone()
    }

    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Fails a share of requests until `chaos.until` (see [`Chaos`]).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.inner.lock().unwrap().chaos = chaos;
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap() = Inner::default();
    }
}

fn sendgrid_error(status: StatusCode, field: Option<&str>, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "field": field, "help": null}]})),
    )
        .into_response()
}

async fn mail_send(
    State(s): State<StandIn>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fault = {
        let mut inner = s.inner.lock().unwrap();
        inner.requests += 1;
        inner.authorizations.push(auth.clone());
        let mut fault = inner.faults.front_mut().map(|f| {
            f.count = f.count.saturating_sub(1);
            f.clone()
        });
        if inner.faults.front().is_some_and(|f| f.count == 0) {
            inner.faults.pop_front();
        }
        let n = inner.requests;
        if let Some(chaos) = inner
            .chaos
            .as_ref()
            .filter(|c| std::time::Instant::now() < c.until)
        {
            if fault.is_none() && chaos.every_nth > 0 && n % chaos.every_nth == 0 {
                let rate_limited = (n / chaos.every_nth) % 2 == 0;
                fault = Some(Fault {
                    status: if rate_limited { 429 } else { 500 },
                    count: 1,
                    retry_after: rate_limited.then_some(chaos.retry_after),
                    answer_after_ms: None,
                });
            }
        }
        fault
    };
    if let Some(fault) = fault {
        if let Some(ms) = fault.answer_after_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            sendgrid_error(status, None, &format!("stand-in fault: {}", fault.status));
        if let Some(seconds) = fault.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        s.inner.lock().unwrap().rejected += 1;
        return response;
    }
    if let Err(r) = check(&s, auth.as_deref(), &body) {
        s.inner.lock().unwrap().rejected += 1;
        return sendgrid_error(r.status, r.field, &r.message);
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut inner = s.inner.lock().unwrap();
    let request_number = inner.requests;
    inner.accepted.push(Captured {
        request_number,
        body: value,
    });
    // SendGrid names each accepted request (`X-Message-Id`); the ledger keeps it.
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(id) = HeaderValue::from_str(&format!("standin-{request_number}")) {
        response.headers_mut().insert("x-message-id", id);
    }
    response
}

/// Why SendGrid would refuse a request.
struct Rejection {
    status: StatusCode,
    field: Option<&'static str>,
    message: String,
}

fn reject(
    status: StatusCode,
    field: Option<&'static str>,
    message: impl Into<String>,
) -> Rejection {
    Rejection {
        status,
        field,
        message: message.into(),
    }
}

/// What SendGrid checks before accepting a message.
fn check(s: &StandIn, auth: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let key = auth
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            None,
            "authorization required",
        ));
    };
    if s.api_key.as_deref().is_some_and(|expected| expected != key) {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            None,
            "The provided authorization grant is invalid, expired, or revoked",
        ));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Err(reject(StatusCode::BAD_REQUEST, None, "Bad Request"));
    };
    let personalizations = v["personalizations"].as_array().filter(|p| !p.is_empty());
    let Some(personalizations) = personalizations else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("personalizations"),
            "The personalizations field is required and must have at least one personalization.",
        ));
    };
    for p in personalizations {
        let to = p["to"].as_array().filter(|t| !t.is_empty());
        if to.is_none_or(|t| t.iter().any(|m| !valid_email(&m["email"]))) {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                Some("personalizations.0.to"),
                "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
            ));
        }
    }
    // SendGrid's Mail Send limitations: a to/cc/bcc name must not contain `,`
    // or `;`. SendGrid accepts such a request (202) and silently drops that
    // copy; the stand-in refuses it instead, so no test passes on it.
    for p in personalizations {
        for field in ["to", "cc", "bcc"] {
            for m in p[field].as_array().into_iter().flatten() {
                if m["name"].as_str().is_some_and(|n| n.contains([',', ';'])) {
                    return Err(reject(
                        StatusCode::BAD_REQUEST,
                        Some("personalizations"),
                        format!("stand-in: a {field}.name contains ',' or ';'; SendGrid would accept this request and drop that recipient's copy"),
                    ));
                }
            }
        }
    }
    // SendGrid: one address at most once across all personalizations (to, cc,
    // bcc), compared case-insensitively; its error quotes the address.
    let mut seen = std::collections::HashSet::new();
    for p in personalizations {
        for field in ["to", "cc", "bcc"] {
            for m in p[field].as_array().into_iter().flatten() {
                let email = m["email"].as_str().unwrap_or_default();
                if !seen.insert(email.to_lowercase()) {
                    return Err(reject(
                        StatusCode::BAD_REQUEST,
                        Some("personalizations"),
                        format!("Each unique email address in the personalizations array should only be included once. You have included {email} more than once."),
                    ));
                }
            }
        }
    }
    if v.get("reply_to").is_some() && !valid_email(&v["reply_to"]["email"]) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("reply_to.email"),
            "The reply_to email does not contain a valid address.",
        ));
    }
    if !valid_email(&v["from"]["email"]) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("from.email"),
            "The from object must be provided for every email send. It is an object that requires an email parameter, but may also contain a name parameter.",
        ));
    }
    if v["subject"].as_str().is_none_or(str::is_empty) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("subject"),
            "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
        ));
    }
    let content = v["content"].as_array().filter(|c| !c.is_empty());
    let Some(content) = content else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("content"),
            "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.",
        ));
    };
    if content.iter().any(|c| {
        c["type"].as_str().is_none_or(str::is_empty)
            || c["value"].as_str().is_none_or(str::is_empty)
    }) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("content"),
            "Each content block must have a type and a non-empty value.",
        ));
    }
    if content.len() > 1 && content[0]["type"] != "text/plain" {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some("content.0.type"),
            "If present, text/plain content must be first, followed by any other content.",
        ));
    }
    Ok(())
}

fn valid_email(v: &Value) -> bool {
    v.as_str().is_some_and(|e| {
        email_address::EmailAddress::is_valid(e)
            && e.rsplit_once('@').is_some_and(|(_, d)| d.contains('.'))
    })
}

async fn messages(State(s): State<StandIn>) -> Json<Vec<Captured>> {
    Json(s.accepted())
}

async fn reset(State(s): State<StandIn>) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(s): State<StandIn>, Json(fault): Json<Fault>) -> StatusCode {
    s.fail_next(fault);
    StatusCode::NO_CONTENT
}

async fn stats(State(s): State<StandIn>) -> Json<Value> {
    let inner = s.inner.lock().unwrap();
    Json(json!({
        "requests": inner.requests,
        "accepted": inner.accepted.len(),
        "rejected": inner.rejected,
        "pending_faults": inner.faults.iter().map(|f| f.count).sum::<u32>(),
    }))
}

/// Captured emails, newest first, each with its HTML body in a sandboxed frame.
async fn page(State(s): State<StandIn>) -> Html<String> {
    let mut out = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>SendGrid stand-in</title>\
         <style>body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa}\
         article{background:#fff;border:1px solid #ddd;border-radius:8px;margin:0 0 24px;padding:16px}\
         iframe{width:100%;height:420px;border:1px solid #eee}pre{white-space:pre-wrap}</style></head><body>",
    );
    let accepted = s.accepted();
    out.push_str(&format!(
        "<h1>SendGrid stand-in</h1><p>{} email(s) captured. JSON: <a href=\"/_standin/messages\">/_standin/messages</a></p>",
        accepted.len()
    ));
    for m in accepted.iter().rev() {
        let to: Vec<String> = m.body["personalizations"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["to"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["email"].as_str().map(str::to_owned))
            .collect();
        out.push_str(&format!(
            "<article><h2>{}</h2><p><b>From</b> {} &nbsp; <b>To</b> {} &nbsp; <b>Key</b> {}</p>\
             <iframe sandbox srcdoc=\"{}\"></iframe><details><summary>Plain text</summary><pre>{}</pre></details></article>",
            escape(m.subject()),
            escape(m.body["from"]["email"].as_str().unwrap_or_default()),
            escape(&to.join(", ")),
            escape(m.custom_arg("notification_key").unwrap_or_default()),
            escape(m.content("text/html")),
            escape(m.content("text/plain")),
        ));
    }
    out.push_str("</body></html>");
    Html(out)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
