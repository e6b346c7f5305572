//! HTTP server for the page and the JSON API.
//!
//! Public: the page itself (`/`, `/app.js`, `/style.css`: no secrets in them), `GET /api/session`,
//! `POST /api/setup` (only while no password is set) and `POST /api/login` (rate limited per
//! client address). Everything else needs the session cookie, and every request that changes
//! something also needs the session's CSRF token in `X-CSRF-Token`. Every response carries the
//! security headers; API responses are `no-store`.

// Handlers return early with a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::auth::{self, Auth, RateCheck};
use super::logring;
use super::status::Status;
use crate::config::store::ConfigStore;
use crate::config::{self, Config, ConfigError, ConfigErrors};

/// What the administrator asked the process to do with itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    /// Stop cleanly and start again (re-executing the same binary with the same arguments).
    Restart,
    /// Reboot the board (on the simulated board: the same as a restart).
    Reboot,
}

/// Restart/reboot requests from the page to `main`.
#[derive(Debug, Default)]
pub struct PowerControl {
    requested: Mutex<Option<PowerAction>>,
    notify: Notify,
}

impl PowerControl {
    pub fn request(&self, a: PowerAction) {
        if let Ok(mut r) = self.requested.lock() {
            *r = Some(a);
        }
        self.notify.notify_one();
    }

    /// Resolves when a restart or reboot is requested.
    pub async fn requested(&self) -> PowerAction {
        loop {
            if let Some(a) = self.take() {
                return a;
            }
            self.notify.notified().await;
        }
    }

    /// The pending request, if any.
    pub fn take(&self) -> Option<PowerAction> {
        self.requested.lock().ok().and_then(|r| *r)
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub status: Arc<Mutex<Status>>,
    /// The live configuration: call control and registration `subscribe()` to it and act on
    /// each change (accounts re-register, port settings apply from the next call).
    pub config: watch::Sender<Arc<Config>>,
    /// Where saves go; `None` keeps changes in memory only.
    pub store: Option<ConfigStore>,
    pub auth: Arc<Mutex<Auth>>,
    pub power: Arc<PowerControl>,
    /// Serialises saves so two browser tabs cannot interleave.
    save_lock: Arc<tokio::sync::Mutex<()>>,
}

impl WebState {
    pub fn new(
        status: Arc<Mutex<Status>>,
        config: watch::Sender<Arc<Config>>,
        store: Option<ConfigStore>,
    ) -> WebState {
        {
            let cfg = config.borrow();
            logring::configure(cfg.log.ring_lines as usize, cfg.log.level);
            logring::set_sip_trace(cfg.log.sip_trace);
            if let Ok(mut st) = status.lock() {
                st.apply_config(&cfg);
            }
        }
        WebState {
            status,
            config,
            store,
            auth: Arc::new(Mutex::new(Auth::default())),
            power: Arc::new(PowerControl::default()),
            save_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn current(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Saves `cfg` (atomically, keeping `.prev`) and publishes it to the subscribers.
    async fn apply(&self, cfg: Config) -> Result<(), Response> {
        let _g = self.save_lock.lock().await;
        if let Some(store) = self.store.clone() {
            let c = cfg.clone();
            let saved = tokio::task::spawn_blocking(move || store.save(&c)).await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    logring::log(config::LogLevel::Error, format!("configuration not saved: {e}"));
                    return Err(api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()));
                }
                Err(_) => return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            }
        }
        logring::configure(cfg.log.ring_lines as usize, cfg.log.level);
        logring::set_sip_trace(cfg.log.sip_trace);
        if let Ok(mut st) = self.status.lock() {
            st.apply_config(&cfg);
        }
        self.config.send_replace(Arc::new(cfg));
        Ok(())
    }
}

pub fn router(state: WebState) -> Router {
    let api = Router::new()
        .route("/api/status", get(api_status))
        .route("/api/config", get(get_config).put(put_config))
        .route("/api/config/validate", post(validate_config))
        .route("/api/config.toml", get(export_toml).post(import_toml))
        .route("/api/logs", get(get_logs))
        .route("/api/password", post(change_password))
        .route("/api/logout", post(logout))
        .route("/api/power", post(power))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_session));
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/api/session", get(session_info))
        .route("/api/setup", post(setup))
        .route("/api/login", post(login))
        .merge(api)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    resp
}

fn api_error(code: StatusCode, msg: &str) -> Response {
    (code, axum::Json(json!({ "error": msg }))).into_response()
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == auth::COOKIE)
        .map(|(_, v)| v.to_string())
}

fn idle_limit(cfg: &Config) -> Duration {
    Duration::from_secs(u64::from(cfg.security.session_idle_min) * 60)
}

/// Gate of every private route: a live session, and for changes its CSRF token.
async fn require_session(State(s): State<WebState>, req: Request, next: Next) -> Response {
    let idle = idle_limit(&s.current());
    let Some(token) = session_cookie(req.headers()) else {
        return api_error(StatusCode::UNAUTHORIZED, "log in first");
    };
    let csrf = s
        .auth
        .lock()
        .ok()
        .and_then(|mut a| a.touch(&token, idle, Instant::now()));
    let Some(csrf) = csrf else {
        return api_error(StatusCode::UNAUTHORIZED, "session expired; log in again");
    };
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if !safe {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth::ct_eq(sent, &csrf) {
            return api_error(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        }
    }
    next.run(req).await
}

fn cookie_header(cfg: &Config, token: &str, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", auth::COOKIE);
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if cfg.security.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("static/index.html"),
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/app.js"),
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/style.css"),
    )
        .into_response()
}

async fn session_info(State(s): State<WebState>, headers: HeaderMap) -> Response {
    let cfg = s.current();
    let setup = cfg.security.admin_password_hash.is_empty();
    let csrf = session_cookie(&headers).and_then(|t| {
        s.auth
            .lock()
            .ok()
            .and_then(|mut a| a.touch(&t, idle_limit(&cfg), Instant::now()))
    });
    axum::Json(json!({
        "setup_needed": setup,
        "authenticated": csrf.is_some(),
        "csrf": csrf,
        "min_password_len": auth::MIN_PASSWORD_LEN,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct PasswordBody {
    password: String,
}

fn rate_check(s: &WebState, peer: SocketAddr) -> Result<(), Response> {
    let per_min = s.current().security.login_attempts_per_min;
    let r = s
        .auth
        .lock()
        .map(|mut a| a.check_rate(peer.ip(), per_min, Instant::now()))
        .unwrap_or(RateCheck::Allowed);
    match r {
        RateCheck::Allowed => Ok(()),
        RateCheck::Limited(wait) => {
            logring::warn(format!("web: login attempts from {} rate limited", peer.ip()));
            let secs = wait.as_secs().max(1);
            let mut resp = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many attempts; try again in {secs} s"),
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Err(resp)
        }
    }
}

fn logged_in(s: &WebState, cfg: &Config) -> Response {
    let (token, csrf) = match s.auth.lock() {
        Ok(mut a) => a.open(Instant::now()),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut resp = axum::Json(json!({ "csrf": csrf })).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie_header(cfg, &token, None));
    resp
}

async fn hash_blocking(pw: String) -> Result<String, Response> {
    match tokio::task::spawn_blocking(move || auth::hash_password(&pw)).await {
        Ok(Ok(h)) => Ok(h),
        _ => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot hash the password",
        )),
    }
}

async fn verify_blocking(pw: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || auth::verify_password(&pw, &phc))
        .await
        .unwrap_or(false)
}

fn password_problem(pw: &str) -> Option<String> {
    if pw.chars().count() < auth::MIN_PASSWORD_LEN {
        Some(format!("must be at least {} characters", auth::MIN_PASSWORD_LEN))
    } else {
        None
    }
}

/// First visit: sets the administrator password, only while none is set.
async fn setup(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Json(body): axum::Json<PasswordBody>,
) -> Response {
    if let Err(r) = rate_check(&s, peer) {
        return r;
    }
    if !s.current().security.admin_password_hash.is_empty() {
        return api_error(StatusCode::CONFLICT, "the password is already set; log in");
    }
    if let Some(p) = password_problem(&body.password) {
        return field_errors(&[ConfigError {
            path: "password".into(),
            line: None,
            message: p,
        }]);
    }
    let hash = match hash_blocking(body.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let mut cfg = (*s.current()).clone();
    // A concurrent setup may have won while hashing.
    if !cfg.security.admin_password_hash.is_empty() {
        return api_error(StatusCode::CONFLICT, "the password is already set; log in");
    }
    cfg.security.admin_password_hash = hash;
    if let Err(r) = s.apply(cfg.clone()).await {
        return r;
    }
    logring::info(format!("web: administrator password set from {}", peer.ip()));
    logged_in(&s, &cfg)
}

async fn login(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Json(body): axum::Json<PasswordBody>,
) -> Response {
    if let Err(r) = rate_check(&s, peer) {
        return r;
    }
    let cfg = s.current();
    if cfg.security.admin_password_hash.is_empty() {
        return api_error(StatusCode::CONFLICT, "no password is set yet; set one first");
    }
    if !verify_blocking(body.password, cfg.security.admin_password_hash.clone()).await {
        logring::warn(format!("web: failed login from {}", peer.ip()));
        return api_error(StatusCode::UNAUTHORIZED, "wrong password");
    }
    logring::info(format!("web: login from {}", peer.ip()));
    logged_in(&s, &cfg)
}

async fn logout(State(s): State<WebState>, headers: HeaderMap) -> Response {
    if let (Some(t), Ok(mut a)) = (session_cookie(&headers), s.auth.lock()) {
        a.close(&t);
    }
    let mut resp = axum::Json(json!({})).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&s.current(), "", Some(0)));
    resp
}

#[derive(Deserialize)]
struct ChangePassword {
    current: String,
    new: String,
}

async fn change_password(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Json(body): axum::Json<ChangePassword>,
) -> Response {
    if let Err(r) = rate_check(&s, peer) {
        return r;
    }
    let cfg = s.current();
    if !verify_blocking(body.current, cfg.security.admin_password_hash.clone()).await {
        return field_errors(&[ConfigError {
            path: "current".into(),
            line: None,
            message: "is not the current password".into(),
        }]);
    }
    if let Some(p) = password_problem(&body.new) {
        return field_errors(&[ConfigError {
            path: "new".into(),
            line: None,
            message: p,
        }]);
    }
    let hash = match hash_blocking(body.new).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let mut next = (*s.current()).clone();
    next.security.admin_password_hash = hash;
    if let Err(r) = s.apply(next.clone()).await {
        return r;
    }
    if let Ok(mut a) = s.auth.lock() {
        a.close_all();
    }
    logring::info("web: administrator password changed; sessions closed");
    logged_in(&s, &next)
}

async fn api_status(State(s): State<WebState>) -> Response {
    match s.status.lock() {
        Ok(st) => axum::Json(st.clone()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The configuration as JSON, without the administrator password hash.
async fn get_config(State(s): State<WebState>) -> Response {
    let mut cfg = (*s.current()).clone();
    cfg.security.admin_password_hash.clear();
    axum::Json(cfg).into_response()
}

/// 422 with `{"errors":[{"path","message","line"}]}`: the page shows each next to its field.
fn field_errors(errs: &[ConfigError]) -> Response {
    let list: Vec<_> = errs
        .iter()
        .map(|e| json!({ "path": e.path, "message": e.message, "line": e.line }))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({ "errors": list })),
    )
        .into_response()
}

/// Parses a JSON configuration with the same key paths and checks as a TOML file.
pub fn config_from_json(body: &[u8]) -> Result<Config, ConfigErrors> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let cfg: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        ConfigErrors(vec![ConfigError {
            path: if path == "." { String::new() } else { path },
            line: None,
            // The position ("at line 1 column 1515") means nothing to a form; the path does.
            message: {
                let m = e.into_inner().to_string();
                match m.rfind(" at line ") {
                    Some(i) => m[..i].to_string(),
                    None => m,
                }
            },
        }])
    })?;
    config::validate::validate(&cfg)?;
    Ok(cfg)
}

/// Keeps the administrator password: it changes only through `/api/password`.
fn keep_password(mut cfg: Config, current: &Config) -> Config {
    cfg.security
        .admin_password_hash
        .clone_from(&current.security.admin_password_hash);
    cfg
}

async fn validate_config(State(s): State<WebState>, body: Bytes) -> Response {
    let cur = s.current();
    match config_from_json(&body) {
        Ok(cfg) => {
            let cfg = keep_password(cfg, &cur);
            axum::Json(json!({ "ok": true, "changed": cfg != *cur })).into_response()
        }
        Err(e) => field_errors(&e.0),
    }
}

async fn put_config(State(s): State<WebState>, body: Bytes) -> Response {
    let cur = s.current();
    let cfg = match config_from_json(&body) {
        Ok(c) => keep_password(c, &cur),
        Err(e) => return field_errors(&e.0),
    };
    if cfg == *cur {
        return axum::Json(json!({ "ok": true, "changed": false })).into_response();
    }
    if let Err(r) = s.apply(cfg).await {
        return r;
    }
    logring::info("web: configuration changed");
    axum::Json(json!({ "ok": true, "changed": true })).into_response()
}

async fn export_toml(State(s): State<WebState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/toml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gateway.toml\"",
            ),
        ],
        config::emit(&s.current()),
    )
        .into_response()
}

/// Imports a TOML configuration; an import without a password hash keeps the current one.
async fn import_toml(State(s): State<WebState>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return api_error(StatusCode::UNPROCESSABLE_ENTITY, "the file is not UTF-8 text");
    };
    let cur = s.current();
    let mut cfg = match config::parse(text) {
        Ok(c) => c,
        Err(e) => return field_errors(&e.0),
    };
    if cfg.security.admin_password_hash.is_empty() {
        cfg = keep_password(cfg, &cur);
    }
    if let Err(r) = s.apply(cfg).await {
        return r;
    }
    logring::info("web: configuration imported");
    axum::Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    after: u64,
}

async fn get_logs(Query(q): Query<LogQuery>) -> Response {
    axum::Json(logring::since(q.after)).into_response()
}

#[derive(Deserialize)]
struct PowerBody {
    action: PowerAction,
}

async fn power(State(s): State<WebState>, axum::Json(b): axum::Json<PowerBody>) -> Response {
    logring::warn(format!("web: {:?} requested", b.action).to_lowercase());
    s.power.request(b.action);
    axum::Json(json!({ "ok": true })).into_response()
}

/// Binds the web page on `addr` (the configured interface only, never the wildcard by default).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}

/// Replaces this process with a fresh start of the same binary and arguments (the restart
/// button). Returns only if that fails.
pub fn reexec() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let exe = std::env::current_exe()
        .ok()
        .or_else(|| args.next().map(Into::into));
    let Some(exe) = exe else {
        return std::io::Error::other("cannot find the executable");
    };
    let rest: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::Command::new(exe).args(rest).exec()
}
