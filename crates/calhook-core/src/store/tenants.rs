//! Tenants in D1 (table `tenants`): statements for the admin API and the
//! webhook route's lookup. Secrets are stored only sealed ([`crate::tenants`]).

use super::{Db, Statement, StoreError};
use serde::{Deserialize, Serialize};

/// Most active secrets per tenant (a rotation needs two).
pub const MAX_SECRETS: usize = 5;

pub use crate::settings::tenant::TenantSettings;

/// A tenant as stored (secrets sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    #[serde(flatten)]
    pub settings: TenantSettings,
    /// JSON list of `{id, sealed}`.
    pub secrets: String,
    /// Its Cal.com API key, sealed (`None`: not reconciled).
    #[serde(default)]
    pub cal_api_key: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One stored secret: an id to remove it by, and the sealed text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    pub id: String,
    pub sealed: String,
}

impl TenantRow {
    pub fn secrets(&self) -> Vec<StoredSecret> {
        serde_json::from_str(&self.secrets).unwrap_or_default()
    }
}

/// A row as D1 has it (flat, integers for booleans); also the shape of its
/// copy in KV (`tenants::replica`), so the receiver reads both with one decoder.
#[derive(Serialize, Deserialize)]
pub(crate) struct Raw {
    id: String,
    name: Option<String>,
    secrets: String,
    email_to: Option<String>,
    email_from: Option<String>,
    notify_events: Option<String>,
    notify_attendees: Option<i64>,
    reminder_offsets: Option<String>,
    time_zone: Option<String>,
    emails_per_hour: Option<i64>,
    #[serde(default)]
    cal_api_key: Option<String>,
    enabled: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<&TenantRow> for Raw {
    fn from(r: &TenantRow) -> Self {
        let s = &r.settings;
        Raw {
            id: r.id.clone(),
            name: s.name.clone(),
            secrets: r.secrets.clone(),
            email_to: s.email_to.clone(),
            email_from: s.email_from.clone(),
            notify_events: s.notify_events.clone(),
            notify_attendees: s.notify_attendees.map(i64::from),
            reminder_offsets: s.reminder_offsets.clone(),
            time_zone: s.time_zone.clone(),
            emails_per_hour: s.emails_per_hour.map(i64::from),
            cal_api_key: r.cal_api_key.clone(),
            enabled: i64::from(r.enabled),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<Raw> for TenantRow {
    fn from(r: Raw) -> Self {
        TenantRow {
            id: r.id,
            settings: TenantSettings {
                name: r.name,
                email_to: r.email_to,
                email_from: r.email_from,
                notify_events: r.notify_events,
                notify_attendees: r.notify_attendees.map(|v| v != 0),
                reminder_offsets: r.reminder_offsets,
                time_zone: r.time_zone,
                emails_per_hour: r.emails_per_hour.and_then(|n| u32::try_from(n).ok()),
            },
            secrets: r.secrets,
            cal_api_key: r.cal_api_key,
            enabled: r.enabled != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Runs a write that targets one row; whether it changed it.
async fn one_row(db: &impl Db, statement: Statement) -> Result<bool, StoreError> {
    Ok(db.run(statement).await? == 1)
}

/// Creates a tenant; `false` if the id is taken.
pub async fn create(
    db: &impl Db,
    id: &str,
    s: &TenantSettings,
    now_ms: i64,
) -> Result<bool, StoreError> {
    one_row(db, Statement::new(
            "INSERT OR IGNORE INTO tenants (id, name, email_to, email_from, notify_events, notify_attendees, \
               reminder_offsets, time_zone, emails_per_hour, enabled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, 1, ?9, ?9)",
            settings_params(id, s, now_ms),
        )).await
}

/// Replaces a tenant's settings; `false` if there is no such tenant.
pub async fn update(
    db: &impl Db,
    id: &str,
    s: &TenantSettings,
    now_ms: i64,
) -> Result<bool, StoreError> {
    one_row(db, Statement::new(
            "UPDATE tenants SET name = ?2, email_to = ?3, email_from = ?4, notify_events = ?5, \
               notify_attendees = ?6, reminder_offsets = ?7, time_zone = ?8, emails_per_hour = ?10, \
               updated_at = ?9 WHERE id = ?1",
            settings_params(id, s, now_ms),
        )).await
}

fn settings_params(id: &str, s: &TenantSettings, now_ms: i64) -> Vec<super::Param> {
    vec![
        id.into(),
        s.name.clone().into(),
        s.email_to.clone().into(),
        s.email_from.clone().into(),
        s.notify_events.clone().into(),
        s.notify_attendees.map(i64::from).into(),
        s.reminder_offsets.clone().into(),
        s.time_zone.clone().into(),
        now_ms.into(),
        s.emails_per_hour.map(i64::from).into(),
    ]
}

/// The columns [`Raw`] reads.
macro_rules! select_tenants {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, secrets, email_to, email_from, notify_events, notify_attendees, \
             reminder_offsets, time_zone, emails_per_hour, cal_api_key, enabled, created_at, updated_at FROM tenants",
            $rest
        )
    };
}

const SELECT_ONE: &str = select_tenants!(" WHERE id = ?1");
const SELECT_ALL: &str = select_tenants!(" ORDER BY id");
const SELECT_RECONCILED: &str =
    select_tenants!(" WHERE cal_api_key IS NOT NULL AND enabled = 1 ORDER BY id");

pub async fn get(db: &impl Db, id: &str) -> Result<Option<TenantRow>, StoreError> {
    Ok(db
        .first::<Raw>(Statement::new(SELECT_ONE, vec![id.into()]))
        .await?
        .map(TenantRow::from))
}

pub async fn list(db: &impl Db) -> Result<Vec<TenantRow>, StoreError> {
    Ok(db
        .all::<Raw>(Statement::new(SELECT_ALL, vec![]))
        .await?
        .into_iter()
        .map(TenantRow::from)
        .collect())
}

/// The enabled tenants with a Cal.com API key: the reconcile job's sources.
pub async fn reconciled(db: &impl Db) -> Result<Vec<TenantRow>, StoreError> {
    Ok(db
        .all::<Raw>(Statement::new(SELECT_RECONCILED, vec![]))
        .await?
        .into_iter()
        .map(TenantRow::from)
        .collect())
}

/// Sets (sealed) or clears a tenant's Cal.com API key; `false` if there is
/// no such tenant.
pub async fn set_cal_api_key(
    db: &impl Db,
    id: &str,
    sealed: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    one_row(
        db,
        Statement::new(
            "UPDATE tenants SET cal_api_key = ?2, updated_at = ?3 WHERE id = ?1",
            vec![id.into(), sealed.into(), now_ms.into()],
        ),
    )
    .await
}

/// Adds a sealed secret (newest last); `false` if there is no such tenant or
/// it already has [`MAX_SECRETS`].
pub async fn add_secret(
    db: &impl Db,
    id: &str,
    secret: &StoredSecret,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let entry = serde_json::to_string(secret).map_err(|e| StoreError::Decode(e.to_string()))?;
    one_row(
        db,
        Statement::new(
            "UPDATE tenants SET secrets = json_insert(secrets, '$[#]', json(?2)), updated_at = ?3 \
             WHERE id = ?1 AND json_array_length(secrets) < ?4",
            vec![
                id.into(),
                entry.into(),
                now_ms.into(),
                (MAX_SECRETS as i64).into(),
            ],
        ),
    )
    .await
}

/// Removes the secret with `secret_id`; `false` if the tenant or the secret is not there.
pub async fn remove_secret(
    db: &impl Db,
    id: &str,
    secret_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    one_row(db, Statement::new(
            "UPDATE tenants SET updated_at = ?3, secrets = \
               (SELECT COALESCE(json_group_array(json(value)), '[]') FROM json_each(tenants.secrets) \
                WHERE json_extract(value, '$.id') != ?2) \
             WHERE id = ?1 AND EXISTS (SELECT 1 FROM json_each(tenants.secrets) \
                                       WHERE json_extract(value, '$.id') = ?2)",
            vec![id.into(), secret_id.into(), now_ms.into()],
        )).await
}

/// Replaces the secrets list if it is still `expected` (re-encryption under a
/// new master key); `false` if the row changed meanwhile or is gone.
pub async fn replace_secrets(
    db: &impl Db,
    id: &str,
    expected: &str,
    secrets: &[StoredSecret],
    now_ms: i64,
) -> Result<bool, StoreError> {
    let list = serde_json::to_string(secrets).map_err(|e| StoreError::Decode(e.to_string()))?;
    one_row(
        db,
        Statement::new(
            "UPDATE tenants SET secrets = ?3, updated_at = ?4 WHERE id = ?1 AND secrets = ?2",
            vec![id.into(), expected.into(), list.into(), now_ms.into()],
        ),
    )
    .await
}

/// Enables or disables a tenant; `false` if there is no such tenant.
pub async fn set_enabled(
    db: &impl Db,
    id: &str,
    enabled: bool,
    now_ms: i64,
) -> Result<bool, StoreError> {
    one_row(
        db,
        Statement::new(
            "UPDATE tenants SET enabled = ?2, updated_at = ?3 WHERE id = ?1",
            vec![id.into(), i64::from(enabled).into(), now_ms.into()],
        ),
    )
    .await
}
