//! Realistic cases from `tests/fixtures/cases/`, built the way Cal.com's own
//! source builds them (seats, fallbacks, minor units, DST, per-trigger time
//! formats), each with the email a person should get.
#![cfg(feature = "tzdb")]

use calhook_core::inbound::event::parse;
use calhook_core::inbound::identity::derive;
use calhook_core::message::notification::Notification;
use calhook_core::message::render::{render, RenderedEmail};
use calhook_core::message::zones::Tzdb;

fn case(name: &str) -> RenderedEmail {
    let path = format!(
        "{}/../../tests/fixtures/cases/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let envelope = parse(&body).unwrap();
    let key = derive(&envelope).unwrap().notification_key(1_000);
    render(&Notification::build(&envelope, key), &Tzdb)
}

#[test]
fn a_second_seat_names_its_attendee() {
    assert_eq!(
        case("seat_created").subject,
        "New seat: Zoë Ångström on Yoga class (Wed 25 Nov 2026, 15:00 GMT)"
    );
}

#[test]
fn a_seat_cancellation_names_its_attendee() {
    let e = case("seat_cancelled");
    assert!(
        e.subject
            .starts_with("Seat cancelled: Zoë Ångström on Yoga class"),
        "{}",
        e.subject
    );
}

#[test]
fn a_price_is_shown_in_major_units() {
    let e = case("price_minor_units");
    assert!(e.text.contains("Price: 49.99 EUR"), "{}", e.text);
}

#[test]
fn cal_coms_fallback_organizer_is_not_shown_as_an_address() {
    let e = case("fallback_organizer");
    assert!(e.subject.starts_with("New booking: "), "{}", e.subject);
    assert!(!e.html.contains("mailto:Email-less"), "{}", e.html);
}

#[test]
fn each_end_of_a_range_across_the_fall_back_night_has_its_own_abbreviation() {
    let e = case("dst_fall_back");
    assert!(e.text.contains("01:30 GMT-4 – 01:30 GMT-5"), "{}", e.text);
}

#[test]
fn routing_form_answers_keep_their_order() {
    let e = case("form_field_order");
    let (zip, budget, other) = (
        e.text.find("Zip code").unwrap(),
        e.text.find("Budget").unwrap(),
        e.text.find("Anything else?").unwrap(),
    );
    assert!(zip < budget && budget < other, "{}", e.text);
}

#[test]
fn out_of_office_is_shown_as_calendar_dates_with_the_reason_in_words() {
    let e = case("ooo_sick_leave_tokyo");
    assert!(e.text.contains("4–8 January 2027"), "{}", e.text);
    assert!(e.text.contains("Sick leave"), "{}", e.text);
}

#[test]
fn a_flat_scheduled_meeting_is_shown_in_its_users_zone() {
    // Lord Howe: +10:30 in winter, +11 in (southern) summer, a 30-minute DST.
    let e = case("meeting_started_flat_user");
    assert!(e.subject.contains("02:00 GMT+11"), "{}", e.subject);
}

#[test]
fn a_cleared_no_show_is_shown_as_attended() {
    let e = case("no_show_cleared");
    assert!(e.text.contains("(attended)"), "{}", e.text);
}

#[test]
fn a_request_to_reschedule_arrives_as_a_cancellation_with_its_offset_times() {
    let e = case("request_reschedule");
    assert!(e.subject.starts_with("Cancelled: "), "{}", e.subject);
    assert!(e.text.contains("15:00"), "{}", e.text);
    assert!(e.text.contains("Please pick another time"), "{}", e.text);
}
