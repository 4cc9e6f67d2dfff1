//! The reconcile job's state per source (table `reconcile_sources`) and its
//! one read of the ledger per page.

use super::bookings::Status;
use super::{Db, Param, Statement, StoreError};
use crate::reconcile::decide::Known;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The single route's source name.
pub const SINGLE_ROUTE: &str = "";

/// What the last run of a source did, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// A tenant id, or `""` for the single route.
    pub source: String,
    /// Every booking Cal.com changed at or before this (ms) is applied.
    pub mark_at: Option<i64>,
    pub last_run_at: Option<i64>,
    /// Bookings read, and changes recovered, by the last run.
    pub checked: i64,
    pub recovered: i64,
    /// Why the last run stopped early, if it did.
    pub error: Option<String>,
    /// The last run stopped at its budget: more may be waiting.
    #[serde(deserialize_with = "int_bool")]
    pub more: bool,
    /// Fingerprint of a key Cal.com refused: not tried again until it changes.
    pub refused_key: Option<String>,
    pub refused_at: Option<i64>,
}

pub async fn get(db: &impl Db, source: &str) -> Result<Option<SourceState>, StoreError> {
    db.first(Statement::new(
        "SELECT source, mark_at, last_run_at, checked, recovered, error, more, refused_key, refused_at \
         FROM reconcile_sources WHERE source = ?1",
        vec![source.into()],
    ))
    .await
}

/// Every source that has run, by name.
pub async fn list(db: &impl Db) -> Result<Vec<SourceState>, StoreError> {
    db.all(Statement::new(
        "SELECT source, mark_at, last_run_at, checked, recovered, error, more, refused_key, refused_at \
         FROM reconcile_sources ORDER BY source",
        vec![],
    ))
    .await
}

/// Records a run. The mark never moves back: a run that applied nothing
/// past it (or started earlier, `--since`) leaves it where it was.
pub async fn save(db: &impl Db, s: &SourceState) -> Result<(), StoreError> {
    db.run(Statement::new(
        "INSERT INTO reconcile_sources (source, mark_at, last_run_at, checked, recovered, error, refused_key, refused_at, more) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(source) DO UPDATE SET \
           mark_at = MAX(COALESCE(reconcile_sources.mark_at, excluded.mark_at), COALESCE(excluded.mark_at, reconcile_sources.mark_at)), \
           last_run_at = excluded.last_run_at, checked = excluded.checked, recovered = excluded.recovered, \
           error = excluded.error, refused_key = excluded.refused_key, refused_at = excluded.refused_at, \
           more = excluded.more",
        vec![
            s.source.as_str().into(),
            s.mark_at.into(),
            s.last_run_at.into(),
            s.checked.into(),
            s.recovered.into(),
            s.error.clone().into(),
            s.refused_key.clone().into(),
            s.refused_at.into(),
            i64::from(s.more).into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// Where the ledger has each of `uids` (ledger uids, the tenant's own), in
/// one statement whatever the page's size.
pub async fn known(db: &impl Db, uids: &[String]) -> Result<HashMap<String, Known>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        uid: String,
        status: String,
        status_rank: i64,
        start_at: Option<i64>,
    }
    let list = serde_json::to_string(uids).map_err(|e| StoreError::Decode(e.to_string()))?;
    let rows: Vec<Row> = db
        .all(Statement::new(
            "SELECT uid, status, status_rank, start_at FROM bookings \
             WHERE uid IN (SELECT value FROM json_each(?1))",
            vec![Param::Text(list)],
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let status = (r.status_rank >= 0)
                .then(|| Status::parse(&r.status))
                .flatten();
            (
                r.uid,
                Known {
                    status,
                    start_ms: r.start_at,
                },
            )
        })
        .collect())
}

/// SQLite's 0/1 (D1 answers integers for booleans).
fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}
