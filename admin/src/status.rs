//! `GET /admin/status`: the deployment at a glance (`calhook status`, the
//! console's overview), from `calhook_core::store::status`.

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::store::status;
use calhook_platform::bindings::d1;
use worker::{Env, Request};

use crate::auth::authorize;

pub const PATH: &str = "/admin/status";

pub async fn show(req: &Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(req, env)?;
    let now = calhook_platform::now_ms();
    let s = status::status(&d1(env)?, now).await?;
    Ok(Accepted::json(
        200,
        serde_json::to_value(s).unwrap_or_default(),
    ))
}
