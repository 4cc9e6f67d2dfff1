//! `wrangler deploy --dry-run` must succeed for both workers: it bundles the
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
            dry_run("consumer/wrangler.toml", "mailer")
        }),
    ]
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
