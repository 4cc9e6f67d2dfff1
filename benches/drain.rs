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
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::*;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pages per run in the Paid pace runs: what a local queue can hold at once.
const LOCAL_PAGES: u32 = 90;

const TOKEN: &str = "bench-admin-token-0123456789abcdef01";
const EVENT_PREFIX: &str = "BOOKING_CREATED:";

/// One minute run (`/__scheduled` answers when the run is over): what its
/// log line says it did, and how long it took. Counts come from the admin
/// worker's own line, never from a second SQLite client: one writing beside
/// the workers makes their D1 calls fail with SQLITE_BUSY.
async fn minute_run(s: &Stack) -> Run {
    let runs_before = run_lines(s).len();
    let started = Instant::now();
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
        .get(format!("{}/__scheduled?cron=*+*+*+*+*", s.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "the minute run failed: {}",
        r.status()
    );
    let took = started.elapsed();
    let line = poll("the run's log line", Duration::from_secs(30), || {
        let lines = run_lines(s);
        async move { lines.get(runs_before).cloned() }
    })
    .await;
    assert!(line.get("error").is_none(), "the run failed: {line}");
    let run = Run {
        events: line["sent"].as_u64().unwrap(),
        reminders: line["reminders"]["sent"].as_u64().unwrap(),
        remaining: line["remaining"].as_u64().unwrap_or(0),
        took,
    };
    eprintln!(
        "minute run: {} events, {} reminders, {} left, {:.1} s",
        run.events,
        run.reminders,
        run.remaining,
        took.as_secs_f64()
    );
    run
}

/// The minute job's log lines so far.
fn run_lines(s: &Stack) -> Vec<Value> {
    s.log()
        .lines()
        .filter_map(|l| l.find("{\"sent\"").map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str::<Value>(l.trim_end_matches("\u{1b}[0m")).ok())
        .filter(|v| v["job"] == "outbox")
        .collect()
}

/// What one minute run did.
struct Run {
    events: u64,
    reminders: u64,
    remaining: u64,
    took: Duration,
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

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn main() {
    let n = setting("BENCH_DRAIN_N", 20_000);
    let free_n = setting("BENCH_DRAIN_FREE_N", 3_000);
    let paid_n = LOCAL_PAGES as usize * 100;
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
        down.stop();
        let kept = &down.sql("SELECT COUNT(*) AS n FROM outbox")[0]["n"];
        assert_eq!(kept.as_u64(), Some((n + free_n) as u64), "every event kept");

        // 2. The queue is back; the Free plan's default pages. Reminders go
        // first in a run, so three runs drain reminders, three the outbox.
        seed_due_reminders(&down, "drain-free-", free_n);
        let free = Stack::start(Options {
            state_dir: Some(down.state.clone()),
            ..stack_options(&standin, None)
        })
        .await;
        let mut free_runs = Vec::new();
        for _ in 0..6 {
            free_runs.push(minute_run(&free).await);
        }
        let queued: u64 = free_runs.iter().map(|r| r.events + r.reminders).sum();
        // Local queues live in memory: let the mailer finish before a restart.
        emails(&standin, queued as usize).await;
        free.stop();
        let (free_reminders, free_outbox): (Vec<&Run>, Vec<&Run>) =
            free_runs.iter().partition(|r| r.reminders > 0);

        // 3. The Paid setting's pace. A local queue holds every message in
        // flight in memory with a timer each, and `wrangler dev`'s runtime
        // allows a worker 10,000 active timers: a run may queue at most
        // LOCAL_PAGES pages before the mailer has taken them. So the Paid
        // runs are LOCAL_PAGES pages each (the mailer drains between runs),
        // their pace measured; the Paid setting's run is 200 such pages.
        let paid = Stack::start(Options {
            state_dir: Some(down.state.clone()),
            ..stack_options(&standin, Some(LOCAL_PAGES))
        })
        .await;
        let started = Instant::now();
        let mut paid_outbox = Vec::new();
        let mut sent = queued;
        loop {
            let run = minute_run(&paid).await;
            sent += run.events;
            emails(&standin, sent as usize).await;
            if run.events == 0 {
                break;
            }
            paid_outbox.push(run);
        }
        let outbox_empty = started.elapsed().as_secs_f64();
        paid.stop();
        seed_due_reminders(&down, "drain-paid-", paid_n);
        let paid = Stack::start(Options {
            state_dir: Some(down.state.clone()),
            ..stack_options(&standin, Some(LOCAL_PAGES))
        })
        .await;
        let paid_reminders = minute_run(&paid).await;
        emails(&standin, n + free_n + free_n + paid_n).await;
        let last = minute_run(&paid).await;
        assert_eq!(
            (last.events, last.reminders, last.remaining),
            (0, 0, 0),
            "nothing left once the mailer has everything"
        );
        let (events, reminders) = exactly_once(&standin);
        assert_eq!((events, reminders), (n + free_n, free_n + paid_n));
        paid.stop();

        let free_events_min = mean(free_outbox.iter().map(|r| r.events as f64));
        let free_reminders_min = mean(free_reminders.iter().map(|r| r.reminders as f64));
        // A minute's rows on the Paid setting: its 200 pages, unless 200
        // pages at the measured pace take longer than the minute.
        let paid_capacity = (PAID_DRAIN_PAGES_PER_RUN * 100) as f64;
        let paced = |rows: u64, took: f64| (rows as f64 / took * 60.0).min(paid_capacity);
        let outbox_rows: u64 = paid_outbox.iter().map(|r| r.events).sum();
        let outbox_seconds: f64 = paid_outbox.iter().map(|r| r.took.as_secs_f64()).sum();
        let paid_events_min = paced(outbox_rows, outbox_seconds);
        let paid_reminders_min = paced(
            paid_reminders.reminders,
            paid_reminders.took.as_secs_f64(),
        );
        let paid_outbox: Vec<&Run> = paid_outbox.iter().collect();
        let paid_reminders = [&paid_reminders];
        let list = |runs: &[&Run], f: fn(&Run) -> u64| {
            runs.iter()
                .map(|r| f(r).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let seconds = |runs: &[&Run]| mean(runs.iter().map(|r| r.took.as_secs_f64()));
        let target = |v: f64, t: f64| if v >= t { "met" } else { "**missed**" };
        format!(
            "Written by `scripts/bench` on {} (UTC). The receiver ran without its queue binding and took {} webhooks (Cal.com's BOOKING_CREATED shape, {c} in flight, {:.0} req/s), every one answered `accepted` and kept in the outbox; then the queue was back and the minute job ran by hand (`/__scheduled`, one call = one minute's run; `OUTBOX_GRACE_SECONDS=0` so the whole backlog is due). Reminders: {} bookings seeded into the ledger with a reminder due. Every email reached the SendGrid stand-in exactly once: {events} events, {reminders} reminders.\n\n\
             drain: outbox {free_events_min:.0} events/min (Free default), {paid_events_min:.0} events/min (Paid setting)\n\n\
             drain: reminders {free_reminders_min:.0}/min (Free default), {paid_reminders_min:.0}/min (Paid setting)\n\n\
             | run | `DRAIN_PAGES_PER_RUN` | rows per run | run took (s, `wrangler dev`) | per minute | target | |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n\
             | outbox, Free default | {free_pages} | {} | {:.1} | {free_events_min:.0} | 1,000 | {} |\n\
             | reminders, Free default | {free_pages} | {} | {:.1} | {free_reminders_min:.0} | 1,000 | {} |\n\
             | outbox, Paid pace | {LOCAL_PAGES} (of {PAID_DRAIN_PAGES_PER_RUN}) | {} | {:.1} | {paid_events_min:.0} | 10,000 | {} |\n\
             | reminders, Paid pace | {LOCAL_PAGES} (of {PAID_DRAIN_PAGES_PER_RUN}) | {} | {:.1} | {paid_reminders_min:.0} | 10,000 | {} |\n\n\
             Free default: one run a minute, a minute's rate is a run's rows (the mean of three runs; reminders go first in a run, so three runs drained reminders and the next three the outbox). Paid setting: a run is 200 pages (20,000 rows); a minute's rate is that, or what 200 pages take at the measured pace if that is longer than a minute. The pace is measured on runs of {LOCAL_PAGES} pages, because a local queue keeps every message in flight in memory with a timer and `wrangler dev`'s runtime allows a worker 10,000 active timers (a 200-page run was refused by the local queue after about 10,000 messages); the mailer sent what was queued between runs, and the time it took is not in a run's time. The {n} events left the outbox in {} runs, {outbox_empty:.1} s including the mailer's time between them; on the Free default the same backlog takes {} minute runs.\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            n + free_n,
            (n + free_n) as f64 / fill_seconds,
            free_n + paid_n,
            list(&free_outbox, |r| r.events),
            seconds(&free_outbox),
            target(free_events_min, 1000.0),
            list(&free_reminders, |r| r.reminders),
            seconds(&free_reminders),
            target(free_reminders_min, 1000.0),
            list(&paid_outbox, |r| r.events),
            seconds(&paid_outbox),
            target(paid_events_min, 10_000.0),
            list(&paid_reminders, |r| r.reminders),
            seconds(&paid_reminders),
            target(paid_reminders_min, 10_000.0),
            paid_outbox.len(),
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
