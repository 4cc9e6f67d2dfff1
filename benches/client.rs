//! The benchmarks' load client: POSTs signed bodies, `c` in flight, and labels
//! each answer `"<status> <body status>"` (e.g. `200 queued`, `401`).

use futures_util::StreamExt;
use std::time::{Duration, Instant};

pub async fn post_all(
    url: &str,
    bodies: Vec<(Vec<u8>, String)>,
    c: usize,
) -> Vec<(Duration, String)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .build()
        .unwrap();
    futures_util::stream::iter(bodies)
        .map(|(body, sig)| {
            let client = client.clone();
            let url = url.to_owned();
            async move {
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-Cal-Signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                let label = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        match v["status"].as_str() {
                            Some(s) => format!("{status} {s}"),
                            None => status.to_string(),
                        }
                    }
                    Err(e) => format!("error {e}"),
                };
                (t.elapsed(), label)
            }
        })
        .buffer_unordered(c)
        .collect()
        .await
}
