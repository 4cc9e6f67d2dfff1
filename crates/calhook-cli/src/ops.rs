//! Operating a deployment from a shell, through its admin API: `calhook
//! status`, `bookings show`, `dead-letters list|show|redrive`, `outbox`.
//! Tables for people, `--json` for scripts. The token comes from
//! `$CALHOOK_ADMIN_TOKEN` (or `$ADMIN_TOKEN`), else a prompt: never an
//! argument, which lands in shell history and in `ps`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Where the deployment is, and how to print.
#[derive(Args)]
pub struct Target {
    /// The receiver's base URL (e.g. https://calhook-receiver.you.workers.dev).
    #[arg(long, env = "CALHOOK_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// Print the admin API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum Bookings {
    /// A booking's state, events, emails and reminders.
    Show {
        uid: String,
        /// The tenant whose booking it is.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum DeadLetters {
    /// Newest first.
    List,
    /// One dead letter, by key.
    Show { key: String },
    /// Queues one again (by key), or every readable one with --all.
    Redrive {
        key: Option<String>,
        #[arg(long, conflicts_with = "key")]
        all: bool,
    },
}

/// How long the CLI waits for an answer: `$CALHOOK_TIMEOUT_SECONDS`, else
/// 120 s, longer than a reconcile run now (its pages, each given up on after
/// `CAL_API_TIMEOUT_SECONDS`), so a deployment that never answers ends the
/// command with an error instead of hanging the shell.
pub fn client() -> Result<reqwest::Client, String> {
    const DEFAULT_SECONDS: u64 = 120;
    let seconds = match std::env::var("CALHOOK_TIMEOUT_SECONDS") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| {
                format!("CALHOOK_TIMEOUT_SECONDS={v:?}: a number of seconds, 1 to 3600")
            })?,
        Err(_) => DEFAULT_SECONDS,
    };
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(seconds))
        .build()
        .map_err(|e| e.to_string())
}

/// The admin token: the environment, else a prompt on the terminal.
pub fn token() -> Result<String, String> {
    for name in ["CALHOOK_ADMIN_TOKEN", "ADMIN_TOKEN"] {
        if let Ok(t) = std::env::var(name) {
            if !t.trim().is_empty() {
                return Ok(t.trim().to_owned());
            }
        }
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err("set CALHOOK_ADMIN_TOKEN (no terminal to ask on)".into());
    }
    rpassword::prompt_password("admin token: ")
        .map(|t| t.trim().to_owned())
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "set CALHOOK_ADMIN_TOKEN (or answer the prompt on a terminal)".into())
}

/// `{base}/admin/{segments…}`, each segment percent-encoded as one segment.
pub fn admin_url(base: &str, segments: &[&str]) -> Result<reqwest::Url, String> {
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(format!("{segments:?}: an empty, '.' or '..' path segment"));
    }
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
    url.path_segments_mut()
        .map_err(|_| format!("{base:?} cannot have a path"))?
        .pop_if_empty()
        .push("admin")
        .extend(segments);
    Ok(url)
}

async fn call(
    method: reqwest::Method,
    url: reqwest::Url,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = client()?.request(method, url.clone()).bearer_auth(token()?);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = response.status();
    let v: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            v["error"].as_str().unwrap_or("no answer")
        ));
    }
    Ok(v)
}

fn ms(v: &Value) -> String {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "—".into())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// Left-aligned columns.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn print(t: &Target, v: &Value, human: impl FnOnce(&Value) -> String) -> ExitCode {
    if t.json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        println!("{}", human(v));
    }
    ExitCode::SUCCESS
}

pub async fn status(t: Target) -> Result<ExitCode, String> {
    let v = call(reqwest::Method::GET, admin_url(&t.url, &["status"])?, None).await?;
    Ok(print(&t, &v, |v| {
        let mut lines = vec![
            format!(
                "outbox            {} waiting (oldest {} s)",
                text(&v["outbox"]["count"]),
                text(&v["outbox_oldest_age_seconds"])
            ),
            format!("dead letters      {}", text(&v["dead_letters"])),
            format!("tenants           {}", text(&v["tenants"])),
            format!(
                "tenant emails     {} this hour, {} held over a quota",
                text(&v["tenant_emails_this_hour"]),
                text(&v["tenant_emails_held_this_hour"])
            ),
            format!("payload version   {} expected", text(&v["payload_version"])),
        ];
        for seen in v["unexpected_payload_versions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            lines.push(format!(
                "  UNEXPECTED {} seen {} times, last {}",
                text(&seen["version"]),
                text(&seen["seen"]),
                ms(&seen["last_seen_at"])
            ));
        }
        lines.join("\n")
    }))
}

pub async fn bookings(t: Target, command: Bookings) -> Result<ExitCode, String> {
    let Bookings::Show { uid, tenant } = command;
    let mut segments = vec!["bookings"];
    if let Some(tenant) = tenant.as_deref() {
        segments.push(tenant);
    }
    segments.push(&uid);
    let v = call(reqwest::Method::GET, admin_url(&t.url, &segments)?, None).await?;
    Ok(print(&t, &v, |v| {
        let b = &v["booking"];
        let mut out = vec![
            format!("{}  {}", text(&b["uid"]), text(&b["title"])),
            format!(
                "status {}  starts {}",
                text(&b["status"]),
                ms(&b["start_at"])
            ),
            String::new(),
        ];
        let events = v["events"].as_array().cloned().unwrap_or_default();
        out.push(table(
            &["received", "event", "outcome"],
            events
                .iter()
                .map(|e| {
                    vec![
                        ms(&e["received_at"]),
                        text(&e["trigger"]),
                        text(&e["outcome"]),
                    ]
                })
                .collect(),
        ));
        out.push(String::new());
        let emails = v["emails"].as_array().cloned().unwrap_or_default();
        out.push(table(
            &["email", "copy", "state", "attempts", "error"],
            emails
                .iter()
                .map(|e| {
                    vec![
                        text(&e["trigger"]),
                        text(&e["copy"]),
                        text(&e["state"]),
                        text(&e["attempts"]),
                        text(&e["last_error"]),
                    ]
                })
                .collect(),
        ));
        let reminders = v["reminders"].as_array().cloned().unwrap_or_default();
        if !reminders.is_empty() {
            out.push(String::new());
            out.push(table(
                &["reminder", "minutes", "state", "dropped"],
                reminders
                    .iter()
                    .map(|r| {
                        vec![
                            text(&r["kind"]),
                            text(&r["offset_minutes"]),
                            text(&r["state"]),
                            text(&r["dropped"]),
                        ]
                    })
                    .collect(),
            ));
        }
        out.join("\n")
    }))
}

fn dead_letter_rows(v: &Value) -> Vec<Vec<String>> {
    v["dead_letters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                ms(&d["dead_lettered_at"]),
                text(&d["key"]),
                text(&d["reason"]),
            ]
        })
        .collect()
}

pub async fn dead_letters(t: Target, command: DeadLetters) -> Result<ExitCode, String> {
    let list = || async {
        let mut url = admin_url(&t.url, &["dead-letters"])?;
        url.query_pairs_mut().append_pair("limit", "500");
        call(reqwest::Method::GET, url, None).await
    };
    match command {
        DeadLetters::List => {
            let v = list().await?;
            Ok(print(&t, &v, |v| {
                table(&["dead-lettered", "key", "reason"], dead_letter_rows(v))
            }))
        }
        DeadLetters::Show { key } => {
            let v = list().await?;
            let found = v["dead_letters"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["key"] == key.as_str()).cloned())
                .ok_or_else(|| format!("no dead letter {key:?} (among the newest 500)"))?;
            Ok(print(&t, &found, |d| {
                format!(
                    "key       {}\ntrigger   {}\nsince     {}\nreason    {}",
                    text(&d["key"]),
                    text(&d["trigger"]),
                    ms(&d["dead_lettered_at"]),
                    text(&d["reason"])
                )
            }))
        }
        DeadLetters::Redrive { key, all } => {
            let body = match (key, all) {
                (Some(k), false) => json!({ "key": k }),
                (None, true) => json!({ "all": true }),
                _ => return Err("give a key, or --all".into()),
            };
            let url = admin_url(&t.url, &["dead-letters", "redrive"])?;
            let v = call(reqwest::Method::POST, url, Some(body)).await?;
            Ok(print(&t, &v, |v| {
                format!(
                    "queued {}, resolved {}, busy {}{}",
                    text(&v["count"]),
                    v["resolved"].as_array().map_or(0, Vec::len),
                    v["busy"].as_array().map_or(0, Vec::len),
                    if v["next"].is_string() {
                        "; more: run it again"
                    } else {
                        ""
                    }
                )
            }))
        }
    }
}

pub async fn outbox(t: Target) -> Result<ExitCode, String> {
    let v = call(reqwest::Method::GET, admin_url(&t.url, &["outbox"])?, None).await?;
    Ok(print(&t, &v, |v| {
        let rows = v["outbox"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| vec![ms(&r["created_at"]), text(&r["key"]), text(&r["attempts"])])
            .collect();
        format!(
            "{} waiting, the oldest {} s\n{}",
            text(&v["depth"]),
            text(&v["oldest_age_seconds"]),
            table(&["recorded", "key", "refused"], rows)
        )
    }))
}

#[derive(Args)]
pub struct ReconcileArgs {
    /// Only this tenant (default: every source with a key).
    #[arg(long, conflicts_with = "last")]
    tenant: Option<String>,
    /// Read the bookings Cal.com changed since this time (RFC 3339), not
    /// since the last run's mark: after an outage longer than the overlap.
    #[arg(long, conflicts_with = "last")]
    since: Option<String>,
    /// Show the last run per source instead of running.
    #[arg(long)]
    last: bool,
}

pub async fn reconcile(t: Target, args: ReconcileArgs) -> Result<ExitCode, String> {
    let url = admin_url(&t.url, &["reconcile"])?;
    if args.last {
        let v = call(reqwest::Method::GET, url, None).await?;
        return Ok(print(&t, &v, |v| {
            sources_table(
                v,
                &[
                    ("last run", "last_run_at"),
                    ("checked", "checked"),
                    ("recovered", "recovered"),
                    ("error", "error"),
                ],
            )
        }));
    }
    if let Some(since) = &args.since {
        if calhook_core::reconcile::since_ms(since).is_none() {
            return Err(format!(
                "--since {since:?}: an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"
            ));
        }
    }
    let body = json!({"tenant": args.tenant, "since": args.since});
    let v = call(reqwest::Method::POST, url, Some(body)).await?;
    Ok(print(&t, &v, |v| {
        sources_table(
            v,
            &[
                ("checked", "checked"),
                ("recovered", "recovered"),
                ("queued", "queued"),
                ("error", "error"),
            ],
        )
    }))
}

/// `v["sources"]` as a table: the source, then each `(header, field)`
/// (times in ms shown as dates).
fn sources_table(v: &Value, columns: &[(&str, &str)]) -> String {
    let rows = v["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let source = match s["source"].as_str() {
                Some("") => "(single route)".into(),
                _ => text(&s["source"]),
            };
            let cells = columns
                .iter()
                .map(|(_, field)| match field.ends_with("_at") {
                    true => ms(&s[*field]),
                    false => text(&s[*field]),
                });
            std::iter::once(source).chain(cells).collect()
        })
        .collect();
    let header: Vec<&str> = std::iter::once("source")
        .chain(columns.iter().map(|(h, _)| *h))
        .collect();
    table(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_id_stays_one_path_segment() {
        let url = admin_url(
            "http://127.0.0.1:8787",
            &["bookings", "x/../../dead-letters?all=1#"],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8787/admin/bookings/x%2F..%2F..%2Fdead-letters%3Fall=1%23"
        );
        assert_eq!(url.path_segments().unwrap().count(), 3);
        assert!(admin_url("http://h", &["bookings", ".."]).is_err());
    }

    #[test]
    fn a_table_lines_up_its_columns() {
        let t = table(&["a", "bee"], vec![vec!["long value".into(), "x".into()]]);
        assert_eq!(t, "a           bee\nlong value  x");
    }
}
