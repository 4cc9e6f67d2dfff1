//! `calcom-standin [--port 8026] [--api-key KEY]`: run the stand-in on loopback.

use std::net::{Ipv4Addr, SocketAddr};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut port = 8026u16;
    let mut api_key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--api-key" => api_key = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if let Some(key) = api_key.as_deref().filter(|k| !k.starts_with("cal_")) {
        eprintln!(
            "calcom-standin: warning: Cal.com API keys start with cal_; {key:?} is accepted here, \
             but Cal.com would take it for an access token and answer 403"
        );
    }
    let standin = calcom_standin::StandIn::new(api_key);
    let (addr, task) = standin
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .unwrap_or_else(|e| {
            eprintln!("calcom-standin: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
    eprintln!("calcom-standin: listening on http://{addr} (bookings at http://{addr}/)");
    let _ = task.await;
}

fn usage() -> ! {
    eprintln!("usage: calcom-standin [--port 8026] [--api-key KEY]");
    std::process::exit(2);
}
