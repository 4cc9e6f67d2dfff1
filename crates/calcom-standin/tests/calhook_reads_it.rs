//! calhook's Cal.com client (`calhook_core::reconcile::api`) against the
//! stand-in's answers, which follow Cal.com's source: the request calhook
//! builds is accepted, the 2024-08-13 answer is read field by field, and what
//! Cal.com refuses reaches calhook as the refusal it is.

use calcom_standin::{new_booking, time, StandIn};
use calhook_core::reconcile::api::{list_request, read_list, CalApiError, CalStatus, ListRequest};
use std::net::{Ipv4Addr, SocketAddr};

const KEY: &str = "cal_live_calhook_0123456789";

async fn start() -> (StandIn, String) {
    let s = StandIn::new(Some(KEY.into()));
    s.set_now(time::parse("2030-01-01T00:00:00Z").unwrap());
    let (addr, _task) = s
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (s, format!("http://{addr}"))
}

/// Sends `r` as calhook does, minus the headers named in `without`.
async fn send(r: &ListRequest, without: &[&str]) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new().get(&r.url);
    for (name, value) in &r.headers {
        if !without.contains(name) {
            req = req.header(*name, value);
        }
    }
    let answer = req.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn calhooks_request_is_accepted_and_its_answer_read_oldest_change_first() {
    let (s, base) = start().await;
    s.put_booking(new_booking("made", "2030-01-02T10:00:00Z", 30));
    s.put_booking(new_booking("gone", "2030-01-02T11:00:00Z", 30));
    s.cancel_by("gone", "Conflict", Some("ada@example.com"));
    let moved = s
        .reschedule("made", new_booking("moved", "2030-01-03T10:00:00Z", 30))
        .unwrap();
    assert_eq!(moved["rescheduledFromUid"], "made");

    let since = time::parse("2029-12-31T23:00:00Z").unwrap();
    let (status, body) = send(&list_request(&base, KEY, since, 250, 0), &[]).await;
    let page = read_list(status, &body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    let uids: Vec<&str> = page.data.iter().map(|b| b.uid.as_str()).collect();
    assert_eq!(uids, ["gone", "made", "moved"], "oldest change first");
    let gone = &page.data[0];
    assert_eq!(gone.status, CalStatus::Cancelled);
    assert_eq!(gone.cancellation_reason.as_deref(), Some("Conflict"));
    let made = &page.data[1];
    assert_eq!(made.status, CalStatus::Cancelled);
    assert_eq!(made.rescheduled_to_uid.as_deref(), Some("moved"));
    assert_eq!(page.data[2].rescheduled_from_uid.as_deref(), Some("made"));
    assert_eq!(made.hosts.len(), 1);
    assert!(made.attendees[0].email.is_some());
    assert!(!page.pagination.has_next_page);
}

#[tokio::test]
async fn paging_with_take_and_skip_reaches_every_booking_once() {
    let (s, base) = start().await;
    for i in 0..5 {
        s.put_booking(new_booking(&format!("b{i}"), "2030-01-02T10:00:00Z", 30));
    }
    let since = time::parse("2029-12-31T00:00:00Z").unwrap();
    let mut seen = Vec::new();
    let mut skip = 0;
    loop {
        let (status, body) = send(&list_request(&base, KEY, since, 2, skip), &[]).await;
        let page = read_list(status, &body).unwrap();
        seen.extend(page.data.iter().map(|b| b.uid.clone()));
        if !page.pagination.has_next_page {
            break;
        }
        skip += page.pagination.returned_items;
    }
    assert_eq!(seen, ["b0", "b1", "b2", "b3", "b4"]);
}

#[tokio::test]
async fn without_the_version_header_the_older_shape_is_refused_not_misread() {
    let (s, base) = start().await;
    s.put_booking(new_booking("made", "2030-01-02T10:00:00Z", 30));
    let r = list_request(&base, KEY, 0, 100, 0);
    let (status, body) = send(&r, &["cal-api-version"]).await;
    assert_eq!(status, 200);
    assert!(matches!(
        read_list(status, &body),
        Err(CalApiError::Shape(_))
    ));
}

#[tokio::test]
async fn a_wrong_key_and_a_rate_limit_reach_calhook_as_what_they_are() {
    let (s, base) = start().await;
    let (status, body) = send(&list_request(&base, "cal_live_revoked", 0, 100, 0), &[]).await;
    assert_eq!(
        read_list(status, &body),
        Err(CalApiError::KeyRefused { status: 401 })
    );
    s.rate_limit_next(1);
    let (status, body) = send(&list_request(&base, KEY, 0, 100, 0), &[]).await;
    assert_eq!(read_list(status, &body), Err(CalApiError::RateLimited));
}
