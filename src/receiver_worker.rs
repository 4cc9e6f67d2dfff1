//! The receiver's entry points: webhooks here, everything else forwarded.

use serde_json::json;
use worker::web_sys;
use worker::{
    event, Context, Date, Env, Method, RequestInit, Result, ScheduleContext, ScheduledEvent,
};

use crate::answer::Accepted;
use crate::error::ReceiverError;
use crate::log::RequestLog;
use crate::url::path_of;
use crate::{
    respond, tenant, webhook, ADMIN_BINDING, ADMIN_PREFIX, CRON_HEADER, CRON_PATH,
    TENANT_WEBHOOK_PREFIX, WEBHOOK_PATH,
};

/// Takes the runtime's own request: workers-rs's `Request` would read the
/// method, URL, headers and `cf` object across the JS boundary up front (the
/// `cf` getter alone was 7 % of a refused request's CPU under `wrangler dev`).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let started = Date::now().as_millis();
    let path = path_of(&req.url()).to_owned();
    let method = req.method();
    let mut line = RequestLog::new(method.clone(), path.clone());
    if is_admin(&path) {
        return forward(req.into(), &env, line, started).await;
    }
    let post = method == "POST";
    let result = match path.as_str() {
        WEBHOOK_PATH if post => webhook::handle(&req, &env, &ctx, &mut line, None).await,
        WEBHOOK_PATH => Err(ReceiverError::MethodNotAllowed),
        p if p.starts_with(TENANT_WEBHOOK_PREFIX) => match &p[TENANT_WEBHOOK_PREFIX.len()..] {
            slug if slug.is_empty() || slug.contains('/') => Err(ReceiverError::NotFound),
            slug if post => webhook::handle(&req, &env, &ctx, &mut line, Some(slug)).await,
            _ => Err(ReceiverError::MethodNotAllowed),
        },
        "/healthz" if method == "GET" || method == "HEAD" => Ok(Accepted::json(
            200,
            json!({"status": "ok", "service": crate::SERVICE}),
        )),
        _ => Err(ReceiverError::NotFound),
    };
    Ok(respond(result, line, &env, started))
}

fn is_admin(path: &str) -> bool {
    path.strip_prefix(ADMIN_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Hands an admin request to the admin worker as it came (its token, its
/// body) and answers what that worker answers.
async fn forward(
    req: worker::Request,
    env: &Env,
    mut line: RequestLog,
    started: u64,
) -> Result<web_sys::Response> {
    let changes = req.method() != Method::Get && req.method() != Method::Head;
    let path = req.path();
    let answer = match admin(env) {
        Ok(admin) => admin
            .fetch_request(req)
            .await
            .map_err(|e| ReceiverError::Unavailable {
                what: "admin worker",
                detail: e.to_string(),
            }),
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) => {
            if changes && (200..300).contains(&response.status_code()) {
                forget_changed_tenant(&path);
            }
            line.outcome("forwarded", response.status_code());
            crate::emit(line, env, started);
            Ok(response.into())
        }
        Err(err) => Ok(respond(Err(err), line, env, started)),
    }
}

/// An admin change to a tenant is effective at once in this isolate (other
/// isolates see it within `TENANT_CACHE_SECONDS`).
fn forget_changed_tenant(path: &str) {
    let Some(rest) = path.strip_prefix("/admin/tenants") else {
        return;
    };
    match rest.trim_start_matches('/').split('/').next() {
        // Created: its slug may be cached here as unknown.
        None | Some("") => tenant::forget_all(),
        Some(id) => tenant::forget(id),
    }
}

fn admin(env: &Env) -> std::result::Result<worker::Fetcher, ReceiverError> {
    env.service(ADMIN_BINDING)
        .map_err(|e| ReceiverError::BindingMissing {
            binding: ADMIN_BINDING,
            detail: e.to_string(),
        })
}

/// The crons stay on the receiver's `[triggers]` (one place to set them);
/// their jobs run in the admin worker, which logs what they did.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let outcome = async {
        let headers = worker::Headers::new();
        headers.set(CRON_HEADER, &event.cron())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers);
        let response = admin(&env)
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .fetch(format!("https://calhook-admin{CRON_PATH}"), Some(init))
            .await?;
        match response.status_code() {
            200..=299 => Ok(()),
            status => Err(worker::Error::RustError(format!(
                "the admin worker answered {status}"
            ))),
        }
    };
    if let Err(e) = outcome.await {
        worker::console_error!(
            "{}",
            json!({"svc": crate::SERVICE, "job": event.cron(), "error": e.to_string()})
        );
    }
}
