//! Which queue a batch came from. The mailer consumes two queues; a batch from
//! any other (a renamed queue, a typo in a setting) is refused loudly and
//! retried, never treated as notifications and acked.

/// The role of the queue a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    Notifications,
    DeadLetters,
    Unknown,
}

/// Matches the batch's queue name against both configured names, exactly.
pub fn role(batch_queue: &str, notifications: &str, dead_letters: &str) -> QueueRole {
    if batch_queue == dead_letters {
        QueueRole::DeadLetters
    } else if batch_queue == notifications {
        QueueRole::Notifications
    } else {
        QueueRole::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_configured_queue_has_its_role() {
        let r = |q| role(q, "calhook-notifications", "calhook-dead-letters");
        assert_eq!(r("calhook-notifications"), QueueRole::Notifications);
        assert_eq!(r("calhook-dead-letters"), QueueRole::DeadLetters);
    }

    #[test]
    fn a_dead_letter_queue_with_another_name_is_not_taken_for_notifications() {
        let r = role(
            "calhook-dlq",
            "calhook-notifications",
            "calhook-dead-letters",
        );
        assert_eq!(r, QueueRole::Unknown);
    }
}
