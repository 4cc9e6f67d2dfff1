//! A local stand-in for Cal.com's API v2 `GET /v2/bookings`.
//!
//! It holds bookings in memory and lists them the way Cal.com's API v2 does,
//! refusing what Cal.com refuses, so that a test of the admin worker catches
//! what production would. Everything below was read from Cal.com's source
//! (`calcom/cal.com`, `apps/api/v2` and `packages/platform/types`):
//!
//! - `cal-api-version: 2024-08-13` selects `BookingsController_2024_08_13`:
//!   `{"status":"success","data":[booking…],"pagination":{…}}`. Without that
//!   header (or with any other value) the request falls back to the
//!   2024-04-15 controller: `{"status":"success","data":{"bookings":[…],
//!   "recurringInfo":[],"totalCount":n,"nextCursor":n|null}}`, whose query
//!   parameters are `filters[status]`, `limit` (≤ 100, default 10) and
//!   `cursor`; `take`, `skip`, `afterUpdatedAt` … are silently dropped there.
//! - Guards run in Cal.com's order: the rate limiter (120 requests per 60 s
//!   per API key, 429 `ThrottlerException`, `X-RateLimit-*-Default` headers,
//!   no `Retry-After`; an unknown `cal_…` key is refused here with 401
//!   "CustomThrottlerGuard - Invalid API Key"), then the permissions guard
//!   (403 without any credentials, or for a bearer token that is not an API
//!   key), then query validation (400 with class-validator's errors).
//! - `afterUpdatedAt` is inclusive (`updatedAt >= t`); a booking whose
//!   `updatedAt` is null never matches it. Sorting by `updatedAt` puts nulls
//!   last ascending and first descending (Postgres), ties broken by `id`.
//!
//! Control endpoints live under `/_standin/`; a page at `/` lists the bookings.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The `cal-api-version` header value that selects the current bookings shape.
pub const VERSION_2024_08_13: &str = "2024-08-13";
/// Cal.com's default rate limit for an API key (`RATE_LIMIT_DEFAULT_LIMIT_API_KEY`), per 60 s.
pub const API_KEY_LIMIT_PER_MINUTE: u32 = 120;
/// Cal.com's default for access tokens and OAuth clients.
const OTHER_LIMIT_PER_MINUTE: u32 = 500;
/// Cal.com's default for requests without credentials (tracked by IP).
const IP_LIMIT_PER_MINUTE: u32 = 120;
/// `RATE_LIMIT_DEFAULT_TTL_MS` and `RATE_LIMIT_DEFAULT_BLOCK_DURATION_MS`.
const TTL_MS: i64 = 60_000;
const BLOCK_MS: i64 = 60_000;
/// Cal.com's `getBookings`: `take ?? 100`.
const DEFAULT_TAKE: usize = 100;
/// The 2024-04-15 controller: `limit ?? 10`.
const OLD_DEFAULT_TAKE: usize = 10;

const THROTTLED: &str = "CustomThrottlerGuard - Too many requests. Please try again later.";
const INVALID_API_KEY: &str = "CustomThrottlerGuard - Invalid API Key";
const NO_AUTH: &str = "PermissionsGuard - no authentication provided. Provide either authorization bearer token containing managed user access token or oAuth client id in 'x-cal-client-id' header.";

/// Booking `status` values Cal.com's output can carry (`BookingStatus` lowercased).
pub const BOOKING_STATUSES: [&str; 5] = [
    "accepted",
    "pending",
    "cancelled",
    "rejected",
    "awaiting_host",
];

/// One request to the API surface (everything outside `/_standin/` and `/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without the `?` ("" when there is none).
    pub query: String,
    /// Header names lowercased; a repeated header's values joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// What the stand-in answered.
    pub status: u16,
    /// The stand-in's clock when the request arrived (ms since the epoch).
    pub at_ms: i64,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The first value of a query parameter, decoded the way Cal.com's server decodes it.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query::parse(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// How a reschedule happened (see [`StandIn::reschedule_with`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RescheduleOptions {
    /// Who rescheduled: Cal.com stores it on the old booking (`rescheduledBy`)
    /// and shows it as `rescheduledByEmail` on both bookings.
    #[serde(default)]
    pub rescheduled_by: Option<String>,
    /// `reschedulingReason` as given to `POST /v2/bookings/{uid}/reschedule`:
    /// shown on the new booking (and in its `bookingFieldsResponses.rescheduledReason`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a booking was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingError {
    /// The JSON is not a booking Cal.com could have returned.
    Invalid(String),
    /// No booking with that uid.
    NotFound(String),
}

impl std::fmt::Display for BookingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BookingError::Invalid(m) => write!(f, "invalid booking: {m}"),
            BookingError::NotFound(uid) => write!(f, "no booking with uid {uid}"),
        }
    }
}

impl std::error::Error for BookingError {}

struct Stored {
    /// The booking exactly as the 2024-08-13 API returns it.
    json: Value,
    /// `Booking.rejectionReason`: not part of the 2024-08-13 output, only of the old one.
    rejection_reason: Option<String>,
}

struct Bucket {
    window_start: i64,
    hits: u32,
    blocked_until: Option<i64>,
}

#[derive(Default)]
struct Inner {
    bookings: Vec<Stored>,
    last_id: i64,
    last_stamp_ms: i64,
    fixed_now_ms: Option<i64>,
    forced_429: u32,
    /// The next API requests are answered only after these delays (ms).
    delays: std::collections::VecDeque<u64>,
    api_key_limit: Option<u32>,
    buckets: HashMap<String, Bucket>,
    requests: Vec<RecordedRequest>,
}

/// A change's booking; `None` if there is no such booking. Panics if the
/// change made it something that is not a booking (a test's mistake).
fn found(result: Result<Value, BookingError>) -> Option<Value> {
    match result {
        Ok(json) => Some(json),
        Err(BookingError::NotFound(_)) => None,
        Err(e) => panic!("calcom-standin: {e}"),
    }
}

impl Inner {
    /// `handleCancelBooking`: `status: "cancelled"`, the reason, who cancelled.
    fn cancel(&mut self, uid: &str, reason: &str, by: Option<&str>) -> Result<Value, BookingError> {
        self.modify(uid, |b, _| {
            b["status"] = json!("cancelled");
            b["cancellationReason"] = json!(reason);
            if let Some(by) = by {
                b["cancelledByEmail"] = json!(by);
            }
        })
    }

    /// A host declines: `status: "rejected"`, the reason kept aside.
    fn reject(&mut self, uid: &str, reason: Option<String>) -> Result<Value, BookingError> {
        self.modify(uid, |b, rejection| {
            b["status"] = json!("rejected");
            *rejection = reason;
        })
    }

    /// A host confirms: `status: "accepted"`.
    fn accept(&mut self, uid: &str) -> Result<Value, BookingError> {
        self.modify(uid, |b, _| b["status"] = json!("accepted"))
    }

    fn now(&self) -> i64 {
        self.fixed_now_ms.unwrap_or_else(wall_clock_ms)
    }

    /// A timestamp for a change: now, but strictly after every earlier stamp.
    fn stamp(&mut self) -> i64 {
        let t = self.now().max(self.last_stamp_ms + 1);
        self.last_stamp_ms = t;
        t
    }

    fn position(&self, uid: &str) -> Option<usize> {
        self.bookings.iter().position(|b| b.json["uid"] == uid)
    }

    /// Stores (or replaces, by uid) a booking; fills `id`, `createdAt`, `updatedAt`.
    fn put(&mut self, booking: Value) -> Result<Value, BookingError> {
        let uid = booking
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| BookingError::Invalid("`uid` must be a non-empty string".into()))?
            .to_owned();
        let existing = self.position(&uid);
        let id = match booking.get("id") {
            None | Some(Value::Null) => match existing {
                Some(i) => self.bookings[i].json["id"].as_i64().unwrap_or_default(),
                None => self.last_id + 1,
            },
            Some(v) => v
                .as_i64()
                .ok_or_else(|| BookingError::Invalid("`id` must be an integer".into()))?,
        };
        let created = match booking.get("createdAt") {
            None | Some(Value::Null) => match existing {
                Some(i) => shape::time_of(&self.bookings[i].json, "createdAt"),
                None => None,
            },
            Some(v) => Some(shape::parse_time(v, "createdAt")?),
        };
        let updated = match booking.get("updatedAt") {
            Some(Value::Null) => None,
            None => Some(self.stamp()),
            Some(v) => Some(shape::parse_time(v, "updatedAt")?),
        };
        let created = match created {
            Some(c) => c,
            None => updated.unwrap_or_else(|| self.stamp()),
        };
        let json = shape::canonical(&booking, id, created, updated)?;
        self.last_id = self.last_id.max(id);
        let stored = Stored {
            json: json.clone(),
            rejection_reason: None,
        };
        match existing {
            Some(i) => self.bookings[i] = stored,
            None => self.bookings.push(stored),
        }
        Ok(json)
    }

    /// Changes a booking the way a Prisma update does: `updatedAt` becomes now.
    fn modify(
        &mut self,
        uid: &str,
        f: impl FnOnce(&mut Value, &mut Option<String>),
    ) -> Result<Value, BookingError> {
        let i = self
            .position(uid)
            .ok_or_else(|| BookingError::NotFound(uid.to_owned()))?;
        let mut json = self.bookings[i].json.clone();
        let mut rejection = self.bookings[i].rejection_reason.clone();
        f(&mut json, &mut rejection);
        if json["uid"] != uid {
            return Err(BookingError::Invalid("`uid` cannot change".into()));
        }
        let id = self.bookings[i].json["id"].as_i64().unwrap_or_default();
        let created = shape::parse_time(&json["createdAt"], "createdAt")?;
        let updated = self.stamp();
        let json = shape::canonical(&json, id, created, Some(updated))?;
        self.bookings[i] = Stored {
            json: json.clone(),
            rejection_reason: rejection,
        };
        Ok(json)
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Shared state; cloning gives another handle to the same bookings and recordings.
#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    api_key: Option<String>,
}

impl StandIn {
    /// `api_key`: the only key accepted (as `Authorization: Bearer <key>`);
    /// `None` accepts any key that starts with `cal_`, like any valid Cal.com key.
    pub fn new(api_key: Option<String>) -> Self {
        Self {
            inner: Arc::default(),
            api_key,
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/_standin/bookings", get(control_list).post(control_upsert))
            .route(
                "/_standin/bookings/{uid}",
                get(control_one).patch(control_patch),
            )
            .route("/_standin/bookings/{uid}/cancel", post(control_cancel))
            .route("/_standin/bookings/{uid}/reject", post(control_reject))
            .route("/_standin/bookings/{uid}/accept", post(control_accept))
            .route(
                "/_standin/bookings/{uid}/reschedule",
                post(control_reschedule),
            )
            .route("/_standin/requests", get(control_requests))
            .route("/_standin/reset", post(control_reset))
            .route("/_standin/rate-limit", post(control_rate_limit))
            .route(
                "/_standin/clock",
                get(control_clock).post(control_set_clock),
            )
            .fallback(api)
            .with_state(self.clone())
    }

    /// Serves on `addr` until the returned task is dropped or the runtime ends.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((local, task))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // --- clock -----------------------------------------------------------

    /// The stand-in's clock (ms since the epoch): the wall clock unless set.
    pub fn now_ms(&self) -> i64 {
        self.lock().now()
    }

    /// Stops the clock at `ms` (ms since the epoch). Statuses (`upcoming`,
    /// `past` …), the rate-limit window and new `updatedAt` values follow it.
    pub fn set_now(&self, ms: i64) {
        self.lock().fixed_now_ms = Some(ms);
    }

    /// Moves the clock forward by `ms` (stopping it if it was running).
    pub fn advance(&self, ms: i64) {
        let mut inner = self.lock();
        let now = inner.now();
        inner.fixed_now_ms = Some(now + ms);
    }

    /// Goes back to the wall clock.
    pub fn use_wall_clock(&self) {
        self.lock().fixed_now_ms = None;
    }

    // --- bookings ----------------------------------------------------------

    /// Stores a booking (a 2024-08-13 booking JSON), replacing one with the
    /// same `uid`. Fills `id`, `createdAt` and `updatedAt` when missing (an
    /// explicit `"updatedAt": null` stays null, as on old Cal.com rows),
    /// `duration` from `start`/`end`, and the fields Cal.com always sends
    /// (`cancellationReason: ""`, `cancelledByEmail: ""`, `rescheduledByEmail:
    /// null`, `meetingUrl` = `location`, `absentHost: false`, `metadata: {}`,
    /// `rating: null`, `icsUid: ""`). Dates are normalized to Cal.com's
    /// `2024-08-13T15:30:00.000Z`. Returns the booking as the API will show it.
    ///
    /// Panics if the JSON is not a booking; see [`StandIn::try_put_booking`].
    pub fn put_booking(&self, booking: Value) -> Value {
        self.try_put_booking(booking)
            .unwrap_or_else(|e| panic!("calcom-standin: {e}"))
    }

    pub fn try_put_booking(&self, booking: Value) -> Result<Value, BookingError> {
        self.lock().put(booking)
    }

    /// Changes a booking and bumps its `updatedAt` to now (strictly later than
    /// any earlier stamp), as any Cal.com update does. `None` if there is no
    /// such booking. Panics if the result is not a booking.
    pub fn update_booking(&self, uid: &str, f: impl FnOnce(&mut Value)) -> Option<Value> {
        found(self.lock().modify(uid, |json, _| f(json)))
    }

    /// Cancels like `handleCancelBooking`: `status: "cancelled"`, `cancellationReason`.
    pub fn cancel(&self, uid: &str, reason: &str) -> Option<Value> {
        self.cancel_by(uid, reason, None)
    }

    /// [`StandIn::cancel`], also recording who cancelled (`cancelledByEmail`).
    pub fn cancel_by(&self, uid: &str, reason: &str, cancelled_by: Option<&str>) -> Option<Value> {
        found(self.lock().cancel(uid, reason, cancelled_by))
    }

    /// Declines a pending booking: `status: "rejected"`. Cal.com keeps the
    /// reason in `rejectionReason`, which the 2024-08-13 output does not show
    /// (only the no-version-header shape does).
    pub fn reject(&self, uid: &str, reason: &str) -> Option<Value> {
        found(self.lock().reject(uid, Some(reason.to_owned())))
    }

    /// Confirms a pending booking: `status: "accepted"`.
    pub fn accept(&self, uid: &str) -> Option<Value> {
        found(self.lock().accept(uid))
    }

    /// Reschedules `old_uid` to `new_booking` (see [`StandIn::reschedule_with`]).
    pub fn reschedule(&self, old_uid: &str, new_booking: Value) -> Option<Value> {
        self.reschedule_with(old_uid, new_booking, RescheduleOptions::default())
    }

    /// Reschedules the way Cal.com does: the old booking becomes
    /// `status: "cancelled"` with `rescheduledToUid` (and `rescheduledByEmail`),
    /// its `cancellationReason` untouched; the new one gets
    /// `rescheduledFromUid`, the same `rescheduledByEmail`, the old metadata
    /// merged under its own, and (given a reason) `reschedulingReason`. The old
    /// booking's `updatedAt` is stamped before the new booking's `createdAt`.
    /// Returns the new booking; `None` if `old_uid` is unknown. Panics if
    /// `new_booking` is not a booking.
    pub fn reschedule_with(
        &self,
        old_uid: &str,
        new_booking: Value,
        options: RescheduleOptions,
    ) -> Option<Value> {
        found(self.lock().reschedule(old_uid, new_booking, options))
    }

    pub fn booking(&self, uid: &str) -> Option<Value> {
        let inner = self.lock();
        inner.position(uid).map(|i| inner.bookings[i].json.clone())
    }

    /// Every booking, in the order they were first stored.
    pub fn bookings(&self) -> Vec<Value> {
        self.lock()
            .bookings
            .iter()
            .map(|b| b.json.clone())
            .collect()
    }

    // --- faults and recordings --------------------------------------------

    /// The next `n` API requests get Cal.com's 429 (no `Retry-After`).
    pub fn rate_limit_next(&self, n: u32) {
        self.lock().forced_429 += n;
    }

    /// The next API request is answered only after `ms` (a slow or hanging Cal.com).
    pub fn delay_next(&self, ms: u64) {
        self.lock().delays.push_back(ms);
    }

    /// Changes the per-minute limit for API keys (Cal.com's default is 120;
    /// Cal.com lets an API key carry its own limits).
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.lock().api_key_limit = Some(per_minute);
    }

    /// Every API request, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets bookings, recordings, faults, rate-limit counters and the clock setting.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    // --- the API -------------------------------------------------------------

    fn handle(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        let path = uri.path();
        let query = uri.query().unwrap_or("");
        let mut inner = self.lock();
        let now = inner.now();
        let url = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let reply = self.decide(&mut inner, now, method, path, query, headers, &url);
        let mut recorded = BTreeMap::new();
        for name in headers.keys() {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            recorded.insert(name.as_str().to_ascii_lowercase(), values.join(", "));
        }
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: recorded,
            status: reply.status.as_u16(),
            at_ms: now,
        });
        drop(inner);
        reply.into_response()
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        inner: &mut Inner,
        now: i64,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        url: &str,
    ) -> Reply {
        // Nest answers an unknown route before any guard runs.
        let listing = *method == Method::GET || *method == Method::HEAD;
        if !listing || (path != "/v2/bookings" && path != "/v2/bookings/") {
            return Reply::http_exception(
                StatusCode::NOT_FOUND,
                now,
                url,
                &format!("Cannot {method} {url}"),
                Vec::new(),
            );
        }
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        // Cal.com: `request.get("Authorization")?.replace("Bearer ", "")`.
        let auth = text("authorization").replacen("Bearer ", "", 1);
        let client_id = text("x-cal-client-id");
        let is_api_key = !auth.is_empty()
            && (self.api_key.as_deref() == Some(auth.as_str()) || auth.starts_with("cal_"));

        // 1. CustomThrottlerGuard (global): validates API keys, then counts.
        let (tracker, limit) = if is_api_key {
            if self.api_key.as_deref().is_some_and(|k| k != auth) {
                return Reply::http_exception(
                    StatusCode::UNAUTHORIZED,
                    now,
                    url,
                    INVALID_API_KEY,
                    Vec::new(),
                );
            }
            (
                format!("api_key_{auth}"),
                inner.api_key_limit.unwrap_or(API_KEY_LIMIT_PER_MINUTE),
            )
        } else if !auth.is_empty() {
            (format!("access_token_{auth}"), OTHER_LIMIT_PER_MINUTE)
        } else if !client_id.is_empty() {
            (format!("oauth_client_{client_id}"), OTHER_LIMIT_PER_MINUTE)
        } else {
            ("ip".to_owned(), IP_LIMIT_PER_MINUTE)
        };
        if inner.forced_429 > 0 {
            inner.forced_429 -= 1;
            return Reply::throttled(now, url, rate_headers(limit, 0, BLOCK_MS / 1000));
        }
        let (blocked, rate) = count_request(inner, &tracker, limit, now);
        if blocked {
            return Reply::throttled(now, url, rate);
        }

        // 2. PermissionsGuard: API keys pass; anything else needs a platform OAuth client.
        if !is_api_key {
            let message = if auth.is_empty() && client_id.is_empty() {
                NO_AUTH.to_owned()
            } else if !auth.is_empty() {
                format!("PermissionsGuard - no oAuth client found for access token={auth}")
            } else {
                format!("PermissionsGuard - no oAuth client found for client id={client_id}")
            };
            return Reply::http_exception(StatusCode::FORBIDDEN, now, url, &message, rate);
        }

        // 3. Version, validation, the listing.
        let body = if text("cal-api-version") == VERSION_2024_08_13 {
            match query::validate_2024_08_13(query) {
                Ok(params) => list_2024_08_13(inner, now, &params),
                Err(errors) => return Reply::validation(now, url, errors, rate),
            }
        } else {
            match query::validate_2024_04_15(query) {
                Ok(params) => list_2024_04_15(inner, now, &params),
                Err(errors) => return Reply::validation(now, url, errors, rate),
            }
        };
        Reply {
            status: StatusCode::OK,
            headers: rate,
            body,
        }
    }
}

impl Inner {
    fn reschedule(
        &mut self,
        old_uid: &str,
        new_booking: Value,
        options: RescheduleOptions,
    ) -> Result<Value, BookingError> {
        let i = self
            .position(old_uid)
            .ok_or_else(|| BookingError::NotFound(old_uid.to_owned()))?;
        let new_uid = new_booking
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty() && *u != old_uid)
            .ok_or_else(|| {
                BookingError::Invalid("the new booking needs its own non-empty `uid`".into())
            })?
            .to_owned();
        if self.position(&new_uid).is_some() {
            return Err(BookingError::Invalid(format!(
                "a booking with uid {new_uid} exists already"
            )));
        }
        if !new_booking.is_object() {
            return Err(BookingError::Invalid(
                "a booking must be a JSON object".into(),
            ));
        }
        let by = options
            .rescheduled_by
            .clone()
            .map_or(Value::Null, Value::from);
        let old_metadata = self.bookings[i].json["metadata"].clone();
        self.modify(old_uid, |b, _| {
            b["status"] = json!("cancelled");
            b["rescheduledToUid"] = json!(new_uid);
            b["rescheduledByEmail"] = by.clone();
        })?;
        let mut new_booking = new_booking;
        let mut metadata = old_metadata.as_object().cloned().unwrap_or_default();
        if let Some(own) = new_booking.get("metadata").and_then(Value::as_object) {
            metadata.extend(own.clone());
        }
        new_booking["metadata"] = Value::Object(metadata);
        new_booking["rescheduledFromUid"] = json!(old_uid);
        new_booking["rescheduledByEmail"] = by;
        if let Some(reason) = options.reason {
            new_booking["reschedulingReason"] = json!(reason);
            if let Some(responses) = new_booking
                .get_mut("bookingFieldsResponses")
                .and_then(Value::as_object_mut)
            {
                responses.insert("rescheduledReason".into(), json!(reason));
            }
        }
        self.put(new_booking)
    }
}

/// Counts a request against its tracker; `(blocked, X-RateLimit-* headers)`.
fn count_request(
    inner: &mut Inner,
    tracker: &str,
    limit: u32,
    now: i64,
) -> (bool, Vec<(String, String)>) {
    let bucket = inner.buckets.entry(tracker.to_owned()).or_insert(Bucket {
        window_start: now,
        hits: 0,
        blocked_until: None,
    });
    if let Some(until) = bucket.blocked_until {
        if now < until {
            return (true, rate_headers(limit, 0, ceil_seconds(until - now)));
        }
        bucket.blocked_until = None;
        bucket.hits = 0;
        bucket.window_start = now;
    }
    if now >= bucket.window_start + TTL_MS {
        bucket.hits = 0;
        bucket.window_start = now;
    }
    bucket.hits += 1;
    if bucket.hits > limit {
        bucket.blocked_until = Some(now + BLOCK_MS);
        return (true, rate_headers(limit, 0, BLOCK_MS / 1000));
    }
    let reset = ceil_seconds(bucket.window_start + TTL_MS - now).max(1);
    (false, rate_headers(limit, limit - bucket.hits, reset))
}

fn ceil_seconds(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

/// Cal.com names the headers after the rate limit ("default" → "Default").
fn rate_headers(limit: u32, remaining: u32, reset_seconds: i64) -> Vec<(String, String)> {
    vec![
        ("x-ratelimit-limit-default".into(), limit.to_string()),
        (
            "x-ratelimit-remaining-default".into(),
            remaining.to_string(),
        ),
        (
            "x-ratelimit-reset-default".into(),
            reset_seconds.to_string(),
        ),
    ]
}

/// What the API answers.
struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    /// Cal.com's `HttpExceptionFilter` body.
    fn error(
        status: StatusCode,
        now: i64,
        url: &str,
        code: &str,
        message: &str,
        details: Value,
        headers: Vec<(String, String)>,
    ) -> Self {
        Reply {
            status,
            headers,
            body: json!({
                "status": "error",
                "timestamp": time::iso(now),
                "path": url,
                "error": {"code": code, "message": message, "details": details},
            }),
        }
    }

    /// A Nest `HttpException` made from a message (`details` is Nest's body).
    fn http_exception(
        status: StatusCode,
        now: i64,
        url: &str,
        message: &str,
        headers: Vec<(String, String)>,
    ) -> Self {
        let (code, error) = match status {
            StatusCode::UNAUTHORIZED => ("UnauthorizedException", "Unauthorized"),
            StatusCode::FORBIDDEN => ("ForbiddenException", "Forbidden"),
            _ => ("NotFoundException", "Not Found"),
        };
        let details = json!({"message": message, "error": error, "statusCode": status.as_u16()});
        Self::error(status, now, url, code, message, details, headers)
    }

    /// `ThrottlerException`: made from a string, so `details` is that string.
    fn throttled(now: i64, url: &str, headers: Vec<(String, String)>) -> Self {
        Self::error(
            StatusCode::TOO_MANY_REQUESTS,
            now,
            url,
            "ThrottlerException",
            THROTTLED,
            json!(THROTTLED),
            headers,
        )
    }

    /// The global `ValidationPipe`: `new BadRequestException({ errors })`.
    fn validation(now: i64, url: &str, errors: Vec<Value>, headers: Vec<(String, String)>) -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            now,
            url,
            "BadRequestException",
            "Bad Request Exception",
            json!({ "errors": errors }),
            headers,
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body.to_string()).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                h.insert(name, value);
            }
        }
        response
    }
}

// --- listing -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Start,
    End,
    Created,
    Updated,
}

struct Row<'a> {
    stored: &'a Stored,
    id: i64,
    start: i64,
    end: i64,
    created: i64,
    updated: Option<i64>,
}

impl<'a> Row<'a> {
    fn of(stored: &'a Stored) -> Self {
        let j = &stored.json;
        Row {
            stored,
            id: j["id"].as_i64().unwrap_or_default(),
            start: shape::time_of(j, "start").unwrap_or_default(),
            end: shape::time_of(j, "end").unwrap_or_default(),
            created: shape::time_of(j, "createdAt").unwrap_or_default(),
            updated: shape::time_of(j, "updatedAt"),
        }
    }

    fn status(&self) -> &str {
        self.stored.json["status"].as_str().unwrap_or_default()
    }

    /// Cal.com's `buildStatusWhereClause` for one status.
    fn has_status(&self, status: &str, now: i64) -> bool {
        let st = self.status();
        let recurring = self
            .stored
            .json
            .get("recurringBookingUid")
            .is_some_and(|v| !v.is_null());
        let live = self.start >= now - 3_600_000 && self.end >= now;
        let dead = st == "cancelled" || st == "rejected";
        match status {
            "upcoming" => live && if recurring { st == "accepted" } else { !dead },
            "recurring" => live && recurring && !dead,
            "past" => self.end <= now && !dead,
            "cancelled" => dead,
            "unconfirmed" => live && st == "pending",
            _ => true,
        }
    }

    /// A null `updatedAt` sorts like Postgres' NULL: after everything ascending.
    fn key(&self, key: SortKey) -> i64 {
        match key {
            SortKey::Start => self.start,
            SortKey::End => self.end,
            SortKey::Created => self.created,
            SortKey::Updated => self.updated.unwrap_or(i64::MAX),
        }
    }
}

/// Cal.com's `getOrderBy`: one status without a sort uses that status' order;
/// then sortStart, sortEnd, sortCreated, sortUpdatedAt; else start ascending.
fn order_by(statuses: &[String], sort: Option<&query::Sort>) -> (SortKey, bool) {
    match sort {
        None if statuses.len() == 1 => (
            SortKey::Start,
            !matches!(statuses[0].as_str(), "past" | "cancelled"),
        ),
        None => (SortKey::Start, true),
        Some(s) => {
            if let Some(asc) = s.start {
                (SortKey::Start, asc)
            } else if let Some(asc) = s.end {
                (SortKey::End, asc)
            } else if let Some(asc) = s.created {
                (SortKey::Created, asc)
            } else if let Some(asc) = s.updated {
                (SortKey::Updated, asc)
            } else {
                (SortKey::Start, true)
            }
        }
    }
}

fn select<'a>(
    inner: &'a Inner,
    now: i64,
    statuses: &[String],
    keep: impl Fn(&Row) -> bool,
    order: (SortKey, bool),
) -> Vec<Row<'a>> {
    let mut rows: Vec<Row> = inner
        .bookings
        .iter()
        .map(Row::of)
        .filter(|r| statuses.is_empty() || statuses.iter().any(|s| r.has_status(s, now)))
        .filter(|r| keep(r))
        .collect();
    let (key, asc) = order;
    rows.sort_by(|a, b| {
        let o = a.key(key).cmp(&b.key(key)).then(a.id.cmp(&b.id));
        if asc {
            o
        } else {
            o.reverse()
        }
    });
    rows
}

fn list_2024_08_13(inner: &Inner, now: i64, p: &query::Params) -> Value {
    let after = |t: Option<i64>, v: i64| t.is_none_or(|t| v >= t);
    let before = |t: Option<i64>, v: i64| t.is_none_or(|t| v <= t);
    let keep = |r: &Row| {
        let j = &r.stored.json;
        let attendees = j["attendees"].as_array().cloned().unwrap_or_default();
        p.attendee_email
            .as_ref()
            .is_none_or(|e| attendees.iter().any(|a| a["email"] == e.trim()))
            && p.attendee_name
                .as_ref()
                .is_none_or(|n| attendees.iter().any(|a| a["name"] == n.trim()))
            && p.booking_uid.as_ref().is_none_or(|u| j["uid"] == u.trim())
            && p.event_type_ids
                .as_ref()
                .is_none_or(|ids| j["eventTypeId"].as_i64().is_some_and(|id| ids.contains(&id)))
            && after(p.after_start, r.start)
            && before(p.before_end, r.end)
            && after(p.after_created, r.created)
            && before(p.before_created, r.created)
            // SQL: `updatedAt >= t` is never true for a null updatedAt.
            && p.after_updated.is_none_or(|t| r.updated.is_some_and(|u| u >= t))
            && p.before_updated.is_none_or(|t| r.updated.is_some_and(|u| u <= t))
    };
    let order = order_by(&p.statuses, p.sort.as_ref());
    let rows = select(inner, now, &p.statuses, keep, order);
    let total = rows.len();
    let data: Vec<Value> = rows
        .iter()
        .skip(p.skip)
        .take(p.take)
        .map(|r| r.stored.json.clone())
        .collect();
    json!({
        "status": "success",
        "data": data,
        "pagination": pagination(p.skip, p.take, total),
    })
}

/// Cal.com's `getPagination` (apps/api/v2/src/lib/pagination/pagination.ts).
pub fn pagination(skip: usize, take: usize, total: usize) -> Value {
    let safe_skip = skip.min(total);
    let remaining = total.saturating_sub(safe_skip + take);
    let total_pages = if take != 0 { total.div_ceil(take) } else { 0 };
    let current_page = if total_pages == 0 {
        0
    } else {
        (safe_skip / take + 1).clamp(1, total_pages)
    };
    json!({
        "returnedItems": (total - safe_skip).min(take),
        "totalItems": total,
        "itemsPerPage": take,
        "remainingItems": remaining,
        "currentPage": current_page,
        "totalPages": total_pages,
        "hasNextPage": safe_skip + take < total,
        "hasPreviousPage": safe_skip > 0,
    })
}

fn list_2024_04_15(inner: &Inner, now: i64, p: &query::OldParams) -> Value {
    let statuses = vec![p.status.clone()];
    let order = order_by(&statuses, None);
    let rows = select(inner, now, &statuses, |_| true, order);
    let total = rows.len();
    let bookings: Vec<Value> = rows
        .iter()
        .skip(p.skip)
        .take(p.take)
        .map(|r| shape::v2024_04_15(&r.stored.json, r.stored.rejection_reason.as_deref()))
        .collect();
    let next_cursor = if total > p.skip + p.take {
        json!(p.skip + p.take)
    } else {
        Value::Null
    };
    json!({
        "status": "success",
        "data": {
            "bookings": bookings,
            "recurringInfo": [],
            "totalCount": total,
            "nextCursor": next_cursor,
        },
    })
}

/// A complete booking as Cal.com's 2024-08-13 API shows a plain (not seated,
/// not recurring) Cal Video booking of one host and one attendee, with
/// `status: "accepted"`. `start` is any ISO 8601 date-time; `id`,
/// `createdAt` and `updatedAt` are filled by [`StandIn::put_booking`].
pub fn new_booking(uid: &str, start: &str, minutes: i64) -> Value {
    let start_ms =
        time::parse(start).unwrap_or_else(|| panic!("calcom-standin: bad start {start:?}"));
    let end_ms = start_ms + minutes * 60_000;
    let video = format!("https://app.cal.com/video/{uid}");
    json!({
        "uid": uid,
        "title": format!("{minutes} Min Meeting between Host Person and Attendee Person"),
        "description": null,
        "hosts": [{
            "id": 1,
            "name": "Host Person",
            "email": "host@example.com",
            "displayEmail": "host@example.com",
            "username": "host",
            "timeZone": "Europe/London",
        }],
        "status": "accepted",
        "cancellationReason": "",
        "cancelledByEmail": "",
        "rescheduledByEmail": null,
        "start": time::iso(start_ms),
        "end": time::iso(end_ms),
        "duration": minutes,
        "eventTypeId": 1,
        "eventType": {"id": 1, "slug": format!("{minutes}min")},
        "meetingUrl": video,
        "location": video,
        "absentHost": false,
        "metadata": {},
        "rating": null,
        "icsUid": format!("{uid}@Cal.com"),
        "attendees": [{
            "name": "Attendee Person",
            "email": "attendee@example.com",
            "displayEmail": "attendee@example.com",
            "timeZone": "Europe/London",
            "language": "en",
            "absent": false,
        }],
        "guests": [],
        "bookingFieldsResponses": {
            "email": "attendee@example.com",
            "name": "Attendee Person",
            "guests": [],
            "displayEmail": "attendee@example.com",
            "displayGuests": [],
        },
    })
}

// --- control endpoints ---------------------------------------------------------

async fn api(State(s): State<StandIn>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let delay = s.lock().delays.pop_front();
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    s.handle(&method, &uri, &headers)
}

fn control_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn booking_result(r: Result<Value, BookingError>) -> Response {
    match r {
        Ok(b) => Json(b).into_response(),
        Err(e @ BookingError::NotFound(_)) => control_error(StatusCode::NOT_FOUND, e),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// An empty body reads as the default.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Box<Response>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Box::new(control_error(StatusCode::BAD_REQUEST, e)))
}

async fn control_list(State(s): State<StandIn>) -> Json<Vec<Value>> {
    Json(s.bookings())
}

async fn control_one(State(s): State<StandIn>, Path(uid): Path<String>) -> Response {
    match s.booking(&uid) {
        Some(b) => Json(b).into_response(),
        None => control_error(StatusCode::NOT_FOUND, BookingError::NotFound(uid)),
    }
}

async fn control_upsert(State(s): State<StandIn>, bytes: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(b) => booking_result(s.try_put_booking(b)),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// Merges the body's top-level fields into the booking; bumps `updatedAt`.
async fn control_patch(
    State(s): State<StandIn>,
    Path(uid): Path<String>,
    bytes: Bytes,
) -> Response {
    let patch = match body::<Map<String, Value>>(&bytes) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = s.lock().modify(&uid, |b, _| {
        for (k, v) in patch {
            b[k.as_str()] = v;
        }
    });
    booking_result(result)
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasonBody {
    #[serde(default, alias = "cancellationReason")]
    reason: Option<String>,
    #[serde(default)]
    cancelled_by_email: Option<String>,
}

async fn control_cancel(
    State(s): State<StandIn>,
    Path(uid): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = match body::<ReasonBody>(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let reason = b.reason.unwrap_or_default();
    booking_result(
        s.lock()
            .cancel(&uid, &reason, b.cancelled_by_email.as_deref()),
    )
}

async fn control_reject(
    State(s): State<StandIn>,
    Path(uid): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = match body::<ReasonBody>(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    booking_result(s.lock().reject(&uid, b.reason))
}

async fn control_accept(State(s): State<StandIn>, Path(uid): Path<String>) -> Response {
    booking_result(s.lock().accept(&uid))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RescheduleBody {
    #[serde(default)]
    booking: Value,
    #[serde(flatten)]
    options: RescheduleOptions,
}

async fn control_reschedule(
    State(s): State<StandIn>,
    Path(uid): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = match body::<RescheduleBody>(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = s.lock().reschedule(&uid, b.booking, b.options);
    booking_result(result)
}

async fn control_requests(State(s): State<StandIn>) -> Json<Vec<RecordedRequest>> {
    Json(s.requests())
}

async fn control_reset(State(s): State<StandIn>) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitBody {
    #[serde(default)]
    count: u32,
    #[serde(default)]
    per_minute: Option<u32>,
}

async fn control_rate_limit(State(s): State<StandIn>, bytes: Bytes) -> Response {
    let b = match body::<RateLimitBody>(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    s.rate_limit_next(b.count);
    if let Some(n) = b.per_minute {
        s.set_rate_limit(n);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockBody {
    #[serde(default)]
    now_ms: Option<i64>,
    #[serde(default)]
    advance_ms: Option<i64>,
    #[serde(default)]
    wall: bool,
}

async fn control_clock(State(s): State<StandIn>) -> Json<Value> {
    let inner = s.lock();
    Json(json!({
        "nowMs": inner.now(),
        "now": time::iso(inner.now()),
        "fixed": inner.fixed_now_ms.is_some(),
    }))
}

async fn control_set_clock(State(s): State<StandIn>, bytes: Bytes) -> Response {
    let b = match body::<ClockBody>(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if b.wall {
        s.use_wall_clock();
    }
    if let Some(ms) = b.now_ms {
        s.set_now(ms);
    }
    if let Some(ms) = b.advance_ms {
        s.advance(ms);
    }
    control_clock(State(s)).await.into_response()
}

/// The bookings, newest change first.
async fn page(State(s): State<StandIn>) -> Html<String> {
    let mut bookings = s.bookings();
    bookings.sort_by_key(|b| std::cmp::Reverse(shape::time_of(b, "updatedAt").unwrap_or(i64::MIN)));
    let mut out = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Cal.com stand-in</title>\
         <style>body{font-family:system-ui,sans-serif;margin:24px}table{border-collapse:collapse}\
         td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}</style></head><body>",
    );
    out.push_str(&format!(
        "<h1>Cal.com stand-in</h1><p>{} booking(s); now {}. JSON: <a href=\"/_standin/bookings\">/_standin/bookings</a>, \
         <a href=\"/_standin/requests\">/_standin/requests</a></p>\
         <table><tr><th>id</th><th>uid</th><th>status</th><th>title</th><th>start</th><th>attendees</th><th>updatedAt</th></tr>",
        bookings.len(),
        time::iso(s.now_ms()),
    ));
    for b in &bookings {
        let attendees: Vec<&str> = b["attendees"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["email"].as_str())
            .collect();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            b["id"],
            escape(b["uid"].as_str().unwrap_or_default()),
            escape(b["status"].as_str().unwrap_or_default()),
            escape(b["title"].as_str().unwrap_or_default()),
            escape(b["start"].as_str().unwrap_or_default()),
            escape(&attendees.join(", ")),
            escape(b["updatedAt"].as_str().unwrap_or("null")),
        ));
    }
    out.push_str("</table></body></html>");
    Html(out)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// --- dates ---------------------------------------------------------------------

/// Dates as Cal.com reads and writes them.
pub mod time {
    /// `Date.prototype.toISOString`: `2024-08-13T15:30:00.000Z`.
    pub fn iso(ms: i64) -> String {
        let days = ms.div_euclid(86_400_000);
        let rem = ms.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000
        )
    }

    /// An ISO 8601 date as Cal.com's `@IsISO8601({ strict: true })` accepts it,
    /// read as `dayjs.utc(value)` reads it (no zone means UTC). Calendar dates
    /// only: `2025`, `2025-03`, `2025-03-07`, `20250307`, then optionally `T` or
    /// a space, `HH[[:]MM[[:]SS[.fff]]]`, and `Z` or `±HH[[:]MM]`. (Cal.com
    /// also accepts week and ordinal dates; the stand-in refuses them.)
    pub fn parse(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        let n = b.len();
        let digits = |i: usize, k: usize| -> Option<i64> {
            if i + k <= n && b[i..i + k].iter().all(u8::is_ascii_digit) {
                Some(
                    b[i..i + k]
                        .iter()
                        .fold(0, |a, c| a * 10 + i64::from(c - b'0')),
                )
            } else {
                None
            }
        };
        let year = digits(0, 4)?;
        // validator.js: `\d{4}(?!\d{2}\b)` — no `YYYYMM`.
        if digits(4, 2).is_some() && (n == 6 || !(b[6].is_ascii_alphanumeric() || b[6] == b'_')) {
            return None;
        }
        let mut i = 4;
        let (mut month, mut day) = (1, 1);
        if i < n && b[i] != b'T' && b[i] != b' ' {
            let sep = b[i] == b'-';
            if sep {
                i += 1;
            }
            month = digits(i, 2)?;
            i += 2;
            if sep {
                if i < n && b[i] == b'-' {
                    day = digits(i + 1, 2)?;
                    i += 3;
                }
            } else {
                day = digits(i, 2)?;
                i += 2;
            }
            if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
                return None;
            }
        }
        let mut ms_of_day = 0;
        let mut offset_minutes = 0;
        if i < n {
            if b[i] != b'T' && b[i] != b' ' {
                return None;
            }
            i += 1;
            if i < n {
                let hour = digits(i, 2)?;
                i += 2;
                let (mut minute, mut second, mut millis) = (0, 0, 0);
                let mut minute_sep = None;
                if b.get(i) == Some(&b':') && digits(i + 1, 2).is_some() {
                    minute = digits(i + 1, 2)?;
                    minute_sep = Some(true);
                    i += 3;
                } else if let Some(mm) = digits(i, 2) {
                    minute = mm;
                    minute_sep = Some(false);
                    i += 2;
                }
                if hour > 24 || minute > 59 || (hour == 24 && minute != 0) {
                    return None;
                }
                let fraction = |i: &mut usize| -> i64 {
                    if *i < n && (b[*i] == b'.' || b[*i] == b',') && digits(*i + 1, 1).is_some() {
                        *i += 1;
                        let start = *i;
                        while *i < n && b[*i].is_ascii_digit() {
                            *i += 1;
                        }
                        let mut f: String = s[start..*i].chars().take(3).collect();
                        while f.len() < 3 {
                            f.push('0');
                        }
                        f.parse().unwrap_or_default()
                    } else {
                        0
                    }
                };
                let minute_fraction = fraction(&mut i);
                if let Some(colon) = minute_sep {
                    let at = if colon { i + 1 } else { i };
                    let sep_ok = !colon || b.get(i) == Some(&b':');
                    if minute_fraction == 0 && sep_ok {
                        if let Some(ss) = digits(at, 2) {
                            if ss > 59 || hour == 24 && ss != 0 {
                                return None;
                            }
                            second = ss;
                            i = at + 2;
                            millis = fraction(&mut i);
                        }
                    }
                }
                ms_of_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
                if i < n {
                    match b[i] {
                        b'Z' | b'z' => i += 1,
                        b'+' | b'-' => {
                            let sign = if b[i] == b'-' { -1 } else { 1 };
                            let oh = digits(i + 1, 2)?;
                            i += 3;
                            let mut om = 0;
                            if b.get(i) == Some(&b':') {
                                om = digits(i + 1, 2)?;
                                i += 3;
                            } else if let Some(m) = digits(i, 2) {
                                om = m;
                                i += 2;
                            }
                            if oh > 23 || om > 59 {
                                return None;
                            }
                            offset_minutes = sign * (oh * 60 + om);
                        }
                        _ => return None,
                    }
                }
            }
        }
        if i != n {
            return None;
        }
        Some(days_from_civil(year, month, day) * 86_400_000 + ms_of_day - offset_minutes * 60_000)
    }

    fn days_in_month(y: i64, m: i64) -> i64 {
        match m {
            4 | 6 | 9 | 11 => 30,
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            _ => 31,
        }
    }

    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = (if y >= 0 { y } else { y - 399 }) / 400;
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}

// --- booking shapes --------------------------------------------------------------

mod shape {
    use super::{time, BookingError, BOOKING_STATUSES};
    use serde_json::{json, Map, Value};

    /// `BookingOutput_2024_08_13`'s field order (class-transformer exposes the
    /// base class' fields first, then the subclass').
    const ORDER: [&str; 28] = [
        "id",
        "uid",
        "title",
        "description",
        "hosts",
        "status",
        "cancellationReason",
        "cancelledByEmail",
        "reschedulingReason",
        "rescheduledByEmail",
        "rescheduledFromUid",
        "rescheduledToUid",
        "start",
        "end",
        "duration",
        "eventTypeId",
        "eventType",
        "meetingUrl",
        "location",
        "absentHost",
        "createdAt",
        "updatedAt",
        "metadata",
        "rating",
        "icsUid",
        "attendees",
        "guests",
        "bookingFieldsResponses",
    ];

    pub fn parse_time(v: &Value, field: &str) -> Result<i64, BookingError> {
        v.as_str().and_then(time::parse).ok_or_else(|| {
            BookingError::Invalid(format!("`{field}` must be an ISO 8601 date-time"))
        })
    }

    pub fn time_of(b: &Value, field: &str) -> Option<i64> {
        b.get(field).and_then(Value::as_str).and_then(time::parse)
    }

    pub fn canonical(
        input: &Value,
        id: i64,
        created: i64,
        updated: Option<i64>,
    ) -> Result<Value, BookingError> {
        let obj = input
            .as_object()
            .ok_or_else(|| BookingError::Invalid("a booking must be a JSON object".into()))?;
        let mut m = obj.clone();
        match m.get("status").and_then(Value::as_str) {
            Some(s) if BOOKING_STATUSES.contains(&s) => {}
            _ => {
                return Err(BookingError::Invalid(format!(
                    "`status` must be one of {}",
                    BOOKING_STATUSES.join(", ")
                )))
            }
        }
        let start = parse_time(m.get("start").unwrap_or(&Value::Null), "start")?;
        let end = parse_time(m.get("end").unwrap_or(&Value::Null), "end")?;
        if end < start {
            return Err(BookingError::Invalid("`end` is before `start`".into()));
        }
        for list in ["hosts", "attendees"] {
            if m.get(list).is_some_and(|v| !v.is_array()) {
                return Err(BookingError::Invalid(format!("`{list}` must be an array")));
            }
        }
        m.insert("id".into(), json!(id));
        m.insert("start".into(), json!(time::iso(start)));
        m.insert("end".into(), json!(time::iso(end)));
        m.insert("createdAt".into(), json!(time::iso(created)));
        m.insert(
            "updatedAt".into(),
            updated.map_or(Value::Null, |u| json!(time::iso(u))),
        );
        if !m.contains_key("duration") {
            let minutes = (end - start) as f64 / 60_000.0;
            let duration = if minutes.fract() == 0.0 {
                json!(minutes as i64)
            } else {
                json!(minutes)
            };
            m.insert("duration".into(), duration);
        }
        if !m.contains_key("meetingUrl") {
            if let Some(location) = m.get("location").cloned() {
                m.insert("meetingUrl".into(), location);
            }
        }
        for (k, v) in [
            ("cancellationReason", json!("")),
            ("cancelledByEmail", json!("")),
            ("rescheduledByEmail", Value::Null),
            ("absentHost", json!(false)),
            ("metadata", json!({})),
            ("rating", Value::Null),
            ("icsUid", json!("")),
        ] {
            if !m.contains_key(k) {
                m.insert(k.into(), v);
            }
        }
        let mut out = Map::new();
        for k in ORDER {
            if let Some(v) = m.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        for (k, v) in &m {
            if !ORDER.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(Value::Object(out))
    }

    fn non_empty(v: &Value) -> Value {
        match v.as_str() {
            Some(s) if !s.is_empty() => json!(s),
            _ => Value::Null,
        }
    }

    /// The booking as the 2024-04-15 controller lists it: the raw row that
    /// `getBookings` (trpc `bookings/get.handler.ts`) selects.
    pub fn v2024_04_15(b: &Value, rejection_reason: Option<&str>) -> Value {
        let id = b["id"].as_i64().unwrap_or_default();
        let host = b["hosts"].get(0).filter(|h| h["id"].is_number());
        let user = host.map_or(Value::Null, |h| {
            json!({
                "id": h["id"],
                "name": h["name"],
                "email": h["email"],
                "avatarUrl": null,
                "username": h["username"],
                "timeZone": h["timeZone"],
            })
        });
        let attendees: Vec<Value> = b["attendees"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, a)| {
                json!({
                    "id": id * 1000 + i as i64 + 1,
                    "email": a["email"],
                    "name": a["name"],
                    "timeZone": a["timeZone"],
                    "phoneNumber": a.get("phoneNumber").cloned().unwrap_or(Value::Null),
                    "locale": a.get("language").cloned().unwrap_or(Value::Null),
                    "bookingId": id,
                    "noShow": a["absent"].as_bool().unwrap_or(false),
                    "user": null,
                })
            })
            .collect();
        let mut responses = b["bookingFieldsResponses"].clone();
        if let Some(r) = responses.as_object_mut() {
            r.retain(|k, _| k != "displayEmail" && k != "displayGuests");
        }
        let mut event_type = b["eventType"].as_object().cloned().unwrap_or_default();
        event_type.insert("recurringEvent".into(), Value::Null);
        event_type.insert("eventTypeColor".into(), Value::Null);
        event_type.insert("price".into(), json!(0));
        event_type.insert("currency".into(), json!("usd"));
        event_type.insert("metadata".into(), json!({}));
        let rescheduled_away = b.get("rescheduledToUid").is_some_and(|v| !v.is_null());
        let rescheduled_here = b.get("rescheduledFromUid").is_some_and(|v| !v.is_null());
        json!({
            "id": id,
            "title": b["title"],
            "userPrimaryEmail": host.map_or(Value::Null, |h| h["email"].clone()),
            "description": b["description"],
            "customInputs": {},
            "startTime": b["start"],
            "createdAt": b["createdAt"],
            "updatedAt": b["updatedAt"],
            "endTime": b["end"],
            "metadata": b["metadata"],
            "uid": b["uid"],
            "responses": responses,
            "recurringEventId": b.get("recurringBookingUid").cloned().unwrap_or(Value::Null),
            "location": b.get("location").cloned().unwrap_or(Value::Null),
            "status": b["status"].as_str().unwrap_or_default().to_ascii_uppercase(),
            "paid": false,
            "fromReschedule": b.get("rescheduledFromUid").cloned().unwrap_or(Value::Null),
            "rescheduled": if rescheduled_away { json!(true) } else { Value::Null },
            "rescheduledBy": if rescheduled_away { b["rescheduledByEmail"].clone() } else { Value::Null },
            "cancelledBy": non_empty(&b["cancelledByEmail"]),
            "isRecorded": false,
            "cancellationReason": non_empty(&b["cancellationReason"]),
            "rejectionReason": rejection_reason,
            "routedFromRoutingFormReponse": null,
            "eventType": event_type,
            "references": [],
            "payment": [],
            "user": user,
            "attendees": attendees,
            "seatsReferences": [],
            "assignmentReasonSortedByCreatedAt": [],
            "report": null,
            "rescheduler": if rescheduled_here { b["rescheduledByEmail"].clone() } else { Value::Null },
        })
    }
}

// --- query validation -------------------------------------------------------------

/// Query parameters as Cal.com's global `ValidationPipe` (`whitelist: true`,
/// `transform: true`) transforms and validates them; unknown ones are dropped.
mod query {
    use super::{time, DEFAULT_TAKE, OLD_DEFAULT_TAKE};
    use serde_json::{json, Map, Value};

    /// `a=1&b=x+y` → pairs, decoded like Express' `qs` (`+` is a space).
    pub fn parse(raw: &str) -> Vec<(String, String)> {
        raw.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(b[i + 1]), hex(b[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Repeated keys become arrays (as `qs` makes them), in first-appearance order.
    fn grouped(raw: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in parse(raw) {
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some((_, vs)) => vs.push(v),
                None => out.push((k, vec![v])),
            }
        }
        out
    }

    /// A JavaScript value after class-transformer.
    #[derive(Clone, Debug)]
    enum Js {
        Str(String),
        Num(f64),
        Arr(Vec<Js>),
        Obj(Vec<(String, Js)>),
    }

    impl Js {
        fn json(&self) -> Value {
            match self {
                Js::Str(s) => json!(s),
                Js::Num(f) if !f.is_finite() => Value::Null,
                Js::Num(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(*f as i64),
                Js::Num(f) => json!(f),
                Js::Arr(a) => Value::Array(a.iter().map(Js::json).collect()),
                Js::Obj(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.json()))
                        .collect::<Map<_, _>>(),
                ),
            }
        }

        fn is_number(&self) -> bool {
            matches!(self, Js::Num(f) if f.is_finite())
        }

        fn num(&self) -> Option<f64> {
            match self {
                Js::Num(f) if !f.is_nan() => Some(*f),
                _ => None,
            }
        }

        fn str(&self) -> Option<&str> {
            match self {
                Js::Str(s) => Some(s),
                _ => None,
            }
        }

        /// class-validator's `{ each: true }`: every element of an array, or the value itself.
        fn each(&self, f: impl Fn(&Js) -> bool) -> bool {
            match self {
                Js::Arr(a) => a.iter().all(f),
                v => f(v),
            }
        }
    }

    /// JavaScript's `parseInt(value)` (radix 10, or 16 after `0x`).
    fn parse_int(s: &str) -> f64 {
        let t = s.trim_start();
        let (neg, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (radix, rest) = match rest.get(..2) {
            Some("0x") | Some("0X") => (16, &rest[2..]),
            _ => (10, rest),
        };
        let mut value: Option<f64> = None;
        for c in rest.chars() {
            match c.to_digit(radix) {
                Some(d) => value = Some(value.unwrap_or(0.0) * f64::from(radix) + f64::from(d)),
                None => break,
            }
        }
        match value {
            Some(v) if neg => -v,
            Some(v) => v,
            None => f64::NAN,
        }
    }

    /// JavaScript's `Number(value)`.
    fn number(s: &str) -> f64 {
        let t = s.trim();
        if t.is_empty() {
            return 0.0;
        }
        for (prefix, radix) in [
            ("0x", 16),
            ("0X", 16),
            ("0o", 8),
            ("0O", 8),
            ("0b", 2),
            ("0B", 2),
        ] {
            if let Some(rest) = t.strip_prefix(prefix) {
                return u64::from_str_radix(rest, radix).map_or(f64::NAN, |v| v as f64);
            }
        }
        match t {
            "Infinity" | "+Infinity" => return f64::INFINITY,
            "-Infinity" => return f64::NEG_INFINITY,
            _ => {}
        }
        if t.chars()
            .any(|c| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
        {
            return f64::NAN;
        }
        t.parse().unwrap_or(f64::NAN)
    }

    fn strings(values: &[String]) -> Js {
        Js::Arr(values.iter().map(|v| Js::Str(v.clone())).collect())
    }

    /// `@Transform(({ value }) => value && parseInt(value))`.
    fn and_parse_int(values: &[String]) -> Js {
        let joined = values.join(",");
        if joined.is_empty() && values.len() == 1 {
            Js::Str(String::new())
        } else {
            Js::Num(parse_int(&joined))
        }
    }

    type Constraints = Vec<(&'static str, String)>;

    fn error(
        target: &Value,
        value: Option<Value>,
        property: &str,
        constraints: Constraints,
    ) -> Value {
        let mut e = Map::new();
        e.insert("target".into(), target.clone());
        if let Some(v) = value {
            e.insert("value".into(), v);
        }
        e.insert("property".into(), json!(property));
        e.insert("children".into(), json!([]));
        e.insert(
            "constraints".into(),
            Value::Object(
                constraints
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect(),
            ),
        );
        Value::Object(e)
    }

    /// `@IsNumber() @Min(min) @Max(max)`, reported in class-validator's order.
    fn number_range(property: &str, v: &Js, min: f64, max: Option<f64>) -> Constraints {
        let mut c = Vec::new();
        if let Some(max) = max {
            if !v.num().is_some_and(|f| f <= max) {
                c.push(("max", format!("{property} must not be greater than {max}")));
            }
        }
        if !v.num().is_some_and(|f| f >= min) {
            c.push(("min", format!("{property} must not be less than {min}")));
        }
        if !v.is_number() {
            c.push((
                "isNumber",
                format!("{property} must be a number conforming to the specified constraints"),
            ));
        }
        c
    }

    #[derive(Clone, Debug, Default)]
    pub struct Sort {
        pub start: Option<bool>,
        pub end: Option<bool>,
        pub created: Option<bool>,
        pub updated: Option<bool>,
    }

    /// `GetBookingsInput_2024_08_13` after validation.
    #[derive(Debug, Default)]
    pub struct Params {
        pub statuses: Vec<String>,
        pub attendee_email: Option<String>,
        pub attendee_name: Option<String>,
        pub booking_uid: Option<String>,
        pub event_type_ids: Option<Vec<i64>>,
        pub after_start: Option<i64>,
        pub before_end: Option<i64>,
        pub after_created: Option<i64>,
        pub before_created: Option<i64>,
        pub after_updated: Option<i64>,
        pub before_updated: Option<i64>,
        pub sort: Option<Sort>,
        pub take: usize,
        pub skip: usize,
    }

    /// Properties of `GetBookingsInput_2024_08_13`, in declaration order.
    const PROPERTIES: [&str; 20] = [
        "status",
        "attendeeEmail",
        "attendeeName",
        "bookingUid",
        "eventTypeIds",
        "eventTypeId",
        "teamsIds",
        "teamId",
        "afterStart",
        "beforeEnd",
        "afterCreatedAt",
        "beforeCreatedAt",
        "afterUpdatedAt",
        "beforeUpdatedAt",
        "sortStart",
        "sortEnd",
        "sortCreated",
        "sortUpdatedAt",
        "take",
        "skip",
    ];

    const STATUSES: [&str; 5] = ["upcoming", "recurring", "past", "cancelled", "unconfirmed"];

    fn transform(property: &str, values: &[String]) -> Js {
        let one = (values.len() == 1).then(|| values[0].as_str());
        match (property, one) {
            ("status", Some(s)) => {
                Js::Arr(s.split(',').map(|x| Js::Str(x.trim().to_owned())).collect())
            }
            ("attendeeEmail", Some(s)) => {
                Js::Str(s.split_whitespace().collect::<Vec<_>>().join("+"))
            }
            ("eventTypeIds" | "teamsIds", Some(s)) => {
                Js::Arr(s.split(',').map(|x| Js::Num(parse_int(x))).collect())
            }
            ("eventTypeIds" | "teamsIds" | "eventTypeId" | "teamId", None) => {
                Js::Arr(values.iter().map(|x| Js::Num(number(x))).collect())
            }
            ("eventTypeId" | "teamId", Some(s)) => Js::Num(number(s)),
            ("take" | "skip", _) => and_parse_int(values),
            (_, Some(s)) => Js::Str(s.to_owned()),
            (_, None) => strings(values),
        }
    }

    fn constraints(property: &str, v: &Js) -> Constraints {
        let sort = |name: &str| -> Constraints {
            if v.str().is_some_and(|s| s == "asc" || s == "desc") {
                Vec::new()
            } else {
                vec![(
                    "isEnum",
                    format!("{name} must be either \"asc\" or \"desc\"."),
                )]
            }
        };
        let iso = |message: &str| -> Constraints {
            if v.str().is_some_and(|s| time::parse(s).is_some()) {
                Vec::new()
            } else {
                vec![("isIso8601", message.to_owned())]
            }
        };
        match property {
            "status" => {
                let mut c = Vec::new();
                if !v.each(|x| x.str().is_some_and(|s| STATUSES.contains(&s))) {
                    c.push((
                        "isEnum",
                        "Invalid status. Allowed are upcoming, recurring, past, cancelled, unconfirmed".to_owned(),
                    ));
                }
                if !matches!(v, Js::Arr(a) if !a.is_empty()) {
                    c.push(("arrayNotEmpty", "status cannot be empty.".to_owned()));
                }
                c
            }
            "attendeeEmail" | "attendeeName" | "bookingUid" => {
                if v.str().is_some() {
                    Vec::new()
                } else {
                    vec![("isString", format!("{property} must be a string"))]
                }
            }
            "eventTypeIds" | "teamsIds" => {
                let mut c = Vec::new();
                if !matches!(v, Js::Arr(a) if !a.is_empty()) {
                    let message = if property == "teamsIds" {
                        "teamIds must contain at least 1 team id"
                    } else {
                        "eventTypeIds must contain at least 1 event type id"
                    };
                    c.push(("arrayMinSize", message.to_owned()));
                }
                if !v.each(Js::is_number) {
                    c.push((
                        "isNumber",
                        format!("each value in {property} must be a number conforming to the specified constraints"),
                    ));
                }
                if !matches!(v, Js::Arr(_)) {
                    c.push(("isArray", format!("{property} must be an array")));
                }
                c
            }
            "eventTypeId" | "teamId" => {
                if v.num().is_some_and(|f| f.is_finite() && f.fract() == 0.0) {
                    Vec::new()
                } else {
                    vec![("isInt", format!("{property} must be an integer number"))]
                }
            }
            "afterStart" | "afterCreatedAt" | "afterUpdatedAt" => {
                iso("fromDate must be a valid ISO 8601 date.")
            }
            "beforeEnd" | "beforeCreatedAt" | "beforeUpdatedAt" => {
                iso("toDate must be a valid ISO 8601 date.")
            }
            "sortStart" => sort("SortStart"),
            "sortEnd" => sort("SortEnd"),
            // Cal.com's message for sortUpdatedAt names sortCreated.
            "sortCreated" | "sortUpdatedAt" => sort("SortCreated"),
            "take" => number_range(property, v, 1.0, Some(250.0)),
            "skip" => number_range(property, v, 0.0, None),
            _ => Vec::new(),
        }
    }

    pub fn validate_2024_08_13(raw: &str) -> Result<Params, Vec<Value>> {
        let values: Vec<(String, Js)> = grouped(raw)
            .into_iter()
            .filter(|(k, _)| PROPERTIES.contains(&k.as_str()))
            .map(|(k, vs)| {
                let js = transform(&k, &vs);
                (k, js)
            })
            .collect();
        let target = Js::Obj(values.clone()).json();
        let get = |p: &str| values.iter().find(|(k, _)| k == p).map(|(_, v)| v);
        let errors: Vec<Value> = PROPERTIES
            .iter()
            .filter_map(|p| {
                let v = get(p)?;
                let c = constraints(p, v);
                (!c.is_empty()).then(|| error(&target, Some(v.json()), p, c))
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |p: &str| get(p).and_then(Js::str).map(str::to_owned);
        let date = |p: &str| get(p).and_then(Js::str).and_then(time::parse);
        let dir = |p: &str| get(p).and_then(Js::str).map(|s| s == "asc");
        let nums = |v: &Js| match v {
            Js::Arr(a) => a.iter().filter_map(Js::num).map(|f| f as i64).collect(),
            _ => Vec::new(),
        };
        let event_type_ids = match (get("eventTypeIds"), get("eventTypeId").and_then(Js::num)) {
            (Some(ids), _) => Some(nums(ids)),
            (None, Some(id)) if id != 0.0 => Some(vec![id as i64]),
            _ => None,
        };
        let sort = Sort {
            start: dir("sortStart"),
            end: dir("sortEnd"),
            created: dir("sortCreated"),
            updated: dir("sortUpdatedAt"),
        };
        let any_sort = sort.start.is_some()
            || sort.end.is_some()
            || sort.created.is_some()
            || sort.updated.is_some();
        Ok(Params {
            statuses: match get("status") {
                Some(Js::Arr(a)) => a.iter().filter_map(Js::str).map(str::to_owned).collect(),
                _ => Vec::new(),
            },
            attendee_email: text("attendeeEmail"),
            attendee_name: text("attendeeName"),
            booking_uid: text("bookingUid"),
            event_type_ids,
            after_start: date("afterStart"),
            before_end: date("beforeEnd"),
            after_created: date("afterCreatedAt"),
            before_created: date("beforeCreatedAt"),
            after_updated: date("afterUpdatedAt"),
            before_updated: date("beforeUpdatedAt"),
            sort: any_sort.then_some(sort),
            // `Math.abs(take ?? 100)`, `Math.abs(skip ?? 0)`.
            take: get("take")
                .and_then(Js::num)
                .map_or(DEFAULT_TAKE, |f| f.abs() as usize),
            skip: get("skip")
                .and_then(Js::num)
                .map_or(0, |f| f.abs() as usize),
        })
    }

    /// `GetBookingsInput_2024_04_15` after validation.
    #[derive(Debug)]
    pub struct OldParams {
        pub status: String,
        pub take: usize,
        pub skip: usize,
    }

    const OLD_STATUS_MESSAGE: &str =
        "status must be one of the following values: upcoming, recurring, past, cancelled, unconfirmed";

    pub fn validate_2024_04_15(raw: &str) -> Result<OldParams, Vec<Value>> {
        let mut values: Vec<(String, Js)> = Vec::new();
        let mut filters: Option<Vec<(String, Js)>> = None;
        for (k, vs) in grouped(raw) {
            if let Some(sub) = k.strip_prefix("filters[").and_then(|r| r.strip_suffix(']')) {
                if !matches!(sub, "status" | "teamsIds" | "userIds" | "eventTypeIds") {
                    continue;
                }
                let js = if sub == "status" {
                    if vs.len() == 1 {
                        Js::Str(vs[0].clone())
                    } else {
                        strings(&vs)
                    }
                } else if vs.len() == 1 {
                    Js::Num(number(&vs[0]))
                } else {
                    Js::Arr(vs.iter().map(|x| Js::Num(number(x))).collect())
                };
                if filters.is_none() {
                    values.push(("filters".into(), Js::Obj(Vec::new())));
                }
                filters
                    .get_or_insert_with(Vec::new)
                    .push((sub.to_owned(), js));
            } else if k == "filters" && filters.is_none() {
                values.push((
                    k,
                    if vs.len() == 1 {
                        Js::Str(vs[0].clone())
                    } else {
                        strings(&vs)
                    },
                ));
            } else if k == "limit" || k == "cursor" {
                values.push((k, and_parse_int(&vs)));
            }
        }
        if let Some(f) = &filters {
            if let Some(slot) = values.iter_mut().find(|(k, _)| k == "filters") {
                slot.1 = Js::Obj(f.clone());
            }
        }
        let target = Js::Obj(values.clone()).json();
        let get = |p: &str| values.iter().find(|(k, _)| k == p).map(|(_, v)| v);
        let mut errors = Vec::new();
        match get("filters") {
            Some(Js::Obj(f)) => {
                let nested = Js::Obj(f.clone()).json();
                let sub = |p: &str| f.iter().find(|(k, _)| k == p).map(|(_, v)| v);
                let mut children = Vec::new();
                for p in ["teamsIds", "userIds"] {
                    if let Some(v) = sub(p) {
                        if !matches!(v, Js::Arr(_)) {
                            children.push(error(
                                &nested,
                                Some(v.json()),
                                p,
                                vec![("isArray", format!("{p} must be an array"))],
                            ));
                        }
                    }
                }
                let status = sub("status");
                if !status
                    .and_then(Js::str)
                    .is_some_and(|s| STATUSES.contains(&s))
                {
                    children.push(error(
                        &nested,
                        status.map(Js::json),
                        "status",
                        vec![("isEnum", OLD_STATUS_MESSAGE.to_owned())],
                    ));
                }
                if let Some(v) = sub("eventTypeIds") {
                    if !matches!(v, Js::Arr(_)) {
                        children.push(error(
                            &nested,
                            Some(v.json()),
                            "eventTypeIds",
                            vec![("isArray", "eventTypeIds must be an array".to_owned())],
                        ));
                    }
                }
                if !children.is_empty() {
                    let mut e = Map::new();
                    e.insert("target".into(), target.clone());
                    e.insert("value".into(), nested);
                    e.insert("property".into(), json!("filters"));
                    e.insert("children".into(), Value::Array(children));
                    errors.push(Value::Object(e));
                }
            }
            Some(v) => errors.push(error(
                &target,
                Some(v.json()),
                "filters",
                vec![(
                    "nestedValidation",
                    "nested property filters must be either object or array".to_owned(),
                )],
            )),
            None => {}
        }
        if let Some(v) = get("limit") {
            let c = number_range("limit", v, 1.0, Some(100.0));
            if !c.is_empty() {
                errors.push(error(&target, Some(v.json()), "limit", c));
            }
        }
        if let Some(v) = get("cursor") {
            if !v.is_number() {
                errors.push(error(
                    &target,
                    Some(v.json()),
                    "cursor",
                    vec![(
                        "isNumber",
                        "cursor must be a number conforming to the specified constraints"
                            .to_owned(),
                    )],
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let status = match get("filters") {
            Some(Js::Obj(f)) => f
                .iter()
                .find(|(k, _)| k == "status")
                .and_then(|(_, v)| v.str())
                .unwrap_or("upcoming")
                .to_owned(),
            _ => "upcoming".to_owned(),
        };
        Ok(OldParams {
            status,
            take: get("limit")
                .and_then(Js::num)
                .map_or(OLD_DEFAULT_TAKE, |f| f as usize),
            skip: get("cursor")
                .and_then(Js::num)
                .map_or(0, |f| f.max(0.0) as usize),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parse_int_is_javascripts() {
            assert_eq!(parse_int("10abc"), 10.0);
            assert_eq!(parse_int(" -3"), -3.0);
            assert_eq!(parse_int("0x10"), 16.0);
            assert!(parse_int("abc").is_nan());
        }

        #[test]
        fn take_over_250_names_max_only() {
            let errors = validate_2024_08_13("take=300").unwrap_err();
            assert_eq!(
                errors[0]["constraints"],
                json!({"max": "take must not be greater than 250"})
            );
            assert_eq!(errors[0]["target"], json!({"take": 300}));
        }

        #[test]
        fn a_non_number_take_fails_three_ways() {
            let errors = validate_2024_08_13("take=abc").unwrap_err();
            let keys: Vec<&String> = errors[0]["constraints"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            assert_eq!(keys, ["max", "min", "isNumber"]);
            assert_eq!(errors[0]["value"], Value::Null);
        }

        #[test]
        fn unknown_parameters_are_dropped() {
            let p = validate_2024_08_13("foo=bar&take=5").unwrap();
            assert_eq!(p.take, 5);
        }

        #[test]
        fn a_plus_in_a_date_is_a_space_unless_encoded() {
            assert!(validate_2024_08_13("afterUpdatedAt=2025-03-07T10:00:00+02:00").is_err());
            assert!(validate_2024_08_13("afterUpdatedAt=2025-03-07T10:00:00%2B02:00").is_ok());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::time;

    #[test]
    fn iso_round_trips() {
        let ms = time::parse("2024-08-13T15:30:00Z").unwrap();
        assert_eq!(time::iso(ms), "2024-08-13T15:30:00.000Z");
        assert_eq!(time::parse("2024-08-13T17:30:00.000+02:00"), Some(ms));
        assert_eq!(time::parse("2024-08-13T15:30"), Some(ms));
        assert_eq!(
            time::parse("2024-08-13"),
            Some(ms - (15 * 60 + 30) * 60_000)
        );
        assert_eq!(time::iso(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn strict_dates_refuse_impossible_days() {
        assert_eq!(time::parse("2023-02-29"), None);
        assert!(time::parse("2024-02-29").is_some());
        assert_eq!(time::parse("202403"), None);
        assert_eq!(time::parse("yesterday"), None);
        assert_eq!(time::parse("2024-08-13T25:00:00Z"), None);
    }
}
