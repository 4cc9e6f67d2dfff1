//! End-to-end tests: the real receiver and mailer under `wrangler dev`
//! (workerd) with local D1 and Queues; only SendGrid is a stand-in.
//!
//! Run by `scripts/test` after both workers are built. Each test is one
//! behaviour, named for it. Tests that need their own settings start their own
//! stack; the rest share one per configuration.

mod admin;
mod bookings;
mod console;
mod deploy;
mod identity;
mod loss;
mod mailer;
mod receiver;
mod reconcile;
mod support;
mod tenants;

use libtest_mimic::{Arguments, Failed, Trial};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// One runtime for the whole run, so the shared stacks' stand-ins keep serving.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // More workers than test threads: a test blocked in a `wrangler d1
        // execute` still leaves a worker to drive the timers and the stand-ins.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// How long one test may run before it fails (and its stacks are stopped):
/// `$E2E_TEST_DEADLINE_SECONDS`, else 600. Every wait inside a test has its
/// own, shorter deadline; this one stops a hang nobody foresaw from holding
/// up the whole run.
fn test_deadline() -> Duration {
    let seconds = std::env::var("E2E_TEST_DEADLINE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(seconds)
}

/// A trial that runs an async test on the shared runtime.
pub fn trial<F, Fut>(name: &str, test: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Trial::test(name, move || {
        let deadline = test_deadline();
        let handle = runtime().spawn(test());
        let abort = handle.abort_handle();
        let Ok(finished) =
            runtime().block_on(async { tokio::time::timeout(deadline, handle).await })
        else {
            // Dropping the test's future stops the stacks it started.
            abort.abort();
            return Err(Failed::from(format!(
                "did not finish within {deadline:?} (E2E_TEST_DEADLINE_SECONDS)"
            )));
        };
        finished.map_err(|e| {
            let msg = match e.try_into_panic() {
                Ok(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into()),
                Err(e) => e.to_string(),
            };
            Failed::from(msg)
        })
    })
}

fn main() {
    // Failures are reported once, by the harness, with their message; no backtraces.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("panicked{at}");
    }));
    let mut args = Arguments::from_args();
    // Every stack is a wrangler + workerd pair: more than a few at once only
    // slows a 2-core machine down.
    if args.test_threads.is_none() {
        args.test_threads = Some(3);
    }
    let mut trials = Vec::new();
    trials.extend(receiver::trials());
    trials.extend(mailer::trials());
    trials.extend(admin::trials());
    trials.extend(identity::trials());
    trials.extend(bookings::trials());
    trials.extend(tenants::trials());
    trials.extend(loss::trials());
    trials.extend(reconcile::trials());
    trials.extend(console::trials());
    trials.extend(deploy::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    support::stop_all();
    conclusion.exit();
}
