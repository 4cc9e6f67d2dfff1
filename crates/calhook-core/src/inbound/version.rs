//! `X-Cal-Webhook-Version`: the payload version Cal.com says it sent. calhook
//! is written for `2021-10-20`, the only version in Cal.com's source; the
//! scheduled senders (MEETING_STARTED/ENDED) send no header. Any other value
//! is logged and counted, so a change of Cal.com's payload is noticed before
//! it is a missing email.

/// The header Cal.com sends it in.
pub const VERSION_HEADER: &str = "X-Cal-Webhook-Version";
/// The version calhook's parsing is written and tested for.
pub const WRITTEN_FOR: &str = "2021-10-20";
/// Longest header value kept (it is logged and stored).
const MAX_CHARS: usize = 40;

/// What the header says about the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadVersion {
    /// The version calhook was written for.
    Known,
    /// No header (the scheduled senders).
    Absent,
    /// Anything else, shortened and stripped of control characters: counted.
    Other(String),
}

impl PayloadVersion {
    pub fn of(header: Option<&str>) -> Self {
        match header.map(str::trim) {
            None | Some("") => PayloadVersion::Absent,
            Some(WRITTEN_FOR) => PayloadVersion::Known,
            Some(other) => PayloadVersion::Other(
                other
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_CHARS)
                    .collect(),
            ),
        }
    }

    /// The header's value as the log line shows it.
    pub fn as_logged(&self) -> Option<&str> {
        match self {
            PayloadVersion::Known => Some(WRITTEN_FOR),
            PayloadVersion::Absent => None,
            PayloadVersion::Other(v) => Some(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_version_other_than_the_one_written_for_is_counted() {
        assert_eq!(
            PayloadVersion::of(Some("2021-10-20")),
            PayloadVersion::Known
        );
        assert_eq!(PayloadVersion::of(None), PayloadVersion::Absent);
        assert_eq!(
            PayloadVersion::of(Some(" 2027-01-01 ")),
            PayloadVersion::Other("2027-01-01".into())
        );
    }

    #[test]
    fn a_hostile_header_is_shortened_and_stripped() {
        let v = PayloadVersion::of(Some(&format!("x\u{7}{}", "y".repeat(100))));
        let PayloadVersion::Other(kept) = v else {
            panic!()
        };
        assert_eq!(kept.chars().count(), 40);
        assert!(!kept.contains('\u{7}'));
    }
}
