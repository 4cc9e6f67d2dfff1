//! Reconciling the booking ledger with Cal.com's API
//! ([`calhook_core::reconcile`]): the scheduled run (a tick of its own every
//! minute, forwarded by the receiver, so it has its own invocation's limits;
//! each source runs every `RECONCILE_EVERY_MINUTES`), and the operator's
//! routes, behind `ADMIN_TOKEN`:
//!
//! - `GET  /admin/reconcile`   the last run per source
//! - `POST /admin/reconcile`   `{"tenant"?, "since"?}`: a run now (of one
//!   source, from an RFC 3339 time), whatever the interval or a refused key

use calhook_core::answer::{Accepted, ApiError};
use calhook_core::reconcile::api::ListRequest;
use calhook_core::reconcile::{self, Asked, Get, Http, Run, Source};
use calhook_core::settings::{AdminSettings, NotifyEvents};
use calhook_core::store::reconcile::{self as state, SourceState};
use calhook_core::store::tenants;
use calhook_core::tenants::{Slot, TenantId};
use calhook_platform::bindings::d1;
use calhook_platform::d1::D1;
use calhook_platform::http::{get_bytes, GetError};
use calhook_platform::queue::send_kept;
use calhook_platform::sealing::master_keys;
use serde_json::{json, Value};
use worker::Env;

use crate::auth::authorize;

pub const PATH: &str = "/admin/reconcile";

/// Cal.com over the runtime's `fetch`, given up after `timeout_seconds`.
struct Fetcher {
    timeout_seconds: u64,
}

impl Get for Fetcher {
    async fn get(&self, r: &ListRequest) -> Result<(u16, Vec<u8>), String> {
        get_bytes(&r.url, &r.headers, self.timeout_seconds * 1000)
            .await
            .map_err(|e| match e {
                GetError::Timeout => format!(
                    "no answer within CAL_API_TIMEOUT_SECONDS ({} s)",
                    self.timeout_seconds
                ),
                GetError::Failed(e) => e,
            })
    }
}

/// A source with its key opened.
struct Keyed {
    tenant: Option<TenantId>,
    notify: NotifyEvents,
    key: String,
}

impl Keyed {
    fn name(&self) -> String {
        reconcile::source_name(self.tenant.as_ref())
    }

    /// The source, from its `last` run.
    fn source<'a>(&'a self, last: Option<&'a SourceState>) -> Source<'a> {
        Source {
            tenant: self.tenant.as_ref(),
            last,
            notify: &self.notify,
            key: reconcile::fingerprint(&self.key),
        }
    }
}

/// What a run did: each source's run, the sources that could not run, and
/// the queue's refusal of what was recovered (kept in the outbox).
struct Report {
    runs: Vec<Run>,
    broken: Vec<(String, String)>,
    queue_error: Option<String>,
}

impl Report {
    fn failed(&self) -> bool {
        !self.broken.is_empty()
            || self.runs.iter().any(|r| r.state.error.is_some())
            || self.queue_error.is_some()
    }

    fn to_json(&self) -> Value {
        let mut sources: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                json!({"source": r.state.source, "checked": r.state.checked, "recovered": r.state.recovered,
                    "queued": r.queued.len(), "more": r.state.more, "error": r.state.error})
            })
            .collect();
        sources.extend(
            self.broken
                .iter()
                .map(|(id, why)| json!({"source": id, "error": why})),
        );
        json!({"sources": sources, "queue_error": self.queue_error})
    }
}

/// Every source with a key: the single route (`CAL_API_KEY`), then each
/// enabled tenant with one. A tenant whose key does not open is reported.
async fn sources(
    db: &D1,
    env: &Env,
    settings: &AdminSettings,
) -> Result<(Vec<Keyed>, Vec<(String, String)>), ApiError> {
    let notify = settings.notify.clone().map_err(ApiError::from)?;
    let mut out = Vec::new();
    let mut broken = Vec::new();
    if let Some(key) = &settings.cal_api_key {
        out.push(Keyed {
            tenant: None,
            notify: notify.clone(),
            key: key.clone(),
        });
    }
    let rows = tenants::reconciled(db).await?;
    if rows.is_empty() {
        return Ok((out, broken));
    }
    let keys = master_keys(env).await?;
    for row in rows {
        let (Ok(id), Some(sealed)) = (TenantId::parse(&row.id), row.cal_api_key.as_deref()) else {
            continue;
        };
        let opened = keys.open_in(&id, Slot::CalApiKey, sealed).await;
        match (opened, row.settings.notify_events(&notify)) {
            (Ok(key), Ok(notify)) => out.push(Keyed {
                tenant: Some(id),
                notify,
                key,
            }),
            (Err(e), _) => broken.push((row.id.clone(), format!("its API key does not open: {e}"))),
            (_, Err(e)) => broken.push((row.id.clone(), e.to_string())),
        }
    }
    Ok((out, broken))
}

/// Runs the sources that are due (or the one asked for), then queues what
/// was recovered; what the queue refuses waits in the outbox for the minute job.
async fn run(env: &Env, asked: Asked, only: Option<&str>, now_ms: i64) -> Result<Report, ApiError> {
    let settings = crate::settings::get(env);
    let rs = settings.reconcile.clone().map_err(ApiError::from)?;
    let db = d1(env)?;
    let (mut keyed, broken) = sources(&db, env, &settings).await?;
    let last: Vec<SourceState> = state::list(&db).await?;
    let last_of = |s: &Keyed| last.iter().find(|l| l.source == s.name());
    // The least recently run first: a source with a backlog cannot starve the others.
    keyed.sort_by_key(|s| last_of(s).and_then(|l| l.last_run_at));
    let mut left = rs.budget;
    let mut runs = Vec::new();
    for s in &keyed {
        let due = match (asked, only) {
            (Asked::Manual { .. }, Some(one)) => one == s.name(),
            (Asked::Manual { .. }, None) => true,
            (Asked::Scheduled, _) => {
                reconcile::due(last_of(s), rs.every_minutes as i64 * 60_000, now_ms)
            }
        };
        if !due || left.pages == 0 {
            continue;
        }
        let cal = Http {
            get: Fetcher {
                timeout_seconds: rs.timeout_seconds,
            },
            base: &settings.cal_api_base,
            key: &s.key,
        };
        let source = s.source(last_of(s));
        runs.push(
            reconcile::run_source(&db, &cal, &source, rs.limits, asked, &mut left, now_ms).await?,
        );
    }
    let queue_error = queue(env, &runs).await.err();
    Ok(Report {
        runs,
        broken,
        queue_error,
    })
}

async fn queue(env: &Env, runs: &[Run]) -> Result<usize, String> {
    let messages: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.queued.iter().map(|(_, m)| m.as_str()))
        .collect();
    send_kept(env, &messages)
        .await
        .map_err(|e| format!("queue refused recovered notifications (kept in the outbox): {e}"))
}

/// The scheduled tick: the sources that are due; its log line.
pub async fn scheduled(env: &Env, now_ms: i64) -> Value {
    match run(env, Asked::Scheduled, None, now_ms).await {
        Ok(report) => {
            let mut line = report.to_json();
            if report.failed() {
                line["error"] = "a source could not be reconciled (see sources)".into();
            }
            line
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// `GET /admin/reconcile`.
pub async fn show(req: &worker::Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(req, env)?;
    let settings = crate::settings::get(env);
    let states = state::list(&d1(env)?).await?;
    Ok(Accepted::json(
        200,
        json!({
            "every_minutes": settings.reconcile.as_ref().map(|r| r.every_minutes).ok(),
            "single_route_key": settings.cal_api_key.is_some(),
            "sources": states.iter().map(view).collect::<Vec<_>>(),
        }),
    ))
}

fn view(s: &SourceState) -> Value {
    json!({"source": s.source, "last_run_at": s.last_run_at, "mark_at": s.mark_at, "checked": s.checked,
        "recovered": s.recovered, "more": s.more, "error": s.error, "key_refused_at": s.refused_at})
}

/// `POST /admin/reconcile` `{"tenant"?, "since"?}`.
pub async fn run_now(mut req: worker::Request, env: &Env) -> Result<Accepted, ApiError> {
    authorize(&req, env)?;
    #[derive(Default, serde::Deserialize)]
    struct Asking {
        tenant: Option<String>,
        since: Option<String>,
    }
    let asking: Asking = match req.text().await.unwrap_or_default().trim() {
        "" => Asking::default(),
        text => serde_json::from_str(text).map_err(|_| {
            ApiError::BadAdminRequest(
                "expected {\"tenant\"?: a tenant id, \"since\"?: an RFC 3339 time}",
            )
        })?,
    };
    let since_ms = asking
        .since
        .map(|t| {
            reconcile::since_ms(&t).ok_or(ApiError::BadAdminRequest(
                "since: an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
            ))
        })
        .transpose()?;
    let tenant = asking.tenant.as_deref();
    let report = run(
        env,
        Asked::Manual { since_ms },
        tenant,
        calhook_platform::now_ms(),
    )
    .await?;
    if let Some(t) = tenant {
        if report.runs.is_empty() && !report.broken.iter().any(|(id, _)| id == t) {
            return Err(ApiError::NotFound);
        }
    }
    Ok(Accepted::json(200, report.to_json()))
}
