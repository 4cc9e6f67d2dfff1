//! A copy of every tenant row in KV (binding `TENANTS_KV`), so the webhook
//! route can still verify a tenant's requests when D1 is down — Cal.com never
//! retries, and a 503 there is an event lost. The admin worker writes the copy
//! after every change and the daily job repairs any copy that drifted; the
//! receiver reads it only when D1 fails. Secrets stay sealed, as in D1.

use crate::store::tenants::{Raw, TenantRow};
use crate::store::StoreError;

/// The KV operations the replica needs (no expiry: a tenant lasts).
#[allow(async_fn_in_trait)]
pub trait ReplicaStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// The KV key of tenant `id`'s copy.
pub fn key(id: &str) -> String {
    format!("tenant:{id}")
}

/// The copy is the row as D1 has it (flat), which the receiver already decodes.
fn encode(row: &TenantRow) -> String {
    serde_json::to_string(&Raw::from(row)).unwrap_or_default()
}

/// Writes `row`'s copy.
pub async fn write(store: &impl ReplicaStore, row: &TenantRow) -> Result<(), StoreError> {
    store.put(&key(&row.id), &encode(row)).await
}

/// Tenant `id`'s copy; `None` when there is none (no such tenant). A copy
/// that does not read as a row is an error, never "unknown".
pub async fn read(store: &impl ReplicaStore, id: &str) -> Result<Option<TenantRow>, StoreError> {
    match store.get(&key(id)).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str::<Raw>(&text)
            .map(|raw| Some(raw.into()))
            .map_err(|e| StoreError::Decode(format!("tenant replica {id}: {e}"))),
    }
}

/// Writes the copies that differ from D1's `rows` (the daily repair): how
/// many were written. KV's free plan allows 1,000 writes a day, so an
/// unchanged tenant costs a read, not a write.
pub async fn sync(store: &impl ReplicaStore, rows: &[TenantRow]) -> Result<usize, StoreError> {
    let mut written = 0;
    for row in rows {
        let wanted = encode(row);
        if store.get(&key(&row.id)).await?.as_deref() != Some(wanted.as_str()) {
            store.put(&key(&row.id), &wanted).await?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tenants::TenantSettings;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Memory {
        values: RefCell<HashMap<String, String>>,
        writes: RefCell<usize>,
    }

    impl ReplicaStore for Memory {
        async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self.values.borrow().get(key).cloned())
        }
        async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
            *self.writes.borrow_mut() += 1;
            self.values
                .borrow_mut()
                .insert(key.to_owned(), value.to_owned());
            Ok(())
        }
    }

    fn row(id: &str, updated_at: i64) -> TenantRow {
        TenantRow {
            id: id.into(),
            settings: TenantSettings {
                email_to: Some("\"Doe, J\" <j@example.com>".into()),
                ..TenantSettings::default()
            },
            secrets: r#"[{"id":"ab12","sealed":"v1.00.11"}]"#.into(),
            cal_api_key: Some("v1.00.22".into()),
            enabled: true,
            created_at: 1,
            updated_at,
        }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        pollster::block_on(f)
    }

    #[test]
    fn a_written_copy_reads_back_as_the_same_row() {
        let kv = Memory::default();
        run(write(&kv, &row("acme", 5))).unwrap();
        assert_eq!(run(read(&kv, "acme")).unwrap(), Some(row("acme", 5)));
        assert_eq!(run(read(&kv, "globex")).unwrap(), None);
    }

    #[test]
    fn an_unreadable_copy_is_an_error_not_an_unknown_tenant() {
        let kv = Memory::default();
        run(kv.put(&key("acme"), "{not json")).unwrap();
        assert!(run(read(&kv, "acme")).is_err());
    }

    #[test]
    fn the_daily_repair_writes_only_what_drifted() {
        let kv = Memory::default();
        let rows = [row("acme", 5), row("globex", 7)];
        assert_eq!(run(sync(&kv, &rows)).unwrap(), 2);
        assert_eq!(run(sync(&kv, &rows)).unwrap(), 0, "unchanged: no write");
        assert_eq!(run(sync(&kv, &[row("acme", 6)])).unwrap(), 1);
        assert_eq!(*kv.writes.borrow(), 3);
    }
}
