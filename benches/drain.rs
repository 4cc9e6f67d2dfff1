//! The minute job draining a real backlog, under `wrangler dev` with the
//! real workers and local D1 and Queues; writes the `drain` section of
//! BENCHMARKS.md.
//!
//! 1. The receiver runs without its queue binding (the queue is down) and
//!    takes `BENCH_DRAIN_N + BENCH_DRAIN_FREE_N` webhooks (Cal.com's
//!    BOOKING_CREATED shape): every one answered `accepted`, kept in the
//!    outbox.
//! 2. The queue is back, `DRAIN_PAGES_PER_RUN` at its default (the Free
//!    plan's): three minute runs drain the outbox; then reminders are due for
//!    as many bookings again (seeded into the ledger), and three more runs
//!    drain them. Rows per run are events a minute (one run a minute).
//! 3. `DRAIN_PAGES_PER_RUN=200` (the Paid setting): one run for the
//!    reminders, one for the outbox; the time each run takes is measured.
//!
//! Every email must reach the SendGrid stand-in exactly once, events and
//! reminders alike, or nothing is written.
//!
//! Settings: `BENCH_DRAIN_N` (20000) rows for the Paid runs,
//! `BENCH_DRAIN_FREE_N` (3000) rows for the Free runs, `BENCH_C` (16).

#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

mod client;
mod report;

use calhook_core::inbound::signature::sign;
use calhook_core::jobs::PAID_DRAIN_PAGES_PER_RUN;
use calhook_core::settings::DEFAULT_DRAIN_PAGES_PER_RUN;
use sendgrid_standin::StandIn;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::*;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TOKEN: &str = "bench-admin-token-0123456789abcdef01";
const EVENT_PREFIX: &str = "BOOKING_CREATED:";

fn count(s: &Stack, sql: &str) -> i64 {
    s.sql(sql)[0]["n"].as_i64().unwrap()
}

fn outbox_events(s: &Stack) -> i64 {
    count(
        s,
        "SELECT COUNT(*) AS n FROM outbox WHERE key LIKE 'BOOKING_CREATED:%'",
    )
}

fn reminders_decided(s: &Stack) -> i64 {
    count(s, "SELECT COUNT(*) AS n FROM reminders")
}

/// One minute run (`/__scheduled` answers when the run is over): its time.
async fn minute_run(s: &Stack) -> Duration {
    let started = Instant::now();
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
        .get(format!("{}/__scheduled?cron=*+*+*+*+*", s.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "the minute run failed: {}", r.status());
    started.elapsed()
}

/// What one minute run drained.
struct Drained {
    rows: i64,
    took: Duration,
}

/// Runs the minute job once and counts what `left` lost.
async fn drain_once(s: &Stack, left: fn(&Stack) -> i64, rising: bool) -> Drained {
    let before = left(s);
    let took = minute_run(s).await;
    let after = left(s);
    Drained {
        rows: if rising { after - before } else { before - after },
        took,
    }
}

/// `n` accepted bookings in the ledger with a reminder due now (offset 60).
fn seed_due_reminders(s: &Stack, prefix: &str, n: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let start = now + 50 * 60_000;
    s.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO bookings (uid, status, status_rank, status_at, title, start_at, end_at, \
           organizer_name, organizer_email, organizer_tz, facts_at, first_seen_at, updated_at) \
         SELECT '{prefix}' || i, 'accepted', 0, {now}, 'Intro call ' || i, {start}, {start} + 1800000, \
           'Ada Lovelace', 'ada@example.com', 'Europe/London', {now}, {now} - 86400000, {now} FROM n"
    ));
}

/// Waits until the stand-in holds `n` emails.
async fn emails(standin: &StandIn, n: usize) {
    poll(&format!("{n} emails"), Duration::from_secs(1200), || {
        let count = standin.accepted().len();
        async move { (count >= n).then_some(()) }
    })
    .await;
}

/// Every notification emailed exactly once: (events, reminders).
fn exactly_once(standin: &StandIn) -> (usize, usize) {
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for m in standin.accepted() {
        let key = m.custom_arg("notification_key").unwrap_or_default();
        *per_key.entry(key.to_owned()).or_insert(0) += 1;
    }
    let dupes: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicated emails: {dupes:?}");
    let events = per_key
        .keys()
        .filter(|k| k.starts_with(EVENT_PREFIX))
        .count();
    (events, per_key.len() - events)
}

fn stack_options(standin: &StandIn, pages: Option<u32>) -> Options {
    let mut receiver_vars = vec![
        ("ADMIN_TOKEN", TOKEN.to_owned()),
        ("REMINDER_OFFSETS", "60".to_owned()),
        // The backlog is due at once (the grace period is for the hot path).
        ("OUTBOX_GRACE_SECONDS", "0".to_owned()),
    ];
    if let Some(p) = pages {
        receiver_vars.push(("DRAIN_PAGES_PER_RUN", p.to_string()));
    }
    Options {
        receiver_vars,
        standin: Some(standin.clone()),
        ..Options::default()
    }
}

fn per_minute(d: &[Drained]) -> f64 {
    d.iter().map(|x| x.rows as f64).sum::<f64>() / d.len() as f64
}

fn mean_seconds(d: &[Drained]) -> f64 {
    d.iter().map(|x| x.took.as_secs_f64()).sum::<f64>() / d.len() as f64
}

fn main() {
    let n = setting("BENCH_DRAIN_N", 20_000);
    let free_n = setting("BENCH_DRAIN_FREE_N", 3_000);
    let c = setting("BENCH_C", 16);
    let free_pages = DEFAULT_DRAIN_PAGES_PER_RUN as u32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let standin = StandIn::new(None);
        // 1. The queue is down: everything goes to the outbox.
        let down = Stack::start(Options {
            edit_receiver: Some(|config| {
                config.remove("queues");
            }),
            receiver_only: true,
            ..stack_options(&standin, None)
        })
        .await;
        let created = created_at(0);
        let bodies: Vec<(Vec<u8>, String)> = (0..n + free_n)
            .map(|i| {
                let mut v = fixture_for("BOOKING_CREATED", &format!("drain-{i:06}"));
                v["createdAt"] = created.clone().into();
                let b = body(&v);
                let s = sign(SECRET, &b);
                (b, s)
            })
            .collect();
        let fill = Instant::now();
        let answers = client::post_all(&down.webhook_url(), bodies, c).await;
        let fill_seconds = fill.elapsed().as_secs_f64();
        let wrong: Vec<_> = answers
            .iter()
            .filter(|(_, l)| l.as_str() != "200 accepted")
            .take(3)
            .collect();
        assert!(wrong.is_empty(), "with the queue down: {wrong:?}");
        assert_eq!(outbox_events(&down) as usize, n + free_n);
        down.stop();

        // 2. The queue is back; the Free plan's default pages.
        let free = Stack::start(Options {
            state_dir: Some(down.state.clone()),
            ..stack_options(&standin, None)
        })
        .await;
        let mut free_outbox = Vec::new();
        for _ in 0..3 {
            free_outbox.push(drain_once(&free, outbox_events, false).await);
        }
        seed_due_reminders(&free, "drain-free-", free_n);
        let mut free_reminders = Vec::new();
        for _ in 0..3 {
            free_reminders.push(drain_once(&free, reminders_decided, true).await);
        }
        let sent_free = free_outbox.iter().chain(&free_reminders).map(|d| d.rows).sum::<i64>();
        // Local queues live in memory: let the mailer finish before a restart.
        emails(&standin, sent_free as usize).await;
        free.stop();

        // 3. The Paid setting.
        let paid = Stack::start(Options {
            state_dir: Some(down.state.clone()),
            ..stack_options(&standin, Some(PAID_DRAIN_PAGES_PER_RUN))
        })
        .await;
        seed_due_reminders(&paid, "drain-paid-", n);
        let started = Instant::now();
        let paid_reminders = drain_once(&paid, reminders_decided, true).await;
        let paid_outbox = drain_once(&paid, outbox_events, false).await;
        let outbox_empty = started.elapsed().as_secs_f64();
        assert_eq!(outbox_events(&paid), 0, "the outbox's events are all queued");
        emails(&standin, 2 * (n + free_n)).await;
        let all_sent = started.elapsed().as_secs_f64();
        let (events, reminders) = exactly_once(&standin);
        assert_eq!((events, reminders), (n + free_n, n + free_n));
        paid.stop();

        let free_events_min = per_minute(&free_outbox);
        let free_reminders_min = per_minute(&free_reminders);
        let paid_events_min = paid_outbox.rows as f64 * (60.0 / paid_outbox.took.as_secs_f64()).min(1.0);
        let paid_reminders_min =
            paid_reminders.rows as f64 * (60.0 / paid_reminders.took.as_secs_f64()).min(1.0);
        let target = |v: f64, t: f64| if v >= t { "met" } else { "**missed**" };
        format!(
            "Written by `scripts/bench` on {} (UTC). The receiver ran without its queue binding and took {} webhooks (Cal.com's BOOKING_CREATED shape, {c} in flight, {:.0} req/s), every one answered `accepted` and kept in the outbox; then the queue was back and the minute job ran by hand (`/__scheduled`, one call = one minute's run; `OUTBOX_GRACE_SECONDS=0` so the whole backlog is due). Reminders: {} bookings seeded into the ledger with a reminder due. Every email reached the SendGrid stand-in exactly once: {events} events, {reminders} reminders.\n\n\
             drain: outbox {free_events_min:.0} events/min (Free default), {paid_events_min:.0} events/min (Paid setting)\n\n\
             drain: reminders {free_reminders_min:.0}/min (Free default), {paid_reminders_min:.0}/min (Paid setting)\n\n\
             | run | `DRAIN_PAGES_PER_RUN` | rows per run | run took (s, `wrangler dev`) | per minute | target | |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n\
             | outbox, Free default | {free_pages} | {} | {:.1} | {free_events_min:.0} | 1,000 | {} |\n\
             | reminders, Free default | {free_pages} | {} | {:.1} | {free_reminders_min:.0} | 1,000 | {} |\n\
             | outbox, Paid setting | {PAID_DRAIN_PAGES_PER_RUN} | {} | {:.1} | {paid_events_min:.0} | 10,000 | {} |\n\
             | reminders, Paid setting | {PAID_DRAIN_PAGES_PER_RUN} | {} | {:.1} | {paid_reminders_min:.0} | 10,000 | {} |\n\n\
             Rows per run are the mean of three runs on the Free default. One run a minute: a minute's rate is a run's rows, or less when a run takes longer than a minute. With the Paid setting, the {n}-row backlog left the outbox in {outbox_empty:.1} s (one reminder run, then one outbox run); the mailer had sent every email {all_sent:.1} s after the first run. On the Free default the same backlog takes {} minute runs.\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            n + free_n,
            (n + free_n) as f64 / fill_seconds,
            n + free_n,
            free_outbox.iter().map(|d| d.rows.to_string()).collect::<Vec<_>>().join(", "),
            mean_seconds(&free_outbox),
            target(free_events_min, 1000.0),
            free_reminders.iter().map(|d| d.rows.to_string()).collect::<Vec<_>>().join(", "),
            mean_seconds(&free_reminders),
            target(free_reminders_min, 1000.0),
            paid_outbox.rows,
            paid_outbox.took.as_secs_f64(),
            target(paid_events_min, 10_000.0),
            paid_reminders.rows,
            paid_reminders.took.as_secs_f64(),
            target(paid_reminders_min, 10_000.0),
            n.div_ceil(free_pages as usize * 100),
        )
    });
    println!("{out}");
    report::write_section(
        &support::root(),
        "drain",
        "Draining a backlog (`benches/drain.rs`)",
        &out,
    );
}
