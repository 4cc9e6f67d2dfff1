//! Replay protection from the signed `createdAt`.
//!
//! Cal.com's signature covers the body but carries no timestamp of its own;
//! `createdAt` is inside the signed body, set when Cal.com sends. A captured
//! delivery replayed after its idempotency key expired would otherwise be a
//! new event. So a delivery whose `createdAt` is older than
//! `MAX_EVENT_AGE_SECONDS` (at most the idempotency TTL, so a replay is either
//! a duplicate or stale) or too far in the future is refused.
//!
//! Exempt, because Cal.com may build them long before it sends them, or they
//! carry no delivery time:
//! - MEETING_STARTED / MEETING_ENDED: the scheduled sender; a flat body's root
//!   `createdAt` is the booking's creation time (parsed as absent);
//! - AFTER_HOSTS/GUESTS_CAL_VIDEO_NO_SHOW: run as delayed tasks;
//! - PING, and anything without `createdAt`.
//!
//! An exempt event that names its meeting's end is checked against that
//! instead: one about a meeting that ended more than `MAX_EVENT_AGE_SECONDS`
//! ago is stale, and its key is kept until the TTL after the meeting ended
//! ([`key_expiry_ms`]), so a replay is a duplicate or stale, never new.

use crate::inbound::event::{Envelope, Event, Trigger};
use chrono::DateTime;
use thiserror::Error;

/// Clock skew tolerated for a `createdAt` ahead of ours.
pub const MAX_FUTURE_SECONDS: i64 = 5 * 60;

/// Why a signed delivery is refused as a possible replay (401, outcome `stale`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StaleEvent {
    #[error(
        "createdAt is {age_seconds} s old, older than MAX_EVENT_AGE_SECONDS ({max_seconds} s): refused as a possible replay"
    )]
    TooOld { age_seconds: i64, max_seconds: u64 },
    #[error(
        "createdAt is {ahead_seconds} s in the future (more than {MAX_FUTURE_SECONDS} s): refused"
    )]
    FromTheFuture { ahead_seconds: i64 },
    #[error("createdAt is not an ISO 8601 time, so its age cannot be checked: refused")]
    Unreadable,
    #[error(
        "the meeting ended {ended_seconds_ago} s ago, longer than MAX_EVENT_AGE_SECONDS ({max_seconds} s): refused as a possible replay"
    )]
    MeetingLongOver {
        ended_seconds_ago: i64,
        max_seconds: u64,
    },
}

/// The end of the meeting an exempt event is about, if it names one.
fn meeting_end_ms(envelope: &Envelope) -> Option<i64> {
    let end = match &envelope.event {
        Event::Booking(b) => b.end_time.as_deref(),
        Event::VideoNoShow(v) => v.end_time.as_deref(),
        _ => None,
    };
    end.and_then(event_time_ms)
}

/// When the event's idempotency key may expire: `ttl_ms` after now, and for
/// an exempt trigger not before `ttl_ms` after its meeting ended.
pub fn key_expiry_ms(envelope: &Envelope, now_ms: i64, ttl_ms: i64) -> i64 {
    let now = now_ms + ttl_ms;
    match is_checked(&envelope.trigger) {
        true => now,
        false => meeting_end_ms(envelope).map_or(now, |end| now.max(end + ttl_ms)),
    }
}

/// Whether the trigger's `createdAt` is its delivery time (see the module docs).
pub fn is_checked(trigger: &Trigger) -> bool {
    use Trigger::*;
    match trigger {
        MeetingStarted
        | MeetingEnded
        | AfterHostsCalVideoNoShow
        | AfterGuestsCalVideoNoShow
        | Ping => false,
        BookingCreated
        | BookingRescheduled
        | BookingCancelled
        | BookingRequested
        | BookingRejected
        | BookingPaymentInitiated
        | BookingPaid
        | BookingNoShowUpdated
        | BookingLocationUpdated
        | BookingReassigned
        | InstantMeeting
        | InstantMeetingAccepted
        | RecordingReady
        | RecordingTranscriptionGenerated
        | OooCreated
        | FormSubmitted
        | FormSubmittedNoEvent
        | RoutingFormFallbackHit
        | WrongAssignmentReport
        | CalendarEntryRejected
        | DelegationCredentialError
        | Unknown(_) => true,
    }
}

/// Refuses a delivery outside the window. `max_age_seconds == 0` disables the check.
pub fn check(envelope: &Envelope, now_ms: i64, max_age_seconds: u64) -> Result<(), StaleEvent> {
    if max_age_seconds == 0 || envelope.trigger == Trigger::Ping {
        return Ok(());
    }
    if !is_checked(&envelope.trigger) {
        return match meeting_end_ms(envelope) {
            Some(end) if (now_ms - end).div_euclid(1000) > max_age_seconds as i64 => {
                Err(StaleEvent::MeetingLongOver {
                    ended_seconds_ago: (now_ms - end).div_euclid(1000),
                    max_seconds: max_age_seconds,
                })
            }
            _ => Ok(()),
        };
    }
    let Some(created_at) = envelope.created_at.as_deref() else {
        return Ok(());
    };
    let at = event_time_ms(created_at).ok_or(StaleEvent::Unreadable)?;
    let age_seconds = (now_ms - at).div_euclid(1000);
    if age_seconds > max_age_seconds as i64 {
        return Err(StaleEvent::TooOld {
            age_seconds,
            max_seconds: max_age_seconds,
        });
    }
    if -age_seconds > MAX_FUTURE_SECONDS {
        return Err(StaleEvent::FromTheFuture {
            ahead_seconds: -age_seconds,
        });
    }
    Ok(())
}

/// Cal.com's time formats (`…Z`, `….000Z`, `…+00:00`, `…-05:00`) as ms since the epoch.
pub fn event_time_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::parse;

    const DAY: u64 = 24 * 3600;
    /// 2026-11-20T09:30:00Z
    const NOW: i64 = 1_795_167_000_000;

    fn envelope(trigger: &str, created_at: &str) -> Envelope {
        parse(
            format!(r#"{{"triggerEvent":"{trigger}","createdAt":"{created_at}","payload":{{"uid":"u"}}}}"#)
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn every_cal_com_time_format_is_read() {
        for (text, ms) in [
            ("2026-11-20T09:30:00Z", NOW),
            ("2026-11-20T09:30:00.538Z", NOW + 538),
            ("2026-11-20T09:30:00+00:00", NOW),
            ("2026-11-20T04:30:00-05:00", NOW),
        ] {
            assert_eq!(event_time_ms(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn a_recent_delivery_passes() {
        assert_eq!(
            check(
                &envelope("BOOKING_CREATED", "2026-11-20T09:29:58.000Z"),
                NOW,
                DAY
            ),
            Ok(())
        );
    }

    #[test]
    fn a_delivery_older_than_the_limit_is_stale() {
        let e = envelope("BOOKING_CANCELLED", "2026-11-19T09:29:59+00:00");
        assert!(matches!(
            check(&e, NOW, DAY),
            Err(StaleEvent::TooOld { .. })
        ));
    }

    #[test]
    fn a_delivery_more_than_five_minutes_ahead_is_refused() {
        assert!(matches!(
            check(
                &envelope("BOOKING_CREATED", "2026-11-20T09:36:00Z"),
                NOW,
                DAY
            ),
            Err(StaleEvent::FromTheFuture { .. })
        ));
        assert_eq!(
            check(
                &envelope("BOOKING_CREATED", "2026-11-20T09:34:00Z"),
                NOW,
                DAY
            ),
            Ok(())
        );
    }

    #[test]
    fn an_unreadable_created_at_is_refused() {
        assert_eq!(
            check(&envelope("BOOKING_CREATED", "yesterday"), NOW, DAY),
            Err(StaleEvent::Unreadable)
        );
    }

    #[test]
    fn scheduled_and_delayed_triggers_are_exempt() {
        for t in [
            "MEETING_STARTED",
            "MEETING_ENDED",
            "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
            "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
        ] {
            assert_eq!(
                check(&envelope(t, "2020-01-01T00:00:00Z"), NOW, DAY),
                Ok(()),
                "{t}"
            );
        }
    }

    #[test]
    fn a_flat_scheduled_body_and_a_body_without_created_at_are_exempt() {
        let flat = parse(
            br#"{"triggerEvent":"BOOKING_CREATED","uid":"u","createdAt":"2020-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(check(&flat, NOW, DAY), Ok(()));
        let none = parse(br#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u"}}"#).unwrap();
        assert_eq!(check(&none, NOW, DAY), Ok(()));
    }

    #[test]
    fn an_exempt_event_about_a_meeting_long_over_is_stale() {
        let ended = |end: &str| {
            parse(
                format!(r#"{{"triggerEvent":"MEETING_ENDED","createdAt":"2020-01-01T00:00:00Z","payload":{{"uid":"u","endTime":"{end}"}}}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(check(&ended("2026-11-20T09:00:00Z"), NOW, DAY), Ok(()));
        assert!(matches!(
            check(&ended("2026-11-18T09:00:00Z"), NOW, DAY),
            Err(StaleEvent::MeetingLongOver { .. })
        ));
    }

    #[test]
    fn an_exempt_events_key_lasts_the_ttl_past_its_meeting() {
        let ttl = 7 * DAY as i64 * 1000;
        let started = parse(
            br#"{"triggerEvent":"MEETING_STARTED","uid":"u","startTime":"2026-12-20T09:00:00Z","endTime":"2026-12-20T10:00:00Z"}"#,
        )
        .unwrap();
        let end = event_time_ms("2026-12-20T10:00:00Z").unwrap();
        assert_eq!(key_expiry_ms(&started, NOW, ttl), end + ttl);
        let created = envelope("BOOKING_CREATED", "2026-11-20T09:30:00Z");
        assert_eq!(key_expiry_ms(&created, NOW, ttl), NOW + ttl);
    }

    #[test]
    fn zero_disables_the_check() {
        assert_eq!(
            check(&envelope("BOOKING_CREATED", "2020-01-01T00:00:00Z"), NOW, 0),
            Ok(())
        );
    }
}
