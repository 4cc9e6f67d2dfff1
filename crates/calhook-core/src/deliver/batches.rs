//! How notifications are grouped for Queues' `sendBatch` (the outbox run,
//! reminders, redrive): Cloudflare refuses a whole batch of more than 100
//! messages or 256 KB, and any message over 128 KB. workers-rs sends each
//! message JSON-encoded (a string gains its quotes and escapes: 10–14 % over
//! the fixtures), so sizes are counted on the encoded text, with room for the
//! per-message metadata.

use std::ops::Range;

/// Messages per `sendBatch` (Cloudflare Queues).
pub const MAX_MESSAGES: usize = 100;
/// Bytes per `sendBatch`: 256 KB, less a margin for metadata.
pub const MAX_BATCH_BYTES: usize = 240 * 1024;
/// Bytes per message: 128 KB, less the same margin.
pub const MAX_MESSAGE_BYTES: usize = 120 * 1024;
/// Counted per message on top of its body (id, timestamps, content type).
pub const PER_MESSAGE_OVERHEAD: usize = 100;

/// The bytes `message` takes on the queue: its JSON encoding as a string.
pub fn encoded_len(message: &str) -> usize {
    2 + message
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// A page of messages split into what can be sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// Index ranges, each one `sendBatch` within the limits, in order.
    pub batches: Vec<Range<usize>>,
    /// Indexes of messages the queue will never take (over 128 KB).
    pub too_large: Vec<usize>,
}

/// Splits `messages` (in order) into batches within the limits. A message
/// marked `alone` (refused before) goes in a batch of its own, so one that
/// the queue keeps refusing cannot take a whole batch down with it again.
pub fn split<'a>(messages: impl IntoIterator<Item = (&'a str, bool)>) -> Split {
    let mut out = Split::default();
    let mut current: Option<(Range<usize>, usize)> = None;
    for (i, (text, alone)) in messages.into_iter().enumerate() {
        let size = encoded_len(text) + PER_MESSAGE_OVERHEAD;
        if size > MAX_MESSAGE_BYTES {
            out.too_large.push(i);
            continue;
        }
        if let Some((range, bytes)) = current.as_mut() {
            let fits = !alone
                && range.len() < MAX_MESSAGES
                && *bytes + size <= MAX_BATCH_BYTES
                && range.end == i;
            if fits {
                range.end = i + 1;
                *bytes += size;
                continue;
            }
            out.batches.push(range.clone());
        }
        current = Some((i..i + 1, size));
        if alone {
            out.batches.push(i..i + 1);
            current = None;
        }
    }
    if let Some((range, _)) = current {
        out.batches.push(range);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(s: &Split) -> Vec<usize> {
        s.batches.iter().map(|r| r.len()).collect()
    }

    #[test]
    fn the_encoded_length_is_what_serde_json_writes() {
        for text in [
            "",
            "plain",
            r#"{"v":1,"key":"K","facts":{"title":"a \"quoted\" \\ title"}}"#,
            "line\nbreak\ttab\u{1}ctl é 漢 🎉",
        ] {
            assert_eq!(
                encoded_len(text),
                serde_json::to_string(text).unwrap().len(),
                "{text}"
            );
        }
    }

    #[test]
    fn no_batch_has_more_than_100_messages() {
        let text = "x".repeat(100);
        let s = split((0..250).map(|_| (text.as_str(), false)));
        assert_eq!(lens(&s), [100, 100, 50]);
    }

    #[test]
    fn batches_are_sized_on_the_encoded_bytes_not_the_rust_string() {
        // 20 KB of quotes: 20 KB as a string, 40 KB encoded. Counted raw, 11
        // would fit in 240 KB; encoded, only 5 do.
        let text = "\"".repeat(20 * 1024);
        let s = split((0..11).map(|_| (text.as_str(), false)));
        assert_eq!(lens(&s), [5, 5, 1]);
        for batch in &s.batches {
            let bytes: usize = batch
                .clone()
                .map(|_| serde_json::to_string(&text).unwrap().len() + PER_MESSAGE_OVERHEAD)
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn a_message_over_the_per_message_limit_is_set_apart_not_sent() {
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        let s = split([("a", false), (big.as_str(), false), ("b", false)]);
        assert_eq!(s.too_large, [1]);
        assert_eq!(s.batches, [0..1, 2..3]);
    }

    #[test]
    fn a_message_refused_before_goes_alone() {
        let s = split([
            ("a", false),
            ("b", false),
            ("c", true),
            ("d", false),
            ("e", true),
        ]);
        assert_eq!(s.batches, [0..2, 2..3, 3..4, 4..5]);
    }
}
