//! The stand-in answers `GET /v2/bookings` the way Cal.com's API v2 does.

use calcom_standin::{new_booking, time, RescheduleOptions, StandIn};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};

const KEY: &str = "cal_test_0123456789";
const V: Option<&str> = Some("2024-08-13");

/// 2030-01-01T00:00:00.000Z: bookings on the 2nd are upcoming.
fn t0() -> i64 {
    time::parse("2030-01-01T00:00:00Z").unwrap()
}

fn standin() -> StandIn {
    let s = StandIn::new(Some(KEY.into()));
    s.set_now(t0());
    s
}

async fn start(s: &StandIn) -> String {
    let (addr, _task) = s
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    format!("http://{addr}")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn get(base: &str, query: &str, version: Option<&str>, auth: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new().get(format!("{base}/v2/bookings{query}"));
    if let Some(v) = version {
        req = req.header("cal-api-version", v);
    }
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.json().await.unwrap_or(Value::Null),
    }
}

async fn list(base: &str, query: &str) -> Answer {
    get(base, query, V, Some(&format!("Bearer {KEY}"))).await
}

fn uids(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["uid"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn with_the_version_header_bookings_come_in_the_2024_08_13_shape() {
    let s = standin();
    let base = start(&s).await;
    s.put_booking(new_booking("b1", "2030-01-02T09:00:00Z", 30));
    let a = list(&base, "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "success");
    let b = &a.body["data"][0];
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "uid",
            "title",
            "description",
            "hosts",
            "status",
            "cancellationReason",
            "cancelledByEmail",
            "rescheduledByEmail",
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
        ]
    );
    assert_eq!(b["id"], 1);
    assert_eq!(b["start"], "2030-01-02T09:00:00.000Z");
    assert_eq!(b["end"], "2030-01-02T09:30:00.000Z");
    assert_eq!(b["createdAt"], "2030-01-01T00:00:00.000Z");
    assert_eq!(b["updatedAt"], "2030-01-01T00:00:00.000Z");
    assert_eq!(b["status"], "accepted");
    assert_eq!(b["eventType"], json!({"id": 1, "slug": "30min"}));
    let pagination: Vec<&String> = a.body["pagination"].as_object().unwrap().keys().collect();
    assert_eq!(
        pagination,
        [
            "returnedItems",
            "totalItems",
            "itemsPerPage",
            "remainingItems",
            "currentPage",
            "totalPages",
            "hasNextPage",
            "hasPreviousPage",
        ]
    );
    assert_eq!(a.body["pagination"]["itemsPerPage"], 100);
}

#[tokio::test]
async fn without_the_version_header_the_older_shape_comes_back_and_take_is_ignored() {
    let s = standin();
    let base = start(&s).await;
    s.put_booking(new_booking("b1", "2030-01-02T09:00:00Z", 30));
    let a = get(
        &base,
        "?take=300&afterUpdatedAt=nonsense",
        None,
        Some(&format!("Bearer {KEY}")),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["data"].is_object(),
        "data is an object, not a list: {}",
        a.body
    );
    let b = &a.body["data"]["bookings"][0];
    assert_eq!(b["uid"], "b1");
    assert_eq!(b["status"], "ACCEPTED");
    assert_eq!(b["startTime"], "2030-01-02T09:00:00.000Z");
    assert!(b.get("start").is_none());
    assert_eq!(a.body["data"]["totalCount"], 1);
    assert_eq!(a.body["data"]["nextCursor"], Value::Null);
    assert!(a.body.get("pagination").is_none());
    // Any other version value falls back too.
    let a = get(
        &base,
        "",
        Some("2024-08-14"),
        Some(&format!("Bearer {KEY}")),
    )
    .await;
    assert!(a.body["data"]["bookings"].is_array());
}

#[tokio::test]
async fn take_and_skip_page_and_fill_the_pagination_block() {
    let s = standin();
    let base = start(&s).await;
    for i in 1..=5 {
        s.put_booking(new_booking(
            &format!("b{i}"),
            &format!("2030-01-0{}T09:00:00Z", i + 1),
            30,
        ));
    }
    let a = list(&base, "?take=2&skip=2&sortStart=asc").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(uids(&a.body), ["b3", "b4"]);
    assert_eq!(
        a.body["pagination"],
        json!({"returnedItems": 2, "totalItems": 5, "itemsPerPage": 2, "remainingItems": 1,
               "currentPage": 2, "totalPages": 3, "hasNextPage": true, "hasPreviousPage": true})
    );
    let a = list(&base, "?take=2&skip=4&sortStart=asc").await;
    assert_eq!(uids(&a.body), ["b5"]);
    assert_eq!(
        a.body["pagination"],
        json!({"returnedItems": 1, "totalItems": 5, "itemsPerPage": 2, "remainingItems": 0,
               "currentPage": 3, "totalPages": 3, "hasNextPage": false, "hasPreviousPage": true})
    );
}

#[tokio::test]
async fn after_updated_at_is_inclusive_skips_null_rows_and_sorts_ascending() {
    let s = standin();
    let base = start(&s).await;
    s.put_booking(new_booking("a", "2030-01-02T09:00:00Z", 30)); // updatedAt t0
    s.advance(1000);
    let b = s.put_booking(new_booking("b", "2030-01-03T09:00:00Z", 30)); // t0 + 1 s
    let mut never = new_booking("never-updated", "2030-01-04T09:00:00Z", 30);
    never["updatedAt"] = Value::Null;
    s.put_booking(never);
    s.advance(1000);
    s.update_booking("a", |a| a["title"] = json!("Renamed")); // t0 + 2 s
    let since = b["updatedAt"].as_str().unwrap();
    let a = list(&base, &format!("?afterUpdatedAt={since}&sortUpdatedAt=asc")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(uids(&a.body), ["b", "a"]);
    // Descending, without the filter, the null row comes first (Postgres NULLS FIRST).
    let a = list(&base, "?sortUpdatedAt=desc").await;
    assert_eq!(uids(&a.body), ["never-updated", "a", "b"]);
}

#[tokio::test]
async fn take_over_250_is_refused_with_cal_coms_validation_error() {
    let s = standin();
    let base = start(&s).await;
    let a = list(&base, "?take=251").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["status"], "error");
    assert_eq!(a.body["path"], "/v2/bookings?take=251");
    assert_eq!(a.body["error"]["code"], "BadRequestException");
    assert_eq!(a.body["error"]["message"], "Bad Request Exception");
    let e = &a.body["error"]["details"]["errors"][0];
    assert_eq!(e["property"], "take");
    assert_eq!(e["value"], 251);
    assert_eq!(
        e["constraints"],
        json!({"max": "take must not be greater than 250"})
    );
    assert_eq!(list(&base, "?take=250").await.status, 200);
}

#[tokio::test]
async fn invalid_dates_sorts_and_statuses_are_refused() {
    let s = standin();
    let base = start(&s).await;
    let a = list(
        &base,
        "?afterUpdatedAt=2030-02-30T00:00:00Z&sortUpdatedAt=up&status=upcoming,soon",
    )
    .await;
    assert_eq!(a.status, 400);
    let errors = a.body["error"]["details"]["errors"].as_array().unwrap();
    let properties: Vec<&str> = errors
        .iter()
        .map(|e| e["property"].as_str().unwrap())
        .collect();
    assert_eq!(properties, ["status", "afterUpdatedAt", "sortUpdatedAt"]);
    assert_eq!(
        errors[1]["constraints"]["isIso8601"],
        "fromDate must be a valid ISO 8601 date."
    );
    assert_eq!(
        errors[2]["constraints"]["isEnum"],
        "SortCreated must be either \"asc\" or \"desc\"."
    );
}

#[tokio::test]
async fn a_wrong_key_gets_401_and_no_key_403() {
    let s = standin();
    let base = start(&s).await;
    let a = get(&base, "", V, Some("Bearer cal_wrong")).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["error"]["code"], "UnauthorizedException");
    assert_eq!(
        a.body["error"]["message"],
        "CustomThrottlerGuard - Invalid API Key"
    );
    assert_eq!(
        a.body["error"]["details"],
        json!({"message": "CustomThrottlerGuard - Invalid API Key", "error": "Unauthorized", "statusCode": 401})
    );
    let a = get(&base, "", V, None).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.body["error"]["code"], "ForbiddenException");
    // A wrong key is refused before validation, like Cal.com's guards.
    assert_eq!(
        get(&base, "?take=999", V, Some("Bearer cal_wrong"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn rate_limit_next_answers_429_without_retry_after() {
    let s = standin();
    let base = start(&s).await;
    s.rate_limit_next(1);
    let a = list(&base, "").await;
    assert_eq!(a.status, 429);
    assert!(a.headers.get("retry-after").is_none());
    assert_eq!(a.headers["x-ratelimit-limit-default"], "120");
    assert_eq!(a.headers["x-ratelimit-remaining-default"], "0");
    assert_eq!(a.headers["x-ratelimit-reset-default"], "60");
    assert_eq!(a.body["error"]["code"], "ThrottlerException");
    assert_eq!(
        a.body["error"]["details"],
        "CustomThrottlerGuard - Too many requests. Please try again later."
    );
    let a = list(&base, "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["x-ratelimit-remaining-default"], "119");
}

#[tokio::test]
async fn the_121st_request_in_a_minute_is_refused_until_the_block_ends() {
    let s = standin();
    let base = start(&s).await;
    for _ in 0..120 {
        assert_eq!(list(&base, "").await.status, 200);
    }
    let a = list(&base, "").await;
    assert_eq!(a.status, 429);
    assert!(a.headers.get("retry-after").is_none());
    s.advance(59_000);
    assert_eq!(list(&base, "").await.status, 429);
    s.advance(1_000);
    assert_eq!(list(&base, "").await.status, 200);
}

#[tokio::test]
async fn a_cancellation_bumps_updated_at() {
    let s = standin();
    let base = start(&s).await;
    let before = s.put_booking(new_booking("b1", "2030-01-02T09:00:00Z", 30));
    let after = s.cancel("b1", "Will travel").unwrap();
    assert!(after["updatedAt"].as_str().unwrap() > before["updatedAt"].as_str().unwrap());
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["cancellationReason"], "Will travel");
    let since = time::iso(time::parse(before["updatedAt"].as_str().unwrap()).unwrap() + 1);
    let a = list(&base, &format!("?afterUpdatedAt={since}")).await;
    assert_eq!(uids(&a.body), ["b1"]);
    assert_eq!(a.body["data"][0]["status"], "cancelled");
}

#[tokio::test]
async fn a_reschedule_cancels_the_old_booking_and_links_both() {
    let s = standin();
    let old = s.put_booking(new_booking("old", "2030-01-02T09:00:00Z", 30));
    let new = s
        .reschedule_with(
            "old",
            new_booking("new", "2030-01-03T09:00:00Z", 30),
            RescheduleOptions {
                rescheduled_by: Some("host@example.com".into()),
                reason: Some("Clash".into()),
            },
        )
        .unwrap();
    let old_now = s.booking("old").unwrap();
    assert_eq!(old_now["status"], "cancelled");
    assert_eq!(old_now["rescheduledToUid"], "new");
    assert_eq!(old_now["rescheduledByEmail"], "host@example.com");
    assert_eq!(old_now["cancellationReason"], "");
    assert!(old_now["updatedAt"].as_str() > old["updatedAt"].as_str());
    assert_eq!(new["rescheduledFromUid"], "old");
    assert_eq!(new["rescheduledByEmail"], "host@example.com");
    assert_eq!(new["reschedulingReason"], "Clash");
    assert_eq!(new["status"], "accepted");
    assert!(new["createdAt"].as_str() > old_now["updatedAt"].as_str());
}

#[tokio::test]
async fn the_control_endpoints_drive_the_stand_in_over_http() {
    let s = standin();
    let base = start(&s).await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/_standin/bookings"))
        .json(&new_booking("h1", "2030-01-02T09:00:00Z", 45))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/_standin/bookings/h1/cancel"))
        .json(&json!({"reason": "No longer needed"}))
        .send()
        .await
        .unwrap();
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let r = c
        .post(format!("{base}/_standin/bookings"))
        .json(&json!({"uid": "bad", "status": "confirmed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    list(&base, "?status=cancelled").await;
    let requests: Value = c
        .get(format!("{base}/_standin/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requests.as_array().unwrap().len(), 1);
    assert_eq!(requests[0]["query"], "status=cancelled");
    assert_eq!(requests[0]["headers"]["cal-api-version"], "2024-08-13");
    assert_eq!(
        s.requests()[0].query_param("status").as_deref(),
        Some("cancelled")
    );
    c.post(format!("{base}/_standin/rate-limit"))
        .json(&json!({"count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(list(&base, "").await.status, 429);
    let r = c
        .post(format!("{base}/_standin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(s.bookings().is_empty());
    assert!(s.requests().is_empty());
}
