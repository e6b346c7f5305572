//! The web page in headless Chromium (Debian `chromium` driven by `playwright-core` from npm):
//! first-visit password, login, account credentials, a port's country, an invalid value and its
//! message, screenshots of every page under target/screenshots/.

use std::process::Command;
use std::time::Duration;

use e2e::{Gatewayd, workspace_root};

fn tool_missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing (scripts/deps.sh test installs it)");
    }
    eprintln!("skipping: {what} is missing");
}

#[test]
fn browser_drives_setup_settings_and_validation() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return tool_missing("/usr/bin/chromium");
    }
    let dir = workspace_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return tool_missing("npm install of playwright-core");
        }
    }
    let mut gw = Gatewayd::start(
        "web-browser",
        &["fxs", "fxs", "fxo"],
        "[[port]]\nid = 0\n\n[[port]]\nid = 1\n\n[[port]]\nid = 2\nkind = \"fxo\"\n",
    );
    let shots = workspace_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let profile = gw.dir.join("chromium-profile");
    let out = Command::new("node")
        .arg(dir.join("web.mjs"))
        .arg(format!("http://{}/", gw.web))
        .arg(&shots)
        .arg(&profile)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("step: done"),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    // What the browser did reached the stored configuration.
    let stored = std::fs::read_to_string(gw.dir.join("gateway.toml")).expect("config");
    assert!(stored.contains("auth_user = \"1001a\""), "{stored}");
    assert!(stored.contains("password = \"sip-secret-2\""));
    assert!(stored.contains("country = \"DE\""));
    assert!(stored.contains("$argon2id$"));
    assert!(
        gw.wait_output("web: configuration changed", Duration::from_secs(5))
            .is_some()
    );
}
