//! `calhook`: sign Cal.com-style webhooks exactly as Cal.com does and send
//! them; manage a deployment's tenants through its admin API.
//!
//! ```text
//! calhook send BOOKING_CREATED --url http://127.0.0.1:8787/webhooks/cal --secret S [--uid U]
//! calhook send path/to/body.json --url … --secret S
//! calhook sign path/to/body.json --secret S      # prints the X-Cal-Signature-256 value
//! calhook fixtures                               # lists the bundled triggers
//! calhook tenant add acme --name "Acme Dental" --email-to ops@acme.example --secret-from-stdin
//! calhook tenant list | show acme | update acme … | disable acme | enable acme
//! calhook tenant secret-add acme --secret-from-stdin | secret-remove acme <secret id>
//! calhook tenant cal-api-key acme --key-from-stdin | --remove   # reconciled with Cal.com's API
//! calhook tenant reencrypt                       # after a TENANT_SECRETS_KEY rotation
//! calhook reconcile [--tenant acme] [--since 2026-12-01T00:00:00Z]   # a run now
//! calhook reconcile --last                       # the last run per source
//! calhook status [--json]                        # outbox, dead letters, quotas, payload versions
//! calhook bookings show UID [--tenant acme]      # a booking's timeline
//! calhook dead-letters list | show KEY | redrive KEY | redrive --all
//! calhook outbox
//! ```
//! A trigger name picks `tests/fixtures/<trigger>.json`. `send` stamps a fresh
//! `createdAt` (as Cal.com does per delivery) and, with `--uid`, replaces the
//! booking uid so that each send is a new booking. `tenant` commands read the
//! admin token from `$ADMIN_TOKEN` (never a command-line argument, which other
//! users of the machine can see) and the receiver's address from `--url` or
//! `$CALHOOK_URL`.

mod ops;
mod tenant;

use calhook_core::inbound::signature::{sign, SIGNATURE_HEADER};
use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "calhook",
    about = "Send Cal.com-style webhooks; manage calhook's tenants"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signs a fixture (by trigger name) or a file and POSTs it.
    Send {
        #[command(flatten)]
        body: BodyArgs,
        /// The webhook route, e.g. http://127.0.0.1:8787/webhooks/cal[/tenant].
        #[arg(long)]
        url: String,
    },
    /// Prints the X-Cal-Signature-256 value for a body.
    Sign {
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Lists the bundled triggers.
    Fixtures,
    /// Manages tenants (needs $ADMIN_TOKEN).
    Tenant(tenant::TenantArgs),
    /// The deployment at a glance: outbox, dead letters, quotas, payload versions.
    Status {
        #[command(flatten)]
        target: ops::Target,
    },
    /// A booking's timeline.
    Bookings {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        command: ops::Bookings,
    },
    /// Lists, shows and redrives dead letters.
    DeadLetters {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        command: ops::DeadLetters,
    },
    /// Events recorded but not yet queued.
    Outbox {
        #[command(flatten)]
        target: ops::Target,
    },
    /// Reconciles the booking ledger with Cal.com's API now, or (`--last`)
    /// shows the last run per source.
    Reconcile {
        #[command(flatten)]
        target: ops::Target,
        #[command(flatten)]
        args: ops::ReconcileArgs,
    },
}

#[derive(clap::Args)]
struct BodyArgs {
    /// A trigger name (BOOKING_CREATED …) or a JSON file.
    target: String,
    /// The webhook secret.
    #[arg(long, env = "CAL_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// Replace the booking uid (a new booking each send).
    #[arg(long)]
    uid: Option<String>,
    /// Keep the file's createdAt instead of stamping now.
    #[arg(long)]
    keep_created_at: bool,
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("CALHOOK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"))
}

/// The body to send: a fixture by trigger name, or a file as it is.
fn load(args: &BodyArgs) -> Result<Vec<u8>, String> {
    let path = Path::new(&args.target);
    let (path, is_fixture) = if path.exists() {
        (path.to_path_buf(), false)
    } else {
        (
            fixtures_dir().join(format!("{}.json", args.target.to_lowercase())),
            true,
        )
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !is_fixture && args.uid.is_none() {
        return Ok(bytes);
    }
    let mut v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if !args.keep_created_at && v.get("createdAt").is_some() && v.get("payload").is_some() {
        v["createdAt"] = Value::String(now_iso());
    }
    if let Some(uid) = &args.uid {
        let flat = v.get("payload").is_none();
        let target = if flat { &mut v } else { &mut v["payload"] };
        for field in ["uid", "bookingUid"] {
            if target.get(field).is_some() {
                target[field] = Value::String(uid.clone());
            }
        }
        if let Some(entry) = target.get_mut("oooEntry") {
            entry["uuid"] = Value::String(uid.clone());
        }
    }
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

/// Cal.com's `new Date().toISOString()`.
fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn fixtures() -> ExitCode {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_uppercase)
        })
        .collect();
    names.sort();
    println!("{}", names.join("\n"));
    ExitCode::SUCCESS
}

async fn send(body: &BodyArgs, url: &str) -> Result<ExitCode, String> {
    let bytes = load(body)?;
    let signature = sign(&body.secret, &bytes);
    let r = ops::client()?
        .post(url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("X-Cal-Webhook-Version", "2021-10-20")
        .body(bytes)
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = r.status();
    println!("{} {}", status.as_u16(), r.text().await.unwrap_or_default());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fixtures => Ok(fixtures()),
        Command::Sign { body } => load(&body).map(|bytes| {
            println!("{}", sign(&body.secret, &bytes));
            ExitCode::SUCCESS
        }),
        Command::Send { body, url } => send(&body, &url).await,
        Command::Tenant(args) => tenant::run(args).await,
        Command::Status { target } => ops::status(target).await,
        Command::Bookings { target, command } => ops::bookings(target, command).await,
        Command::DeadLetters { target, command } => ops::dead_letters(target, command).await,
        Command::Outbox { target } => ops::outbox(target).await,
        Command::Reconcile { target, args } => ops::reconcile(target, args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("calhook: {e}");
        ExitCode::FAILURE
    })
}
