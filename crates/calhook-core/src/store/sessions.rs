//! Console sessions signed out before they expired (table
//! `console_signed_out`): the cookie is self-contained, so a copy of it
//! would otherwise still sign in until it expires.

use super::{Db, Statement, StoreError};
use serde::Deserialize;

pub async fn sign_out(db: &impl Db, tag: &str, expires_at_ms: i64) -> Result<(), StoreError> {
    db.run(Statement::new(
        "INSERT OR IGNORE INTO console_signed_out (tag, expires_at) VALUES (?1, ?2)",
        vec![tag.into(), expires_at_ms.into()],
    ))
    .await?;
    Ok(())
}

pub async fn signed_out(db: &impl Db, tag: &str) -> Result<bool, StoreError> {
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        tag: String,
    }
    Ok(db
        .first::<One>(Statement::new(
            "SELECT tag FROM console_signed_out WHERE tag = ?1",
            vec![tag.into()],
        ))
        .await?
        .is_some())
}

/// Forgets sign-outs of sessions that have expired anyway (the daily prune).
pub async fn prune(db: &impl Db, now_ms: i64) -> Result<u64, StoreError> {
    db.run(Statement::new(
        "DELETE FROM console_signed_out WHERE expires_at <= ?1",
        vec![now_ms.into()],
    ))
    .await
}
