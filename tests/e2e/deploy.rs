//! `wrangler deploy --dry-run` must succeed for every worker: it bundles the
//! real build output and validates the configuration without an account.

use crate::support::root;
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

fn dry_run(config: &str, name: &str) -> Result<(), Failed> {
    let out_dir = tempfile::Builder::new()
        .prefix("calhook-dry-run-")
        .tempdir()
        .unwrap();
    let out = Command::new(root().join("node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(out_dir.path())
        .args(["-c", config])
        .current_dir(root())
        // The wasm was built by scripts/test; the [build] command is a no-op here.
        .env("CALHOOK_PREBUILT", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG", "log")
        .env("CI", "true")
        .output()
        .map_err(|e| format!("wrangler did not run: {e}"))?;
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
