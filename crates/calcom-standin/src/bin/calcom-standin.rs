//! `calcom-standin [--port 8026] [--api-key KEY]`: run the stand-in on loopback.

use std::net::{Ipv4Addr, SocketAddr};

/// Serves a stand-in for Cal.com's API v2 (`GET /v2/bookings`) on 127.0.0.1.
#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value_t = 8026)]
    port: u16,
    /// The only key accepted (default: any `cal_…` key).
    #[arg(long)]
    api_key: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Args { port, api_key } = clap::Parser::parse();
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
