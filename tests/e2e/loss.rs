//! Fault injection at the queue's limits: what Cloudflare Queues refuse (more
//! than 100 messages or 256 KB in one `sendBatch`, a message over 128 KB,
//! counted on the JSON-encoded text; the local queue enforces the same) never
//! stalls the outbox or a redrive, and nothing is lost or sent twice.

use crate::support::*;
use crate::trial;
use libtest_mimic::Trial;
use serde_json::{json, Value};

const TOKEN: &str = "loss-admin-token-0123456789abcdef01";

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "loss::redrive_of_every_dead_letter_queues_a_page_larger_than_one_batch",
            redrive_of_every_dead_letter_queues_a_page_larger_than_one_batch,
        ),
        trial(
            "loss::the_outbox_sizes_its_batches_on_the_encoded_bytes",
            the_outbox_sizes_its_batches_on_the_encoded_bytes,
        ),
        trial(
            "loss::an_outbox_row_too_large_for_the_queue_is_set_aside_and_the_rest_sent",
            an_outbox_row_too_large_for_the_queue_is_set_aside_and_the_rest_sent,
        ),
    ]
}

/// SQL for a notification (message v1) whose title is `quotes` double quotes:
/// each is 2 bytes in the notification and 4 once the queue JSON-encodes it.
fn notification_sql(key: &str, quotes: u32) -> String {
    format!(
        "json_object('v', 1, 'key', {key}, 'trigger', 'BOOKING_CREATED', \
         'facts', json_object('title', replace(hex(zeroblob({quotes})), '00', '\"')))"
    )
}

async fn redrive_of_every_dead_letter_queues_a_page_larger_than_one_batch() {
    let s = Stack::start(Options {
        receiver_vars: vec![
            ("ADMIN_TOKEN", TOKEN.into()),
            ("REDRIVE_PAGE_SIZE", "200".into()),
        ],
        ..Options::default()
    })
    .await;
    // 150 dead letters, 60 of them 6 KB encoded (3 KB as stored): one
    // sendBatch would be refused for its count and for its encoded bytes.
    let key = "'BOOKING_CREATED:booking:bulk' || i";
    s.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) \
         INSERT INTO dead_letters (key, trigger, notification, reason, dead_lettered_at) \
         SELECT {key}, 'BOOKING_CREATED', {}, '400 from SendGrid', 1000 + i FROM n",
        notification_sql(key, 0).replace(
            "zeroblob(0)",
            "zeroblob(CASE WHEN i <= 60 THEN 1500 ELSE 1 END)"
        )
    ));
    let (status, answer) = s
        .admin(
            reqwest::Method::POST,
            "/admin/dead-letters/redrive",
            TOKEN,
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["count"], 150, "one call, the whole page");
    assert_eq!(answer["next"], Value::Null);
    assert!(s.sql("SELECT key FROM dead_letters").is_empty());
    let pending =
        s.sql("SELECT COUNT(*) AS n FROM deliveries WHERE state IN ('pending', 'sending', 'sent')");
    assert_eq!(pending[0]["n"], 150, "each re-opened once");
}

async fn outbox_stack() -> Stack {
    Stack::start(Options {
        receiver_vars: vec![
            ("ADMIN_TOKEN", TOKEN.into()),
            ("OUTBOX_PAGE_SIZE", "100".into()),
        ],
        ..Options::default()
    })
    .await
}

/// Puts `n` rows of `quotes` quotes each in the outbox, recorded long ago.
fn outbox_rows(s: &Stack, prefix: &str, n: u32, quotes: u32, created_at: i64) {
    let key = format!("'BOOKING_CREATED:booking:{prefix}' || i");
    s.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO outbox (key, trigger, notification, created_at, attempts) \
         SELECT {key}, 'BOOKING_CREATED', {}, {created_at} + i, 0 FROM n",
        notification_sql(&key, quotes)
    ));
}

async fn the_outbox_sizes_its_batches_on_the_encoded_bytes() {
    let s = outbox_stack().await;
    // 40 rows of 8 KB as stored, 16 KB encoded: 29 fit 240 KB counted on the
    // stored text, and those 29 are 470 KB on the queue: refused every minute.
    outbox_rows(&s, "wide", 40, 4000, 1000);
    s.tick().await;
    assert!(
        s.sql("SELECT key FROM outbox").is_empty(),
        "every row queued in one run"
    );
    assert!(s.sql("SELECT key FROM dead_letters").is_empty());
}

async fn an_outbox_row_too_large_for_the_queue_is_set_aside_and_the_rest_sent() {
    let s = outbox_stack().await;
    // The oldest row is 280 KB encoded: no queue message can carry it.
    outbox_rows(&s, "huge", 1, 70_000, 0);
    outbox_rows(&s, "after", 5, 10, 1000);
    s.tick().await;
    assert!(s.sql("SELECT key FROM outbox").is_empty(), "nothing stalls");
    let aside = s.sql("SELECT key, reason FROM dead_letters");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(aside[0]["key"], "BOOKING_CREATED:booking:huge1");
    assert!(
        aside[0]["reason"].as_str().unwrap().contains("too large"),
        "{aside:?}"
    );
    let (status, listed) = s
        .admin(reqwest::Method::GET, "/admin/dead-letters", TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["count"], 1, "reported where an operator looks");
}
