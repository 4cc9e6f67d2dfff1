//! Cold start: what instantiating each worker's wasm module costs a new
//! isolate, measured under the same `wrangler dev` (workerd) as everything
//! else.
//!
//! workerd compiles a worker's wasm when it loads the worker (runtime
//! compilation is refused), so the measurable per-isolate cost is
//! `new WebAssembly.Instance`: memory, data segments, tables. A small JS worker
//! (`benches/coldstart/worker.js`) imports the three built modules and
//! instantiates one `n` times per request; the client times requests with
//! `n` = `BENCH_INSTANCES` (40) against `n` = 0, interleaved across modules,
//! `BENCH_REPS` (15) times, and takes the medians' difference ÷ `n` (workerd's
//! clock does not advance while JS runs, so timing inside would read 0).

#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

mod report;

use std::process::Stdio;
use std::time::{Duration, Instant};
use support::*;

const MODULES: [(&str, &str); 3] = [
    ("receiver", "build/index_bg.wasm"),
    ("mailer", "mailer/build/index_bg.wasm"),
    ("admin", "admin/build/index_bg.wasm"),
];

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn timed(client: &reqwest::Client, url: &str) -> f64 {
    let t = Instant::now();
    let r = client
        .get(url)
        .send()
        .await
        .expect("the bench worker answers");
    assert_eq!(
        r.status(),
        200,
        "{url}: {}",
        r.text().await.unwrap_or_default()
    );
    let _ = r.bytes().await;
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let n = setting("BENCH_INSTANCES", 40);
    let reps = setting("BENCH_REPS", 15);
    let dir = tempfile::Builder::new()
        .prefix("calhook-coldstart-")
        .tempdir()
        .unwrap();
    let mut sizes = Vec::new();
    for (name, path) in MODULES {
        let wasm = root().join(path);
        assert!(
            wasm.exists(),
            "{} is missing: run scripts/build",
            wasm.display()
        );
        std::fs::copy(&wasm, dir.path().join(format!("{name}.wasm"))).unwrap();
        sizes.push(std::fs::metadata(&wasm).unwrap().len());
    }
    std::fs::copy(
        root().join("benches/coldstart/worker.js"),
        dir.path().join("worker.js"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wrangler.toml"),
        "name = \"calhook-coldstart\"\nmain = \"worker.js\"\ncompatibility_date = \"2026-04-20\"\n",
    )
    .unwrap();

    let port = free_port();
    let log = std::fs::File::create(dir.path().join("wrangler.log")).unwrap();
    let mut cmd = wrangler_in(dir.path());
    cmd.args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string()])
        .arg("--show-interactive-dev-session=false")
        .env("WRANGLER_REGISTRY_PATH", dir.path().join("registry"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("wrangler dev starts");
    let base = format!("http://127.0.0.1:{port}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let client = reqwest::Client::new();
        let probe = format!("{base}/?m=receiver&n=1");
        poll(
            "the bench worker to answer",
            Duration::from_secs(90),
            || {
                let (client, probe) = (client.clone(), probe.clone());
                async move {
                    let r = client.get(&probe).send().await.ok()?;
                    (r.status() == 200).then_some(())
                }
            },
        )
        .await;
        let mut zero = vec![Vec::new(); MODULES.len()];
        let mut many = vec![Vec::new(); MODULES.len()];
        for rep in 0..reps + 2 {
            for (i, (name, _)) in MODULES.iter().enumerate() {
                let t0 = timed(&client, &format!("{base}/?m={name}&n=0")).await;
                let tn = timed(&client, &format!("{base}/?m={name}&n={n}")).await;
                // The first two rounds warm the worker and the allocator.
                if rep >= 2 {
                    zero[i].push(t0);
                    many[i].push(tn);
                }
            }
        }
        let mut rows = Vec::new();
        for (i, (name, _)) in MODULES.iter().enumerate() {
            let r: serde_json::Value = client
                .get(format!("{base}/?m={name}&n=1"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let (z, m) = (median(zero[i].clone()), median(many[i].clone()));
            rows.push((
                *name,
                (m - z) / n as f64,
                z,
                m,
                r["memory_pages"].as_f64().unwrap_or(0.0),
            ));
        }
        rows
    });
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();

    let mut out = format!(
        "Written by `scripts/bench` on {} (UTC): each module instantiated {n} times per request by a JS worker under `wrangler dev`, against requests instantiating none, interleaved across the modules, {reps} repetitions after 2 warm-up rounds; per instance = (median with {n} − median with 0) ÷ {n}.\n\n| worker | wasm (bytes) | initial memory | instantiate, per instance (ms) | request with 0 / with {n} (median ms) |\n| --- | ---: | ---: | ---: | ---: |\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    for ((name, per, z, m, pages), size) in rows.iter().zip(&sizes) {
        out.push_str(&format!(
            "| {name} | {size} | {:.1} MiB | **{per:.3}** | {z:.2} / {m:.2} |\n",
            pages * 65536.0 / 1_048_576.0
        ));
    }
    out.push_str("\nCompilation is not in these numbers: workerd compiles a worker's modules when it loads the worker (code cannot compile wasm at run time there); an isolate then pays this instantiation and, on each function's first call, V8's lazy compilation of that function. Every module starts with the same 1.1 MiB of memory, which is most of what an instance costs.\n");
    println!("{out}");
    report::write_section(
        &root(),
        "coldstart",
        "Cold start: instantiating each module (`benches/coldstart.rs`)",
        &out,
    );
}
