//! `wrangler deploy --dry-run` must succeed for every worker: it bundles the
//! real build output and validates the configuration without an account.

use crate::support::{output_within, root};
use std::time::Duration;

/// How long one deploy script or `wrangler deploy --dry-run` may take.
const DEPLOY_DEADLINE: Duration = Duration::from_secs(300);
use libtest_mimic::{Failed, Trial};
use std::process::Command;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("deploy::receiver_dry_run_bundles_the_wasm", || {
            dry_run("wrangler.toml", "receiver")
        }),
        Trial::test("deploy::mailer_dry_run_bundles_the_wasm", || {
            dry_run("mailer/wrangler.toml", "mailer")
        }),
        Trial::test("deploy::admin_dry_run_bundles_the_wasm", || {
            dry_run("admin/wrangler.toml", "admin")
        }),
        Trial::test(
            "deploy::the_receivers_admin_binding_names_the_admin_worker_which_has_no_public_route",
            the_receivers_admin_binding_names_the_admin_worker_which_has_no_public_route,
        ),
        Trial::test(
            "deploy::scripts_deploy_provisions_once_deploys_in_binding_order_and_a_second_run_changes_nothing",
            scripts_deploy_provisions_once_deploys_in_binding_order_and_a_second_run_changes_nothing,
        ),
        Trial::test(
            "deploy::scripts_deploy_refuses_to_start_logged_out_or_with_the_example_addresses",
            scripts_deploy_refuses_to_start_logged_out_or_with_the_example_addresses,
        ),
        Trial::test(
            "deploy::scripts_deploy_dry_run_bundles_all_three_workers_without_an_account",
            || {
                let out = output_within(
                    Command::new("bash")
                        .arg(root().join("scripts/deploy"))
                        .arg("--dry-run")
                        .current_dir(root())
                        .env("CALHOOK_PREBUILT", "1")
                        .env("WRANGLER_SEND_METRICS", "false")
                        .env("CI", "true"),
                    DEPLOY_DEADLINE,
                );
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
                }
                Ok(())
            },
        ),
        Trial::test(
            "deploy::only_the_receiver_is_public_and_no_worker_serves_preview_urls",
            only_the_receiver_is_public_and_no_worker_serves_preview_urls,
        ),
        Trial::test(
            "deploy::every_queue_the_mailer_consumes_has_a_dead_letter_queue_and_a_name_setting",
            every_queue_the_mailer_consumes_has_a_dead_letter_queue_and_a_name_setting,
        ),
    ]
}

/// A D1 outage longer than the retry budget must not drop a dead letter: the
/// dead-letter queue has its own, and both queue names match the settings the
/// mailer routes batches by.
fn every_queue_the_mailer_consumes_has_a_dead_letter_queue_and_a_name_setting() -> Result<(), Failed>
{
    let config: toml::Table = std::fs::read_to_string(root().join("mailer/wrangler.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let vars = &config["vars"];
    let names = [
        vars["NOTIFICATIONS_QUEUE"].as_str().unwrap_or_default(),
        vars["DEAD_LETTER_QUEUE"].as_str().unwrap_or_default(),
    ];
    let consumers = config["queues"]["consumers"].as_array().unwrap();
    for c in consumers {
        let queue = c["queue"].as_str().unwrap();
        if !names.contains(&queue) {
            return Err(format!("{queue} is consumed but named by no setting").into());
        }
        if c.get("dead_letter_queue").is_none() {
            return Err(format!(
                "{queue} has no dead_letter_queue: exhausted messages would be lost"
            )
            .into());
        }
    }
    if consumers.len() != 2 {
        return Err("the mailer consumes exactly the notifications and dead-letter queues".into());
    }
    Ok(())
}

fn config(path: &str) -> toml::Table {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .parse()
        .unwrap()
}

/// `/admin/*` and the crons reach the admin worker only through the receiver:
/// the binding must name it, and it must not be served on workers.dev or a route.
fn the_receivers_admin_binding_names_the_admin_worker_which_has_no_public_route(
) -> Result<(), Failed> {
    let (receiver, admin) = (config("wrangler.toml"), config("admin/wrangler.toml"));
    let services = receiver["services"].as_array().ok_or("no [[services]]")?;
    let binding = services
        .iter()
        .find(|s| s["binding"].as_str() == Some("ADMIN"))
        .ok_or("the receiver has no ADMIN service binding")?;
    if binding["service"] != admin["name"] {
        return Err(format!(
            "ADMIN binds {} but the admin worker is {}",
            binding["service"], admin["name"]
        )
        .into());
    }
    if admin.get("workers_dev").and_then(|v| v.as_bool()) != Some(false)
        || admin.contains_key("routes")
        || admin.contains_key("route")
    {
        return Err("the admin worker must have workers_dev = false and no route".into());
    }
    Ok(())
}

/// `/internal/cron` and every `/admin/*` route have no authentication of
/// their own beyond the admin worker being unreachable but through the
/// receiver's binding; a preview URL per uploaded version would be a way in
/// (and would serve old versions of the receiver).
fn only_the_receiver_is_public_and_no_worker_serves_preview_urls() -> Result<(), Failed> {
    for path in [
        "wrangler.toml",
        "admin/wrangler.toml",
        "mailer/wrangler.toml",
    ] {
        let c = config(path);
        if c.get("preview_urls").and_then(|v| v.as_bool()) != Some(false) {
            return Err(format!("{path}: preview_urls must be false").into());
        }
        if path != "wrangler.toml"
            && (c.get("workers_dev").and_then(|v| v.as_bool()) != Some(false)
                || c.contains_key("routes")
                || c.contains_key("route"))
        {
            return Err(format!("{path}: workers_dev = false and no route").into());
        }
    }
    Ok(())
}

/// A copy of what `scripts/deploy` reads and writes (it edits the ids into
/// the configs), with the wrangler stand-in first on PATH.
struct DeployCopy {
    dir: tempfile::TempDir,
}

impl DeployCopy {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("calhook-deploy-")
            .tempdir()
            .unwrap();
        let copy = |from: &str| {
            let status = Command::new("cp")
                .args(["-r", "--parents", from])
                .arg(dir.path())
                .current_dir(root())
                .status()
                .unwrap();
            assert!(status.success(), "cp {from}");
        };
        for path in [
            "scripts",
            "migrations",
            "wrangler.toml",
            "admin/wrangler.toml",
            "mailer/wrangler.toml",
            "Cargo.lock",
        ] {
            copy(path);
        }
        DeployCopy { dir }
    }

    fn run(&self, env: &[(&str, &str)]) -> std::process::Output {
        let path = format!(
            "{}:{}",
            root().join("tests/standins").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("scripts/deploy")
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("WRANGLER_STANDIN_STATE", self.dir.path().join("account"))
            .env("CALHOOK_PREBUILT", "1")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        output_within(&mut cmd, DEPLOY_DEADLINE)
    }

    fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path)).unwrap()
    }

    fn account(&self) -> serde_json::Value {
        serde_json::from_str(&self.file("account/account.json")).unwrap()
    }

    fn calls(&self) -> Vec<serde_json::Value> {
        self.file("account/calls.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const DEPLOY_ENV: &[(&str, &str)] = &[
    ("EMAIL_FROM", "Front Desk <desk@acme.test>"),
    ("EMAIL_TO", "ops@acme.test"),
    ("SENDGRID_API_KEY", "SG.stand-in-key"),
];

fn scripts_deploy_provisions_once_deploys_in_binding_order_and_a_second_run_changes_nothing(
) -> Result<(), Failed> {
    let d = DeployCopy::new();
    let first = d.run(DEPLOY_ENV);
    let said = String::from_utf8_lossy(&first.stdout).into_owned();
    if !first.status.success() {
        return Err(format!("{said}{}", String::from_utf8_lossy(&first.stderr)).into());
    }
    assert!(
        said.contains("https://calhook-receiver.calhook-test.workers.dev/webhooks/cal"),
        "{said}"
    );
    assert!(
        said.contains("ADMIN_TOKEN=") && said.contains("CAL_WEBHOOK_SECRET="),
        "{said}"
    );
    let account = d.account();
    let db = account["d1"]["calhook"].as_str().unwrap().to_owned();
    let kv = account["kv"]["calhook-tenants"]
        .as_str()
        .unwrap()
        .to_owned();
    for config in [
        "wrangler.toml",
        "admin/wrangler.toml",
        "mailer/wrangler.toml",
    ] {
        assert!(
            d.file(config).contains(&format!("database_id = \"{db}\"")),
            "{config}"
        );
    }
    for config in ["wrangler.toml", "admin/wrangler.toml"] {
        assert!(
            d.file(config).contains(&format!("id = \"{kv}\"")),
            "{config}"
        );
    }
    assert_eq!(
        account["queues"],
        serde_json::json!([
            "calhook-notifications",
            "calhook-dead-letters",
            "calhook-dead-letters-overflow"
        ])
    );
    let migrations = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .count();
    assert_eq!(account["migrations"].as_array().unwrap().len(), migrations);
    let deployed: Vec<_> = d
        .calls()
        .into_iter()
        .filter(|c| c.get("deployed").is_some())
        .collect();
    let order: Vec<&str> = deployed
        .iter()
        .map(|c| c["deployed"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["calhook-mailer", "calhook-admin", "calhook-receiver"]
    );
    assert_eq!(
        deployed[0]["secrets"],
        serde_json::json!(["SENDGRID_API_KEY"])
    );
    assert_eq!(
        deployed[1]["secrets"],
        serde_json::json!(["ADMIN_TOKEN", "TENANT_SECRETS_KEY"])
    );
    assert_eq!(
        deployed[2]["secrets"],
        serde_json::json!(["CAL_WEBHOOK_SECRET", "TENANT_SECRETS_KEY"])
    );
    let calls = d.file("account/calls.jsonl");
    assert!(
        !calls.contains("SG.stand-in-key"),
        "no secret value is recorded"
    );

    // Again, with nothing in the environment: nothing created, no secret sent,
    // no config changed.
    let configs: Vec<String> = [
        "wrangler.toml",
        "admin/wrangler.toml",
        "mailer/wrangler.toml",
    ]
    .iter()
    .map(|c| d.file(c))
    .collect();
    let before = d.calls().len();
    let second = d.run(&[]);
    if !second.status.success() {
        return Err(String::from_utf8_lossy(&second.stderr).into_owned().into());
    }
    let again = &d.calls()[before..];
    assert!(
        !again.iter().any(|c| c["argv"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "create"))),
        "{again:?}"
    );
    assert!(again
        .iter()
        .filter(|c| c.get("deployed").is_some())
        .all(|c| c["secrets"] == serde_json::json!([])));
    assert_eq!(d.account()["d1"], account["d1"]);
    for (c, before) in [
        "wrangler.toml",
        "admin/wrangler.toml",
        "mailer/wrangler.toml",
    ]
    .iter()
    .zip(&configs)
    {
        assert_eq!(&d.file(c), before, "{c} unchanged");
    }
    assert!(!String::from_utf8_lossy(&second.stdout).contains("Generated secrets"));
    Ok(())
}

fn scripts_deploy_refuses_to_start_logged_out_or_with_the_example_addresses() -> Result<(), Failed>
{
    let d = DeployCopy::new();
    let mut logged_out = DEPLOY_ENV.to_vec();
    logged_out.push(("WRANGLER_STANDIN_LOGGED_OUT", "1"));
    let out = d.run(&logged_out);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrangler login"));
    let out = d.run(&[("SENDGRID_API_KEY", "SG.x")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EMAIL_FROM"));
    // Neither attempt created anything.
    assert!(!d.file("account/calls.jsonl").contains("\"create\""));
    Ok(())
}

fn dry_run(config: &str, name: &str) -> Result<(), Failed> {
    let out_dir = tempfile::Builder::new()
        .prefix("calhook-dry-run-")
        .tempdir()
        .unwrap();
    let out = output_within(
        Command::new(root().join("node_modules/.bin/wrangler"))
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(out_dir.path())
            .args(["-c", config])
            .current_dir(root())
            // The wasm was built by scripts/test; the [build] command is a no-op here.
            .env("CALHOOK_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG", "log")
            .env("CI", "true"),
        DEPLOY_DEADLINE,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("dry run of {name} failed:\n{text}").into());
    }
    let total = text
        .lines()
        .find(|l| l.contains("Total Upload:"))
        .ok_or_else(|| format!("no upload size in:\n{text}"))?;
    let wasm = std::fs::read_dir(out_dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".wasm"))
        .ok_or("no .wasm in the dry-run output")?;
    let wasm_bytes = wasm.metadata().unwrap().len();
    if wasm_bytes < 10_000 {
        return Err(format!("{name}: wasm is suspiciously small ({wasm_bytes} bytes)").into());
    }
    println!("{name}: {} (wasm {wasm_bytes} bytes)", total.trim());
    Ok(())
}
