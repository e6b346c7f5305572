//! The web page's security rules against a running gatewayd: nothing without login, first-visit
//! password setup, cookie flags, CSRF on every change, login rate limiting, security headers,
//! per-field validation errors, and `--check-config`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use e2e::{Gatewayd, bin};

struct Resp {
    code: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn req(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    s.write_all(r.as_bytes()).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies are small and sent with Content-Length; a chunked one is de-chunked crudely.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    Resp {
        code,
        head: head.to_string(),
        body,
    }
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Sets the first password; returns (cookie header value, csrf token).
fn setup(web: SocketAddr, pw: &str) -> (String, String) {
    let r = req(
        web,
        "POST",
        "/api/setup",
        &[JSON],
        &format!("{{\"password\":\"{pw}\"}}"),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    let cookie = r.header("set-cookie").expect("session cookie");
    let token = cookie.split(';').next().unwrap_or_default().to_string();
    (token, json(&r)["csrf"].as_str().unwrap_or_default().to_string())
}

#[test]
fn private_routes_need_a_session_and_changes_need_the_csrf_token() {
    let gw = Gatewayd::start(
        "web-sec",
        &["fxs", "fxs"],
        "[security]\nlogin_attempts_per_min = 9\n\n[[port]]\nid = 0\n\n[[port]]\nid = 1\n",
    );
    let web = gw.web;

    // Nothing private before a password exists, and no default password works.
    for path in ["/api/status", "/api/config", "/api/logs", "/api/config.toml"] {
        let r = req(web, "GET", path, &[], "");
        assert_eq!(r.code, 401, "{path}: {}", r.body);
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "{path}");
    }
    let s = json(&req(web, "GET", "/api/session", &[], ""));
    assert_eq!(s["setup_needed"], true);
    assert_eq!(s["authenticated"], false);
    for pw in ["admin", "password", ""] {
        let r = req(
            web,
            "POST",
            "/api/login",
            &[JSON],
            &format!("{{\"password\":\"{pw}\"}}"),
        );
        assert_eq!(r.code, 409, "login before setup must fail: {}", r.body);
    }

    // The page and its headers.
    let page = req(web, "GET", "/", &[], "");
    assert_eq!(page.code, 200);
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(page.header("x-content-type-options").as_deref(), Some("nosniff"));

    // First visit: too short a password is a field error; a good one logs in.
    let r = req(web, "POST", "/api/setup", &[JSON], "{\"password\":\"short\"}");
    assert_eq!(r.code, 422);
    assert_eq!(json(&r)["errors"][0]["path"], "password");
    let (cookie, csrf) = setup(web, "s3cret-pass");
    let set_cookie_flags = {
        let r = req(
            web,
            "POST",
            "/api/login",
            &[JSON],
            "{\"password\":\"s3cret-pass\"}",
        );
        assert_eq!(r.code, 200, "{}", r.body);
        r.header("set-cookie").unwrap_or_default()
    };
    assert!(set_cookie_flags.contains("HttpOnly"), "{set_cookie_flags}");
    assert!(set_cookie_flags.contains("SameSite=Strict"), "{set_cookie_flags}");
    // A second setup cannot replace the password.
    let r = req(
        web,
        "POST",
        "/api/setup",
        &[JSON],
        "{\"password\":\"takeover-pass\"}",
    );
    assert_eq!(r.code, 409);

    let auth = ("Cookie", cookie.as_str());
    let r = req(web, "GET", "/api/config", &[auth], "");
    assert_eq!(r.code, 200);
    let mut cfg = json(&r);
    assert_eq!(
        cfg["security"]["admin_password_hash"], "",
        "the hash is never sent out"
    );
    let r = req(web, "GET", "/api/status", &[auth], "");
    assert_eq!(r.code, 200);
    assert_eq!(json(&r)["ports"].as_array().map(Vec::len), Some(2));

    // The stored hash is argon2id PHC, never the password.
    let stored = std::fs::read_to_string(gw.dir.join("gateway.toml")).expect("config file");
    assert!(stored.contains("$argon2id$"), "{stored}");
    assert!(!stored.contains("s3cret-pass"));

    // Changes: no token, a wrong token and a forged cookie are all refused.
    cfg["port"][0]["country"] = "DE".into();
    let body = cfg.to_string();
    let r = req(web, "PUT", "/api/config", &[auth, JSON], &body);
    assert_eq!(r.code, 403, "{}", r.body);
    let r = req(
        web,
        "PUT",
        "/api/config",
        &[auth, JSON, ("X-CSRF-Token", "0000")],
        &body,
    );
    assert_eq!(r.code, 403);
    let forged = ("Cookie", "gw_session=00ff");
    let r = req(
        web,
        "PUT",
        "/api/config",
        &[forged, JSON, ("X-CSRF-Token", &csrf)],
        &body,
    );
    assert_eq!(r.code, 401);
    for path in ["/api/power", "/api/logout", "/api/config.toml", "/api/password"] {
        let r = req(web, "POST", path, &[auth, JSON], "{}");
        assert_eq!(r.code, 403, "{path} without CSRF token");
    }
    let status = json(&req(web, "GET", "/api/status", &[auth], ""));
    assert_eq!(
        status["ports"][0]["country"], "US",
        "refused changes changed nothing"
    );

    // With the token: applied live and saved.
    let with = [auth, JSON, ("X-CSRF-Token", csrf.as_str())];
    let r = req(web, "PUT", "/api/config", &with, &body);
    assert_eq!(r.code, 200, "{}", r.body);
    let status = json(&req(web, "GET", "/api/status", &[auth], ""));
    assert_eq!(status["ports"][0]["country"], "DE");
    let stored = std::fs::read_to_string(gw.dir.join("gateway.toml")).expect("config file");
    assert!(stored.contains("country = \"DE\""));
    assert!(stored.contains("$argon2id$"), "a PUT keeps the password");

    // Bad values come back per field, keyed by the model's paths.
    cfg["port"][1]["hook_flash_max_ms"] = 5000.into();
    cfg["port"][0]["ptime_ms"] = "twenty".into();
    let r = req(web, "PUT", "/api/config", &with, &cfg.to_string());
    assert_eq!(r.code, 422);
    assert_eq!(json(&r)["errors"][0]["path"], "port[0].ptime_ms");
    cfg["port"][0]["ptime_ms"] = 20.into();
    let r = req(web, "PUT", "/api/config", &with, &cfg.to_string());
    assert_eq!(r.code, 422);
    let e = json(&r);
    assert_eq!(e["errors"][0]["path"], "port[1].hook_flash_max_ms");
    assert!(e["errors"][0]["message"].as_str().unwrap_or("").contains("2000"));
    cfg["port"][1]["hook_flash_max_ms"] = 900.into();
    cfg["nat"]["typo"] = 1.into();
    let r = req(web, "PUT", "/api/config", &with, &cfg.to_string());
    assert_eq!(json(&r)["errors"][0]["path"], "nat.typo");

    // Import validates the whole file before anything changes.
    let r = req(
        web,
        "POST",
        "/api/config.toml",
        &[auth, ("X-CSRF-Token", &csrf)],
        "[[port]]\nid = 0\nptime_ms = 25\n",
    );
    assert_eq!(r.code, 422);
    assert_eq!(json(&r)["errors"][0]["path"], "port[0].ptime_ms");
    let export = req(web, "GET", "/api/config.toml", &[auth], "");
    assert!(
        export
            .header("content-disposition")
            .unwrap_or_default()
            .contains("gateway.toml")
    );
    assert!(export.body.contains("country = \"DE\""));

    // Login rate limit per client address: 9 attempts a minute. The logins before setup, the
    // setups, the login and the refused setup used seven; two more, then even the right password is refused.
    let mut codes = Vec::new();
    for pw in ["wrong1", "wrong2", "s3cret-pass", "s3cret-pass"] {
        let r = req(
            web,
            "POST",
            "/api/login",
            &[JSON],
            &format!("{{\"password\":\"{pw}\"}}"),
        );
        codes.push(r.code);
        if r.code == 429 {
            assert!(r.header("retry-after").is_some());
        }
    }
    assert_eq!(codes, [401, 401, 429, 429]);
    // The session still works: the limit is on logins, not on the logged-in administrator.
    assert_eq!(req(web, "GET", "/api/status", &[auth], "").code, 200);

    // Logout ends the session.
    let r = req(web, "POST", "/api/logout", &with, "{}");
    assert_eq!(r.code, 200);
    assert_eq!(req(web, "GET", "/api/status", &[auth], "").code, 401);
}

#[test]
fn check_config_prints_key_paths_and_fails() {
    let dir = e2e::scratch_dir("web-check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[network]\nsip_port = 5060\n\n[[port]]\nid = 0\nhook_flash_max_ms = 9000\n\n[[port]]\nid = 1\ncountri = \"DE\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(bin("gateway", "gatewayd"))
        .arg("--check-config")
        .arg(&bad)
        .output()
        .expect("run gatewayd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("port[1].countri (line 10): unknown field `countri`"),
        "{text}"
    );

    let semantic = dir.join("semantic.toml");
    std::fs::write(
        &semantic,
        "[[port]]\nid = 0\nhook_flash_max_ms = 9000\n\n[nat]\nstun_server = \"bad host\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(bin("gateway", "gatewayd"))
        .arg("--check-config")
        .arg(&semantic)
        .output()
        .expect("run gatewayd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("nat.stun_server: must be host or host:port"),
        "{text}"
    );
    assert!(
        text.contains("port[0].hook_flash_max_ms: must not exceed 2000 ms"),
        "{text}"
    );

    let good = dir.join("good.toml");
    std::fs::write(&good, "[[port]]\nid = 0\ncountry = \"DE\"\n").expect("write");
    let out = std::process::Command::new(bin("gateway", "gatewayd"))
        .arg("--check-config")
        .arg(&good)
        .output()
        .expect("run gatewayd");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
