//! The stand-in answers like SendGrid: the checks the mailer relies on.

use sendgrid_standin::{Fault, StandIn};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};

const KEY: &str = "SG.key";

async fn start(standin: &StandIn) -> String {
    let (addr, _task) = standin
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    format!("http://{addr}/v3/mail/send")
}

fn valid() -> Value {
    json!({
        "personalizations": [{"to": [{"email": "team@example.com"}]}],
        "from": {"email": "bookings@example.com", "name": "Bookings"},
        "subject": "New booking",
        "content": [{"type": "text/plain", "value": "hi"}, {"type": "text/html", "value": "<p>hi</p>"}],
        "custom_args": {"notification_key": "K"}
    })
}

async fn post(url: &str, auth: Option<&str>, body: &Value) -> (u16, Value, Option<String>) {
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let json = r.json().await.unwrap_or(Value::Null);
    (status, json, retry_after)
}

#[tokio::test]
async fn a_valid_message_is_accepted_with_202_and_recorded() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let (status, _, _) = post(&url, Some("Bearer SG.key"), &valid()).await;
    assert_eq!(status, 202);
    assert_eq!(s.accepted().len(), 1);
    assert_eq!(s.accepted()[0].custom_arg("notification_key"), Some("K"));
}

#[tokio::test]
async fn an_accepted_message_is_named_by_x_message_id_like_sendgrid_does() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let r = reqwest::Client::new()
        .post(&url)
        .header("Authorization", "Bearer SG.key")
        .json(&valid())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r
        .headers()
        .get("x-message-id")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(id.as_deref(), Some("standin-1"));
}

#[tokio::test]
async fn missing_or_wrong_bearer_key_is_401() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let (status, body, _) = post(&url, None, &valid()).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["message"], "authorization required");
    let (status, _, _) = post(&url, Some("Bearer SG.other"), &valid()).await;
    assert_eq!(status, 401);
    assert!(s.accepted().is_empty());
}

#[tokio::test]
async fn missing_required_fields_are_400_naming_the_field() {
    let s = StandIn::new(None);
    let url = start(&s).await;
    for (field, reported) in [
        ("personalizations", "personalizations"),
        ("from", "from.email"),
        ("subject", "subject"),
        ("content", "content"),
    ] {
        let mut body = valid();
        body.as_object_mut().unwrap().remove(field);
        let (status, answer, _) = post(&url, Some("Bearer any"), &body).await;
        assert_eq!(status, 400, "{field}");
        assert_eq!(answer["errors"][0]["field"], reported, "{field}");
    }
    assert!(s.accepted().is_empty());
}

#[tokio::test]
async fn html_before_plain_text_is_400() {
    let s = StandIn::new(None);
    let url = start(&s).await;
    let mut body = valid();
    body["content"] =
        json!([{"type": "text/html", "value": "<p>hi</p>"}, {"type": "text/plain", "value": "hi"}]);
    let (status, _, _) = post(&url, Some("Bearer any"), &body).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn scripted_faults_come_first_then_requests_succeed() {
    let s = StandIn::new(None);
    let url = start(&s).await;
    s.fail_next(Fault {
        status: 500,
        count: 2,
        retry_after: None,
        answer_after_ms: None,
    });
    s.fail_next(Fault {
        status: 429,
        count: 1,
        retry_after: Some(7),
        answer_after_ms: None,
    });
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, _, retry_after) = post(&url, Some("Bearer any"), &valid()).await;
        seen.push((status, retry_after));
    }
    assert_eq!(
        seen,
        vec![
            (500, None),
            (500, None),
            (429, Some("7".into())),
            (202, None)
        ]
    );
    assert_eq!(s.request_count(), 4);
    assert_eq!(s.accepted().len(), 1);
}

#[tokio::test]
async fn control_endpoint_adds_faults_and_page_lists_emails_escaped() {
    let s = StandIn::new(None);
    let url = start(&s).await;
    let base = url.trim_end_matches("/v3/mail/send").to_owned();
    let r = reqwest::Client::new()
        .post(format!("{base}/_standin/faults"))
        .json(&json!({"status": 400}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(post(&url, Some("Bearer any"), &valid()).await.0, 400);
    let mut body = valid();
    body["subject"] = json!("<script>x</script>");
    assert_eq!(post(&url, Some("Bearer any"), &body).await.0, 202);
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("1 email(s) captured"));
    assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!page.contains("<script>x"));
}

#[tokio::test]
async fn one_address_in_two_personalizations_is_refused_like_sendgrid_does() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let mut body = valid();
    body["personalizations"] = json!([
        {"to": [{"email": "team@example.com"}]},
        {"to": [{"email": "Team@Example.com"}]}
    ]);
    let (status, answer, _) = post(&url, Some("Bearer SG.key"), &body).await;
    assert_eq!(status, 400);
    assert_eq!(answer["errors"][0]["field"], "personalizations");
    assert!(s.accepted().is_empty());
}

#[tokio::test]
async fn an_invalid_reply_to_is_refused() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let mut body = valid();
    body["reply_to"] = json!({"email": "Email-less", "name": "Nameless"});
    let (status, answer, _) = post(&url, Some("Bearer SG.key"), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["errors"][0]["message"],
        "The reply_to email does not contain a valid address."
    );
}

#[tokio::test]
async fn an_address_with_bad_syntax_is_refused() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    let mut body = valid();
    body["personalizations"][0]["to"][0]["email"] = json!("two words@example.com");
    let (status, _, _) = post(&url, Some("Bearer SG.key"), &body).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_recipient_name_with_a_comma_or_semicolon_is_refused_not_silently_dropped() {
    let s = StandIn::new(Some(KEY.into()));
    let url = start(&s).await;
    for name in ["Smith, John", "Smith; John"] {
        let mut body = valid();
        body["personalizations"][0]["to"][0]["name"] = json!(name);
        let (status, answer, _) = post(&url, Some("Bearer SG.key"), &body).await;
        assert_eq!(status, 400, "{name}");
        assert_eq!(answer["errors"][0]["field"], "personalizations");
    }
    let mut body = valid();
    body["personalizations"][0]["to"][0]["name"] = json!("Smith John");
    assert_eq!(post(&url, Some("Bearer SG.key"), &body).await.0, 202);
    assert_eq!(s.accepted().len(), 1);
}
