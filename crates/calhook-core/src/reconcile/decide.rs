//! What a booking as Cal.com's API has it means against the ledger: which
//! notifications the missing webhooks would have sent, and those
//! notifications, built from the API's booking.

use super::api::{CalBooking, CalPerson, CalStatus};
use crate::inbound::event::Trigger;
use crate::inbound::identity::{change_key, namespaced};
use crate::keys::{ClaimKey, NotificationKey};
use crate::message::notification::{
    Facts, Kind, Notification, Party, MAX_FIELD_CHARS, MAX_LIST_ITEMS, NOTIFICATION_VERSION,
};
use crate::store::bookings::Status;
use crate::tenants::TenantId;
use chrono::{DateTime, SecondsFormat, Utc};

/// Where the ledger has a booking: its status, and `None` when no event
/// about its status has arrived (only an assumed row, rank −1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub status: Option<Status>,
    pub start_ms: Option<i64>,
}

/// The status Cal.com's booking is in, in the ledger's words.
fn status_in_cal(b: &CalBooking) -> Option<Status> {
    Some(match b.status {
        CalStatus::Pending => Status::Requested,
        CalStatus::Accepted => Status::Accepted,
        // The old booking of a reschedule: its news is the new booking's.
        CalStatus::Cancelled if b.rescheduled_to_uid.is_some() => Status::Rescheduled,
        CalStatus::Cancelled => Status::Cancelled,
        CalStatus::Rejected => Status::Rejected,
        CalStatus::Unknown => return None,
    })
}

/// A webhook that never arrived: its trigger, and when the change happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    pub trigger: Trigger,
    pub at: DateTime<Utc>,
}

/// The webhooks that never arrived, oldest first: what brings the ledger
/// from `known` to Cal.com's booking. A terminal status in the ledger is
/// never undone, and nothing is sent for a state the ledger already has.
pub fn missed(b: &CalBooking, known: Option<Known>) -> Vec<Missed> {
    use Status::*;
    use Trigger::*;
    let Some(cal) = status_in_cal(b) else {
        return Vec::new();
    };
    // Made when Cal.com created it; changed when it last updated it.
    let made = |trigger| Missed {
        trigger,
        at: b.created_at,
    };
    let changed = |trigger| Missed {
        trigger,
        at: b.changed_at(),
    };
    let created = || match b.rescheduled_from_uid {
        Some(_) => made(BookingRescheduled),
        None => made(BookingCreated),
    };
    match known.and_then(|k| k.status) {
        // Never heard of (or only of its facts): everything that happened.
        None => match cal {
            Requested => vec![made(BookingRequested)],
            Accepted | Ended => vec![created()],
            Cancelled => vec![created(), changed(BookingCancelled)],
            Rejected => vec![made(BookingRequested), changed(BookingRejected)],
            Rescheduled => vec![created()],
        },
        Some(Requested) => match cal {
            Accepted => vec![changed(BookingCreated)],
            Cancelled => vec![changed(BookingCancelled)],
            Rejected => vec![changed(BookingRejected)],
            Requested | Ended | Rescheduled => Vec::new(),
        },
        Some(Accepted) => match cal {
            Cancelled => vec![changed(BookingCancelled)],
            // Moved in place (the same uid): a reschedule.
            Accepted => match known.and_then(|k| k.start_ms) {
                Some(at) if at != b.start.timestamp_millis() => vec![changed(BookingRescheduled)],
                _ => Vec::new(),
            },
            Requested | Ended | Rejected | Rescheduled => Vec::new(),
        },
        Some(Ended | Cancelled | Rejected | Rescheduled) => Vec::new(),
    }
}

/// The key both the webhook and a reconcile run claim for this change, and
/// the recovered notification's id (the tenant's own).
pub fn key(trigger: &Trigger, b: &CalBooking, tenant: Option<&TenantId>) -> Option<ClaimKey> {
    change_key(trigger, &b.uid).map(|k| ClaimKey::new(namespaced(tenant, k.as_str())))
}

/// The notification the missed webhook would have queued, marked
/// recovered, with Cal.com's time of the change as its `createdAt`.
pub fn notification(
    m: &Missed,
    b: &CalBooking,
    key: &ClaimKey,
    tenant: Option<&TenantId>,
) -> Notification {
    let (trigger, at) = (&m.trigger, m.at);
    let party = |p: &CalPerson| Party {
        name: p.name.clone(),
        email: p.email.clone(),
        time_zone: p.time_zone.clone(),
        no_show: None,
    };
    // Cal.com answers "" for a reason or an address it does not have.
    let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let (reason, actor) = match trigger {
        Trigger::BookingCancelled | Trigger::BookingRejected => {
            (given(&b.cancellation_reason), given(&b.cancelled_by_email))
        }
        Trigger::BookingRescheduled => (None, given(&b.rescheduled_by_email)),
        _ => (None, None),
    };
    let facts = Facts {
        title: given(&b.title),
        event_type: b.event_type.as_ref().and_then(|e| e.slug.clone()),
        booking_uid: Some(b.uid.clone()),
        booking_id: b.id.map(|i| i.to_string()),
        start: Some(b.start),
        end: Some(b.end),
        previous_booking_uid: match trigger {
            Trigger::BookingRescheduled => b.rescheduled_from_uid.clone(),
            _ => None,
        },
        organizer: b.hosts.first().map(party),
        attendees: b.attendees.iter().map(party).collect(),
        location: given(&b.location),
        meeting_url: given(&b.meeting_url),
        reason,
        actor,
        recovered: Some(at),
        ..Facts::default()
    };
    Notification {
        v: NOTIFICATION_VERSION,
        key: NotificationKey::new(key.as_str()),
        trigger: Kind::Event(trigger.clone()),
        tenant: tenant.cloned(),
        created_at: Some(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        facts: facts.bounded(MAX_FIELD_CHARS, MAX_LIST_ITEMS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cal(status: &str, extra: serde_json::Value) -> CalBooking {
        let mut b = json!({"uid": "u1", "status": status, "start": "2026-12-10T10:00:00.000Z",
            "end": "2026-12-10T10:30:00.000Z", "createdAt": "2026-12-07T10:00:00.000Z",
            "updatedAt": "2026-12-07T11:00:00.000Z"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        serde_json::from_value(b).unwrap()
    }

    fn known(status: Status) -> Option<Known> {
        Some(Known {
            status: Some(status),
            start_ms: Some(1_796_896_800_000), // 2026-12-10T10:00:00Z
        })
    }

    fn triggers(b: &CalBooking, k: Option<Known>) -> Vec<String> {
        missed(b, k)
            .iter()
            .map(|m| m.trigger.as_str().to_owned())
            .collect()
    }

    #[test]
    fn an_unknown_booking_gets_every_webhook_its_state_implies() {
        let none = None;
        assert_eq!(
            triggers(&cal("accepted", json!({})), none),
            ["BOOKING_CREATED"]
        );
        assert_eq!(
            triggers(&cal("pending", json!({})), none),
            ["BOOKING_REQUESTED"]
        );
        assert_eq!(
            triggers(&cal("cancelled", json!({})), none),
            ["BOOKING_CREATED", "BOOKING_CANCELLED"]
        );
        assert_eq!(
            triggers(&cal("rejected", json!({})), none),
            ["BOOKING_REQUESTED", "BOOKING_REJECTED"]
        );
        assert_eq!(
            triggers(&cal("accepted", json!({"rescheduledFromUid": "u0"})), none),
            ["BOOKING_RESCHEDULED"]
        );
        // The old booking of a reschedule: its news is the new booking's.
        assert_eq!(
            triggers(&cal("cancelled", json!({"rescheduledToUid": "u2"})), none),
            ["BOOKING_CREATED"]
        );
    }

    #[test]
    fn a_requested_booking_is_accepted_cancelled_or_rejected() {
        let k = known(Status::Requested);
        assert_eq!(
            triggers(&cal("accepted", json!({})), k),
            ["BOOKING_CREATED"]
        );
        assert_eq!(
            triggers(&cal("cancelled", json!({})), k),
            ["BOOKING_CANCELLED"]
        );
        assert_eq!(
            triggers(&cal("rejected", json!({})), k),
            ["BOOKING_REJECTED"]
        );
        assert!(triggers(&cal("pending", json!({})), k).is_empty());
    }

    #[test]
    fn an_accepted_booking_moved_in_place_is_a_reschedule_and_one_unchanged_is_nothing() {
        let k = known(Status::Accepted);
        assert!(triggers(&cal("accepted", json!({})), k).is_empty());
        assert_eq!(
            triggers(
                &cal("accepted", json!({"start": "2026-12-11T10:00:00.000Z"})),
                k
            ),
            ["BOOKING_RESCHEDULED"]
        );
        assert_eq!(
            triggers(&cal("cancelled", json!({})), k),
            ["BOOKING_CANCELLED"]
        );
    }

    #[test]
    fn a_terminal_state_in_the_ledger_is_never_undone() {
        for s in [
            Status::Cancelled,
            Status::Rejected,
            Status::Rescheduled,
            Status::Ended,
        ] {
            assert!(
                triggers(&cal("accepted", json!({})), known(s)).is_empty(),
                "{s:?}"
            );
        }
        assert!(triggers(&cal("awaiting_host", json!({})), None).is_empty());
    }

    #[test]
    fn a_creation_happened_when_the_booking_was_made_and_a_change_when_it_was_updated() {
        let m = missed(&cal("cancelled", json!({})), None);
        assert_eq!(m[0].at.to_rfc3339(), "2026-12-07T10:00:00+00:00");
        assert_eq!(m[1].at.to_rfc3339(), "2026-12-07T11:00:00+00:00");
    }

    #[test]
    fn cal_coms_empty_strings_are_left_out_of_the_notification() {
        let b = cal(
            "cancelled",
            json!({"cancellationReason": "", "cancelledByEmail": "", "location": ""}),
        );
        let m = &missed(&b, known(Status::Accepted))[0];
        let k = key(&m.trigger, &b, None).unwrap();
        let n = notification(m, &b, &k, None);
        assert_eq!(
            (n.facts.reason, n.facts.actor, n.facts.location),
            (None, None, None)
        );
        assert_eq!(k.as_str(), "BOOKING_CANCELLED:booking:u1");
    }
}
