//! The operator's bearer token, and the query values every list shares.

use calhook_core::admin::{admin_token, bearer_matches};
use calhook_core::answer::ApiError;
use worker::{Env, Request};

/// Checks the bearer token; without `ADMIN_TOKEN` the routes do not exist,
/// and with one too short they refuse everything (500 naming it).
pub fn authorize(req: &Request, env: &Env) -> Result<(), ApiError> {
    let raw = env.secret("ADMIN_TOKEN").map(|s| s.to_string()).ok();
    let Some(token) = admin_token(raw.as_deref())? else {
        return Err(ApiError::NotFound);
    };
    let header = req.headers().get("authorization").ok().flatten();
    if bearer_matches(token, header.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::AdminUnauthorized)
    }
}

/// An admin list's `?limit=` (1 to 500).
pub fn parse_limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=500).contains(n))
        .ok_or(ApiError::BadAdminRequest("limit must be 1 to 500"))
}
