//! gatewayd on the simulated board: a virtual phone's hook gestures reach the gateway's
//! media loop classified by their timing, the web status shows them, and Ctrl-C stops cleanly.

use std::time::Duration;

use board::simphone::{PhoneConfig, SimPhone};
use e2e::{Gatewayd, wait_until};

fn events(gw: &Gatewayd) -> Vec<(u64, u8, String)> {
    let (code, body) = gw.http_get("/api/status").expect("status page");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["at_ms"].as_u64().unwrap_or_default(),
                e["port"].as_u64().unwrap_or_default() as u8,
                e["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn hook_gestures_reach_the_gateway_classified() {
    let mut gw = Gatewayd::start("hook-gestures", &["fxs", "fxs", "fxo"], "");
    gw.login();
    let fxs1 = gw
        .ports
        .iter()
        .filter(|(k, _)| k == "fxs")
        .nth(1)
        .expect("second FXS port")
        .1;
    let phone = SimPhone::connect(fxs1, PhoneConfig::default()).expect("attach phone");

    phone.off_hook();
    phone.pause(Duration::from_millis(500)).expect("pause");
    phone.dial_pulse("42", 10).expect("pulse at 10 pps");
    phone.dial_pulse("7", 20).expect("pulse at 20 pps");
    phone.flash_for(Duration::from_millis(400)).expect("flash");
    phone.pause(Duration::from_millis(500)).expect("pause");
    phone.on_hook();
    phone.pause(Duration::from_millis(1200)).expect("pause");

    let want = [
        "off-hook",
        "pulse digit 4",
        "pulse digit 2",
        "pulse digit 7",
        "hook flash (400 ms)",
        "on-hook",
    ];
    let got = wait_until(Duration::from_secs(5), || {
        let ev: Vec<String> = events(&gw)
            .into_iter()
            .filter(|e| e.1 == 1)
            .map(|e| e.2)
            .collect();
        (ev.len() >= want.len()).then_some(ev)
    })
    .unwrap_or_else(|| panic!("events: {:?}\n{}", events(&gw), gw.output.join("\n")));
    assert_eq!(got, want);
    assert!(events(&gw).iter().all(|e| e.1 == 1), "no events on other ports");
    assert!(gw.stop(), "gatewayd must exit cleanly on SIGINT");
}

#[test]
fn status_page_is_served() {
    let mut gw = Gatewayd::start("status-page", &["fxs", "fxo"], "");
    gw.login();
    let (code, body) = gw.http_get("/").expect("index");
    assert_eq!(code, 200);
    assert!(body.contains("gatewayd"));
    let (code, body) = gw.http_get("/api/status").expect("status");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["ports"].as_array().map(Vec::len), Some(2));
    assert!(v["media_ticks"].as_u64().unwrap_or(0) > 0);
    assert!(gw.stop());
}
