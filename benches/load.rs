//! Load, exactly-once and fault runs against the real workers under
//! `wrangler dev`, plus bundle sizes; writes BENCHMARKS.md.
//!
//! Run with `scripts/bench` (builds first). Settings (environment):
//! `BENCH_N` (5000) distinct webhooks, `BENCH_C` (16) concurrent requests,
//! `BENCH_FAULT_N` (1000) webhooks in the fault run, `BENCH_OUT` (BENCHMARKS.md).
//!
//! Invariants are checked, not just measured: every phase panics (and writes
//! nothing) if an email is lost or duplicated.

#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

mod client;

use calhook_core::inbound::signature::sign;
use sendgrid_standin::{Chaos, StandIn};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use support::*;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const PHASE_TABLE_HEADER: &str =
    "| phase | requests | req/s | p50 ms | p90 ms | p99 ms | answers |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |";

/// What one phase of requests did.
struct Phase {
    name: &'static str,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    statuses: HashMap<String, usize>,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i].as_secs_f64() * 1000.0
    }

    fn row(&self) -> String {
        let mut statuses: Vec<_> = self.statuses.iter().collect();
        statuses.sort();
        format!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            self.name,
            self.requests,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            statuses
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Sends every body (with its signature) at concurrency `c`.
async fn blast(
    stack: &Stack,
    name: &'static str,
    bodies: Vec<(Vec<u8>, String)>,
    c: usize,
) -> Phase {
    let requests = bodies.len();
    let started = Instant::now();
    let results = client::post_all(&stack.webhook_url(), bodies, c).await;
    let elapsed = started.elapsed();
    let mut statuses = HashMap::new();
    for (_, label) in &results {
        *statuses.entry(label.clone()).or_insert(0) += 1;
    }
    Phase {
        name,
        requests,
        elapsed,
        latencies: results.into_iter().map(|(d, _)| d).collect(),
        statuses,
    }
}

fn signed(trigger: &str, uid: &str, secret: &str) -> (Vec<u8>, String) {
    let bytes = body(&fixture_for(trigger, uid));
    let sig = sign(secret, &bytes);
    (bytes, sig)
}

/// Waits until the stand-in holds `n` emails; returns how long it took.
async fn drained(standin: &StandIn, n: usize, started: Instant) -> Duration {
    poll(&format!("{n} emails"), Duration::from_secs(900), || {
        let count = standin.accepted().len();
        async move { (count >= n).then_some(()) }
    })
    .await;
    started.elapsed()
}

/// Every key exactly once, and exactly the keys expected.
fn exactly_once(standin: &StandIn, expected: &[String]) -> usize {
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for m in standin.accepted() {
        *per_key
            .entry(
                m.custom_arg("notification_key")
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_insert(0) += 1;
    }
    let dupes: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicated emails: {dupes:?}");
    for key in expected {
        assert_eq!(per_key.get(key), Some(&1), "no email for {key}");
    }
    per_key.len()
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn dry_run_size(config: &str) -> String {
    let out = std::process::Command::new(root().join("node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(std::env::temp_dir().join(format!("calhook-bench-dry-{}", std::process::id())))
        .args(["-c", config])
        .current_dir(root())
        .env("CALHOOK_PREBUILT", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG", "log")
        .output()
        .expect("wrangler runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.split("Total Upload:").nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "(not reported)".into())
}

fn file_size(path: &str) -> (u64, u64) {
    let raw = std::fs::metadata(root().join(path))
        .map(|m| m.len())
        .unwrap_or(0);
    let gz = sh(&format!(
        "gzip -9 -c '{}' | wc -c",
        root().join(path).display()
    ))
    .parse()
    .unwrap_or(0);
    (raw, gz)
}

async fn run() -> String {
    let n = setting("BENCH_N", 5000);
    let c = setting("BENCH_C", 16);
    let fault_n = setting("BENCH_FAULT_N", 1000);
    let mut out = String::new();

    // Phase 1–3 on one stack.
    let stack = Stack::start(Options::default()).await;
    let uids: Vec<String> = (0..n)
        .map(|i| format!("bench-{i}-{}", unique("u")))
        .collect();
    let keys: Vec<String> = uids
        .iter()
        .map(|u| claim_key(&fixture_for("BOOKING_CREATED", u)))
        .collect();
    let bodies: Vec<_> = uids
        .iter()
        .map(|u| signed("BOOKING_CREATED", u, SECRET))
        .collect();

    let started = Instant::now();
    let accept = blast(&stack, "distinct, signed", bodies.clone(), c).await;
    assert_eq!(
        accept.statuses.get("200 queued"),
        Some(&n),
        "{:?}",
        accept.statuses
    );
    let drain = drained(&stack.standin, n, started).await;
    let emailed = exactly_once(&stack.standin, &keys);
    assert_eq!(emailed, n);

    let replay = blast(&stack, "replay of all (duplicates)", bodies, c).await;
    assert_eq!(
        replay.statuses.get("200 duplicate"),
        Some(&n),
        "{:?}",
        replay.statuses
    );
    // A sentinel sent after the replay is emailed; by then any stray copy would be too.
    let (_, sentinel) = stack
        .send(&fixture_for("BOOKING_CREATED", &unique("sentinel")))
        .await;
    stack
        .wait_for_email(sentinel["key"].as_str().unwrap())
        .await;
    assert_eq!(
        stack.standin.accepted().len(),
        n + 1,
        "the replay sent emails"
    );

    let forged: Vec<_> = uids
        .iter()
        .map(|u| signed("BOOKING_CREATED", u, "not-the-secret"))
        .collect();
    let reject = blast(&stack, "invalid signatures", forged, c).await;
    assert_eq!(
        reject.statuses.get("401"),
        Some(&n),
        "{:?}",
        reject.statuses
    );
    assert_eq!(
        stack.standin.accepted().len(),
        n + 1,
        "a forged webhook was emailed"
    );
    stack.stop();

    // Fault run: a quarter of SendGrid requests fail (500 / 429) for 20 s.
    let standin = StandIn::new(Some(SENDGRID_KEY.into()));
    standin.set_chaos(Some(Chaos {
        every_nth: 4,
        until: Instant::now() + Duration::from_secs(20),
        retry_after: 1,
    }));
    let faulty = Stack::start(Options {
        standin: Some(standin.clone()),
        ..Options::default()
    })
    .await;
    let fault_uids: Vec<String> = (0..fault_n)
        .map(|i| format!("fault-{i}-{}", unique("u")))
        .collect();
    let fault_keys: Vec<String> = fault_uids
        .iter()
        .map(|u| claim_key(&fixture_for("BOOKING_CREATED", u)))
        .collect();
    let fault_bodies = fault_uids
        .iter()
        .map(|u| signed("BOOKING_CREATED", u, SECRET))
        .collect();
    let fault_started = Instant::now();
    let fault_accept = blast(
        &faulty,
        "distinct, signed, SendGrid failing 25%",
        fault_bodies,
        c,
    )
    .await;
    assert_eq!(fault_accept.statuses.get("200 queued"), Some(&fault_n));
    let fault_drain = drained(&standin, fault_n, fault_started).await;
    exactly_once(&standin, &fault_keys);
    let sendgrid_requests = standin.request_count();
    faulty.stop();

    let (rr, rg) = file_size("build/index_bg.wasm");
    let (mr, mg) = file_size("mailer/build/index_bg.wasm");
    let receiver_upload = dry_run_size("wrangler.toml");
    let mailer_upload = dry_run_size("mailer/wrangler.toml");
    let (ar, ag) = file_size("admin/build/index_bg.wasm");
    let admin_upload = dry_run_size("admin/wrangler.toml");

    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `scripts/bench` on {} (UTC); every number below comes from that run.\n",
        sh("date -u '+%Y-%m-%d %H:%M'")
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(
        out,
        "- CPU: {} ({} cores)\n- Memory: {}\n- OS: {}\n- wrangler {} (workerd, local mode), rustc {}\n",
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        sh("nproc"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh(". /etc/os-release && echo $PRETTY_NAME"),
        sh(&format!("{} --version 2>/dev/null | tail -n1", root().join("node_modules/.bin/wrangler").display())),
        sh("rustc --version | cut -d' ' -f2"),
    );
    let _ = writeln!(
        out,
        "## Load and exactly-once (`BENCH_N={n} BENCH_C={c} scripts/bench`)\n"
    );
    let _ = writeln!(
        out,
        "Both workers under one `wrangler dev` with fresh local D1 and Queues, the \
         SendGrid stand-in in the load client's process, all on this machine. \
         Client: Rust (reqwest, {c} requests in flight). Latency is per request, \
         measured by the client.\n"
    );
    let _ = writeln!(out, "{PHASE_TABLE_HEADER}");
    for phase in [&accept, &replay, &reject] {
        let _ = writeln!(out, "{}", phase.row());
    }
    let _ = writeln!(
        out,
        "\n- Queue drained: {n} emails, exactly one per booking uid, {:.1} s after the first request \
         ({:.0} emails/s end to end).\n- Replay: 0 new emails (all {n} answered `duplicate`).\n\
         - Invalid signatures: 0 emails.\n",
        drain.as_secs_f64(),
        n as f64 / drain.as_secs_f64()
    );
    let _ = writeln!(out, "## Fault run (`BENCH_FAULT_N={fault_n}`)\n");
    let _ = writeln!(
        out,
        "The stand-in fails every 4th SendGrid request (alternating 500 and 429 with \
         `Retry-After: 1`) for the first 20 s; retries back off from 1 s.\n"
    );
    let _ = writeln!(out, "{PHASE_TABLE_HEADER}");
    let _ = writeln!(out, "{}", fault_accept.row());
    let _ = writeln!(
        out,
        "\n- {fault_n} emails, exactly one per booking uid, after {:.1} s; SendGrid saw \
         {sendgrid_requests} requests ({} retried after a failure).\n",
        fault_drain.as_secs_f64(),
        sendgrid_requests as usize - fault_n
    );
    let _ = writeln!(out, "## Bundle size\n");
    let _ = writeln!(out, "| worker | wasm (bytes) | wasm gzip -9 (bytes) | `wrangler deploy --dry-run` total upload |");
    let _ = writeln!(out, "| --- | ---: | ---: | --- |");
    let _ = writeln!(out, "| receiver | {rr} | {rg} | {receiver_upload} |");
    let _ = writeln!(out, "| mailer | {mr} | {mg} | {mailer_upload} |");
    let _ = writeln!(out, "| admin | {ar} | {ag} | {admin_upload} |");
    let _ = writeln!(
        out,
        "\nRelease profile: `opt-level = \"z\"`, `lto = true`, `codegen-units = 1`, \
         `panic = \"abort\"`; then `wasm-opt -Oz --strip-debug --strip-producers`. \
         The receiver leaves out the `render` feature of `calhook-core` (askama) and every \
         admin route and scheduled job (the admin worker's); the mailer asks the runtime's \
         `Intl` for zone offsets, so no worker carries a time-zone database; the receiver's \
         RFC 8785 digest is written in Rust for events whose numbers are all exact integers \
         (no number formatter needed) and uses the runtime's JSON for any other (npm \
         `canonicalize`, bundled in its JS), so no worker links serde_json's `float_roundtrip` \
         or an ECMAScript number formatter; \
         the admin worker reads path and query from the runtime's URL string, without the \
         `url` crate's IDNA tables. The size budget is 200 KB of gzipped wasm per worker.\n"
    );
    out
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run());
    let path = std::env::var("BENCH_OUT")
        .unwrap_or_else(|_| root().join("BENCHMARKS.md").to_string_lossy().into());
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    // Sections written by hand (below the marker) are kept.
    let marker = "<!-- end of generated section -->";
    let kept = previous
        .split_once(marker)
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default();
    std::fs::write(&path, format!("{report}{marker}{kept}")).unwrap();
    println!("{report}");
    support::stop_all();
}
