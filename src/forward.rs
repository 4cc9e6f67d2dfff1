//! What the receiver hands to the admin worker as it came: `/admin/*`
//! requests (their token, their body) and the cron ticks.

use calhook_core::answer::ApiError;
use calhook_core::routes::{CRON_HEADER, CRON_PATH};
use calhook_platform::bindings;
use calhook_platform::log::RequestLog;
use calhook_platform::response::respond;
use serde_json::json;
use worker::{web_sys, Env, Method, RequestInit, Result};

use crate::{settings, tenant, SERVICE};

/// Forwards an admin request and answers what the admin worker answers.
pub async fn admin(
    req: worker::Request,
    env: &Env,
    mut line: RequestLog,
    started: i64,
) -> Result<web_sys::Response> {
    let changes = req.method() != Method::Get && req.method() != Method::Head;
    let path = req.path();
    let answer = match bindings::admin(env) {
        Ok(admin) => admin
            .fetch_request(req)
            .await
            .map_err(|e| ApiError::Unavailable {
                what: "admin worker",
                detail: e.to_string(),
            }),
        Err(e) => Err(e),
    };
    let per_minute = settings::refused_per_minute(env);
    match answer {
        Ok(response) => {
            if changes && (200..300).contains(&response.status_code()) {
                tenant::forget_changed(&path);
            }
            line.outcome("forwarded", response.status_code());
            line.emit_since(started, per_minute);
            Ok(response.into())
        }
        Err(err) => Ok(respond(Err(err), line, started, per_minute)),
    }
}

/// Hands a cron tick to the admin worker; a failure is logged.
pub async fn cron(expr: &str, env: &Env) {
    let outcome = async {
        let headers = worker::Headers::new();
        headers.set(CRON_HEADER, expr)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers);
        let response = bindings::admin(env)
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
            json!({"svc": SERVICE, "job": expr, "error": e.to_string()})
        );
    }
}
