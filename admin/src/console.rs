//! The operator console (`calhook_core::console`): signs in with
//! `ADMIN_TOKEN`, reads what the JSON API reads, and answers HTML with a
//! strict Content-Security-Policy. Every form is a POST from the console's
//! own origin; a page without a valid session shows the sign-in form only.

use askama::Template;
use calhook_core::admin::{admin_token, bearer_matches};
use calhook_core::answer::ApiError;
use calhook_core::console::pages::{self, BookingLine, DeadLetterLine, TenantLine};
use calhook_core::console::{self as ui, session};
use calhook_core::inbound::version::WRITTEN_FOR;
use calhook_core::store::dead_letters::{self, Selection};
use calhook_core::store::{outbox, overview, sessions, status, tenants, timeline};
use calhook_core::tenants::TenantId;
use calhook_platform::bindings::d1;
use calhook_platform::url::{form_pairs, host_of, query_pairs};
use worker::{Env, Method, Request, Response};

use crate::dead_letters::{page_size, redrive_selection};

/// An HTML answer (or a redirect), with the headers every console page has.
pub struct Page {
    pub status: u16,
    body: String,
    content_type: &'static str,
    location: Option<&'static str>,
    cookie: Option<String>,
}

impl Page {
    fn html(status: u16, page: impl Template) -> Self {
        Page {
            status,
            body: page
                .render()
                .unwrap_or_else(|e| format!("render error: {e}")),
            content_type: "text/html; charset=utf-8",
            location: None,
            cookie: None,
        }
    }

    fn redirect(to: &'static str) -> Self {
        Page {
            status: 303,
            body: String::new(),
            content_type: "text/plain",
            location: Some(to),
            cookie: None,
        }
    }

    fn refused(status: u16, text: &'static str) -> Self {
        Page {
            status,
            body: text.into(),
            content_type: "text/plain; charset=utf-8",
            location: None,
            cookie: None,
        }
    }

    pub fn into_response(self) -> worker::Result<Response> {
        let mut r = Response::ok(self.body)?.with_status(self.status);
        let h = r.headers_mut();
        h.set("content-type", self.content_type)?;
        h.set("content-security-policy", ui::CONTENT_SECURITY_POLICY)?;
        h.set("x-content-type-options", "nosniff")?;
        h.set("referrer-policy", "same-origin")?;
        h.set("cache-control", "no-store")?;
        if let Some(to) = self.location {
            h.set("location", to)?;
        }
        if let Some(c) = self.cookie {
            h.set("set-cookie", &c)?;
        }
        Ok(r)
    }
}

/// Answers a console path; `Err` for what the JSON API answers as well (no
/// `ADMIN_TOKEN`: 404; one too short: 500).
pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Page, ApiError> {
    let raw = env.secret("ADMIN_TOKEN").map(|s| s.to_string()).ok();
    let Some(token) = admin_token(raw.as_deref())?.map(str::to_owned) else {
        return Err(ApiError::NotFound);
    };
    if path == ui::STYLESHEET {
        return Ok(Page {
            status: 200,
            body: ui::CSS.into(),
            content_type: "text/css; charset=utf-8",
            location: None,
            cookie: None,
        });
    }
    let now = calhook_platform::now_ms();
    let cookie = req.headers().get("cookie").ok().flatten();
    let presented = session::from_header(cookie.as_deref())
        .filter(|s| session::valid(&token, s, now))
        .and_then(session::tag_and_expiry);
    let signed_in = match presented {
        Some((tag, _)) => !sessions::signed_out(&d1(env)?, tag).await?,
        None => false,
    };
    let post = req.method() == Method::Post;
    if post && !same_origin(&req) {
        return Ok(Page::refused(403, "refused: a form from another origin"));
    }
    match (post, path) {
        (true, ui::LOGIN) => {
            let form = req.text().await.unwrap_or_default();
            let given = form_pairs(&form)
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !bearer_matches(&token, Some(&format!("Bearer {}", given.trim()))) {
                return Ok(Page::html(
                    401,
                    pages::Login::new(Some("That token is not right.")),
                ));
            }
            let mut page = Page::redirect(ui::HOME);
            page.cookie = Some(session::set_cookie(&session::issue(&token, now)));
            Ok(page)
        }
        (true, ui::LOGOUT) => {
            if let Some((tag, expires)) = presented {
                sessions::sign_out(&d1(env)?, tag, expires).await?;
            }
            let mut page = Page::redirect(ui::HOME);
            page.cookie = Some(session::clear_cookie());
            Ok(page)
        }
        _ if !signed_in && post => Ok(Page::refused(403, "sign in first")),
        (false, "/admin" | ui::HOME) if !signed_in => Ok(Page::html(200, pages::Login::new(None))),
        _ if !signed_in => Ok(Page::redirect(ui::HOME)),
        (false, "/admin" | ui::HOME) => overview_page(env, now).await,
        (true, "/admin/ui/dead-letters/redrive") => {
            let form = req.text().await.unwrap_or_default();
            redrive(env, &form).await
        }
        (true, p) if p.starts_with("/admin/ui/tenants/") => {
            let rest = &p["/admin/ui/tenants/".len()..];
            let Some((id, action)) = rest.split_once('/') else {
                return Err(ApiError::NotFound);
            };
            let id = TenantId::parse(id).map_err(|_| ApiError::NotFound)?;
            match action {
                "enable" | "disable" => {
                    crate::tenants::set_enabled(env, &id, action == "enable").await?;
                    Ok(Page::redirect("/admin/ui/tenants"))
                }
                _ => Err(ApiError::NotFound),
            }
        }
        (false, "/admin/ui/bookings") => {
            let url = req.inner().url();
            let q = query_pairs(&url)
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            bookings_page(env, q).await
        }
        (false, p) if p.starts_with("/admin/ui/bookings/") => {
            booking_page(
                env,
                &pages::uid_from_path(&p["/admin/ui/bookings/".len()..]),
                now,
            )
            .await
        }
        (false, "/admin/ui/dead-letters") => dead_letters_page(env, None).await,
        (false, "/admin/ui/outbox") => outbox_page(env).await,
        (false, "/admin/ui/tenants") => tenants_page(env).await,
        _ => Err(ApiError::NotFound),
    }
}

fn same_origin(req: &Request) -> bool {
    let url = req.inner().url();
    let header = |name| req.headers().get(name).ok().flatten();
    session::same_origin(
        header("origin").as_deref(),
        header("referer").as_deref(),
        host_of(&url),
    )
}

async fn overview_page(env: &Env, now: i64) -> Result<Page, ApiError> {
    let db = d1(env)?;
    let s = status::status(&db, now).await?;
    let rows = overview::last_day(&db, now).await?;
    let due = overview::starting_soon(&db, now).await?;
    let reconcile = calhook_core::store::reconcile::list(&db).await?;
    Ok(Page::html(
        200,
        pages::Overview {
            title: "Overview",
            signed_in: true,
            notice: None,
            outbox_count: s.outbox.count,
            outbox_age: s.outbox_oldest_age_seconds.map(pages::age),
            dead_letters: s.dead_letters,
            reminders_due: due,
            held: s.tenant_emails_held_this_hour,
            versions: s
                .unexpected_payload_versions
                .into_iter()
                .map(|v| (v.version, v.seen))
                .collect(),
            expected_version: WRITTEN_FOR,
            rows,
            reconcile: reconcile.iter().map(pages::ReconcileLine::new).collect(),
        },
    ))
}

async fn bookings_page(env: &Env, query: String) -> Result<Page, ApiError> {
    let found = overview::search(&d1(env)?, &query).await?;
    Ok(Page::html(
        200,
        pages::Bookings {
            title: "Bookings",
            signed_in: true,
            notice: None,
            query,
            bookings: found
                .into_iter()
                .map(|b| BookingLine::new(b.uid, b.title, b.status, b.start_at))
                .collect(),
        },
    ))
}

async fn booking_page(env: &Env, uid: &str, now: i64) -> Result<Page, ApiError> {
    let offsets = crate::settings::get(env)
        .reminders
        .as_ref()
        .map(|r| r.offsets.clone())
        .unwrap_or_default();
    let Some(t) = timeline::timeline(&d1(env)?, uid, &offsets, now).await? else {
        return Err(ApiError::NotFound);
    };
    Ok(Page::html(200, pages::Booking::new(&t)))
}

async fn dead_letters_page(env: &Env, notice: Option<String>) -> Result<Page, ApiError> {
    let (rows, _) = dead_letters::list(&d1(env)?, None, 200).await?;
    Ok(Page::html(
        200,
        pages::DeadLetters {
            title: "Dead letters",
            signed_in: true,
            notice,
            letters: rows
                .into_iter()
                .map(|d| DeadLetterLine {
                    since: pages::when(Some(d.dead_lettered_at)),
                    key: d.key,
                    reason: d.reason.unwrap_or_default(),
                })
                .collect(),
        },
    ))
}

async fn redrive(env: &Env, form: &str) -> Result<Page, ApiError> {
    let field = |name: &str| {
        form_pairs(form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let selection = match (field("key"), field("all")) {
        (Some(key), _) => Selection::One(key),
        (None, Some(_)) => Selection::Page {
            after: None,
            limit: page_size(env)?,
        },
        _ => return Err(ApiError::BadAdminRequest("redrive: a key, or all")),
    };
    let answer = redrive_selection(env, selection).await?;
    let notice = format!(
        "Redriven: {} queued to be sent again, {} already sent (resolved), {} being sent right now (try again in a minute).",
        answer["count"],
        answer["resolved"].as_array().map_or(0, Vec::len),
        answer["busy"].as_array().map_or(0, Vec::len),
    );
    dead_letters_page(env, Some(notice)).await
}

async fn outbox_page(env: &Env) -> Result<Page, ApiError> {
    let now = calhook_platform::now_ms();
    let rows = outbox::list(&d1(env)?, now, 200).await?;
    Ok(Page::html(
        200,
        pages::Outbox {
            title: "Outbox",
            signed_in: true,
            notice: None,
            rows: rows
                .into_iter()
                .map(|r| (pages::when(Some(r.created_at)), r.key, r.attempts))
                .collect(),
        },
    ))
}

async fn tenants_page(env: &Env) -> Result<Page, ApiError> {
    let rows = tenants::list(&d1(env)?).await?;
    Ok(Page::html(
        200,
        pages::Tenants {
            title: "Tenants",
            signed_in: true,
            notice: None,
            tenants: rows
                .into_iter()
                .map(|t| TenantLine {
                    secrets: t.secrets().len(),
                    name: t.settings.name.clone().unwrap_or_default(),
                    email_to: t
                        .settings
                        .email_to
                        .clone()
                        .unwrap_or_else(|| "(EMAIL_TO)".into()),
                    emails_per_hour: t
                        .settings
                        .emails_per_hour
                        .map_or_else(|| "(EMAILS_PER_HOUR)".into(), |n| n.to_string()),
                    enabled: t.enabled,
                    id: t.id,
                })
                .collect(),
        },
    ))
}
