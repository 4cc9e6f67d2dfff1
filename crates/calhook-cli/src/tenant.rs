//! `calhook tenant …`: the receiver's `/admin/tenants` API from a shell, so
//! an operator never writes SQL. Answers are printed as JSON.

use calhook_core::tenants::TenantId;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Args)]
pub struct TenantArgs {
    /// The receiver's base URL.
    #[arg(
        long,
        env = "CALHOOK_URL",
        default_value = "http://127.0.0.1:8787",
        global = true
    )]
    url: String,
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Lists every tenant (no secrets).
    List,
    /// Shows one tenant with its effective settings.
    Show { id: String },
    /// Creates a tenant; its webhook route is /webhooks/cal/<id>.
    Add {
        id: String,
        #[command(flatten)]
        settings: SettingArgs,
        /// Read its first webhook secret from stdin (one line).
        #[arg(long)]
        secret_from_stdin: bool,
    },
    /// Changes settings; --clear makes a field fall back to the environment.
    Update {
        id: String,
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long, value_enum)]
        clear: Vec<Field>,
    },
    /// Adds a webhook secret (read from stdin); prints its id.
    SecretAdd {
        id: String,
        #[arg(long, required = true)]
        secret_from_stdin: bool,
    },
    /// Removes a webhook secret by its id (see `show`).
    SecretRemove { id: String, secret_id: String },
    /// Sets the tenant's Cal.com API key (read from stdin): its bookings are
    /// reconciled with Cal.com's API. `--remove`: no longer reconciled.
    CalApiKey {
        id: String,
        #[arg(long, required_unless_present = "remove", conflicts_with = "remove")]
        key_from_stdin: bool,
        #[arg(long)]
        remove: bool,
    },
    /// Refuses the tenant's webhooks (404) until enabled again.
    Disable { id: String },
    /// Accepts the tenant's webhooks again.
    Enable { id: String },
    /// Seals every secret under the current TENANT_SECRETS_KEY.
    Reencrypt,
}

#[derive(Args, Default)]
struct SettingArgs {
    /// Display name; also the subject prefix "[name] ".
    #[arg(long)]
    name: Option<String>,
    /// Staff recipients (RFC 5322 list), instead of EMAIL_TO.
    #[arg(long)]
    email_to: Option<String>,
    /// Sender, instead of EMAIL_FROM.
    #[arg(long)]
    email_from: Option<String>,
    /// Triggers emailed about, instead of NOTIFY_EVENTS.
    #[arg(long)]
    notify_events: Option<String>,
    /// Attendee copies, instead of NOTIFY_ATTENDEES.
    #[arg(long)]
    notify_attendees: Option<bool>,
    /// e.g. 24h,1h or off, instead of REMINDER_OFFSETS.
    #[arg(long)]
    reminder_offsets: Option<String>,
    /// Zone for events that name none, instead of DEFAULT_TIME_ZONE.
    #[arg(long)]
    time_zone: Option<String>,
    /// Emails per hour (0: no limit), instead of EMAILS_PER_HOUR.
    #[arg(long)]
    emails_per_hour: Option<u32>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Field {
    Name,
    EmailTo,
    EmailFrom,
    NotifyEvents,
    NotifyAttendees,
    ReminderOffsets,
    TimeZone,
    EmailsPerHour,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::EmailTo => "email_to",
            Field::EmailFrom => "email_from",
            Field::NotifyEvents => "notify_events",
            Field::NotifyAttendees => "notify_attendees",
            Field::ReminderOffsets => "reminder_offsets",
            Field::TimeZone => "time_zone",
            Field::EmailsPerHour => "emails_per_hour",
        }
    }
}

impl SettingArgs {
    fn into_json(self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        };
        put("name", self.name.map(Value::from));
        put("email_to", self.email_to.map(Value::from));
        put("email_from", self.email_from.map(Value::from));
        put("notify_events", self.notify_events.map(Value::from));
        put("notify_attendees", self.notify_attendees.map(Value::from));
        put("reminder_offsets", self.reminder_offsets.map(Value::from));
        put("time_zone", self.time_zone.map(Value::from));
        put("emails_per_hour", self.emails_per_hour.map(Value::from));
        m
    }
}

fn secret_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the secret from stdin: {e}"))?;
    let secret = line.trim().to_owned();
    if secret.is_empty() {
        return Err("no secret on stdin".into());
    }
    Ok(secret)
}

fn bad_id(id: &str) -> String {
    format!(
        "{id:?} is not a tenant id (lower-case letters, digits and '-', as in /webhooks/cal/<id>)"
    )
}

/// Secret ids are the 8 hex digits the admin API hands out.
fn is_secret_id(text: &str) -> bool {
    text.len() == 8 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `{base}/admin/tenants/{segments…}` (`ops::admin_url`: each segment one
/// percent-encoded path segment).
fn tenants_url(base: &str, segments: &[&str]) -> Result<reqwest::Url, String> {
    crate::ops::admin_url(base, &[&["tenants"], segments].concat())
}

/// A tenant's URL: the id is checked as the receiver checks it first.
fn tenant_url(base: &str, id: &str, rest: &[&str]) -> Result<reqwest::Url, String> {
    let id = TenantId::parse(id).map_err(|_| bad_id(id))?;
    let mut segments = vec![id.as_str()];
    segments.extend_from_slice(rest);
    tenants_url(base, &segments)
}

pub async fn run(args: TenantArgs) -> Result<ExitCode, String> {
    let token = crate::ops::token()?;
    let base = args.url.trim_end_matches('/');
    let at = |id: &str, rest: &[&str]| tenant_url(base, id, rest);
    use reqwest::Method;
    let (method, url, body) = match args.command {
        TenantCommand::List => (Method::GET, tenants_url(base, &[])?, None),
        TenantCommand::Show { id } => (Method::GET, at(&id, &[])?, None),
        TenantCommand::Add {
            id,
            settings,
            secret_from_stdin: with_secret,
        } => {
            TenantId::parse(&id).map_err(|_| bad_id(&id))?;
            let mut body = settings.into_json();
            body.insert("id".into(), id.into());
            if with_secret {
                body.insert("secret".into(), secret_from_stdin()?.into());
            }
            (
                Method::POST,
                tenants_url(base, &[])?,
                Some(Value::Object(body)),
            )
        }
        TenantCommand::Update {
            id,
            settings,
            clear,
        } => {
            let mut body = settings.into_json();
            for f in clear {
                body.insert(f.key().into(), Value::Null);
            }
            if body.is_empty() {
                return Err("nothing to change: give a setting or --clear".into());
            }
            (Method::PATCH, at(&id, &[])?, Some(Value::Object(body)))
        }
        TenantCommand::SecretAdd { id, .. } => (
            Method::POST,
            at(&id, &["secrets"])?,
            Some(json!({"secret": secret_from_stdin()?})),
        ),
        TenantCommand::SecretRemove { id, secret_id } => {
            if !is_secret_id(&secret_id) {
                return Err(format!(
                    "{secret_id:?} is not a secret id (8 hex digits, as `calhook tenant show` lists them)"
                ));
            }
            (Method::DELETE, at(&id, &["secrets", &secret_id])?, None)
        }
        TenantCommand::CalApiKey {
            id, remove: true, ..
        } => (Method::DELETE, at(&id, &["cal-api-key"])?, None),
        TenantCommand::CalApiKey { id, .. } => (
            Method::PUT,
            at(&id, &["cal-api-key"])?,
            Some(json!({"key": secret_from_stdin()?})),
        ),
        TenantCommand::Disable { id } => (Method::POST, at(&id, &["disable"])?, None),
        TenantCommand::Enable { id } => (Method::POST, at(&id, &["enable"])?, None),
        TenantCommand::Reencrypt => (Method::POST, tenants_url(base, &["reencrypt"])?, None),
    };
    let mut request = crate::ops::client()?
        .request(method, url.clone())
        .bearer_auth(token.trim());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let shown = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if status.is_success() {
        println!("{shown}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} {shown}", status.as_u16());
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_id_is_one_checked_path_segment() {
        let url = tenant_url("http://127.0.0.1:8787/", "acme", &["secrets", "0a1b2c3d"]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8787/admin/tenants/acme/secrets/0a1b2c3d"
        );
        for id in ["../outbox", "..", "a/b", "acme?x=1", "Acme", ""] {
            assert!(tenant_url("http://h", id, &[]).is_err(), "{id}");
        }
    }

    #[test]
    fn a_path_prefix_on_the_base_url_is_kept() {
        let url = tenants_url("https://hooks.example.com/calhook", &["reencrypt"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://hooks.example.com/calhook/admin/tenants/reencrypt"
        );
    }

    #[test]
    fn only_secret_ids_as_the_api_lists_them_are_sent() {
        assert!(is_secret_id("0a1b2c3d"));
        assert!(!is_secret_id("../../x"));
        assert!(!is_secret_id("0a1b2c3d0"));
    }
}
