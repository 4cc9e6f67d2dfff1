//! Operator routes for tenants, behind `ADMIN_TOKEN` like the others (the
//! `calhook tenant …` commands call these; nobody writes SQL):
//!
//! - `GET    /admin/tenants`                         all, without secrets
//! - `POST   /admin/tenants`                         `{"id", "secret"?, settings…}`
//! - `GET    /admin/tenants/{id}`                    one, with effective settings
//! - `PATCH  /admin/tenants/{id}`                    settings (absent: kept, null: cleared)
//! - `POST   /admin/tenants/{id}/secrets`            `{"secret"}` → its id (rotation)
//! - `DELETE /admin/tenants/{id}/secrets/{secret}`   by id
//! - `PUT    /admin/tenants/{id}/cal-api-key`        `{"key"}`: reconciled with Cal.com's API
//! - `DELETE /admin/tenants/{id}/cal-api-key`        no longer reconciled
//! - `POST   /admin/tenants/{id}/disable` | `enable`
//! - `POST   /admin/tenants/reencrypt`               seal every secret under the current key
//! - `POST   /admin/tenants/replicate`               rewrite every drifted copy in `TENANTS_KV`
//!
//! Every change is copied to `TENANTS_KV` ([`calhook_core::tenants::replica`]),
//! where the webhook route reads a tenant when D1 is down.
//!
//! Secrets are sealed here ([`calhook_core::tenants::seal`]) and never
//! answered, logged or stored in clear. Validation is the core's.

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::inbound::signature::MIN_SECRET_CHARS;
use calhook_core::settings::tenant::SettingsPatch;
use calhook_core::store::tenants::{self, StoredSecret, TenantRow, TenantSettings};
use calhook_core::tenants::{open, open_in, replica, seal_in, Slot, TenantId};
use calhook_platform::bindings::{d1, tenants_kv};
use calhook_platform::sealing::{master_keys, SubtleKey};
use serde_json::{json, Map, Value};
use worker::{Env, Method, Request};

use crate::auth::authorize;

pub const PREFIX: &str = "/admin/tenants";
/// Longest webhook secret accepted.
pub const MAX_SECRET_CHARS: usize = 256;

/// Dispatches `PREFIX` and everything under it.
pub async fn route(mut req: Request, env: &Env, path: &str) -> Result<Accepted, ApiError> {
    authorize(&req, env)?;
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let method = req.method();
    match (method, parts.as_slice()) {
        (Method::Get, []) => list(env).await,
        (Method::Post, []) => create(body(&mut req).await?, env).await,
        (Method::Post, ["reencrypt"]) => reencrypt(env).await,
        (Method::Post, ["replicate"]) => replicate_all(env).await,
        (Method::Get, [id]) => show(env, &tenant_id(id)?).await,
        (Method::Patch, [id]) => update(env, &tenant_id(id)?, body(&mut req).await?).await,
        (Method::Post, [id, "secrets"]) => {
            add_secret(env, &tenant_id(id)?, body(&mut req).await?).await
        }
        (Method::Delete, [id, "secrets", secret]) => {
            remove_secret(env, &tenant_id(id)?, secret).await
        }
        (Method::Put, [id, "cal-api-key"]) => {
            set_cal_api_key(env, &tenant_id(id)?, body(&mut req).await?).await
        }
        (Method::Delete, [id, "cal-api-key"]) => clear_cal_api_key(env, &tenant_id(id)?).await,
        (Method::Post, [id, action @ ("disable" | "enable")]) => {
            set_enabled(env, &tenant_id(id)?, *action == "enable").await
        }
        _ => Err(ApiError::NotFound),
    }
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(text).map_err(|_| ApiError::NotFound)
}

async fn body(req: &mut Request) -> Result<Map<String, Value>, ApiError> {
    match req.json::<Value>().await {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::BadAdminRequest("expected a JSON object")),
    }
}

fn now() -> i64 {
    calhook_platform::now_ms()
}

/// A secret an operator sent, checked like `CAL_WEBHOOK_SECRET`'s.
fn secret_text(v: Option<Value>) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim().to_owned();
            let chars = s.chars().count();
            if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) || s.contains(',') {
                return Err(ApiError::BadAdminRequest(
                    "secret: 16 to 256 characters, no comma (the value set on the webhook in Cal.com)",
                ));
            }
            Ok(Some(s))
        }
        Some(_) => Err(ApiError::BadAdminRequest("secret must be a string")),
    }
}

/// Seals a new webhook secret for `id` under `key` (the current master key).
async fn sealed(key: &SubtleKey, id: &TenantId, secret: &str) -> Result<StoredSecret, ApiError> {
    sealed_in(key, id, Slot::WebhookSecret, secret).await
}

/// [`sealed`], for `slot`.
async fn sealed_in(
    key: &SubtleKey,
    id: &TenantId,
    slot: Slot,
    secret: &str,
) -> Result<StoredSecret, ApiError> {
    let random: [u8; 16] = random_bytes()?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&random[4..]);
    let sealed =
        seal_in(key, id, slot, nonce, secret)
            .await
            .map_err(|e| ApiError::Unavailable {
                what: "crypto.subtle",
                detail: e.to_string(),
            })?;
    Ok(StoredSecret {
        id: hex::encode(&random[..4]),
        sealed,
    })
}

/// `crypto.getRandomValues`: the runtime's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    use worker::js_sys::{global, Function, Reflect, Uint8Array};
    use worker::wasm_bindgen::JsCast;
    let unavailable = |_| ApiError::Unavailable {
        what: "crypto.getRandomValues",
        detail: "not callable".into(),
    };
    let crypto = Reflect::get(&global(), &"crypto".into()).map_err(unavailable)?;
    let get: Function = Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(unavailable)?
        .dyn_into()
        .map_err(unavailable)?;
    let bytes = Uint8Array::new_with_length(N as u32);
    get.call1(&crypto, &bytes).map_err(unavailable)?;
    let mut out = [0u8; N];
    bytes.copy_to(&mut out);
    Ok(out)
}

/// A tenant as answered: settings, effective values, secret ids, never a secret.
fn view(env: &Env, row: &TenantRow) -> Value {
    let mut settings = serde_json::to_value(&row.settings).unwrap_or(Value::Null);
    settings["reminder_offsets"] = human_offsets(&row.settings).into();
    json!({
        "id": row.id,
        "enabled": row.enabled,
        "webhook_path": format!("{}/{}", calhook_core::routes::WEBHOOK_PATH, row.id),
        "settings": settings,
        "effective": effective(env, &row.settings),
        "secrets": row.secrets().iter().map(|s| json!({"id": s.id})).collect::<Vec<_>>(),
        // Whether it has one; never the key, sealed or not.
        "cal_api_key": row.cal_api_key.is_some(),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

async fn list(env: &Env) -> Result<Accepted, ApiError> {
    let rows = tenants::list(&d1(env)?).await?;
    let views: Vec<Value> = rows.iter().map(|r| view(env, r)).collect();
    Ok(Accepted::json(
        200,
        json!({"count": views.len(), "tenants": views}),
    ))
}

async fn show(env: &Env, id: &TenantId) -> Result<Accepted, ApiError> {
    match tenants::get(&d1(env)?, id.as_str()).await? {
        Some(row) => {
            let mut answer = view(env, &row);
            // Emails counted and held this hour (the mailer's quota).
            answer["this_hour"] =
                json!(calhook_core::store::usage::this_hour(&d1(env)?, id.as_str(), now()).await?);
            Ok(Accepted::json(200, answer))
        }
        None => Err(ApiError::NotFound),
    }
}

fn patch(fields: Map<String, Value>) -> Result<SettingsPatch, ApiError> {
    serde_json::from_value(Value::Object(fields)).map_err(|_| {
        ApiError::BadAdminRequest(
            "settings: name, email_to, email_from, notify_events, notify_attendees, reminder_offsets, time_zone, emails_per_hour (a whole number)",
        )
    })
}

fn apply(patch: SettingsPatch, settings: &mut TenantSettings) -> Result<(), ApiError> {
    patch.apply(settings).map_err(|e| {
        worker::console_warn!("{}", json!({"svc": crate::SERVICE, "admin": "tenant", "refused": e.to_string()}));
        ApiError::BadAdminRequest(
            "a setting is not valid (e.g. an address, a trigger or a duration): see the receiver's log",
        )
    })
}

async fn create(mut fields: Map<String, Value>, env: &Env) -> Result<Accepted, ApiError> {
    let id = match fields.remove("id") {
        Some(Value::String(id)) => TenantId::parse(&id).map_err(|_| {
            ApiError::BadAdminRequest("id: 1 to 40 of a-z, 0-9 and '-', not starting with '-'")
        })?,
        _ => return Err(ApiError::BadAdminRequest("id is required")),
    };
    let secret = secret_text(fields.remove("secret"))?;
    let mut settings = TenantSettings::default();
    apply(patch(fields)?, &mut settings)?;
    // Sealed before anything is written: no key, no tenant.
    let stored = match secret.as_deref() {
        Some(s) => Some(sealed(&master_keys(env).await?.current, &id, s).await?),
        None => None,
    };
    let db = d1(env)?;
    let now = now();
    if !tenants::create(&db, id.as_str(), &settings, now).await? {
        return Err(ApiError::AdminConflict("a tenant with this id exists"));
    }
    if let Some(s) = &stored {
        tenants::add_secret(&db, id.as_str(), s, now).await?;
    }
    let row = tenants::get(&db, id.as_str())
        .await?
        .ok_or(ApiError::NotFound)?;
    copy(env, &row).await;
    Ok(Accepted::json(201, view(env, &row)))
}

async fn update(
    env: &Env,
    id: &TenantId,
    fields: Map<String, Value>,
) -> Result<Accepted, ApiError> {
    if fields.contains_key("secret") || fields.contains_key("id") {
        return Err(ApiError::BadAdminRequest(
            "id cannot change; secrets are added and removed under /secrets",
        ));
    }
    let change = patch(fields)?;
    let db = d1(env)?;
    let Some(mut row) = tenants::get(&db, id.as_str()).await? else {
        return Err(ApiError::NotFound);
    };
    apply(change, &mut row.settings)?;
    if !tenants::update(&db, id.as_str(), &row.settings, now()).await? {
        return Err(ApiError::NotFound);
    }
    replicate(env, id).await;
    show(env, id).await
}

async fn add_secret(
    env: &Env,
    id: &TenantId,
    mut fields: Map<String, Value>,
) -> Result<Accepted, ApiError> {
    let Some(secret) = secret_text(fields.remove("secret"))? else {
        return Err(ApiError::BadAdminRequest("secret is required"));
    };
    let stored = sealed(&master_keys(env).await?.current, id, &secret).await?;
    let db = d1(env)?;
    if !tenants::add_secret(&db, id.as_str(), &stored, now()).await? {
        return match tenants::get(&db, id.as_str()).await? {
            None => Err(ApiError::NotFound),
            Some(_) => Err(ApiError::AdminConflict(
                "the tenant already has 5 secrets: remove one first",
            )),
        };
    }
    replicate(env, id).await;
    Ok(Accepted::json(
        201,
        json!({"status": "added", "tenant": id, "secret_id": stored.id}),
    ))
}

async fn remove_secret(env: &Env, id: &TenantId, secret: &str) -> Result<Accepted, ApiError> {
    if !tenants::remove_secret(&d1(env)?, id.as_str(), secret, now()).await? {
        return Err(ApiError::NotFound);
    }
    replicate(env, id).await;
    Ok(Accepted::json(
        200,
        json!({"status": "removed", "tenant": id, "secret_id": secret}),
    ))
}

/// Longest Cal.com API key accepted.
const MAX_API_KEY_CHARS: usize = 256;

async fn set_cal_api_key(
    env: &Env,
    id: &TenantId,
    mut fields: Map<String, Value>,
) -> Result<Accepted, ApiError> {
    let key = match fields.remove("key") {
        Some(Value::String(k)) => k.trim().to_owned(),
        _ => {
            return Err(ApiError::BadAdminRequest(
                "key is required: the tenant's Cal.com API key",
            ))
        }
    };
    if !(8..=MAX_API_KEY_CHARS).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::BadAdminRequest(
            "key: 8 to 256 printable characters without spaces (a Cal.com API key, cal_live_…)",
        ));
    }
    let sealed = sealed_in(&master_keys(env).await?.current, id, Slot::CalApiKey, &key)
        .await?
        .sealed;
    if !tenants::set_cal_api_key(&d1(env)?, id.as_str(), Some(&sealed), now()).await? {
        return Err(ApiError::NotFound);
    }
    replicate(env, id).await;
    Ok(Accepted::json(
        200,
        json!({"status": "set", "tenant": id, "cal_api_key": true}),
    ))
}

async fn clear_cal_api_key(env: &Env, id: &TenantId) -> Result<Accepted, ApiError> {
    if !tenants::set_cal_api_key(&d1(env)?, id.as_str(), None, now()).await? {
        return Err(ApiError::NotFound);
    }
    replicate(env, id).await;
    Ok(Accepted::json(
        200,
        json!({"status": "removed", "tenant": id, "cal_api_key": false}),
    ))
}

pub async fn set_enabled(env: &Env, id: &TenantId, enabled: bool) -> Result<Accepted, ApiError> {
    if !tenants::set_enabled(&d1(env)?, id.as_str(), enabled, now()).await? {
        return Err(ApiError::NotFound);
    }
    replicate(env, id).await;
    Ok(Accepted::json(
        200,
        json!({"status": if enabled { "enabled" } else { "disabled" }, "tenant": id}),
    ))
}

/// After `TENANT_SECRETS_KEY` changed (the old one in
/// `TENANT_SECRETS_KEY_PREVIOUS`): seals every secret under the current key.
async fn reencrypt(env: &Env) -> Result<Accepted, ApiError> {
    let keys = master_keys(env).await?;
    let db = d1(env)?;
    let (mut resealed, mut current, mut changed) = (0, 0, Vec::new());
    let mut unopenable = Vec::new();
    for row in tenants::list(&db).await? {
        let id = TenantId::parse(&row.id).map_err(|_| ApiError::Unavailable {
            what: "D1",
            detail: format!("tenants row with a bad id {:?}", row.id),
        })?;
        let mut secrets = row.secrets();
        let mut any = false;
        for s in secrets.iter_mut() {
            if open(&keys.current, &id, &s.sealed).await.is_ok() {
                current += 1;
                continue;
            }
            match keys.open_with_previous(&id, &s.sealed).await {
                Ok(plain) => {
                    s.sealed = sealed(&keys.current, &id, &plain).await?.sealed;
                    resealed += 1;
                    any = true;
                }
                Err(_) => unopenable.push(format!("{}:{}", row.id, s.id)),
            }
        }
        if any && !tenants::replace_secrets(&db, &row.id, &row.secrets, &secrets, now()).await? {
            changed.push(row.id.clone());
        }
        // Its Cal.com API key, the same way.
        if let Some(api_key) = row.cal_api_key.as_deref() {
            if open_in(&keys.current, &id, Slot::CalApiKey, api_key)
                .await
                .is_ok()
            {
                current += 1;
            } else {
                match keys
                    .open_with_previous_in(&id, Slot::CalApiKey, api_key)
                    .await
                {
                    Ok(plain) => {
                        let again = sealed_in(&keys.current, &id, Slot::CalApiKey, &plain)
                            .await?
                            .sealed;
                        tenants::set_cal_api_key(&db, &row.id, Some(&again), now()).await?;
                        resealed += 1;
                    }
                    Err(_) => unopenable.push(format!("{}:cal-api-key", row.id)),
                }
            }
        }
    }
    let _ = sync_replica(env).await;
    Ok(Accepted::json(
        200,
        json!({
            "status": if unopenable.is_empty() && changed.is_empty() { "done" } else { "incomplete" },
            "resealed": resealed,
            "already_current": current,
            // Opens with neither key: re-add it (its value is in Cal.com).
            "unopenable": unopenable,
            // Changed by someone meanwhile: run it again.
            "changed_meanwhile": changed,
        }),
    ))
}

/// Copies tenant `id`'s row, as D1 now has it, to `TENANTS_KV`.
async fn replicate(env: &Env, id: &TenantId) {
    if let Ok(Some(row)) = async {
        tenants::get(&d1(env)?, id.as_str())
            .await
            .map_err(ApiError::from)
    }
    .await
    {
        copy(env, &row).await;
    }
}

/// Writes one copy. A failure is logged, not answered: D1 has the change,
/// and the daily job (or `POST /admin/tenants/replicate`) repairs the copy.
async fn copy(env: &Env, row: &TenantRow) {
    let written = match tenants_kv(env) {
        Ok(kv) => replica::write(&kv, row).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        worker::console_error!(
            "{}",
            json!({"svc": crate::SERVICE, "tenant": row.id, "replica": "not written", "error": e.to_string(), "detail": e.detail()})
        );
    }
}

/// Rewrites every copy that drifted from D1: how many were written.
pub async fn sync_replica(env: &Env) -> Result<usize, ApiError> {
    let rows = tenants::list(&d1(env)?).await?;
    Ok(replica::sync(&tenants_kv(env)?, &rows).await?)
}

async fn replicate_all(env: &Env) -> Result<Accepted, ApiError> {
    let written = sync_replica(env).await?;
    Ok(Accepted::json(
        200,
        json!({"status": "replicated", "written": written}),
    ))
}

/// The settings of a tenant as an operator sees them: each effective value
/// and where it came from (never a secret). The mail settings fall back to
/// the mailer's environment, which this worker cannot read: they are named.
pub fn effective(env: &Env, s: &TenantSettings) -> serde_json::Value {
    use calhook_core::settings::{Vars, DEFAULT_NOTIFY_EVENTS, DEFAULT_REMINDER_OFFSETS};
    use calhook_core::tenants::resolve;
    use serde_json::json;
    let here = |own: Option<&str>, name: &str, default: &str| {
        let env_value = calhook_platform::vars::EnvVars(env).text(name);
        let (value, source) = resolve(own, env_value.as_deref(), default);
        json!({"value": value, "source": source})
    };
    let mailer = |own: Option<String>, name: &str| match own {
        Some(v) => json!({"value": v, "source": "tenant"}),
        None => json!({"source": "environment", "setting": format!("{name} (the mailer's)")}),
    };
    let reminders = human_offsets(s);
    json!({
        "email_to": mailer(s.email_to.clone(), "EMAIL_TO"),
        "email_from": mailer(s.email_from.clone(), "EMAIL_FROM"),
        "notify_attendees": mailer(s.notify_attendees.map(|b| b.to_string()), "NOTIFY_ATTENDEES"),
        "time_zone": mailer(s.time_zone.clone(), "DEFAULT_TIME_ZONE"),
        "emails_per_hour": mailer(s.emails_per_hour.map(|n| n.to_string()), "EMAILS_PER_HOUR"),
        "notify_events": here(s.notify_events.as_deref(), "NOTIFY_EVENTS", &DEFAULT_NOTIFY_EVENTS.join(",")),
        "reminder_offsets": here(reminders.as_deref(), "REMINDER_OFFSETS", DEFAULT_REMINDER_OFFSETS),
    })
}

/// A tenant's stored reminder offsets (JSON minutes) as an operator writes
/// them: `1440m,60m`, or `off`.
pub fn human_offsets(s: &TenantSettings) -> Option<String> {
    s.reminder_offsets
        .as_deref()
        .and_then(|j| serde_json::from_str::<Vec<u32>>(j).ok())
        .map(|m| match m.as_slice() {
            [] => "off".to_owned(),
            m => m
                .iter()
                .map(|m| format!("{m}m"))
                .collect::<Vec<_>>()
                .join(","),
        })
}
