//! The paths the receiver and the admin worker agree on.

/// Where Cal.com posts (the single-tenant route).
pub const WEBHOOK_PATH: &str = "/webhooks/cal";
/// `{TENANT_WEBHOOK_PREFIX}{tenant}`: a tenant's route.
pub const TENANT_WEBHOOK_PREFIX: &str = "/webhooks/cal/";
/// Every path under it is the admin worker's.
pub const ADMIN_PREFIX: &str = "/admin";
/// The admin worker runs a cron job when the receiver posts here with the
/// cron expression in [`CRON_HEADER`]; never forwarded from outside.
pub const CRON_PATH: &str = "/internal/cron";
pub const CRON_HEADER: &str = "x-calhook-cron";
/// Both HTTP workers answer it.
pub const HEALTH_PATH: &str = "/healthz";

/// Whether `path` belongs to the admin worker (`/admin` or `/admin/…`).
pub fn is_admin(path: &str) -> bool {
    path.strip_prefix(ADMIN_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::is_admin;

    #[test]
    fn only_admin_and_paths_below_it_are_the_admin_workers() {
        assert!(is_admin("/admin"));
        assert!(is_admin("/admin/tenants"));
        assert!(!is_admin("/administrator"));
        assert!(!is_admin("/webhooks/cal"));
    }
}
