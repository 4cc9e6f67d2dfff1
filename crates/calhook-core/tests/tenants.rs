//! Tenants on SQLite with the real `migrations/`: settings stored and
//! resolved, secrets only ever stored sealed, rotation by secret id.

mod support;

use calhook_core::store::tenants::{self, StoredSecret, TenantSettings};
use calhook_core::tenants::{open, resolve, seal, MasterKey, Source, TenantId};
use support::*;

fn key() -> MasterKey {
    MasterKey::from_hex(&"5a".repeat(32)).unwrap()
}

fn sealed(tenant: &str, nonce: u8, secret: &str) -> StoredSecret {
    let nonce = [nonce; 12];
    StoredSecret {
        id: hex::encode(&nonce[..4]),
        sealed: seal(&key(), &TenantId::parse(tenant).unwrap(), nonce, secret),
    }
}

fn acme() -> TenantSettings {
    TenantSettings {
        name: Some("Acme Dental".into()),
        email_to: Some("front-desk@acme.example".into()),
        ..TenantSettings::default()
    }
}

#[test]
fn a_tenant_is_created_once_and_read_back() {
    let db = Sqlite::migrated();
    block_on(async {
        assert!(tenants::create(&db, "acme", &acme(), 1).await.unwrap());
        assert!(
            !tenants::create(&db, "acme", &acme(), 2).await.unwrap(),
            "the id is taken"
        );
        let t = tenants::get(&db, "acme").await.unwrap().unwrap();
        assert_eq!(t.settings, acme());
        assert!(t.enabled);
        assert!(
            t.secrets().is_empty(),
            "a new tenant has no secret: it refuses everything"
        );
        assert!(tenants::get(&db, "globex").await.unwrap().is_none());
    });
}

#[test]
fn a_rotation_adds_a_second_secret_then_removes_the_first() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        let (old, new) = (
            sealed("acme", 1, "acme-secret-old-0001"),
            sealed("acme", 2, "acme-secret-new-0002"),
        );
        assert!(tenants::add_secret(&db, "acme", &old, 2).await.unwrap());
        assert!(tenants::add_secret(&db, "acme", &new, 3).await.unwrap());
        let t = tenants::get(&db, "acme").await.unwrap().unwrap();
        let opened: Vec<_> = t
            .secrets()
            .iter()
            .map(|s| open(&key(), &TenantId::parse("acme").unwrap(), &s.sealed).unwrap())
            .collect();
        assert_eq!(opened, ["acme-secret-old-0001", "acme-secret-new-0002"]);
        assert!(tenants::remove_secret(&db, "acme", &old.id, 4)
            .await
            .unwrap());
        assert!(
            !tenants::remove_secret(&db, "acme", &old.id, 5)
                .await
                .unwrap(),
            "already gone"
        );
        let left = tenants::get(&db, "acme").await.unwrap().unwrap().secrets();
        assert_eq!(left, [new]);
    });
}

#[test]
fn a_tenant_holds_at_most_five_secrets() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        for i in 0..5 {
            assert!(
                tenants::add_secret(&db, "acme", &sealed("acme", i, "s-0123456789abcdef"), 2)
                    .await
                    .unwrap()
            );
        }
        assert!(
            !tenants::add_secret(&db, "acme", &sealed("acme", 9, "s-0123456789abcdef"), 3)
                .await
                .unwrap()
        );
    });
}

#[test]
fn the_table_never_holds_a_secret_in_clear() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        tenants::add_secret(&db, "acme", &sealed("acme", 3, "plain-text-secret-xyz"), 2)
            .await
            .unwrap();
    });
    let dump = format!("{:?}", db.rows("SELECT * FROM tenants"));
    assert!(!dump.contains("plain-text-secret-xyz"), "{dump}");
    assert!(
        !dump.contains(&hex::encode("plain-text-secret-xyz")),
        "{dump}"
    );
}

#[test]
fn a_disabled_tenant_stays_stored_but_says_so() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        assert!(tenants::set_enabled(&db, "acme", false, 2).await.unwrap());
        assert!(!tenants::get(&db, "acme").await.unwrap().unwrap().enabled);
        assert!(!tenants::set_enabled(&db, "globex", false, 2).await.unwrap());
    });
}

#[test]
fn an_update_replaces_the_settings_and_unset_fields_fall_back_to_the_environment() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        let changed = TenantSettings {
            email_to: None,
            reminder_offsets: Some("2h".into()),
            ..acme()
        };
        assert!(tenants::update(&db, "acme", &changed, 2).await.unwrap());
        let t = tenants::get(&db, "acme").await.unwrap().unwrap();
        assert_eq!(
            resolve(t.settings.email_to.as_deref(), Some("team@example.com"), ""),
            ("team@example.com", Source::Environment)
        );
        assert_eq!(
            resolve(
                t.settings.reminder_offsets.as_deref(),
                Some("24h,1h"),
                "24h,1h"
            ),
            ("2h", Source::Tenant)
        );
        assert_eq!(tenants::list(&db).await.unwrap().len(), 1);
    });
}
