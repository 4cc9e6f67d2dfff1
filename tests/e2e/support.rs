//! The test stack: both real workers under `wrangler dev` (workerd) with fresh
//! local D1 and Queues, and the SendGrid stand-in in this process.
//!
//! Each stack gets its own temporary directory holding copies of the two
//! `wrangler.toml` files with the test's settings as vars (so a developer's own
//! `.dev.vars` never leaks in), its own persisted state, and free loopback ports.

use calhook_core::inbound::signature::sign;
use reqwest::header::HeaderMap;
use sendgrid_standin::{Captured, StandIn};
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SECRET: &str = "whsec_current_test_secret";
pub const PREVIOUS_SECRET: &str = "whsec_previous_test_secret";
pub const SENDGRID_KEY: &str = "SG.test-key";

/// Process groups of every running stack, killed when the test binary ends.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wrangler() -> PathBuf {
    root().join("node_modules/.bin/wrangler")
}

/// The tests' HTTP client: every request gives up after 30 s, so a worker
/// that never answers fails the test that asked instead of hanging the run.
///
/// No connection is reused: wrangler's server closes idle keep-alive
/// connections, and a request sent on one just as it closes fails
/// (IncompleteMessage). Dropping idle connections after 2 s on this side
/// still lost one such race under a loaded CI run, while the test thread was
/// blocked in `wrangler d1 execute`.
pub fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        })
        .clone()
}

/// Signals a command's whole process group (commands run as group leaders):
/// what it started (workerd under wrangler, Chromium under node) would
/// otherwise live on, and keep its pipes open.
fn signal_group(pgid: u32, signal: libc::c_int) {
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

/// Runs a command to its end, or kills it (and what it started) after
/// `deadline` and says so: a wrangler that hangs fails the test that ran it,
/// never the whole run.
pub fn output_within(cmd: &mut Command, deadline: Duration) -> std::process::Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            panic!(
                "{what} did not finish in {deadline:?}:\n{}",
                String::from_utf8_lossy(&stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// How long one headless Chromium script may take.
pub const BROWSER_DEADLINE: Duration = Duration::from_secs(240);

/// `output_within` without blocking the runtime, for a command that reaches
/// the stand-ins this runtime serves: `stdin` written, then closed.
pub async fn output_within_async(
    cmd: &mut tokio::process::Command,
    stdin: &str,
    deadline: Duration,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            if let Some(pid) = pid {
                signal_group(pid, libc::SIGKILL);
            }
            panic!("{what} did not finish in {deadline:?}")
        }
    }
}

/// How long one run of the `calhook` CLI by a test may take.
pub const CLI_DEADLINE: Duration = Duration::from_secs(150);

/// How long one `wrangler` command run by a test may take.
pub const WRANGLER_COMMAND_DEADLINE: Duration = Duration::from_secs(120);

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs `tests/browser/<script>` (headless Chromium through playwright-core)
/// with `args` after the screenshot directory, which it returns; fails the
/// test with the script's output if a step failed.
pub async fn browser_test(script: &str, base: &str, token: &str, args: &[&str]) -> PathBuf {
    let shots = root().join("target/console-screenshots");
    let run = output_within_async(
        tokio::process::Command::new("node")
            .arg(root().join("tests/browser").join(script))
            .args([base, token])
            .arg(&shots)
            .args(args)
            .current_dir(root()),
        "",
        BROWSER_DEADLINE,
    )
    .await;
    assert!(
        run.status.success(),
        "the browser test failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    shots
}

/// A booking uid no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SendGrid stand-in that refuses the first send for good (400, as for an
/// unverified sender): the email is dead-lettered.
pub fn standin_refusing_the_first_send() -> StandIn {
    let standin = StandIn::new(Some(SENDGRID_KEY.into()));
    standin.fail_next(sendgrid_standin::Fault {
        status: 400,
        count: 1,
        retry_after: None,
        answer_after_ms: None,
    });
    standin
}

/// A fixture from `tests/fixtures/`, by trigger name, with `createdAt`
/// stamped now as Cal.com stamps each delivery (a fixture's own date would be
/// refused as stale).
pub fn fixture(trigger: &str) -> Value {
    let path = root().join(format!("tests/fixtures/{}.json", trigger.to_lowercase()));
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    if v.get("payload").is_some() && v.get("createdAt").is_some() {
        v["createdAt"] = Value::String(created_at(0));
    }
    // Cal.com sends these at (or just after) the meeting: one about a meeting
    // long over is refused as a replay, so the fixture's meeting is now.
    if trigger.starts_with("MEETING_") || trigger.ends_with("_CAL_VIDEO_NO_SHOW") {
        let times = if v.get("payload").is_some() {
            &mut v["payload"]
        } else {
            &mut v
        };
        for (field, offset) in [("startTime", -30 * 60_000), ("endTime", 0)] {
            if times.get(field).is_some() {
                times[field] = Value::String(created_at(offset));
            }
        }
    }
    v
}

/// The key a body claims in the receiver's idempotency store (as the core derives it).
pub fn claim_key(v: &Value) -> String {
    let envelope = calhook_core::inbound::event::parse(&body(v)).expect("a Cal.com envelope");
    calhook_core::inbound::identity::derive(&envelope)
        .expect("an event with a key")
        .claim
        .to_string()
}

/// Cal.com's `createdAt` (`toISOString()`) for now plus `offset_ms`.
pub fn created_at(offset_ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(offset_ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fixture whose booking (or OOO entry) is `uid`, so that tests do not share keys.
pub fn fixture_for(trigger: &str, uid: &str) -> Value {
    let mut v = fixture(trigger);
    let payload = if v.get("payload").is_some() {
        &mut v["payload"]
    } else {
        &mut v
    };
    for field in ["uid", "bookingUid"] {
        if payload.get(field).is_some() {
            payload[field] = Value::String(uid.to_owned());
        }
    }
    if let Some(entry) = payload.get_mut("oooEntry") {
        entry["uuid"] = Value::String(uid.to_owned());
    }
    if let Some(responses) = payload.get_mut("responses") {
        responses["Your name"] = serde_json::json!({"value": uid});
    }
    v
}

pub fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Waits for `check` to return `Some`, polling until `deadline`.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        // A check that never returns (a request nobody answers) ends the wait too.
        let left = deadline.saturating_sub(start.elapsed()) + Duration::from_secs(1);
        match tokio::time::timeout(left, check()).await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(_) => {
                panic!("timed out after {deadline:?} waiting for {what}: a check did not return")
            }
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where wrangler's debug log goes: `/dev/null`, through a link in `dir`.
///
/// wrangler appends every message it handles (each log line of the workers
/// too) to a debug log, by default a new file per session under
/// `~/.config/.wrangler/logs`: 1.6 GB on this machine after a few weeks of
/// test runs, and one open–append–close per message in wrangler's process
/// while a benchmark measures it. The messages are still in the stack's log.
pub fn discarded_debug_log(dir: &Path) -> PathBuf {
    let link = dir.join("wrangler-debug.log");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("/dev/null", &link).expect("a link in the stack's directory");
    }
    link
}

/// The project's wrangler, as every test and bench runs it: no metrics, no
/// prompts, its debug log discarded through a link in `dir`, and no DevTools
/// session of its own.
///
/// `wrangler dev` opens a DevTools session on one worker of every session it
/// starts (the InspectorProxyWorker: `Runtime.enable`, `Network.enable`). With
/// it, every `console.log` and every D1 call of that worker (D1's binding is a
/// `fetch` to `http://d1/…`) becomes inspector events that are parsed, sent to
/// wrangler's node process one loopback request each and kept in an array
/// that nothing empties. With several `-c` configs the session lands on
/// whichever worker's bundle finished last, so it came and went between runs.
/// No debugger is attached in production; wrangler skips the session when it
/// believes a VS Code debug terminal owns the inspector, so this says so. The
/// inspector port stays open.
pub fn wrangler_in(dir: &Path) -> Command {
    let mut cmd = Command::new(wrangler());
    cmd.env("WRANGLER_LOG_PATH", discarded_debug_log(dir))
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG", "log")
        .env("CI", "true")
        .env("VSCODE_INSPECTOR_OPTIONS", "{}");
    cmd
}

#[derive(Clone, Default)]
pub struct Options {
    pub receiver_vars: Vec<(&'static str, String)>,
    pub mailer_vars: Vec<(&'static str, String)>,
    /// Receiver settings left out of the defaults (to test a missing one).
    pub receiver_unset: Vec<&'static str>,
    pub mailer_unset: Vec<&'static str>,
    /// Changes to the receiver's wrangler.toml (e.g. remove a binding).
    pub edit_receiver: Option<fn(&mut toml::Table)>,
    /// Changes to the mailer's wrangler.toml (e.g. fewer retries).
    pub edit_mailer: Option<fn(&mut toml::Table)>,
    /// Reuse another stack's state directory (to restart against the same D1).
    pub state_dir: Option<PathBuf>,
    pub standin: Option<StandIn>,
    /// No mailer under `wrangler dev` (benchmarks of the receiver alone; the
    /// idle admin worker serves their tenant setup).
    pub receiver_only: bool,
    /// More workers in the same `wrangler dev` (the benchmark's ack-only consumer).
    pub extra_configs: Vec<PathBuf>,
}

pub struct Stack {
    pub base: String,
    pub standin: StandIn,
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    mailer_config: PathBuf,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

fn default_receiver_vars() -> Vec<(&'static str, String)> {
    vec![("CAL_WEBHOOK_SECRET", format!("{SECRET},{PREVIOUS_SECRET}"))]
}

fn default_mailer_vars(standin: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("SENDGRID_API_KEY", SENDGRID_KEY.to_owned()),
        ("SENDGRID_API_BASE", format!("http://{standin}")),
        ("EMAIL_FROM", "Bookings <bookings@example.com>".to_owned()),
        ("EMAIL_TO", "team@example.com".to_owned()),
        ("RETRY_BASE_DELAY_SECONDS", "1".to_owned()),
        ("RETRY_MAX_DELAY_SECONDS", "2".to_owned()),
    ]
}

/// Settings that are secrets in production go to `.dev.vars`, so wrangler
/// hides their values as it does for real secrets.
fn is_secret(name: &str) -> bool {
    name.ends_with("_SECRET")
        || name.ends_with("_KEY")
        || name.ends_with("_KEY_PREVIOUS")
        || name.ends_with("_TOKEN")
}

/// Writes `dir/wrangler.toml` (the project's config with absolute paths, no
/// build step and the test's settings) and `dir/.dev.vars` (its secrets).
fn write_test_config(
    dir: &Path,
    source: &Path,
    vars: &[(&'static str, String)],
    unset: &[&'static str],
    edit: Option<fn(&mut toml::Table)>,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let secrets: String = vars
        .iter()
        .filter(|(k, _)| is_secret(k))
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(dir.join(".dev.vars"), secrets).unwrap();
    let plain: Vec<_> = vars
        .iter()
        .filter(|(k, _)| !is_secret(k))
        .cloned()
        .collect();
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, test_config(source, &plain, unset, edit)).unwrap();
    path
}

fn test_config(
    source: &Path,
    vars: &[(&'static str, String)],
    unset: &[&'static str],
    edit: Option<fn(&mut toml::Table)>,
) -> String {
    let dir = source.parent().unwrap();
    let mut config: toml::Table = std::fs::read_to_string(source).unwrap().parse().unwrap();
    let main = config["main"].as_str().unwrap().to_owned();
    config.insert(
        "main".into(),
        dir.join(main).to_string_lossy().into_owned().into(),
    );
    config.remove("build");
    if let Some(dbs) = config
        .get_mut("d1_databases")
        .and_then(|d| d.as_array_mut())
    {
        for db in dbs {
            let table = db.as_table_mut().unwrap();
            if let Some(m) = table.get("migrations_dir").and_then(|m| m.as_str()) {
                let abs = dir.join(m).to_string_lossy().into_owned();
                table.insert("migrations_dir".into(), abs.into());
            }
        }
    }
    let table = config
        .entry("vars")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap();
    for name in unset {
        table.remove(*name);
    }
    for (k, v) in vars {
        table.insert((*k).into(), v.clone().into());
    }
    if let Some(edit) = edit {
        edit(&mut config);
    }
    toml::to_string(&config).unwrap()
}

/// How long `wrangler dev` may take to say it is ready and answer `/healthz`.
const READY_DEADLINE: Duration = Duration::from_secs(90);

/// Starts `wrangler dev` on the `configs` and returns it with the port it
/// serves on: the one its own log names ("Ready on …"), never merely a port
/// that answers, which another stack could hold. A port taken between
/// `free_port` and wrangler's bind is tried again with another.
async fn start_wrangler_dev(
    dir: &Path,
    configs: &[PathBuf],
    state: &Path,
    log: &Path,
) -> (Child, u16) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port();
        let log_file = std::fs::File::create(log).unwrap();
        let mut cmd = wrangler_in(dir);
        cmd.arg("dev");
        for config in configs {
            cmd.arg("-c").arg(config);
        }
        cmd.args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(state)
            .arg("--show-interactive-dev-session=false")
            // GET /__scheduled runs the receiver's cron handler (which hands
            // the job to the admin worker).
            .arg("--test-scheduled")
            // wrangler dev sessions on one machine share a registry and reload
            // their workers when another session starts or stops: keep each
            // stack's to itself.
            .env("WRANGLER_REGISTRY_PATH", dir.join("registry"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("wrangler dev starts");
        RUNNING.lock().unwrap().push(child.id());
        let read_log = || std::fs::read_to_string(log).unwrap_or_default();
        let started = Instant::now();
        loop {
            let text = read_log();
            if let Some(ready) = ready_port(&text) {
                let healthz = format!("http://127.0.0.1:{ready}/healthz");
                if let Ok(r) = http().get(&healthz).send().await {
                    if r.status().is_success() {
                        return (child, ready);
                    }
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                // Whatever it left behind (workerd) goes with its group.
                signal_group(child.id(), libc::SIGKILL);
                RUNNING.lock().unwrap().retain(|p| *p != child.id());
                let taken = text.contains("EADDRINUSE") || text.contains("already in use");
                if taken && attempt < 3 {
                    break;
                }
                panic!("wrangler dev exited ({status}):\n{text}");
            }
            if started.elapsed() > READY_DEADLINE {
                panic!("wrangler dev was not ready in {READY_DEADLINE:?}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The port of wrangler's "Ready on http://127.0.0.1:PORT" line.
fn ready_port(log: &str) -> Option<u16> {
    log.lines().find_map(|line| {
        let (_, rest) = line.split_once("Ready on http://127.0.0.1:")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

impl Stack {
    pub async fn start(opts: Options) -> Stack {
        for built in [
            "build/index.js",
            "mailer/build/index.js",
            "admin/build/index.js",
        ] {
            assert!(
                root().join(built).exists(),
                "{built} is missing: run scripts/test (or scripts/build) so the workers are built first"
            );
        }
        let standin = opts
            .standin
            .clone()
            .unwrap_or_else(|| StandIn::new(Some(SENDGRID_KEY.into())));
        let (standin_addr, _task) = standin
            .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("stand-in listens");

        let dir = tempfile::Builder::new()
            .prefix("calhook-e2e-")
            .tempdir()
            .unwrap();
        let state = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        let mut receiver_vars = default_receiver_vars();
        receiver_vars.retain(|(k, _)| !opts.receiver_unset.contains(k));
        receiver_vars.extend(opts.receiver_vars.iter().cloned());
        let mut mailer_vars = default_mailer_vars(standin_addr);
        mailer_vars.retain(|(k, _)| !opts.mailer_unset.contains(k));
        mailer_vars.extend(opts.mailer_vars.iter().cloned());

        let receiver_config = write_test_config(
            &dir.path().join("receiver"),
            &root().join("wrangler.toml"),
            &receiver_vars,
            &opts.receiver_unset,
            opts.edit_receiver,
        );
        // The admin worker reads the receiver's settings (the cron's, the admin token).
        let admin_config = write_test_config(
            &dir.path().join("admin"),
            &root().join("admin/wrangler.toml"),
            &receiver_vars,
            &opts.receiver_unset,
            None,
        );
        let mailer_config = write_test_config(
            &dir.path().join("mailer"),
            &root().join("mailer/wrangler.toml"),
            &mailer_vars,
            &opts.mailer_unset,
            opts.edit_mailer,
        );

        // The mailer always has the database (some tests take it from the receiver).
        let migrate = output_within(
            wrangler_in(dir.path())
                .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
                .arg(&state)
                .arg("-c")
                .arg(&mailer_config)
                .current_dir(dir.path()),
            WRANGLER_COMMAND_DEADLINE,
        );
        assert!(
            migrate.status.success(),
            "migrations failed: {}{}",
            String::from_utf8_lossy(&migrate.stdout),
            String::from_utf8_lossy(&migrate.stderr)
        );

        let log = dir.path().join("wrangler.log");
        let mut configs = vec![receiver_config, admin_config];
        if !opts.receiver_only {
            configs.push(mailer_config.clone());
        }
        configs.extend(opts.extra_configs.iter().cloned());
        let (child, port) = start_wrangler_dev(dir.path(), &configs, &state, &log).await;
        Stack {
            base: format!("http://127.0.0.1:{port}"),
            standin,
            dir,
            state,
            mailer_config,
            log,
            child: Mutex::new(Some(child)),
        }
    }

    /// wrangler's pid, which is also its process group's id (`benches/compare.rs`).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Everything wrangler and the workers printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_for_log(
        &self,
        what: &str,
        deadline: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        poll(what, deadline, || {
            let log = self.log();
            let found = log.lines().find(|l| pred(l)).map(str::to_owned);
            async move { found }
        })
        .await
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/cal", self.base)
    }

    /// POSTs raw bytes with the given signature header (if any).
    pub async fn post_raw(
        &self,
        body: Vec<u8>,
        signature: Option<&str>,
    ) -> (u16, Value, HeaderMap) {
        let mut req = http()
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Cal-Signature-256", sig);
        }
        let r = req.send().await.expect("receiver answers");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json, headers)
    }

    /// POSTs a body to `path` (e.g. `/webhooks/cal/acme`) signed with `secret`.
    pub async fn send_to(&self, path: &str, v: &Value, secret: &str) -> (u16, Value) {
        let bytes = body(v);
        let r = http()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("X-Cal-Signature-256", sign(secret, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("receiver answers");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An admin API call with `token`; the answer's status and JSON.
    /// Runs the `calhook` CLI against this stack with the admin `token` and
    /// `stdin`; its stdout, or its stderr if it failed. Without blocking the
    /// runtime: the stand-ins it reaches through the workers are served on it.
    pub async fn calhook(&self, token: &str, args: &[&str], stdin: &str) -> Result<String, String> {
        let out = output_within_async(
            tokio::process::Command::new(root().join("target/debug/calhook"))
                .args(args)
                .env("CALHOOK_URL", &self.base)
                .env("CALHOOK_ADMIN_TOKEN", token)
                .env_remove("ADMIN_TOKEN"),
            stdin,
            CLI_DEADLINE,
        )
        .await;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }

    /// Runs the receiver's cron handler for `cron` now (wrangler's
    /// `/__scheduled`, which answers when the run is over).
    pub async fn run_cron(&self, cron: &str) {
        let r = http()
            .get(format!("{}/__scheduled", self.base))
            .query(&[("cron", cron)])
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "the {cron:?} run failed ({status}): {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// One minute's cron run now: reminders, the outbox, alerts, and the
    /// reconcile tick handed over beside it.
    pub async fn tick(&self) {
        self.run_cron("* * * * *").await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        json: Option<Value>,
    ) -> (u16, Value) {
        let mut req = http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(j) = json {
            req = req.json(&j);
        }
        let r = req.send().await.expect("receiver answers");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs a body signed with the current secret, as Cal.com would.
    pub async fn send(&self, v: &Value) -> (u16, Value) {
        let bytes = body(v);
        let sig = sign(SECRET, &bytes);
        let (s, j, _) = self.post_raw(bytes, Some(&sig)).await;
        (s, j)
    }

    /// Emails the stand-in accepted for a notification key.
    pub fn emails_for(&self, key: &str) -> Vec<Captured> {
        self.standin
            .accepted()
            .into_iter()
            .filter(|m| m.custom_arg("notification_key") == Some(key))
            .collect()
    }

    /// Waits until at least one email for `key` arrived, then returns all of them.
    pub async fn wait_for_email(&self, key: &str) -> Vec<Captured> {
        poll(
            &format!("an email for {key}"),
            Duration::from_secs(45),
            || {
                let found = self.emails_for(key);
                async move { (!found.is_empty()).then_some(found) }
            },
        )
        .await
    }

    /// Waits until the notification `key` is in the dead letters.
    pub async fn wait_for_dead_letter(&self, key: &str) {
        poll(
            &format!("the dead letter {key}"),
            Duration::from_secs(45),
            || {
                let rows = self.sql(&format!("SELECT key FROM dead_letters WHERE key = '{key}'"));
                async move { (!rows.is_empty()).then_some(()) }
            },
        )
        .await
    }

    /// Runs SQL against the stack's local D1 and returns the rows. The
    /// workers write to the same SQLite file meanwhile: a busy database is
    /// retried until a deadline.
    pub fn sql(&self, query: &str) -> Vec<Value> {
        let started = Instant::now();
        loop {
            match self.try_sql(query) {
                Ok(rows) => return rows,
                Err(e)
                    // A bench's mailer may write for minutes on end.
                    if e.contains("SQLITE_BUSY") && started.elapsed() < Duration::from_secs(180) =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn try_sql(&self, query: &str) -> Result<Vec<Value>, String> {
        let out = output_within(
            wrangler_in(self.dir.path())
                .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
                .arg(&self.state)
                .arg("-c")
                .arg(&self.mailer_config)
                .args(["--command", query])
                .current_dir(self.dir.path()),
            WRANGLER_COMMAND_DEADLINE,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "d1 execute failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        Ok(v[0]["results"].as_array().cloned().unwrap_or_default())
    }

    /// Stops wrangler (and workerd with it) and waits for it to exit.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let pgid = child.id();
            signal_group(pgid, libc::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Whatever wrangler left behind (workerd) goes with the group.
            signal_group(pgid, libc::SIGKILL);
            let _ = child.wait();
            RUNNING.lock().unwrap().retain(|p| *p != pgid);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills every stack still running (shared stacks live until the end).
pub fn stop_all() {
    let groups: Vec<u32> = RUNNING.lock().unwrap().drain(..).collect();
    for pgid in &groups {
        signal_group(*pgid, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(500));
    for pgid in &groups {
        signal_group(*pgid, libc::SIGKILL);
    }
}
