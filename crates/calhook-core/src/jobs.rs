//! The scheduled jobs' decisions, as functions of the cron expression, the
//! settings, what a step did and the time: which job a tick runs, how many
//! outbox pages follow the reminders, what the daily prune deletes, and the
//! line each run logs. The admin worker only executes them.

use serde_json::{json, Value};

use crate::store::outbox::{Depth, Pending};

/// The cron expression of the daily prune; every other one is the minute job.
pub const PRUNE_CRON: &str = "17 3 * * *";
/// What a step of a scheduled run costs its invocation at most: D1
/// statements (the plans count each as a query) and calls out of the isolate
/// (each D1 round trip and each `sendBatch`, counted as subrequests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub queries: u32,
    pub subrequests: u32,
}

impl Cost {
    const fn plus(self, other: Cost) -> Cost {
        Cost {
            queries: self.queries + other.queries,
            subrequests: self.subrequests + other.subrequests,
        }
    }

    const fn times(self, n: u32) -> Cost {
        Cost {
            queries: self.queries * n,
            subrequests: self.subrequests * n,
        }
    }

    pub const fn fits(self, plan: Cost) -> bool {
        self.queries <= plan.queries && self.subrequests <= plan.subrequests
    }
}

/// One invocation on the Workers Free plan: 50 D1 queries, 50 subrequests.
pub const FREE_PLAN: Cost = Cost {
    queries: 50,
    subrequests: 50,
};
/// One invocation on the Workers Paid plan: 1,000 D1 queries, 1,000 subrequests.
pub const PAID_PLAN: Cost = Cost {
    queries: 1_000,
    subrequests: 1_000,
};
/// `DRAIN_PAGES_PER_RUN` documented for the Paid plan (20,000 rows a minute).
pub const PAID_DRAIN_PAGES_PER_RUN: u32 = 200;

/// An outbox page: the due rows (1 statement), `sendBatch` (two when a page
/// is over 240 KB encoded), forgetting what was queued (1 statement,
/// whatever the page's size). Counted by `tests/drains.rs`.
pub const OUTBOX_PAGE: Cost = Cost {
    queries: 2,
    subrequests: 4,
};
/// A reminder (or, once no reminder is due, follow-up) page: the due ones
/// (1 statement), the claim (one round trip of 2 statements), `sendBatch`
/// (two when over 240 KB). The mailer forgets their outbox rows.
pub const REMINDER_PAGE: Cost = Cost {
    queries: 3,
    subrequests: 4,
};
/// The rest of a minute run: the reminder and follow-up reads that found
/// nothing due (1 each, not a page), a refused batch's count and set-aside
/// (3 statements, 2 round trips, once: it ends the run), the outbox depth
/// (1), and the alerts (the candidates' 4 reads, then per trouble its last
/// alert and its claim, one `sendBatch`), counted for one trouble.
pub const MINUTE_RUN_REST: Cost = Cost {
    queries: 2 + 3 + 1 + 4,
    subrequests: 2 + 2 + 1 + 5,
};

/// The most a minute run of `pages` drain pages can cost, whichever kind
/// each page is.
pub const fn minute_run_cost(pages: u32) -> Cost {
    let page = Cost {
        queries: max(OUTBOX_PAGE.queries, REMINDER_PAGE.queries),
        subrequests: max(OUTBOX_PAGE.subrequests, REMINDER_PAGE.subrequests),
    };
    page.times(pages).plus(MINUTE_RUN_REST)
}

/// A reconcile request (`crate::reconcile`): Cal.com (1 subrequest), the
/// ledger's read of its page (1 statement), and, counted per page since every
/// source takes one, the source's state saved (1) and a share of the run's
/// one read of every source's state (1).
pub const RECONCILE_PAGE: Cost = Cost {
    queries: 3,
    subrequests: 4,
};
/// A recovered booking: one transaction of its missed changes. Created and
/// cancelled, with one attendee: 2 × (change claim, outbox row) and the
/// ledger's 5 statements, 9 (counted by `tests/reconcile.rs`), and one spare
/// for a second attendee; each further attendee adds one.
pub const RECONCILE_RECOVERY: Cost = Cost {
    queries: 10,
    subrequests: 1,
};
/// The rest of a reconcile run: the tenants with a key (1), and one
/// `sendBatch` of what it recovered.
pub const RECONCILE_RUN_REST: Cost = Cost {
    queries: 1,
    subrequests: 2,
};
/// `RECONCILE_PAGES_PER_RUN` / `RECONCILE_RECOVERIES_PER_RUN` documented for
/// the Paid plan.
pub const PAID_RECONCILE_PAGES_PER_RUN: u32 = 50;
pub const PAID_RECONCILE_RECOVERIES_PER_RUN: u32 = 80;

/// The most a reconcile run of `pages` requests and `recoveries` recovered
/// bookings can cost.
pub const fn reconcile_run_cost(pages: u32, recoveries: u32) -> Cost {
    RECONCILE_PAGE
        .times(pages)
        .plus(RECONCILE_RECOVERY.times(recoveries))
        .plus(RECONCILE_RUN_REST)
}

const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

/// How a run's `DRAIN_PAGES_PER_RUN` is spent: reminders first (they are
/// due at a time), the outbox gets what they left.
pub fn outbox_pages(pages_per_run: u32, reminder_pages_used: u32) -> u32 {
    pages_per_run.saturating_sub(reminder_pages_used)
}

/// The tick the receiver forwards beside every minute's, so the reconcile
/// job runs in an invocation (and within limits) of its own.
pub const RECONCILE_TICK: &str = "reconcile";

/// What one cron tick runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Every minute: due reminders, then the outbox.
    Minute,
    /// Daily: expired keys, old sent ledger rows, ended bookings.
    Prune,
    /// Every minute, its own tick: the sources due for reconciling.
    Reconcile,
}

impl Job {
    pub fn for_cron(expr: &str) -> Self {
        match expr {
            PRUNE_CRON => Job::Prune,
            RECONCILE_TICK => Job::Reconcile,
            _ => Job::Minute,
        }
    }

    /// The `job` of its log line.
    pub fn name(self) -> &'static str {
        match self {
            Job::Minute => "outbox",
            Job::Prune => "prune_expired_keys",
            Job::Reconcile => "reconcile",
        }
    }
}

/// What the daily prune deletes: rows older than these times (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneHorizons {
    /// Ledger rows of emails sent before it: by then the receiver would
    /// accept the event again anyway.
    pub sent_before_ms: i64,
    /// Bookings that ended before it, with their timeline and reminders.
    pub ended_before_ms: i64,
}

pub fn prune_horizons(now_ms: i64, ttl_seconds: u64, retention_days: u64) -> PruneHorizons {
    PruneHorizons {
        sent_before_ms: now_ms.saturating_sub((ttl_seconds * 1000) as i64),
        ended_before_ms: now_ms.saturating_sub(retention_days as i64 * 86_400_000),
    }
}

/// What the minute job's outbox step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxRun {
    pub sent: usize,
    /// Rows moved to the dead letters (too large, or refused too often).
    pub set_aside: usize,
    /// What stopped the run early.
    pub error: Option<String>,
}

/// The dead-letter reason of a row no queue message can carry.
pub const TOO_LARGE_FOR_THE_QUEUE: &str =
    "too large for a queue message (over 128 KB encoded); never queued";

/// The dead-letter reason of a row the queue refused `times` times.
pub fn refused_reason(times: i64, last_error: &str) -> String {
    format!("the queue refused it {times} times (OUTBOX_MAX_REFUSALS); last: {last_error}")
}

/// The rows of a batch the queue just refused that have now been refused
/// `max_refusals` times: set aside in the dead letters rather than offered
/// again (`attempts` counts the refusals before this one).
pub fn spent(batch: &[Pending], max_refusals: i64) -> Vec<&Pending> {
    batch
        .iter()
        .filter(|r| r.attempts + 1 >= max_refusals)
        .collect()
}

/// The minute job's log line: what the reminders and the outbox did, how
/// much is left and how old the oldest row is.
pub fn minute_line(
    reminders: Result<(usize, usize), String>,
    outbox: OutboxRun,
    depth: Option<Depth>,
    now_ms: i64,
) -> Value {
    let mut line = json!({"sent": outbox.sent});
    if outbox.set_aside > 0 {
        line["set_aside"] = outbox.set_aside.into();
    }
    if let Some(depth) = depth {
        line["remaining"] = depth.count.into();
        line["oldest_age_seconds"] = depth.oldest_age_seconds(now_ms).into();
    }
    if let Some(e) = outbox.error {
        line["error"] = e.into();
    }
    line["reminders"] = match reminders {
        Ok((sent, skipped)) => json!({"sent": sent, "skipped": skipped}),
        Err(e) => json!({"error": e}),
    };
    line
}

/// Whether a job's line is logged as an error.
pub fn failed(line: &Value) -> bool {
    line.get("error").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_expression_prunes_and_every_other_sends() {
        assert_eq!(Job::for_cron("17 3 * * *"), Job::Prune);
        assert_eq!(Job::for_cron("* * * * *"), Job::Minute);
        assert_eq!(Job::for_cron("*/5 * * * *"), Job::Minute);
    }

    #[test]
    fn the_outbox_gets_the_pages_the_reminders_left() {
        assert_eq!(outbox_pages(10, 0), 10);
        assert_eq!(outbox_pages(10, 3), 7);
        assert_eq!(outbox_pages(10, 10), 0);
    }

    #[test]
    fn the_default_reconcile_run_fits_the_free_plan_and_the_paid_settings_the_paid_plan() {
        let pages = crate::settings::RECONCILE_PAGES_PER_RUN.default as u32;
        let recoveries = crate::settings::RECONCILE_RECOVERIES_PER_RUN.default as u32;
        let free = reconcile_run_cost(pages, recoveries);
        assert!(free.fits(FREE_PLAN), "{free:?}");
        assert!(!reconcile_run_cost(pages, recoveries + 1).fits(FREE_PLAN));
        let paid = reconcile_run_cost(
            PAID_RECONCILE_PAGES_PER_RUN,
            PAID_RECONCILE_RECOVERIES_PER_RUN,
        );
        assert!(paid.fits(PAID_PLAN), "{paid:?}");
    }

    #[test]
    fn the_default_pages_fit_the_free_plan_and_the_paid_setting_the_paid_plan() {
        let free = crate::settings::DRAIN_PAGES_PER_RUN.default as u32;
        assert!(
            minute_run_cost(free).fits(FREE_PLAN),
            "{:?}",
            minute_run_cost(free)
        );
        assert!(
            !minute_run_cost(free + 1).fits(FREE_PLAN),
            "the default is the most that fits"
        );
        assert!(minute_run_cost(PAID_DRAIN_PAGES_PER_RUN).fits(PAID_PLAN));
        assert!(free * 100 >= 1_000, "Free: 1,000 events a minute");
        const {
            assert!(
                PAID_DRAIN_PAGES_PER_RUN * 100 >= 10_000,
                "Paid: 10,000 a minute"
            )
        };
    }

    #[test]
    fn the_prune_keeps_sent_rows_for_the_ttl_and_bookings_for_the_retention() {
        let day = 86_400_000;
        let h = prune_horizons(100 * day, 7 * 86_400, 90);
        assert_eq!(h.sent_before_ms, 93 * day);
        assert_eq!(h.ended_before_ms, 10 * day);
        let early = prune_horizons(day, 7 * 86_400, 90);
        assert_eq!(early.sent_before_ms, -6 * day, "never wraps around");
    }

    #[test]
    fn a_row_refused_max_refusals_times_is_set_aside() {
        let row = |key: &str, attempts| Pending {
            key: key.into(),
            trigger: "T".into(),
            notification: "{}".into(),
            created_at: 0,
            attempts,
        };
        let batch = [row("fresh", 0), row("tried", 58), row("last", 59)];
        let keys: Vec<_> = spent(&batch, 60).iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["last"]);
        assert_eq!(spent(&batch[..1], 1).len(), 1, "1: set aside at once");
    }

    #[test]
    fn a_failed_step_makes_the_line_an_error() {
        let empty = Depth {
            count: 0,
            oldest_created_at: None,
        };
        let sent = OutboxRun {
            sent: 2,
            ..OutboxRun::default()
        };
        let ok = minute_line(Ok((1, 0)), sent, Some(empty), 0);
        assert!(!failed(&ok));
        assert_eq!(ok["reminders"]["sent"], 1);
        let refused = OutboxRun {
            set_aside: 1,
            error: Some("queue refused".into()),
            ..OutboxRun::default()
        };
        let line = minute_line(Ok((0, 0)), refused, None, 0);
        assert!(failed(&line));
        assert_eq!(line["set_aside"], 1);
    }
}
