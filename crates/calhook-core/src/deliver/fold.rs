//! One queue message carries one notification, sent as one email per
//! recipient copy. What happened to each copy folds into one decision for
//! the message: ack it, retry it (and when), and whether it is dead-lettered.

/// What happened to one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    /// SendGrid took it now.
    Sent,
    /// The ledger says an earlier delivery sent it.
    AlreadySent,
    /// The ledger says it failed for good earlier.
    AlreadyFailed,
    /// Another consumer holds its lease now.
    Busy,
    /// Another consumer took it over while this one sent; its result stands.
    LostLease,
    /// Worth another try (429, 5xx, network, timeout); `delay_seconds` from `Retry-After`.
    Retry {
        delay_seconds: Option<u64>,
        reason: String,
    },
    /// Never sendable (SendGrid refused it for good).
    Failed { reason: String },
}

/// The copies' outcomes, counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u32,
    already_sent: u32,
    already_failed: u32,
    lost_lease: u32,
    failed: Option<String>,
    retry: Option<(Option<u64>, String)>,
    busy: bool,
}

/// What the queue is told about the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ack,
    Retry { delay_seconds: u64 },
}

/// The message's fate and what its log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    pub outcome: &'static str,
    pub error: Option<String>,
    /// A copy failed for good (now or earlier): the message goes to the
    /// dead letters. Keeping one twice replaces it.
    pub dead_letter: bool,
}

impl Tally {
    pub fn add(&mut self, outcome: CopyOutcome) {
        match outcome {
            CopyOutcome::Sent => self.sent += 1,
            CopyOutcome::AlreadySent => self.already_sent += 1,
            CopyOutcome::AlreadyFailed => self.already_failed += 1,
            CopyOutcome::Busy => self.busy = true,
            CopyOutcome::LostLease => self.lost_lease += 1,
            CopyOutcome::Retry {
                delay_seconds,
                reason,
            } => {
                let longest = self.retry.as_ref().and_then(|r| r.0).max(delay_seconds);
                self.retry = Some((longest, reason));
            }
            CopyOutcome::Failed { reason } => self.failed = Some(reason),
        }
    }

    /// `backoff(retry_after)`: the delay before the next delivery; `busy_delay`:
    /// how long to wait for another consumer's lease.
    pub fn decide(self, backoff: impl Fn(Option<u64>) -> u64, busy_delay: u64) -> Verdict {
        // A copy that failed earlier is dead-lettered again: if keeping its
        // dead letter failed then, the message was retried for it.
        let dead_letter = self.failed.is_some() || self.already_failed > 0;
        let failed = |v: Verdict| match &self.failed {
            Some(reason) => Verdict {
                outcome: "failed",
                error: Some(reason.clone()),
                ..v
            },
            None => v,
        };
        if let Some((retry_after, reason)) = self.retry {
            return Verdict {
                action: Action::Retry {
                    delay_seconds: backoff(retry_after),
                },
                outcome: "retry",
                error: Some(reason),
                dead_letter,
            };
        }
        let acked = |outcome| Verdict {
            action: Action::Ack,
            outcome,
            error: None,
            dead_letter,
        };
        if self.busy {
            return failed(Verdict {
                action: Action::Retry {
                    delay_seconds: busy_delay,
                },
                ..acked("busy")
            });
        }
        failed(acked(if self.sent > 0 {
            "sent"
        } else if self.lost_lease > 0 {
            "lost_lease"
        } else if self.already_failed > 0 && self.already_sent == 0 {
            "already_failed"
        } else {
            "duplicate"
        }))
    }
}

impl From<crate::deliver::sendgrid::SendOutcome> for CopyOutcome {
    /// What SendGrid's classified answer means for the copy.
    fn from(outcome: crate::deliver::sendgrid::SendOutcome) -> Self {
        use crate::deliver::sendgrid::SendOutcome;
        match outcome {
            SendOutcome::Sent => CopyOutcome::Sent,
            SendOutcome::Retry {
                delay_seconds,
                reason,
            } => CopyOutcome::Retry {
                delay_seconds,
                reason,
            },
            SendOutcome::Permanent { reason } => CopyOutcome::Failed { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(outcomes: Vec<CopyOutcome>) -> Verdict {
        let mut tally = Tally::default();
        outcomes.into_iter().for_each(|o| tally.add(o));
        tally.decide(|after| after.unwrap_or(10), 60)
    }

    fn retry(after: Option<u64>) -> CopyOutcome {
        CopyOutcome::Retry {
            delay_seconds: after,
            reason: "429".into(),
        }
    }

    fn failed() -> CopyOutcome {
        CopyOutcome::Failed {
            reason: "400".into(),
        }
    }

    #[test]
    fn every_copy_sent_acks_the_message() {
        let v = decide(vec![CopyOutcome::Sent, CopyOutcome::AlreadySent]);
        assert_eq!(
            (v.action, v.outcome, v.dead_letter),
            (Action::Ack, "sent", false)
        );
    }

    #[test]
    fn a_copy_to_retry_retries_the_message_after_the_longest_retry_after() {
        let v = decide(vec![CopyOutcome::Sent, retry(Some(30)), retry(Some(90))]);
        assert_eq!(v.action, Action::Retry { delay_seconds: 90 });
        assert_eq!(v.outcome, "retry");
    }

    #[test]
    fn a_copy_refused_for_good_is_dead_lettered_and_the_message_acked() {
        let v = decide(vec![CopyOutcome::Sent, failed()]);
        assert_eq!(
            (v.action, v.outcome, v.dead_letter),
            (Action::Ack, "failed", true)
        );
        assert_eq!(v.error.as_deref(), Some("400"));
    }

    #[test]
    fn a_refused_copy_beside_one_to_retry_is_dead_lettered_and_the_rest_retried() {
        let v = decide(vec![failed(), retry(None)]);
        assert!(v.dead_letter);
        assert_eq!(v.action, Action::Retry { delay_seconds: 10 });
    }

    #[test]
    fn a_copy_that_failed_earlier_is_dead_lettered_again_in_case_that_was_lost() {
        let v = decide(vec![CopyOutcome::AlreadySent, CopyOutcome::AlreadyFailed]);
        assert_eq!((v.action, v.dead_letter), (Action::Ack, true));
    }

    #[test]
    fn a_copy_leased_by_another_consumer_waits_for_its_lease() {
        let v = decide(vec![CopyOutcome::Sent, CopyOutcome::Busy]);
        assert_eq!(
            (v.action, v.outcome),
            (Action::Retry { delay_seconds: 60 }, "busy")
        );
    }

    #[test]
    fn nothing_left_to_send_is_a_duplicate_or_says_why() {
        assert_eq!(decide(vec![CopyOutcome::AlreadySent]).outcome, "duplicate");
        assert_eq!(decide(vec![]).outcome, "duplicate");
        assert_eq!(decide(vec![CopyOutcome::LostLease]).outcome, "lost_lease");
        assert_eq!(
            decide(vec![CopyOutcome::AlreadyFailed]).outcome,
            "already_failed"
        );
        assert_eq!(
            decide(vec![CopyOutcome::AlreadyFailed, CopyOutcome::AlreadySent]).outcome,
            "duplicate"
        );
    }
}
