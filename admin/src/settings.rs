//! The admin worker's settings (`calhook_core::settings::AdminSettings`),
//! read once per isolate: vars and secrets do not change while it lives.

use calhook_core::settings::AdminSettings;
use calhook_platform::vars::EnvVars;
use std::rc::Rc;
use worker::Env;

thread_local! {
    static CACHED: std::cell::OnceCell<Rc<AdminSettings>> = const { std::cell::OnceCell::new() };
}

pub fn get(env: &Env) -> Rc<AdminSettings> {
    CACHED.with(|c| {
        c.get_or_init(|| Rc::new(AdminSettings::read(&EnvVars(env))))
            .clone()
    })
}
