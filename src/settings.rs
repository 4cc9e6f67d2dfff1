//! The receiver's settings (`calhook_core::settings::ReceiverSettings`),
//! read on an isolate's first request and kept: an isolate's vars and secrets
//! never change while it lives (a new deployment or `wrangler dev` reload
//! starts new isolates). An invalid setting is not kept: it is read again.

use calhook_core::answer::ApiError;
use calhook_core::settings::{ReceiverSettings, DEFAULT_LOG_REFUSED_PER_MINUTE};
use calhook_platform::vars::EnvVars;
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

thread_local! {
    static CACHED: RefCell<Option<Rc<ReceiverSettings>>> = const { RefCell::new(None) };
}

pub fn get(env: &Env) -> Result<Rc<ReceiverSettings>, ApiError> {
    if let Some(s) = CACHED.with(|c| c.borrow().clone()) {
        return Ok(s);
    }
    let s = Rc::new(ReceiverSettings::read(&EnvVars(env))?);
    CACHED.with(|c| *c.borrow_mut() = Some(s.clone()));
    Ok(s)
}

/// `LOG_REFUSED_PER_MINUTE`, or its default while the settings are invalid.
pub fn refused_per_minute(env: &Env) -> u64 {
    get(env).map_or(DEFAULT_LOG_REFUSED_PER_MINUTE, |s| s.log_refused_per_minute)
}
