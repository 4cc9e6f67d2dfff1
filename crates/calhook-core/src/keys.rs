//! The three keys calhook stores things under, one type each, so that a
//! claim key passed where a notification key belongs does not compile:
//!
//! - [`ClaimKey`]: decides duplicates (`idempotency_keys`, KV): `TRIGGER:entity:digest`,
//!   `<tenant>/…` on a tenant's route;
//! - [`NotificationKey`]: names one notification (the outbox row, the queue
//!   message, the ledger's `notification_key`): the claim key, plus the copy
//!   window for repeatable triggers;
//! - [`DeliveryKey`]: one email of a notification (`deliveries`): the
//!   notification key for the staff copy, a suffix per attendee.
//!
//! `inbound::identity` derives the first two, `deliver::recipients` the third.
//!
//! A swap is a compile error:
//!
//! ```compile_fail
//! use calhook_core::keys::{ClaimKey, NotificationKey};
//! fn forget_outbox_row(_: &NotificationKey) {}
//! forget_outbox_row(&ClaimKey::new("BOOKING_CREATED:booking:u1"));
//! ```

macro_rules! key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A key as stored (read back from a row, or made by calhook itself).
            pub fn new(key: impl Into<String>) -> Self {
                Self(key.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

key!(
    /// The key an event claims: any delivery with it (within the TTL, and the
    /// copy window for repeatable triggers) is a duplicate.
    ClaimKey
);
key!(
    /// A notification's id: its outbox row, queue message and ledger rows.
    NotificationKey
);
key!(
    /// One email of a notification in the delivery ledger.
    DeliveryKey
);
