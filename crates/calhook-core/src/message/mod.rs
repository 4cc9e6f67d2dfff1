//! The notification the receiver queues and the mailer reads
//! ([`notification`], versioned), and the email a person reads from it
//! (`render`, its templates and local times in `zones`; feature `render`).

pub mod notification;
#[cfg(feature = "render")]
pub mod render;
#[cfg(feature = "render")]
pub mod zones;
