//! `calhook`: sign Cal.com-style webhooks exactly as Cal.com does, and send them.
//!
//! ```text
//! calhook send BOOKING_CREATED --url http://127.0.0.1:8787/webhooks/cal --secret S [--uid U]
//! calhook send path/to/body.json --url … --secret S
//! calhook sign path/to/body.json --secret S      # prints the X-Cal-Signature-256 value
//! calhook fixtures                               # lists the bundled triggers
//! ```
//! A trigger name picks `tests/fixtures/<trigger>.json`. `send` stamps a fresh
//! `createdAt` (as Cal.com does per delivery) and, with `--uid`, replaces the
//! booking uid so that each send is a new booking.

use calhook_core::signature::{sign, SIGNATURE_HEADER};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn fixtures_dir() -> PathBuf {
    std::env::var_os("CALHOOK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"))
}

struct Args {
    command: String,
    target: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    uid: Option<String>,
    keep_created_at: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("missing command")?;
    let mut args = Args {
        command,
        target: None,
        url: None,
        secret: std::env::var("CAL_WEBHOOK_SECRET").ok(),
        uid: None,
        keep_created_at: false,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => args.url = Some(it.next().ok_or("--url needs a value")?),
            "--secret" => args.secret = Some(it.next().ok_or("--secret needs a value")?),
            "--uid" => args.uid = Some(it.next().ok_or("--uid needs a value")?),
            "--keep-created-at" => args.keep_created_at = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => args.target = Some(other.to_owned()),
        }
    }
    Ok(args)
}

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  calhook send <TRIGGER|FILE> --url URL [--secret S] [--uid U] [--keep-created-at]\n  \
         calhook sign <FILE|TRIGGER> [--secret S]\n  calhook fixtures\n\
         The secret defaults to $CAL_WEBHOOK_SECRET."
    );
    ExitCode::from(2)
}

/// The body to send: a fixture by trigger name, or a file as it is.
fn load(target: &str, args: &Args) -> Result<Vec<u8>, String> {
    let path = Path::new(target);
    let (path, is_fixture) = if path.exists() {
        (path.to_path_buf(), false)
    } else {
        (
            fixtures_dir().join(format!("{}.json", target.to_lowercase())),
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Ok(args) = parse_args() else {
        return usage();
    };
    match args.command.as_str() {
        "fixtures" => {
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
        "sign" | "send" => {
            let (Some(target), Some(secret)) = (args.target.as_deref(), args.secret.as_deref())
            else {
                return usage();
            };
            let body = match load(target, &args) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("calhook: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let signature = sign(secret, &body);
            if args.command == "sign" {
                println!("{signature}");
                return ExitCode::SUCCESS;
            }
            let Some(url) = args.url.as_deref() else {
                return usage();
            };
            let result = reqwest::Client::new()
                .post(url)
                .header("Content-Type", "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("X-Cal-Webhook-Version", "2021-10-20")
                .body(body)
                .send()
                .await;
            match result {
                Ok(r) => {
                    let status = r.status();
                    println!("{} {}", status.as_u16(), r.text().await.unwrap_or_default());
                    if status.is_success() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("calhook: could not reach {url}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}
