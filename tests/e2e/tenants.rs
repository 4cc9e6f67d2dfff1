//! Several Cal.com accounts in one deployment: `/webhooks/cal/{tenant}` next
//! to the single-tenant route, tenants managed through the admin API and the
//! `calhook tenant` CLI.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const TOKEN: &str = "adm-tenant-token-0123456789abcdef01";
const MASTER_KEY: &str = "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a";
const OTHER_MASTER_KEY: &str = "1b2c3d4e5f60718293a4b5c6d7e8f901122334455667788990aabbccddeeff00";
const ACME_SECRET: &str = "acme-webhook-secret-0001";
const ACME_NEW_SECRET: &str = "acme-webhook-secret-0002";
const GLOBEX_SECRET: &str = "globex-webhook-secret-01";

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "tenants::each_route_verifies_with_its_own_secrets_and_each_tenant_gets_its_own_email",
            each_route_verifies_with_its_own_secrets_and_each_tenant_gets_its_own_email,
        ),
        trial(
            "tenants::a_rotation_on_one_tenant_leaves_the_other_untouched",
            a_rotation_on_one_tenant_leaves_the_other_untouched,
        ),
        trial(
            "tenants::a_disabled_unknown_or_secretless_tenant_records_nothing",
            a_disabled_unknown_or_secretless_tenant_records_nothing,
        ),
        trial(
            "tenants::with_d1_down_a_tenants_first_request_is_verified_from_its_kv_copy",
            with_d1_down_a_tenants_first_request_is_verified_from_its_kv_copy,
        ),
        trial(
            "tenants::a_tenant_over_its_emails_per_hour_is_held_and_reported_not_dropped",
            a_tenant_over_its_emails_per_hour_is_held_and_reported_not_dropped,
        ),
        trial(
            "tenants::webcrypto_and_the_aes_gcm_crate_read_each_others_sealed_secrets",
            webcrypto_and_the_aes_gcm_crate_read_each_others_sealed_secrets,
        ),
        trial(
            "tenants::a_master_key_rotation_reencrypts_every_secret",
            a_master_key_rotation_reencrypts_every_secret,
        ),
    ]
}

fn vars(key: &str, cache_seconds: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ADMIN_TOKEN", TOKEN.into()),
        ("TENANT_SECRETS_KEY", key.into()),
        ("TENANT_CACHE_SECONDS", cache_seconds.into()),
    ]
}

async fn tenant_stack(cache_seconds: &str) -> Stack {
    Stack::start(Options {
        receiver_vars: vars(MASTER_KEY, cache_seconds),
        mailer_vars: vec![("TENANT_CACHE_SECONDS", cache_seconds.into())],
        ..Options::default()
    })
    .await
}

/// Creates a tenant through the admin API.
async fn create(s: &Stack, body: Value) -> Value {
    let (status, answer) = s
        .admin(Method::POST, "/admin/tenants", TOKEN, Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    answer
}

fn cli() -> PathBuf {
    root().join("target/debug/calhook")
}

/// Runs `calhook tenant …` against the stack, `stdin` piped in; its stdout.
fn run_cli(s: &Stack, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    assert!(
        cli().exists(),
        "target/debug/calhook is missing: scripts/test builds it"
    );
    let mut child = Command::new(cli())
        .arg("tenant")
        .args(args)
        .env("ADMIN_TOKEN", TOKEN)
        .env("CALHOOK_URL", &s.base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("calhook runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "calhook tenant {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn recipient(e: &sendgrid_standin::Captured) -> String {
    e.body["personalizations"][0]["to"][0]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn each_route_verifies_with_its_own_secrets_and_each_tenant_gets_its_own_email() {
    let s = tenant_stack("30").await;
    // acme through the CLI, its secret on stdin; globex through the API.
    let out = run_cli(
        &s,
        &[
            "add",
            "acme",
            "--name",
            "Acme Dental",
            "--email-to",
            "front-desk@acme.example",
            "--secret-from-stdin",
        ],
        &format!("{ACME_SECRET}\n"),
    );
    assert!(
        out.contains("\"webhook_path\": \"/webhooks/cal/acme\""),
        "{out}"
    );
    assert!(!out.contains(ACME_SECRET), "the CLI never prints a secret");
    create(
        &s,
        json!({"id": "globex", "email_to": "ops@globex.example", "secret": GLOBEX_SECRET}),
    )
    .await;

    let booking = fixture_for("BOOKING_CREATED", &unique("shared"));
    // Each route refuses the others' secrets.
    assert_eq!(
        s.send_to("/webhooks/cal/globex", &booking, ACME_SECRET)
            .await
            .0,
        401
    );
    assert_eq!(
        s.send_to("/webhooks/cal/acme", &booking, GLOBEX_SECRET)
            .await
            .0,
        401
    );
    assert_eq!(
        s.send_to("/webhooks/cal/acme", &booking, SECRET).await.0,
        401
    );
    assert_eq!(
        s.send_to("/webhooks/cal", &booking, ACME_SECRET).await.0,
        401
    );

    // The same booking through all three routes: three events, three emails.
    let (a, acme) = s.send_to("/webhooks/cal/acme", &booking, ACME_SECRET).await;
    let (b, globex) = s
        .send_to("/webhooks/cal/globex", &booking, GLOBEX_SECRET)
        .await;
    let (c, single) = s.send(&booking).await;
    assert_eq!((a, b, c), (200, 200, 200), "{acme} {globex} {single}");
    for answer in [&acme, &globex, &single] {
        assert_eq!(answer["status"], "queued", "{answer}");
    }
    let key = |v: &Value| v["key"].as_str().unwrap().to_owned();
    assert!(key(&acme).starts_with("acme/BOOKING_CREATED:"), "{acme}");
    assert!(
        key(&globex).starts_with("globex/BOOKING_CREATED:"),
        "{globex}"
    );
    assert!(key(&single).starts_with("BOOKING_CREATED:"), "{single}");
    // A copy on acme's route is still acme's duplicate.
    let (_, again) = s.send_to("/webhooks/cal/acme", &booking, ACME_SECRET).await;
    assert_eq!(again["status"], "duplicate", "{again}");

    let to_acme = s.wait_for_email(&key(&acme)).await;
    let to_globex = s.wait_for_email(&key(&globex)).await;
    let to_single = s.wait_for_email(&key(&single)).await;
    assert_eq!(to_acme.len(), 1);
    assert_eq!(recipient(&to_acme[0]), "front-desk@acme.example");
    assert!(
        to_acme[0]
            .subject()
            .starts_with("[Acme Dental] New booking: "),
        "{}",
        to_acme[0].subject()
    );
    assert_eq!(to_globex.len(), 1);
    assert_eq!(recipient(&to_globex[0]), "ops@globex.example");
    assert!(
        to_globex[0].subject().starts_with("New booking: "),
        "no name, no prefix"
    );
    assert_eq!(to_single.len(), 1);
    assert_eq!(recipient(&to_single[0]), "team@example.com");

    // Each tenant has its own booking row.
    let uid = booking["payload"]["uid"].as_str().unwrap();
    let rows = s.sql(&format!(
        "SELECT uid FROM bookings WHERE uid IN ('{uid}', 'acme/{uid}', 'globex/{uid}')"
    ));
    assert_eq!(rows.len(), 3, "{rows:?}");

    // What a D1 export holds, and what the admin API answers: no secret in clear.
    let dump = serde_json::to_string(&s.sql("SELECT * FROM tenants")).unwrap();
    assert!(dump.contains("\"v1."), "sealed secrets are there: {dump}");
    for secret in [ACME_SECRET, GLOBEX_SECRET] {
        assert!(!dump.contains(secret), "a secret in clear in D1");
    }
    let (_, shown) = s
        .admin(Method::GET, "/admin/tenants/acme", TOKEN, None)
        .await;
    assert_eq!(
        shown["secrets"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
    assert!(!shown.to_string().contains(ACME_SECRET));
    assert!(!shown.to_string().contains("v1."), "not even sealed");
    assert!(
        !s.log().contains(ACME_SECRET),
        "no secret in the workers' log"
    );
}

async fn a_rotation_on_one_tenant_leaves_the_other_untouched() {
    // A short cache: other isolates see a change within it (this one at once).
    let s = tenant_stack("1").await;
    create(&s, json!({"id": "acme", "secret": ACME_SECRET})).await;
    create(&s, json!({"id": "globex", "secret": GLOBEX_SECRET})).await;
    let fresh = || fixture_for("BOOKING_CREATED", &unique("rot"));
    let globex_ok = || async {
        let (status, answer) = s
            .send_to("/webhooks/cal/globex", &fresh(), GLOBEX_SECRET)
            .await;
        assert_eq!(status, 200, "globex is untouched: {answer}");
    };

    // Two secrets: Cal.com may sign with either while the new one is rolled out.
    let (status, added) = s
        .admin(
            Method::POST,
            "/admin/tenants/acme/secrets",
            TOKEN,
            Some(json!({"secret": ACME_NEW_SECRET})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let new_id = added["secret_id"].as_str().unwrap().to_owned();
    for secret in [ACME_SECRET, ACME_NEW_SECRET] {
        let (status, answer) = s.send_to("/webhooks/cal/acme", &fresh(), secret).await;
        assert_eq!(status, 200, "{answer}");
    }
    globex_ok().await;

    // Then only the new one.
    let (_, shown) = s
        .admin(Method::GET, "/admin/tenants/acme", TOKEN, None)
        .await;
    let old_id = shown["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .find(|id| *id != new_id)
        .unwrap();
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/admin/tenants/acme/secrets/{old_id}"),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200);
    poll(
        "the old secret refused",
        Duration::from_secs(20),
        || async {
            let (status, _) = s.send_to("/webhooks/cal/acme", &fresh(), ACME_SECRET).await;
            (status == 401).then_some(())
        },
    )
    .await;
    let (status, answer) = s
        .send_to("/webhooks/cal/acme", &fresh(), ACME_NEW_SECRET)
        .await;
    assert_eq!(status, 200, "{answer}");
    globex_ok().await;
}

async fn a_disabled_unknown_or_secretless_tenant_records_nothing() {
    let s = tenant_stack("30").await;
    create(&s, json!({"id": "acme", "secret": ACME_SECRET})).await;
    create(&s, json!({"id": "initech"})).await;
    let (status, _) = s
        .admin(Method::POST, "/admin/tenants/acme/disable", TOKEN, None)
        .await;
    assert_eq!(status, 200);

    create(&s, json!({"id": "globex", "secret": GLOBEX_SECRET})).await;
    let booking = fixture_for("BOOKING_CREATED", &unique("off"));
    // What a known, enabled tenant answers a wrong signature ...
    let (status, wrong) = s
        .send_to("/webhooks/cal/globex", &booking, ACME_SECRET)
        .await;
    assert_eq!(status, 401, "{wrong}");
    assert_eq!(wrong["outcome"], "bad_signature");
    // ... is what a disabled, an unknown and a secretless tenant answer, even
    // signed right: nobody can tell which tenants exist.
    for (path, secret) in [
        ("/webhooks/cal/acme", ACME_SECRET),
        ("/webhooks/cal/nobody", ACME_SECRET),
        ("/webhooks/cal/initech", ACME_SECRET),
        ("/webhooks/cal/Not-A-Slug!", ACME_SECRET),
    ] {
        let answer = s.send_to(path, &booking, secret).await;
        assert_eq!(answer, (401, wrong.clone()), "{path}");
    }
    // Without a signature header, too: the same answer as a known tenant's.
    let unsigned = |path: &'static str| {
        http()
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/json")
            .body(body(&booking))
            .send()
    };
    let known = unsigned("/webhooks/cal/globex").await.unwrap();
    let (known_status, known_body) = (known.status(), known.text().await.unwrap());
    let unknown = unsigned("/webhooks/cal/nobody").await.unwrap();
    assert_eq!(
        (unknown.status(), unknown.text().await.unwrap()),
        (known_status, known_body)
    );

    for table in ["idempotency_keys", "outbox", "bookings"] {
        let column = if table == "bookings" { "uid" } else { "key" };
        let rows = s.sql(&format!("SELECT {column} FROM {table}"));
        assert!(rows.is_empty(), "{table}: {rows:?}");
    }
    s.wait_for_log("why, logged", Duration::from_secs(10), |l| {
        l.contains("\"tenant\":\"nobody\"") && l.contains("unknown_tenant")
    })
    .await;
    s.wait_for_log("why, logged", Duration::from_secs(10), |l| {
        l.contains("\"tenant\":\"acme\"") && l.contains("tenant_disabled")
    })
    .await;

    // Enabled again, it is served again.
    s.admin(Method::POST, "/admin/tenants/acme/enable", TOKEN, None)
        .await;
    let (status, answer) = s.send_to("/webhooks/cal/acme", &booking, ACME_SECRET).await;
    assert_eq!(status, 200, "{answer}");
}

async fn with_d1_down_a_tenants_first_request_is_verified_from_its_kv_copy() {
    // The receiver has no D1 at all (the admin worker and the mailer do): a
    // fresh isolate has nothing cached, so only the copy in TENANTS_KV can
    // verify the request. Cal.com never retries: a 503 here is an event lost.
    let s = Stack::start(Options {
        receiver_vars: vars(MASTER_KEY, "30"),
        edit_receiver: Some(|config| {
            config.remove("d1_databases");
        }),
        ..Options::default()
    })
    .await;
    create(&s, json!({"id": "acme", "secret": ACME_SECRET})).await;
    let booking = fixture_for("BOOKING_CREATED", &unique("d1down"));
    let (status, answer) = s.send_to("/webhooks/cal/acme", &booking, ACME_SECRET).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    let key = answer["key"].as_str().unwrap().to_owned();
    assert_eq!(s.wait_for_email(&key).await.len(), 1);
    // The copy verifies as D1 would: a wrong secret and an unknown slug are refused.
    let (status, _) = s
        .send_to("/webhooks/cal/acme", &booking, GLOBEX_SECRET)
        .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .send_to("/webhooks/cal/nobody", &booking, ACME_SECRET)
        .await;
    assert_eq!(status, 401);
    // A change reaches the copy: disabled, the tenant is refused too.
    s.admin(Method::POST, "/admin/tenants/acme/disable", TOKEN, None)
        .await;
    let again = fixture_for("BOOKING_CREATED", &unique("d1down"));
    let (status, answer) = s.send_to("/webhooks/cal/acme", &again, ACME_SECRET).await;
    assert_eq!(status, 401, "{answer}");
}

async fn a_tenant_over_its_emails_per_hour_is_held_and_reported_not_dropped() {
    let s = tenant_stack("30").await;
    create(
        &s,
        json!({"id": "acme", "secret": ACME_SECRET, "emails_per_hour": 1}),
    )
    .await;
    create(&s, json!({"id": "globex", "secret": GLOBEX_SECRET})).await;
    let send = |path: &'static str, secret: &'static str, uid: String| {
        let s = &s;
        async move {
            let (status, answer) = s
                .send_to(path, &fixture_for("BOOKING_CREATED", &uid), secret)
                .await;
            assert_eq!(status, 200, "{answer}");
            answer["key"].as_str().unwrap().to_owned()
        }
    };
    let first = send("/webhooks/cal/acme", ACME_SECRET, unique("quota")).await;
    assert_eq!(s.wait_for_email(&first).await.len(), 1);
    let second = send("/webhooks/cal/acme", ACME_SECRET, unique("quota")).await;
    let held = poll("the second email held", Duration::from_secs(45), || {
        let rows = s.sql(&format!(
            "SELECT state, last_error FROM deliveries WHERE key = '{second}'"
        ));
        async move {
            rows.into_iter().find(|r| {
                r["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("held"))
            })
        }
    })
    .await;
    assert_eq!(held["state"], "pending", "kept to send, not dropped");
    assert!(s.emails_for(&second).is_empty());
    // Another tenant is not starved by acme's quota.
    let other = send("/webhooks/cal/globex", GLOBEX_SECRET, unique("quota")).await;
    assert_eq!(s.wait_for_email(&other).await.len(), 1);
    let (_, shown) = s
        .admin(Method::GET, "/admin/tenants/acme", TOKEN, None)
        .await;
    assert_eq!(shown["this_hour"]["sent"], 1, "{shown}");
    assert!(shown["this_hour"]["held"].as_i64().unwrap() >= 1, "{shown}");
    assert_eq!(shown["settings"]["emails_per_hour"], 1);
}

async fn a_master_key_rotation_reencrypts_every_secret() {
    let first = tenant_stack("30").await;
    create(&first, json!({"id": "acme", "secret": ACME_SECRET})).await;
    let sealed =
        |s: &Stack| s.sql("SELECT secrets FROM tenants WHERE id = 'acme'")[0]["secrets"].clone();
    let before = sealed(&first);
    first.stop();

    // New key, the old one kept as the previous: old rows still open ...
    let second = Stack::start(Options {
        receiver_vars: {
            let mut v = vars(OTHER_MASTER_KEY, "30");
            v.push(("TENANT_SECRETS_KEY_PREVIOUS", MASTER_KEY.into()));
            v
        },
        state_dir: Some(first.state.clone()),
        ..Options::default()
    })
    .await;
    let fresh = || fixture_for("BOOKING_CREATED", &unique("rekey"));
    let (status, answer) = second
        .send_to("/webhooks/cal/acme", &fresh(), ACME_SECRET)
        .await;
    assert_eq!(status, 200, "{answer}");
    // ... and are sealed under the new key.
    let (status, done) = second
        .admin(Method::POST, "/admin/tenants/reencrypt", TOKEN, None)
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["resealed"].as_u64()),
        (Some("done"), Some(1)),
        "{done}"
    );
    assert_ne!(sealed(&second), before);
    second.stop();

    // The previous key can go.
    let third = Stack::start(Options {
        receiver_vars: vars(OTHER_MASTER_KEY, "30"),
        state_dir: Some(first.state.clone()),
        ..Options::default()
    })
    .await;
    let (status, answer) = third
        .send_to("/webhooks/cal/acme", &fresh(), ACME_SECRET)
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// The workers seal and open with WebCrypto, native code with the aes-gcm
/// crate: a secret sealed natively verifies a webhook in the receiver, and one
/// the admin worker sealed opens natively.
async fn webcrypto_and_the_aes_gcm_crate_read_each_others_sealed_secrets() {
    use calhook_core::tenants::{open, seal, MasterKey, TenantId};
    let s = tenant_stack("30").await;
    let key = MasterKey::from_hex(MASTER_KEY).unwrap();

    // Sealed here, opened by the receiver (a slug it has never looked up).
    create(&s, json!({"id": "initech"})).await;
    let secret = "initech-native-secret-01";
    let sealed = seal(&key, &TenantId::parse("initech").unwrap(), [7; 12], secret)
        .await
        .unwrap();
    let stored = json!([{"id": "0a0b0c0d", "sealed": sealed}]).to_string();
    s.sql(&format!(
        "UPDATE tenants SET secrets = '{stored}' WHERE id = 'initech'"
    ));
    let booking = fixture_for("BOOKING_CREATED", &unique("interop"));
    let (status, answer) = s.send_to("/webhooks/cal/initech", &booking, secret).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    let (status, _) = s
        .send_to(
            "/webhooks/cal/initech",
            &booking,
            "initech-wrong-secret-001",
        )
        .await;
    assert_eq!(status, 401, "another secret is still refused");

    // Sealed by the admin worker, opened here.
    create(&s, json!({"id": "hooli", "secret": ACME_SECRET})).await;
    let rows = s.sql("SELECT secrets FROM tenants WHERE id = 'hooli'");
    let stored: Vec<Value> = serde_json::from_str(rows[0]["secrets"].as_str().unwrap()).unwrap();
    let sealed = stored[0]["sealed"].as_str().unwrap();
    assert!(sealed.starts_with("v1."), "{sealed}");
    assert!(!sealed.contains(ACME_SECRET));
    let opened = open(&key, &TenantId::parse("hooli").unwrap(), sealed).await;
    assert_eq!(opened.as_deref(), Ok(ACME_SECRET));
}
