//! gatewayd registers its account with Kamailio on loopback (digest authentication), shows the
//! registration on the status page, follows a credentials change made through the JSON API
//! without a restart (the old binding removed, the new one registered), and unregisters when
//! stopped. When CI is set and Kamailio is missing the test fails; otherwise it is skipped with
//! a message.

use std::net::SocketAddr;
use std::time::Duration;

use e2e::kamailio::{Registrar, free_udp_port, tool};
use e2e::{Gatewayd, http_raw, http_request, scratch_dir};

fn config(sip_port: u16, registrar: &str, password: &str) -> String {
    format!(
        "[network]\ninterface = \"127.0.0.1\"\nsip_port = {sip_port}\nt1_ms = 100\n\
         [[account]]\nname = \"main\"\nuser = \"1001\"\ndomain = \"127.0.0.1\"\n\
         outbound_proxy = \"{registrar}\"\npassword = \"{password}\"\nexpires_s = 60\n\
         [[port]]\nid = 0\nkind = \"fxs\"\naccount = \"main\"\n"
    )
}

/// The JSON object of a response body (chunked or not, it spans the first '{' to the last '}').
fn json_of(body: &str) -> serde_json::Value {
    let body = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The status page's entry for account "main", read through the logged-in web API.
fn account_status(gw: &mut Gatewayd) -> serde_json::Value {
    gw.login();
    let (code, body) = gw.http_get("/api/status").expect("status API");
    assert_eq!(code, 200, "{body}");
    let v = json_of(&body);
    v["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "main").cloned())
        .unwrap_or_else(|| panic!("no account entry in {v}"))
}

/// A session of the JSON API for changes: (cookie, CSRF token), from the first-visit setup.
fn api_session(web: SocketAddr) -> (String, String) {
    let body = r#"{"password":"register-admin-pass"}"#;
    let raw = http_raw(
        web,
        &format!(
            "POST /api/setup HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .expect("setup");
    let cookie = raw
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("no cookie: {raw}"));
    let csrf = json_of(raw.split_once("\r\n\r\n").map_or("", |(_, b)| b))["csrf"]
        .as_str()
        .expect("csrf token")
        .to_string();
    (cookie, csrf)
}

fn api(web: SocketAddr, session: &(String, String), method: &str, path: &str, body: &str) -> (u16, String) {
    http_request(
        web,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\nCookie: {}\r\n\
             X-CSRF-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            session.0,
            session.1,
            body.len()
        ),
    )
    .expect("API request")
}

/// Account "main" of the status API, read with an API session.
fn account_entry(web: SocketAddr, session: &(String, String)) -> serde_json::Value {
    let (code, body) = api(web, session, "GET", "/api/status", "");
    assert_eq!(code, 200, "{body}");
    let v = json_of(&body);
    v["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "main").cloned())
        .unwrap_or_else(|| panic!("no account entry in {v}"))
}

#[test]
fn gatewayd_registers_with_kamailio_and_unregisters() {
    if !tool("kamailio") {
        return;
    }
    let kam = Registrar::start(&scratch_dir("sip-register-kamailio"));
    let mut gw = Gatewayd::start(
        "sip-register",
        &["fxs"],
        &config(free_udp_port(), &kam.addr(), "secret"),
    );
    gw.wait_output("account main registered", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no registration:\n{}", gw.output.join("\n")));
    let a = account_status(&mut gw);
    assert_eq!(a["state"], "registered", "{a}");
    assert!(
        a["detail"].as_str().unwrap_or("").contains("expires in 60 s"),
        "{a}"
    );
    assert!(kam.wait_registration("1001", false, 0, Duration::from_secs(2)));
    assert!(gw.stop(), "gatewayd did not stop cleanly");
    assert!(
        gw.wait_output("account main unregistered", Duration::from_secs(2))
            .is_some(),
        "{}",
        gw.output.join("\n")
    );
    assert!(kam.wait_registration("1001", true, 0, Duration::from_secs(2)));
}

#[test]
fn wrong_password_is_reported() {
    if !tool("kamailio") {
        return;
    }
    let kam = Registrar::start(&scratch_dir("sip-register-bad-kamailio"));
    let mut gw = Gatewayd::start(
        "sip-register-bad",
        &["fxs"],
        &config(free_udp_port(), &kam.addr(), "wrong"),
    );
    let line = gw
        .wait_output("account main registration failed", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no failure:\n{}", gw.output.join("\n")));
    assert!(line.contains("credentials rejected"), "{line}");
    let a = account_status(&mut gw);
    assert_eq!(a["state"], "failed", "{a}");
    assert!(kam.registrations().is_empty());
    assert!(gw.stop());
}

#[test]
fn credentials_changed_through_the_api_apply_without_restart() {
    if !tool("kamailio") {
        return;
    }
    let kam = Registrar::start(&scratch_dir("sip-register-live-kamailio"));
    let mut gw = Gatewayd::start(
        "sip-register-live",
        &["fxs"],
        &config(free_udp_port(), &kam.addr(), "wrong"),
    );
    gw.wait_output("account main registration failed", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no failure:\n{}", gw.output.join("\n")));
    let session = api_session(gw.web);
    let (code, body) = api(gw.web, &session, "GET", "/api/config", "");
    assert_eq!(code, 200, "{body}");
    let mut cfg = json_of(&body);

    // No SIP trace unless asked for.
    assert!(
        !gw.output.iter().any(|l| l.starts_with("SIP sent to")),
        "{}",
        gw.output.join("\n")
    );

    // The right password: registers now, not at the next retry (tens of seconds away). The
    // SIP trace, switched on in the same change, shows the exchange.
    cfg["account"][0]["password"] = "secret".into();
    cfg["log"]["sip_trace"] = true.into();
    let (code, body) = api(gw.web, &session, "PUT", "/api/config", &cfg.to_string());
    assert_eq!(code, 200, "{body}");
    gw.wait_output("account main registered", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no registration after the change:\n{}", gw.output.join("\n")));
    assert!(kam.wait_registration("1001", false, 0, Duration::from_secs(2)));
    let sent = format!("SIP sent to UDP:{}", kam.addr());
    let received = format!("SIP received from UDP:{}", kam.addr());
    for needle in [
        &sent,
        &received,
        "REGISTER sip:",
        "SIP/2.0 401 ",
        "SIP/2.0 200 OK",
    ] {
        // The trace goes to stderr; the account lines may come first on the other stream.
        assert!(
            gw.wait_output(needle, Duration::from_secs(5)).is_some(),
            "no {needle:?} in the trace:\n{}",
            gw.output.join("\n")
        );
    }
    let (code, body) = api(gw.web, &session, "GET", "/api/logs?after=0", "");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&sent) && body.contains("REGISTER sip:"), "{body}");

    // Another subscriber: the old binding goes, the new one comes, on the same account.
    let before = kam.registrations().len();
    cfg["account"][0]["user"] = "1002".into();
    cfg["account"][0]["password"] = "secret-1002".into();
    let (code, body) = api(gw.web, &session, "PUT", "/api/config", &cfg.to_string());
    assert_eq!(code, 200, "{body}");
    assert!(
        kam.wait_registration("1002", false, before, Duration::from_secs(5)),
        "1002 not registered: {:?}\n{}",
        kam.registrations(),
        gw.output.join("\n")
    );
    let regs: Vec<(String, u32)> = kam.registrations().split_off(before);
    assert_eq!(regs.first(), Some(&("1001".to_string(), 0)), "{regs:?}");
    let a = account_entry(gw.web, &session);
    assert_eq!(a["state"], "registered", "{a}");
    assert!(a["detail"].as_str().unwrap_or("").contains("1002@"), "{a}");

    // Disabled: unregisters and shows as disabled.
    let before = kam.registrations().len();
    cfg["account"][0]["enabled"] = false.into();
    let (code, body) = api(gw.web, &session, "PUT", "/api/config", &cfg.to_string());
    assert_eq!(code, 200, "{body}");
    assert!(kam.wait_registration("1002", true, before, Duration::from_secs(5)));
    let a = account_entry(gw.web, &session);
    assert_eq!(a["state"], "disabled", "{a}");
    assert!(gw.stop());
}
