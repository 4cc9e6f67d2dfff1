//! Cal.com API v2's bookings list, `GET /v2/bookings` at version 2024-08-13:
//! the request as data and what its answer means. Shapes from Cal.com's
//! source (`packages/platform/types/bookings/2024-08-13/outputs/`,
//! `apps/api/v2/src/ee/bookings/2024-08-13/`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::Deserialize;

/// Without it the endpoint answers as an older version, in another shape.
pub const VERSION_HEADER: &str = "cal-api-version";
pub const VERSION: &str = "2024-08-13";
/// The most bookings Cal.com returns per request (`take`).
pub const MAX_TAKE: u64 = 250;
/// Cal.com's API, unless `CAL_API_BASE` says otherwise.
pub const DEFAULT_BASE: &str = "https://api.cal.com";

/// One `GET` to send: the URL and its headers (the key among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The bookings updated at or after `after_ms` (Cal.com's `afterUpdatedAt`
/// is inclusive), oldest change first, `take` from `skip`.
pub fn list_request(base: &str, key: &str, after_ms: i64, take: u64, skip: u64) -> ListRequest {
    ListRequest {
        url: format!(
            "{}/v2/bookings?afterUpdatedAt={}&sortUpdatedAt=asc&take={}&skip={}",
            base.trim_end_matches('/'),
            iso(after_ms),
            take.clamp(1, MAX_TAKE),
            skip
        ),
        headers: vec![
            ("authorization", format!("Bearer {key}")),
            (VERSION_HEADER, VERSION.to_owned()),
        ],
    }
}

/// `2026-12-07T20:00:00.000Z`.
pub fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A booking's status as Cal.com names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalStatus {
    Accepted,
    Pending,
    Cancelled,
    Rejected,
    /// A status this version does not know: never acted on.
    #[serde(other)]
    Unknown,
}

/// A person on a booking (`hosts[]`, `attendees[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CalPerson {
    pub name: Option<String>,
    pub email: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CalEventType {
    pub slug: Option<String>,
}

/// One booking of the 2024-08-13 answer (the fields calhook uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalBooking {
    pub uid: String,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    pub status: CalStatus,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub cancelled_by_email: Option<String>,
    #[serde(default)]
    pub rescheduled_by_email: Option<String>,
    #[serde(default)]
    pub rescheduled_from_uid: Option<String>,
    #[serde(default)]
    pub rescheduled_to_uid: Option<String>,
    #[serde(with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub hosts: Vec<CalPerson>,
    #[serde(default)]
    pub attendees: Vec<CalPerson>,
    #[serde(default)]
    pub event_type: Option<CalEventType>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub meeting_url: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "rfc3339::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl CalBooking {
    /// When it last changed in Cal.com: `updatedAt`, else `createdAt`.
    pub fn changed_at(&self) -> DateTime<Utc> {
        self.updated_at.unwrap_or(self.created_at)
    }
}

/// `pagination` of the answer (the fields calhook uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub returned_items: u64,
    pub has_next_page: bool,
}

/// Cal.com's times (`2024-08-13T15:30:00.000Z`) read with chrono's RFC 3339
/// parser: its serde impl would link the general format parser into the
/// admin worker's wasm.
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer};

    fn parse<E: Error>(text: &str) -> Result<DateTime<Utc>, E> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| E::custom(format!("{text:?}: {e}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse(&String::deserialize(d)?)
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|t| parse(&t))
                .transpose()
        }
    }
}

/// One page of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BookingsPage {
    pub data: Vec<CalBooking>,
    pub pagination: Pagination,
}

/// The whole answer: `status` beside the page.
#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Vec<CalBooking>,
    pagination: Pagination,
}

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalApiError {
    /// 401/403: the key is wrong or revoked; not tried again until it changes.
    #[error("Cal.com refused the API key ({status})")]
    KeyRefused { status: u16 },
    /// 429: Cal.com blocks the key for a while; the source waits for the next run.
    #[error("Cal.com is rate limiting the API key (429)")]
    RateLimited,
    #[error("Cal.com answered {status}: {detail}")]
    Unavailable { status: u16, detail: String },
    /// An answer calhook cannot read (another API version's shape, a
    /// booking without a field it needs): nothing is applied.
    #[error("Cal.com's answer is not the 2024-08-13 bookings list: {0}")]
    Shape(String),
    #[error("Cal.com could not be reached: {0}")]
    Unreachable(String),
}

/// Reads an answer to [`list_request`].
pub fn read_list(status: u16, body: &[u8]) -> Result<BookingsPage, CalApiError> {
    match status {
        200..=299 => {}
        401 | 403 => return Err(CalApiError::KeyRefused { status }),
        429 => return Err(CalApiError::RateLimited),
        _ => {
            let detail = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(CalApiError::Unavailable { status, detail });
        }
    }
    // Another version's answer (`data: {bookings: …}`, no `pagination`) does
    // not read as this one: it is refused, never half-read.
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) if a.status == "success" => Ok(BookingsPage {
            data: a.data,
            pagination: a.pagination,
        }),
        Ok(a) => Err(CalApiError::Shape(format!("status {:?}", a.status))),
        Err(e) => Err(CalApiError::Shape(format!(
            "{e} (is the cal-api-version header sent?)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn booking() -> serde_json::Value {
        json!({"id": 7, "uid": "u1", "title": "Intro", "status": "accepted",
            "start": "2026-12-10T10:00:00.000Z", "end": "2026-12-10T10:30:00.000Z",
            "duration": 30, "hosts": [{"id": 1, "name": "Host", "email": "host@x.org", "username": "host", "timeZone": "Europe/Paris"}],
            "attendees": [{"name": "Ada", "email": "ada@x.org", "timeZone": "Europe/London", "language": "en", "absent": false}],
            "createdAt": "2026-12-07T10:00:00.000Z", "updatedAt": null})
    }

    #[test]
    fn the_request_asks_for_the_2024_08_13_version_oldest_change_first() {
        let r = list_request("https://api.cal.com/", "cal_live_x", 0, 1000, 250);
        assert_eq!(
            r.url,
            "https://api.cal.com/v2/bookings?afterUpdatedAt=1970-01-01T00:00:00.000Z&sortUpdatedAt=asc&take=250&skip=250"
        );
        assert!(r
            .headers
            .contains(&("cal-api-version", "2024-08-13".into())));
        assert!(r
            .headers
            .contains(&("authorization", "Bearer cal_live_x".into())));
    }

    #[test]
    fn a_page_is_read_and_a_missing_updated_at_falls_back_to_created_at() {
        let body = json!({"status": "success", "data": [booking()],
            "pagination": {"totalItems": 1, "remainingItems": 0, "returnedItems": 1, "itemsPerPage": 100,
                "currentPage": 1, "totalPages": 1, "hasNextPage": false, "hasPreviousPage": false}});
        let page = read_list(200, body.to_string().as_bytes()).unwrap();
        assert_eq!(page.data[0].status, CalStatus::Accepted);
        assert_eq!(page.data[0].changed_at(), page.data[0].created_at);
        assert!(!page.pagination.has_next_page);
    }

    #[test]
    fn an_answer_without_pagination_is_another_versions_shape() {
        let body = json!({"status": "success", "data": {"bookings": [booking()]}});
        assert!(matches!(
            read_list(200, body.to_string().as_bytes()),
            Err(CalApiError::Shape(_))
        ));
    }

    #[test]
    fn refusals_are_told_apart() {
        assert_eq!(
            read_list(401, b"{}"),
            Err(CalApiError::KeyRefused { status: 401 })
        );
        assert_eq!(
            read_list(403, b"{}"),
            Err(CalApiError::KeyRefused { status: 403 })
        );
        assert_eq!(read_list(429, b""), Err(CalApiError::RateLimited));
        assert!(matches!(
            read_list(502, b"bad gateway"),
            Err(CalApiError::Unavailable { status: 502, .. })
        ));
    }

    #[test]
    fn an_unknown_status_is_read_but_never_acted_on() {
        let mut b = booking();
        b["status"] = json!("awaiting_host");
        let b: CalBooking = serde_json::from_value(b).unwrap();
        assert_eq!(b.status, CalStatus::Unknown);
    }
}
