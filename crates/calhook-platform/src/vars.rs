//! A worker's vars and secrets as the core's [`Vars`]: each worker hands its
//! `Env` to the core's settings readers, which parse and check every value.

use calhook_core::settings::Vars;
use worker::Env;

/// An `Env` read as settings: a secret of the name first, else a var.
pub struct EnvVars<'a>(pub &'a Env);

impl Vars for EnvVars<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0
            .secret(name)
            .map(|s| s.to_string())
            .or_else(|_| self.0.var(name).map(|v| v.to_string()))
            .ok()
    }
}
