//! How long a message waits before its next delivery.
//!
//! The delay grows with the message's delivery attempts (the queue counts
//! them, so it holds across consumers and outages), is never shorter than what
//! SendGrid asked for, never shorter than [`MIN_RETRY_DELAY_SECONDS`], and
//! never longer than Queues allow.

use std::time::{Duration, UNIX_EPOCH};

/// Shortest delay, whatever `Retry-After` says (`0` or `1` would hammer the API).
pub const MIN_RETRY_DELAY_SECONDS: u64 = 2;
/// Queues refuse longer delays.
pub const QUEUE_MAX_DELAY_SECONDS: u64 = 43_200;

/// Delay before the next delivery of a message delivered `attempts` times
/// (1 on its first delivery): `base · 2^(attempts−1)` capped at `max`, raised
/// to `retry_after` and to the floor.
pub fn delay_seconds(attempts: u32, retry_after: Option<u64>, base: u64, max: u64) -> u64 {
    let factor = 1u64
        .checked_shl(attempts.saturating_sub(1).min(40))
        .unwrap_or(u64::MAX);
    let backoff = base.saturating_mul(factor).min(max);
    backoff
        .max(retry_after.unwrap_or(0))
        .clamp(MIN_RETRY_DELAY_SECONDS, QUEUE_MAX_DELAY_SECONDS)
}

/// How long a message is retried in all before the queue gives it up:
/// the sum of the delays of its first `max_retries` redeliveries.
pub fn budget_seconds(max_retries: u32, base: u64, max: u64) -> u64 {
    (1..=max_retries)
        .map(|attempt| delay_seconds(attempt, None, base, max))
        .sum()
}

/// `Retry-After` as seconds from `now_ms`: delta-seconds or an HTTP date (RFC 9110).
pub fn retry_after_seconds(value: &str, now_ms: i64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).ok()?);
    Some(at.duration_since(now).map(|d| d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_with_the_message_attempts_up_to_the_cap() {
        assert_eq!(delay_seconds(1, None, 10, 3600), 10);
        assert_eq!(delay_seconds(2, None, 10, 3600), 20);
        assert_eq!(delay_seconds(4, None, 10, 3600), 80);
        assert_eq!(delay_seconds(40, None, 10, 3600), 3600);
        assert_eq!(delay_seconds(u32::MAX, None, 10, 3600), 3600);
    }

    #[test]
    fn retry_after_zero_or_one_is_raised_to_the_floor() {
        assert_eq!(delay_seconds(1, Some(0), 1, 1), MIN_RETRY_DELAY_SECONDS);
        assert_eq!(delay_seconds(1, Some(1), 1, 1), MIN_RETRY_DELAY_SECONDS);
    }

    #[test]
    fn a_longer_retry_after_than_the_backoff_wins() {
        assert_eq!(delay_seconds(1, Some(120), 10, 60), 120);
        assert_eq!(delay_seconds(5, Some(3), 10, 3600), 160);
        assert_eq!(
            delay_seconds(1, Some(u64::MAX), 10, 60),
            QUEUE_MAX_DELAY_SECONDS
        );
    }

    #[test]
    fn retry_after_may_be_an_http_date() {
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
        let now = 784_111_777_000 - 30_000;
        assert_eq!(
            retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(30)
        );
        assert_eq!(
            retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", now + 60_000),
            Some(0)
        );
        assert_eq!(retry_after_seconds(" 7 ", 0), Some(7));
        assert_eq!(retry_after_seconds("soon", 0), None);
    }

    #[test]
    fn default_settings_retry_a_notification_for_about_two_and_a_half_hours() {
        // max_retries = 10 (consumer/wrangler.toml), base 10 s, cap 3600 s.
        assert_eq!(budget_seconds(10, 10, 3600), 8_710);
        // The dead-letter consumer: max_retries = 100 with the same settings.
        assert_eq!(budget_seconds(100, 10, 3600), 332_710);
    }
}
