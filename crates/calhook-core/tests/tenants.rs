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
        sealed: block_on(seal(
            &key(),
            &TenantId::parse(tenant).unwrap(),
            nonce,
            secret,
        ))
        .unwrap(),
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
            .map(|s| block_on(open(&key(), &TenantId::parse("acme").unwrap(), &s.sealed)).unwrap())
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

// ------------------------------------------------------------ isolation

use calhook_core::inbound::event::parse;
use calhook_core::inbound::identity::derive;
use calhook_core::message::notification::Notification;
use calhook_core::store::bookings;
use calhook_core::store::outbox::{self, Accept, Recorded};
use calhook_core::store::reminders::{self, Kind};
use serde_json::json;

/// 2026-11-25T15:00Z.
const START: i64 = 1_795_618_800_000;
const MINUTE: i64 = 60_000;

fn booking_body(uid: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-11-20T09:00:00.000Z",
        "payload": {"uid": uid, "title": "Check-up", "startTime": "2026-11-25T15:00:00Z",
            "endTime": "2026-11-25T15:30:00Z",
            "organizer": {"name": "Ada", "email": "ada@example.com", "timeZone": "Europe/London"},
            "attendees": [{"name": "Grace", "email": "grace@example.org", "timeZone": "America/New_York"}]}}))
    .unwrap()
}

/// What the receiver does with one delivery through `tenant`'s route.
fn receive(db: &Sqlite, tenant: Option<&str>, body: &[u8], token: &str) -> (Recorded, String) {
    let tenant = tenant.map(|t| TenantId::parse(t).unwrap());
    let envelope = parse(body).unwrap();
    let identity = derive(&envelope).unwrap().for_tenant(tenant.as_ref());
    let key = identity.notification_key(1_000);
    let mut n = Notification::build(&envelope, key.clone());
    n.tenant = tenant;
    let message = n.to_message().unwrap();
    let also = bookings::updates(&n, 5)
        .iter()
        .flat_map(|u| bookings::statements(u, 5))
        .collect();
    let accept = Accept {
        key: &identity.claim,
        change: None,
        notification_key: &key,
        repeat: None,
        trigger: "BOOKING_CREATED",
        token,
        notification: &message,
        now_ms: 5,
        ttl_ms: 86_400_000,
    };
    let recorded = block_on(outbox::record_with(db, accept, also)).unwrap();
    (recorded, key.to_string())
}

#[test]
fn one_booking_forwarded_by_two_tenants_and_the_single_route_is_new_for_each() {
    let db = Sqlite::migrated();
    let body = booking_body("b-shared");
    let (a, a_key) = receive(&db, Some("acme"), &body, "t1");
    let (b, b_key) = receive(&db, Some("globex"), &body, "t2");
    let (s, s_key) = receive(&db, None, &body, "t3");
    assert_eq!((a, b, s), (Recorded::New, Recorded::New, Recorded::New));
    assert!(a_key.starts_with("acme/BOOKING_CREATED:booking:b-shared:"));
    assert!(b_key.starts_with("globex/BOOKING_CREATED:booking:b-shared:"));
    assert!(s_key.starts_with("BOOKING_CREATED:booking:b-shared:"));
    assert_eq!(
        receive(&db, Some("acme"), &body, "t4").0,
        Recorded::Duplicate,
        "a copy on acme's route is still a copy"
    );
    let uids: Vec<_> = db
        .rows("SELECT uid FROM bookings ORDER BY uid")
        .into_iter()
        .map(|r| r["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(uids, ["acme/b-shared", "b-shared", "globex/b-shared"]);
    let outbox: Vec<_> = db.rows("SELECT notification FROM outbox ORDER BY key");
    let tenants: Vec<_> = outbox
        .iter()
        .map(|r| {
            let n: serde_json::Value =
                serde_json::from_str(r["notification"].as_str().unwrap()).unwrap();
            n["tenant"].clone()
        })
        .collect();
    assert_eq!(tenants, [json!(null), json!("acme"), json!("globex")]);
}

#[test]
fn a_tenants_reminders_follow_its_own_offsets_and_stop_while_it_is_disabled() {
    let db = Sqlite::migrated();
    block_on(async {
        let mut acme = acme();
        acme.reminder_offsets = Some("[30]".into());
        tenants::create(&db, "acme", &acme, 1).await.unwrap();
        tenants::create(&db, "globex", &TenantSettings::default(), 1)
            .await
            .unwrap();
    });
    let body = booking_body("b1");
    for t in [Some("acme"), Some("globex"), None] {
        receive(&db, t, &body, t.unwrap_or("single"));
    }
    let now = START - 29 * MINUTE;
    let due = block_on(reminders::due_reminders(&db, now, &[60], 50)).unwrap();
    let decisions = reminders::decide(due, Kind::Reminder);
    let mut keys: Vec<_> = decisions.iter().map(|d| d.key()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("BOOKING_REMINDER:booking:b1:60m@{START}"),
            format!("acme/BOOKING_REMINDER:booking:b1:30m@{START}"),
            format!("globex/BOOKING_REMINDER:booking:b1:60m@{START}"),
        ]
    );
    let acme_reminder = decisions
        .iter()
        .find(|d| d.key().starts_with("acme/"))
        .and_then(|d| d.notification.clone())
        .unwrap();
    assert_eq!(acme_reminder.tenant, Some(TenantId::parse("acme").unwrap()));
    assert_eq!(
        acme_reminder.facts.booking_uid.as_deref(),
        Some("b1"),
        "the email shows Cal.com's uid"
    );

    block_on(tenants::set_enabled(&db, "globex", false, 2)).unwrap();
    let due = block_on(reminders::due_reminders(&db, now, &[60], 50)).unwrap();
    assert!(
        due.iter().all(|d| !d.uid.starts_with("globex/")),
        "a disabled tenant's bookings get no reminder"
    );
    assert_eq!(due.len(), 2);
}

#[test]
fn re_encryption_replaces_the_secrets_only_if_nobody_changed_them_meanwhile() {
    let db = Sqlite::migrated();
    block_on(async {
        tenants::create(&db, "acme", &acme(), 1).await.unwrap();
        tenants::add_secret(&db, "acme", &sealed("acme", 1, "acme-secret-old-0001"), 2)
            .await
            .unwrap();
        let before = tenants::get(&db, "acme").await.unwrap().unwrap();
        let resealed = [sealed("acme", 9, "acme-secret-old-0001")];
        // An operator adds a secret between the read and the write ...
        tenants::add_secret(&db, "acme", &sealed("acme", 2, "acme-secret-new-0002"), 3)
            .await
            .unwrap();
        assert!(
            !tenants::replace_secrets(&db, "acme", &before.secrets, &resealed, 4)
                .await
                .unwrap(),
            "... so the stale list is not written over it"
        );
        let now = tenants::get(&db, "acme").await.unwrap().unwrap();
        assert_eq!(now.secrets().len(), 2);
        assert!(
            tenants::replace_secrets(&db, "acme", &now.secrets, &resealed, 5)
                .await
                .unwrap()
        );
        assert_eq!(
            tenants::get(&db, "acme").await.unwrap().unwrap().secrets(),
            resealed
        );
    });
}
