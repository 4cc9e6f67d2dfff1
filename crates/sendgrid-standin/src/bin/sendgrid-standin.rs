//! `sendgrid-standin [--port 8025] [--api-key KEY]`: run the stand-in on loopback.

use std::net::{Ipv4Addr, SocketAddr};

/// Serves a stand-in for SendGrid's v3 mail API on 127.0.0.1.
#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value_t = 8025)]
    port: u16,
    /// The only key accepted (default: any).
    #[arg(long)]
    api_key: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Args { port, api_key } = clap::Parser::parse();
    let standin = sendgrid_standin::StandIn::new(api_key);
    let (addr, task) = standin
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .unwrap_or_else(|e| {
            eprintln!("sendgrid-standin: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
    eprintln!("sendgrid-standin: listening on http://{addr} (captured emails at http://{addr}/)");
    let _ = task.await;
}
