//! Side by side: calhook's receiver and the TypeScript receiver a user would
//! write instead (`../shared/anchors/ts-receiver`), under the same wrangler,
//! with the same correctly signed Cal.com bodies at the same concurrency, in
//! one run, interleaved (anchor, calhook, then calhook, anchor, …).
//!
//! For each path (bad signature → 401, new event → 200 queued, duplicate →
//! 200 duplicate) and each round: req/s, p50/p99, and process CPU per request
//! read from `/proc` (workerd and wrangler's node process apart). A run whose
//! answers are not all the expected ones panics: nothing is written from a
//! run that did not do what it claims.
//!
//! Settings (environment): `BENCH_COMPARE_N` (3000) requests per run,
//! `BENCH_C` (16) in flight, `BENCH_ROUNDS` (3), `BENCH_ANCHOR` (the anchor's
//! directory; `benches/anchor-with-duties` is the anchor doing calhook's D1,
//! queue and log work), `BENCH_OUT` (BENCHMARKS.md), `BENCH_VARIANT` (a
//! label, and receiver vars `K=V,…` in `BENCH_RECEIVER_VARS`), `BENCH_SECTION`
//! (`compare`; another name writes that section and skips the tenant route),
//! `BENCH_VERSUS` (another anchor-like directory measured in calhook's place,
//! e.g. `benches/anchor-in-rust`: the anchor ported to Rust; needs its own
//! `BENCH_SECTION`).

#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

mod client;
mod report;

use calhook_core::inbound::signature::sign;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

const BENCH_SECRET: &str = "bench-secret-0123456789";
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef01";
/// The tenant whose route is measured against the single-tenant route.
const TENANT: &str = "bench";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A BOOKING_CREATED body built like `gen_requests.py` (Cal.com's sender's
/// shape), with `createdAt` now so calhook's replay check accepts it.
fn booking_body(round: usize, i: usize, created_at: &str) -> Vec<u8> {
    let uid = format!("bench-r{round}-{i:08}");
    let payload = json!({
        "type": "30min", "title": format!("30 Min Meeting between Ada Lovelace and Guest {i}"),
        "description": "", "additionalNotes": "Looking forward to it",
        "customInputs": {}, "startTime": "2027-01-15T15:00:00Z", "endTime": "2027-01-15T15:30:00Z",
        "organizer": {"id": 5, "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada",
                      "timeZone": "Europe/London", "language": {"locale": "en"}, "timeFormat": "h:mma", "utcOffset": 0},
        "responses": {"name": {"label": "your_name", "value": format!("Guest {i}")},
                      "email": {"label": "email_address", "value": format!("guest{i}@example.org")}},
        "userFieldsResponses": {},
        "attendees": [{"email": format!("guest{i}@example.org"), "name": format!("Guest {i}"),
                       "timeZone": "America/New_York", "language": {"locale": "en"}, "utcOffset": -300}],
        "location": "integrations:daily", "destinationCalendar": null, "hideCalendarNotes": false,
        "requiresConfirmation": null, "eventTypeId": 7, "seatsShowAttendees": true, "uid": uid,
        "bookingId": 100000 + i, "status": "ACCEPTED", "length": 30, "eventTitle": "30 Min Meeting",
        "metadata": {"videoCallUrl": "https://app.cal.com/video/bench"},
    });
    serde_json::to_vec(
        &json!({"triggerEvent": "BOOKING_CREATED", "createdAt": created_at, "payload": payload}),
    )
    .unwrap()
}

/// `n` distinct bodies of `round`, signed with the bench secret, `createdAt` now.
fn signed_bodies(round: usize, n: usize) -> Vec<(Vec<u8>, String)> {
    let created = created_at(0);
    (0..n)
        .map(|i| {
            let b = booking_body(round, i, &created);
            let s = sign(BENCH_SECRET, &b);
            (b, s)
        })
        .collect()
}

/// The same bodies with a signature made with another secret.
fn forged(signed: &[(Vec<u8>, String)]) -> Vec<(Vec<u8>, String)> {
    signed
        .iter()
        .map(|(b, _)| (b.clone(), sign("not-the-secret-0000000", b)))
        .collect()
}

/// The three paths, with the answer each request must get.
#[derive(Clone, Copy, PartialEq)]
enum Path3 {
    BadSignature,
    New,
    Duplicate,
}

impl Path3 {
    fn name(self) -> &'static str {
        match self {
            Path3::BadSignature => "bad signature → 401",
            Path3::New => "new event → 200 queued",
            Path3::Duplicate => "duplicate → 200 duplicate",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Path3::BadSignature => "401",
            Path3::New => "200 queued",
            Path3::Duplicate => "200 duplicate",
        }
    }
}

/// One receiver under its own `wrangler dev`.
struct Target {
    name: &'static str,
    url: String,
    /// The process group (wrangler and the workerd it starts).
    pgid: i32,
    _child: Option<Child>,
    _stack: Option<Stack>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Target {
    /// The anchor's wrangler and workerd go with their process group.
    fn drop(&mut self) {
        if let Some(child) = &mut self._child {
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

/// CPU seconds of the group's processes: (workerd, everything else = wrangler's node).
fn cpu_seconds(pgid: i32) -> (f64, f64) {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (mut workerd, mut node) = (0.0, 0.0);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp … utime(14) stime(15)
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if fields.len() < 13 || fields[2].parse::<i32>().ok() != Some(pgid) {
            continue;
        }
        let t = (fields[11].parse::<f64>().unwrap_or(0.0)
            + fields[12].parse::<f64>().unwrap_or(0.0))
            / tick;
        if comm.starts_with("workerd") {
            workerd += t;
        } else {
            node += t;
        }
    }
    (workerd, node)
}

struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
    /// ms of CPU per request.
    workerd_ms: f64,
    node_ms: f64,
}

async fn run(target: &Target, bodies: &[(Vec<u8>, String)], c: usize, path: Path3) -> Run {
    let before = cpu_seconds(target.pgid);
    let started = Instant::now();
    let results = client::post_all(&target.url, bodies.to_vec(), c).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = cpu_seconds(target.pgid);
    let wrong: Vec<&String> = results
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.as_str() != path.expected())
        .collect();
    assert!(
        wrong.is_empty(),
        "{} on {}: {} of {} answers were not {:?} (first: {:?}); nothing is written",
        target.name,
        path.name(),
        wrong.len(),
        results.len(),
        path.expected(),
        wrong.first()
    );
    let mut lat: Vec<f64> = results
        .iter()
        .map(|(d, _)| d.as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    let n = results.len() as f64;
    Run {
        rps: n / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        workerd_ms: (after.0 - before.0) * 1000.0 / n,
        node_ms: (after.1 - before.1) * 1000.0 / n,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `name`: how the tables call it.
/// `latency`: under the edge-latency model (`benches/latency/wrap.js`).
async fn start_anchor(dir: &Path, name: &'static str, latency: Option<Latency>) -> Target {
    let tmp = tempfile::Builder::new()
        .prefix("calhook-anchor-")
        .tempdir()
        .unwrap();
    let app = tmp.path().join("ts-receiver");
    copy_dir(dir, &app);
    // An anchor without a schema of its own (benches/anchor-with-duties)
    // runs on calhook's migrations; its imports resolve in the project's
    // node_modules.
    if !app.join("migrations").exists() {
        copy_dir(&root().join("migrations"), &app.join("migrations"));
    }
    if !app.join("node_modules").exists() {
        std::os::unix::fs::symlink(root().join("node_modules"), app.join("node_modules")).unwrap();
    }
    std::fs::write(
        app.join(".dev.vars"),
        format!("CAL_WEBHOOK_SECRET={BENCH_SECRET}\n"),
    )
    .unwrap();
    let migrate = wrangler_in(tmp.path())
        .args([
            "d1",
            "migrations",
            "apply",
            "ts-receiver",
            "--local",
            "--persist-to",
            "state",
        ])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "anchor migrations: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let port = free_port();
    let log = std::fs::File::create(tmp.path().join("wrangler.log")).unwrap();
    let mut cmd = wrangler_in(tmp.path());
    cmd.arg("dev");
    if let Some(l) = latency {
        let config: toml::Table = std::fs::read_to_string(app.join("wrangler.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let main = config["main"].as_str().unwrap();
        std::fs::write(
            app.join("latency-entry.js"),
            format!(
                "import inner from \"./{main}\";\nimport {{ withLatencyEntry }} from \"{}\";\nexport default withLatencyEntry(inner);\n",
                root().join("benches/latency/wrap.js").display()
            ),
        )
        .unwrap();
        cmd.arg("latency-entry.js");
        for (k, v) in l.vars() {
            cmd.args(["--var", &format!("{k}:{v}")]);
        }
    }
    cmd.args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string()])
        .args([
            "--persist-to",
            "state",
            "--show-interactive-dev-session=false",
        ])
        .env("WRANGLER_REGISTRY_PATH", tmp.path().join("registry"))
        .current_dir(&app)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("wrangler dev starts");
    let url = format!("http://127.0.0.1:{port}/webhooks/cal");
    // Up when a GET is answered (405 from the anchor).
    poll("the anchor to answer", Duration::from_secs(90), || {
        let url = url.clone();
        async move { reqwest::get(&url).await.ok().map(|_| ()) }
    })
    .await;
    Target {
        name,
        url,
        pgid: child.id() as i32,
        _child: Some(child),
        _stack: None,
        _dir: Some(tmp),
    }
}

async fn start_calhook(latency: Option<Latency>) -> Target {
    let mut receiver_vars: Vec<(&'static str, String)> = vec![
        ("CAL_WEBHOOK_SECRET", BENCH_SECRET.into()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("TENANT_SECRETS_KEY", "ab".repeat(32)),
    ];
    if let Some(l) = latency {
        receiver_vars.extend(l.vars());
    }
    if let Ok(extra) = std::env::var("BENCH_RECEIVER_VARS") {
        for kv in extra.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("BENCH_RECEIVER_VARS: K=V,…");
            receiver_vars.push((Box::leak(k.to_owned().into_boxed_str()), v.to_owned()));
        }
    }
    // The anchor's queue has an ack-only consumer in its wrangler; calhook's
    // gets the same, so that both pay the local Queue's delivery alike.
    let ack = tempfile::Builder::new()
        .prefix("calhook-bench-ack-")
        .tempdir()
        .unwrap();
    std::fs::write(
        ack.path().join("index.js"),
        "export default {\n  async fetch() { return new Response('ack-only'); },\n  \
         async queue(batch) { for (const m of batch.messages) m.ack(); },\n};\n",
    )
    .unwrap();
    std::fs::write(
        ack.path().join("wrangler.toml"),
        "name = \"bench-ack\"\nmain = \"index.js\"\ncompatibility_date = \"2026-04-01\"\n\n\
         [[queues.consumers]]\nqueue = \"calhook-notifications\"\nmax_batch_timeout = 1\n",
    )
    .unwrap();
    if latency.is_some() {
        std::env::set_var(RECEIVER_ENTRY, "benches/latency/calhook.js");
    }
    // The receiver's entry wrapped for a measurement (latency, crossings).
    let edit_receiver: Option<fn(&mut toml::Table)> = match std::env::var(RECEIVER_ENTRY) {
        Ok(_) => Some(|config| {
            let entry = root().join(std::env::var(RECEIVER_ENTRY).unwrap());
            config.insert("main".into(), entry.display().to_string().into());
        }),
        Err(_) => None,
    };
    let stack = Stack::start(Options {
        receiver_vars,
        receiver_only: true,
        extra_configs: vec![ack.path().join("wrangler.toml")],
        edit_receiver,
        ..Options::default()
    })
    .await;
    Target {
        name: "calhook",
        url: stack.webhook_url(),
        pgid: stack.pid().expect("running") as i32,
        _child: None,
        _stack: Some(stack),
        _dir: Some(ack),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Runs every path `rounds` times on both targets, interleaved: who goes first
/// alternates, so drift over the run hits both alike. Both are warmed first
/// on every measured path (JIT, isolates, D1 files) with requests not
/// measured: V8 tiers each wasm function up on its own, so a path not warmed
/// pays its compilation inside its first measured run. Bodies of round `r`
/// come from seed `seed + r`. Returns `[path][target]` = one `Run` per round.
async fn interleaved(
    targets: &[&Target],
    paths: &[Path3],
    rounds: usize,
    n: usize,
    c: usize,
    seed: usize,
) -> Vec<Vec<Vec<Run>>> {
    let mut results: Vec<Vec<Vec<Run>>> = paths
        .iter()
        .map(|_| targets.iter().map(|_| Vec::new()).collect())
        .collect();
    let warm = signed_bodies(seed + 99, 300);
    let warm_forged = forged(&warm);
    for t in targets {
        for path in paths {
            let bodies = match path {
                Path3::BadSignature => &warm_forged,
                Path3::New | Path3::Duplicate => &warm,
            };
            run(t, bodies, c, *path).await;
        }
    }
    for round in 0..rounds {
        let signed = signed_bodies(seed + round, n);
        let forged = forged(&signed);
        // Who goes first turns round by round.
        let order: Vec<usize> = (0..targets.len())
            .map(|i| (i + round) % targets.len())
            .collect();
        for (p, path) in paths.iter().enumerate() {
            let bodies = match path {
                Path3::BadSignature => &forged,
                Path3::New | Path3::Duplicate => &signed,
            };
            for &t in &order {
                let r = run(targets[t], bodies, c, *path).await;
                eprintln!(
                    "round {round} {:<28} {:<12} {:>6.0} req/s  p50 {:>5.1} ms  p99 {:>6.1} ms  cpu/req workerd {:.2} ms, wrangler {:.2} ms",
                    path.name(),
                    targets[t].name,
                    r.rps,
                    r.p50,
                    r.p99,
                    r.workerd_ms,
                    r.node_ms
                );
                results[p][t].push(r);
            }
        }
    }
    results
}

/// Set by this bench: the receiver's entry module, relative to the project.
const RECEIVER_ENTRY: &str = "BENCH_RECEIVER_ENTRY";

/// `BENCH_CROSSINGS=1`: calhook's receiver with every wasm↔JS call counted
/// (`benches/crossings/count.js`), per path; writes `crossings`.
fn crossings_main() {
    let n = setting("BENCH_CROSSINGS_N", 300);
    std::env::set_var(RECEIVER_ENTRY, "benches/crossings/calhook.js");
    let rt = runtime();
    let paths = [Path3::BadSignature, Path3::New, Path3::Duplicate];
    let rows = rt.block_on(async {
        let calhook = start_calhook(None).await;
        let counts_url = calhook.url.replace("/webhooks/cal", "/__crossings");
        let take = || async {
            reqwest::get(&counts_url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        };
        // Warm every path first (compilation, the tenant cache, D1 files).
        let warm = signed_bodies(301, 50);
        run(&calhook, &forged(&warm), 4, Path3::BadSignature).await;
        run(&calhook, &warm, 4, Path3::New).await;
        run(&calhook, &warm, 4, Path3::Duplicate).await;
        let signed = signed_bodies(302, n);
        let forged = forged(&signed);
        let mut rows = Vec::new();
        for path in paths {
            take().await;
            let bodies = match path {
                Path3::BadSignature => &forged,
                _ => &signed,
            };
            run(&calhook, bodies, 4, path).await;
            rows.push((path, take().await));
        }
        rows
    });
    let per_request = |m: &serde_json::Value| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = m
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, c)| (k.clone(), c.as_f64().unwrap() / n as f64))
            .collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        v
    };
    let binding = |name: &str| {
        [
            "prepare",
            "bind",
            "batch",
            "first",
            "run",
            "all",
            "send",
            "sendBatch",
            "fetch",
        ]
        .iter()
        .any(|b| name == format!("__wbg_{b}"))
            || name.starts_with("__wbg_d1_batch")
    };
    let mut out = format!(
        "Written by `scripts/bench` on {} (UTC): calhook's receiver under `wrangler dev` with every call between its wasm and the JS runtime counted (`benches/crossings/count.js` wraps the wasm instance's imports and exports), {n} requests per path after a warm-up, divided by {n}. wasm → JS: wasm-bindgen's imports (runtime APIs, string and value transfers, promise glue); of which bindings: D1 (`prepare`/`bind`/`batch`/`first`/`run`/`all`, or one `d1_batch_changes` for a whole batch), queue `send`, service `fetch`. JS → wasm: the entry call and every resumption of a future when a promise settles (each `await` on the runtime).\n\n\
         | path | wasm → JS calls/req | of which bindings | JS → wasm calls/req | most frequent wasm → JS |\n| --- | ---: | ---: | ---: | --- |\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
    );
    for (path, counts) in &rows {
        let to_js = per_request(&counts["toJs"]);
        let to_wasm = per_request(&counts["toWasm"]);
        let total = |v: &[(String, f64)]| v.iter().map(|(_, c)| c).sum::<f64>();
        // `abs`: an empty f64 sum is -0.0.
        let bindings: f64 = to_js
            .iter()
            .filter(|(k, _)| binding(k))
            .map(|(_, c)| c)
            .sum::<f64>()
            .abs();
        let top: Vec<String> = to_js
            .iter()
            .take(5)
            .map(|(k, c)| format!("`{}` {c:.1}", k.trim_start_matches("__wbg_")))
            .collect();
        out.push_str(&format!(
            "| {} | {:.1} | {bindings:.1} | {:.1} | {} |\n",
            path.name(),
            total(&to_js),
            total(&to_wasm),
            top.join(", ")
        ));
    }
    println!("{out}");
    report::write_section(
        &root(),
        "crossings",
        "Runtime crossings per request in the receiver (`benches/compare.rs`, `BENCH_CROSSINGS=1`)",
        &out,
    );
}

/// The edge-latency model's delays (ms), `BENCH_D1_DELAY_MS` (30) and
/// `BENCH_QUEUE_DELAY_MS` (10).
#[derive(Clone, Copy)]
struct Latency {
    d1_ms: usize,
    queue_ms: usize,
}

impl Latency {
    fn from_env() -> Self {
        Latency {
            d1_ms: setting("BENCH_D1_DELAY_MS", 30),
            queue_ms: setting("BENCH_QUEUE_DELAY_MS", 10),
        }
    }

    fn vars(self) -> Vec<(&'static str, String)> {
        vec![
            ("BENCH_D1_DELAY_MS", self.d1_ms.to_string()),
            ("BENCH_QUEUE_DELAY_MS", self.queue_ms.to_string()),
        ]
    }
}

/// `BENCH_LATENCY=1`: the anchor, `anchor-with-duties` and calhook, all
/// under the same edge-latency model, interleaved; writes `latency`.
fn latency_main() {
    let n = setting("BENCH_LATENCY_N", 300);
    // Few in flight: the latency of one request, not the machine's queueing.
    let c = setting("BENCH_LATENCY_C", 2);
    let rounds = setting("BENCH_ROUNDS", 3);
    let l = Latency::from_env();
    let rt = runtime();
    let paths = [Path3::BadSignature, Path3::New, Path3::Duplicate];
    let results = rt.block_on(async {
        let anchor = start_anchor(
            &root().join("../shared/anchors/ts-receiver"),
            "anchor",
            Some(l),
        )
        .await;
        let duties = start_anchor(
            &root().join("benches/anchor-with-duties"),
            "anchor-with-duties",
            Some(l),
        )
        .await;
        let calhook = start_calhook(Some(l)).await;
        interleaved(&[&anchor, &duties, &calhook], &paths, rounds, n, c, 200).await
    });
    let m = |rs: &[Run], f: fn(&Run) -> f64| mean(&rs.iter().map(f).collect::<Vec<_>>());
    let mut out = format!(
        "Written by `scripts/bench` on {} (UTC): every D1 call and every queue send of each receiver waits {} ms and {} ms (`benches/latency/wrap.js`, the same JS wrapper around each receiver's `env`), as a D1 write far from its primary and a queue send take at the edge. {rounds} rounds, interleaved (who goes first turns), {n} requests per run, {c} in flight, same bodies for all. Expected from the round trips alone: a path that waits for D1 then the queue ≈ {} ms, for both at once ≈ {} ms, for D1 alone ≈ {} ms.\n\n\
         | path | anchor p50 / p99 ms | anchor-with-duties p50 / p99 ms | calhook p50 / p99 ms | anchor req/s | anchor-with-duties req/s | calhook req/s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        l.d1_ms,
        l.queue_ms,
        l.d1_ms + l.queue_ms,
        l.d1_ms.max(l.queue_ms),
        l.d1_ms,
    );
    for (p, path) in paths.iter().enumerate() {
        let r = &results[p];
        out.push_str(&format!("| {} |", path.name()));
        for rs in r {
            out.push_str(&format!(
                " {:.1} / {:.1} |",
                m(rs, |x| x.p50),
                m(rs, |x| x.p99)
            ));
        }
        for rs in r {
            out.push_str(&format!(" {:.0} |", m(rs, |x| x.rps)));
        }
        out.push('\n');
    }
    println!("{out}");
    report::write_section(
        &root(),
        "latency",
        "With an edge-latency model: one round trip or two (`benches/compare.rs`, `BENCH_LATENCY=1`)",
        &out,
    );
}

/// The client's runtime: two threads, as many as the machine's cores.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    if std::env::var_os("BENCH_LATENCY").is_some() {
        return latency_main();
    }
    if std::env::var_os("BENCH_CROSSINGS").is_some() {
        return crossings_main();
    }
    let n = setting("BENCH_COMPARE_N", 3000);
    let c = setting("BENCH_C", 16);
    let rounds = setting("BENCH_ROUNDS", 3);
    let anchor_dir = std::env::var_os("BENCH_ANCHOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/anchors/ts-receiver"));
    assert!(
        anchor_dir.join("wrangler.toml").exists(),
        "the anchor is not at {} (set BENCH_ANCHOR)",
        anchor_dir.display()
    );
    let versus = std::env::var_os("BENCH_VERSUS").map(PathBuf::from);
    if let Some(dir) = &versus {
        assert!(
            dir.join("wrangler.toml").exists() && dir.join("build/index_bg.wasm").exists(),
            "BENCH_VERSUS={}: not a built worker directory (scripts/build-worker anchor-in-rust)",
            dir.display()
        );
    }
    let rt = runtime();
    let paths = [Path3::BadSignature, Path3::New, Path3::Duplicate];
    // The tenant route against the single route.
    let route_paths = [Path3::BadSignature, Path3::New];
    // Another anchor (benches/anchor-with-duties) writes its own section
    // and skips the route comparison, which does not involve the anchor.
    let section = std::env::var("BENCH_SECTION").unwrap_or_else(|_| "compare".into());
    assert!(
        versus.is_none() || section != "compare",
        "BENCH_VERSUS writes its own BENCH_SECTION, not calhook's `compare`"
    );
    let with_routes = section == "compare";
    let shown = |dir: &Path| {
        dir.canonicalize()
            .ok()
            .and_then(|d| {
                d.strip_prefix(root().canonicalize().ok()?)
                    .ok()
                    .map(Path::to_path_buf)
            })
            .unwrap_or_else(|| dir.to_path_buf())
    };
    let anchor_name = shown(&anchor_dir);
    let (results, routes) = rt.block_on(async {
        let anchor = start_anchor(&anchor_dir, "anchor", None).await;
        // calhook's receiver, or the worker measured in its place.
        let measured = match &versus {
            Some(dir) => start_anchor(dir, "versus", None).await,
            None => start_calhook(None).await,
        };
        let results = interleaved(&[&anchor, &measured], &paths, rounds, n, c, 0).await;
        if !with_routes {
            return (results, Vec::new());
        }

        // The same receiver, its tenant route next to its single route.
        let stack = measured._stack.as_ref().unwrap();
        let (status, answer) = stack
            .admin(
                reqwest::Method::POST,
                "/admin/tenants",
                ADMIN_TOKEN,
                Some(json!({"id": TENANT, "secret": BENCH_SECRET})),
            )
            .await;
        assert_eq!(status, 201, "creating the bench tenant: {answer}");
        let tenant = Target {
            name: "tenant route",
            url: format!("{}/{TENANT}", measured.url),
            pgid: measured.pgid,
            _child: None,
            _stack: None,
            _dir: None,
        };
        let routes = interleaved(&[&measured, &tenant], &route_paths, rounds, n, c, 100).await;
        (results, routes)
    });

    // The side measured against the anchor, as the tables name it.
    let (other, consumers) = match &versus {
        Some(dir) => (
            dir.file_name()
                .map_or("versus".into(), |n| n.to_string_lossy().into_owned()),
            "each worker's own `queue()`",
        ),
        None => (
            "calhook".to_owned(),
            "the anchor's own `queue()`, a four-line JS worker for calhook",
        ),
    };
    let variant = match &versus {
        Some(dir) => shown(dir).display().to_string(),
        None => std::env::var("BENCH_VARIANT").unwrap_or_else(|_| "calhook".into()),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Written by `scripts/bench` on {} (UTC): {rounds} rounds, each path's runs interleaved (anchor and {other} alternate going first), {n} requests per run, {c} in flight, same bodies for both (Cal.com's BOOKING_CREATED shape, `createdAt` now). Receiver alone under `wrangler dev` (no mailer); each queue with the same ack-only consumer in its own wrangler ({consumers}). Client: Rust (reqwest). CPU: utime+stime from `/proc` of the wrangler process group over the run ÷ requests. No DevTools session on either side. Anchor: `{}`. Variant: `{variant}`.\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        anchor_name.display()
    ));
    out.push_str(&format!("| path | anchor req/s | {other} req/s | ratio | anchor p50 / p99 ms | {other} p50 / p99 ms | CPU/req workerd anchor / {other} ms | CPU/req wrangler (node) anchor / {other} ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"));
    for (p, path) in paths.iter().enumerate() {
        let [a, k] = &results[p][..] else {
            unreachable!("two targets")
        };
        let m = |rs: &[Run], f: fn(&Run) -> f64| mean(&rs.iter().map(f).collect::<Vec<_>>());
        let per_round = |rs: &[Run]| {
            rs.iter()
                .map(|r| format!("{:.0}", r.rps))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        out.push_str(&format!(
            "| {} | {:.0} ({}) | {:.0} ({}) | **{:.2}×** | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} / {:.2} | {:.2} / {:.2} |\n",
            path.name(),
            m(a, |r| r.rps),
            per_round(a),
            m(k, |r| r.rps),
            per_round(k),
            m(k, |r| r.rps) / m(a, |r| r.rps),
            m(a, |r| r.p50),
            m(a, |r| r.p99),
            m(k, |r| r.p50),
            m(k, |r| r.p99),
            m(a, |r| r.workerd_ms),
            m(k, |r| r.workerd_ms),
            m(a, |r| r.node_ms),
            m(k, |r| r.node_ms),
        ));
    }
    out.push_str("\nreq/s is the mean over rounds (each round's value in brackets); latencies and CPU are means over rounds.\n");
    let title = if with_routes {
        "Side by side with the TypeScript receiver (`benches/compare.rs`)".to_owned()
    } else if versus.is_some() {
        format!("`{variant}` side by side with the TypeScript receiver (`benches/compare.rs`)")
    } else {
        format!(
            "Side by side with `{}` (`benches/compare.rs`)",
            anchor_name.display()
        )
    };
    if with_routes {
        routes_table(&mut out, &route_paths, &routes);
    }
    println!("{out}");
    report::write_section(&root(), &section, &title, &out);
}

/// The tenant route next to the single route.
fn routes_table(out: &mut String, route_paths: &[Path3], routes: &[Vec<Vec<Run>>]) {
    out.push_str(&format!(
        "\n### The tenant route next to the single route\n\nThe same calhook receiver, `/webhooks/cal` and `/webhooks/cal/{TENANT}` (a tenant with the same secret, warm cache), runs interleaved the same way.\n\n| path | single route req/s | tenant route req/s | ratio | single p50 / p99 ms | tenant p50 / p99 ms |\n| --- | ---: | ---: | ---: | ---: | ---: |\n"
    ));
    for (p, path) in route_paths.iter().enumerate() {
        let [single, tenant] = &routes[p][..] else {
            unreachable!("two targets")
        };
        let m = |rs: &[Run], f: fn(&Run) -> f64| mean(&rs.iter().map(f).collect::<Vec<_>>());
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | **{:.2}×** | {:.1} / {:.1} | {:.1} / {:.1} |\n",
            path.name(),
            m(single, |r| r.rps),
            m(tenant, |r| r.rps),
            m(tenant, |r| r.rps) / m(single, |r| r.rps),
            m(single, |r| r.p50),
            m(single, |r| r.p99),
            m(tenant, |r| r.p50),
            m(tenant, |r| r.p99),
        ));
    }
}
