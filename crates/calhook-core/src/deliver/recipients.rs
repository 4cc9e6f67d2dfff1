//! Who gets which copy of a notification's email.
//!
//! SendGrid refuses (400) a request that names one address twice across its
//! personalizations, and any invalid address. So: staff addresses are
//! de-duplicated case-insensitively; an attendee copy is left out when its
//! address is a staff address (staff win), repeats another attendee's, or is
//! not an address; an invalid organizer address is not used as `reply_to`.
//! What is left out is reported (without the address) for the log line.
//! Each attendee gets a copy of their own, a separate email with their own view.

use crate::deliver::sendgrid::{is_valid_address, Mailbox};
use crate::keys::{DeliveryKey, NotificationKey};
use crate::message::notification::{Kind, Notification};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The key of one delivery of a notification: the notification key for the
/// staff email, a suffix per attendee copy (stable across redeliveries).
pub fn delivery_key(
    notification_key: &NotificationKey,
    attendee_email: Option<&str>,
) -> DeliveryKey {
    match attendee_email {
        None => DeliveryKey::new(notification_key.as_str()),
        Some(email) => {
            let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
            DeliveryKey::new(format!(
                "{notification_key}#attendee:{}",
                hex::encode(&digest[..6])
            ))
        }
    }
}

/// Who one email goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Staff,
    /// The attendee at this index of `facts.attendees`.
    Attendee(usize),
}

/// One email to send, with its own delivery in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub delivery_key: DeliveryKey,
    pub audience: Audience,
    pub to: Vec<Mailbox>,
}

/// Why an optional recipient was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOut {
    ReplyToInvalid,
    StaffRepeated,
    AttendeeWithoutAddress,
    AttendeeAddressInvalid,
    AttendeeIsStaff,
    AttendeeRepeated,
}

impl LeftOut {
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOut::ReplyToInvalid => "reply_to_invalid",
            LeftOut::StaffRepeated => "staff_repeated",
            LeftOut::AttendeeWithoutAddress => "attendee_without_address",
            LeftOut::AttendeeAddressInvalid => "attendee_address_invalid",
            LeftOut::AttendeeIsStaff => "attendee_is_staff",
            LeftOut::AttendeeRepeated => "attendee_repeated",
        }
    }
}

/// Every email of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub reply_to: Option<Mailbox>,
    /// The staff copy first.
    pub copies: Vec<Copy>,
    pub left_out: Vec<LeftOut>,
}

/// Decides the copies of `n`'s email.
pub fn plan(n: &Notification, staff: &[Mailbox], notify_attendees: bool) -> Plan {
    let mut left_out = Vec::new();
    let mut seen = HashSet::new();
    let mut to = Vec::new();
    for m in staff {
        if seen.insert(m.normalized()) {
            to.push(m.clone());
        } else {
            left_out.push(LeftOut::StaffRepeated);
        }
    }
    let key = &n.key;
    let mut copies = vec![Copy {
        delivery_key: delivery_key(key, None),
        audience: Audience::Staff,
        to,
    }];

    let reply_to = n.facts.organizer.as_ref().and_then(|o| {
        let email = o.email.as_deref()?.trim();
        if is_valid_address(email) {
            Some(Mailbox {
                email: email.to_owned(),
                name: o.name.clone(),
            })
        } else {
            left_out.push(LeftOut::ReplyToInvalid);
            None
        }
    });

    // A follow-up is staff work; attendees get reminders, not follow-ups.
    if notify_attendees && n.trigger != Kind::FollowUp {
        for (i, a) in n.facts.attendees.iter().enumerate() {
            let Some(email) = a.email.as_deref().map(str::trim) else {
                left_out.push(LeftOut::AttendeeWithoutAddress);
                continue;
            };
            if !is_valid_address(email) {
                left_out.push(LeftOut::AttendeeAddressInvalid);
                continue;
            }
            let mailbox = Mailbox {
                email: email.to_owned(),
                name: a.name.clone(),
            };
            let normalized = mailbox.normalized();
            if copies[0].to.iter().any(|s| s.normalized() == normalized) {
                left_out.push(LeftOut::AttendeeIsStaff);
                continue;
            }
            if !seen.insert(normalized) {
                left_out.push(LeftOut::AttendeeRepeated);
                continue;
            }
            copies.push(Copy {
                delivery_key: delivery_key(key, Some(email)),
                audience: Audience::Attendee(i),
                to: vec![mailbox],
            });
        }
    }
    Plan {
        reply_to,
        copies,
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::notification::{Facts, Party};

    fn notification(organizer: &str, attendees: &[&str]) -> Notification {
        serde_json::from_value(serde_json::json!({
            "v": 1, "key": "BOOKING_CREATED:booking:u1", "trigger": "BOOKING_CREATED",
        }))
        .map(|mut n: Notification| {
            n.facts = Facts {
                organizer: Some(Party {
                    name: Some("Nameless".into()),
                    email: Some(organizer.into()),
                    ..Party::default()
                }),
                attendees: attendees
                    .iter()
                    .map(|e| Party {
                        name: Some(format!("name of {e}")),
                        email: (!e.is_empty()).then(|| e.to_string()),
                        ..Party::default()
                    })
                    .collect(),
                ..Facts::default()
            };
            n
        })
        .unwrap()
    }

    fn staff(list: &str) -> Vec<Mailbox> {
        Mailbox::parse_list(list).unwrap()
    }

    fn every_address(plan: &Plan) -> Vec<String> {
        plan.copies
            .iter()
            .flat_map(|c| c.to.iter().map(Mailbox::normalized))
            .collect()
    }

    #[test]
    fn a_staff_address_that_is_also_an_attendee_gets_only_the_staff_copy() {
        let n = notification(
            "ada@example.com",
            &["Team@Example.com", "grace@example.org"],
        );
        let p = plan(&n, &staff("team@example.com"), true);
        assert_eq!(every_address(&p), ["team@example.com", "grace@example.org"]);
        assert_eq!(p.left_out, [LeftOut::AttendeeIsStaff]);
        assert_eq!(p.copies[1].audience, Audience::Attendee(1));
    }

    #[test]
    fn email_to_is_de_duplicated_case_insensitively() {
        let n = notification("ada@example.com", &[]);
        let p = plan(&n, &staff("a@x.org, A@X.org, b@x.org"), false);
        assert_eq!(every_address(&p), ["a@x.org", "b@x.org"]);
        assert_eq!(p.left_out, [LeftOut::StaffRepeated]);
    }

    #[test]
    fn no_address_appears_twice_in_any_plan() {
        let n = notification(
            "ada@example.com",
            &[
                "x@y.org",
                "X@Y.org",
                "",
                "not-an-address",
                "team@example.com",
            ],
        );
        let p = plan(&n, &staff("team@example.com, TEAM@example.com"), true);
        let all = every_address(&p);
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), unique.len(), "{all:?}");
        assert_eq!(
            p.left_out,
            [
                LeftOut::StaffRepeated,
                LeftOut::AttendeeRepeated,
                LeftOut::AttendeeWithoutAddress,
                LeftOut::AttendeeAddressInvalid,
                LeftOut::AttendeeIsStaff
            ]
        );
    }

    #[test]
    fn cal_com_email_less_organizer_is_not_a_reply_to() {
        let p = plan(
            &notification("Email-less", &[]),
            &staff("team@example.com"),
            false,
        );
        assert_eq!(p.reply_to, None);
        assert_eq!(p.left_out, [LeftOut::ReplyToInvalid]);
        let p = plan(
            &notification("ada@example.com", &[]),
            &staff("team@example.com"),
            false,
        );
        assert_eq!(p.reply_to.unwrap().email, "ada@example.com");
    }

    #[test]
    fn attendee_copies_only_when_enabled_and_each_has_its_own_delivery() {
        let n = notification("ada@example.com", &["g@x.org", "h@x.org"]);
        assert_eq!(plan(&n, &staff("t@x.org"), false).copies.len(), 1);
        let p = plan(&n, &staff("t@x.org"), true);
        let keys: HashSet<_> = p.copies.iter().map(|c| c.delivery_key.clone()).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(p.copies[0].delivery_key, "BOOKING_CREATED:booking:u1");
    }
}
