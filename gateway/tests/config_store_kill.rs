//! Atomic saves under SIGKILL: a child process saves two configurations alternately in a loop and
//! is killed at pseudo-random instants (fixed seed); after every kill the file, and its `.prev`,
//! must be one of the two complete, valid configurations.
//!
//! The child is this same test binary re-run with `GW_SAVE_LOOP` naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway::config::store::ConfigStore;
use gateway::config::{Account, Config};
use rand::{Rng, SeedableRng};

const ENV: &str = "GW_SAVE_LOOP";

/// Two configurations that differ throughout (so a torn mix of them cannot parse as either).
fn variants() -> [Config; 2] {
    let mut a = Config::default_for_sim();
    let mut b = Config::default_for_sim();
    for i in 0..40 {
        a.accounts.push(Account {
            name: format!("a{i}"),
            user: format!("{}", 1000 + i),
            domain: "one.example.net".into(),
            ..Account::default()
        });
        b.accounts.push(Account {
            name: format!("b{i}"),
            user: format!("{}", 2000 + i),
            domain: "two.example.org".into(),
            expires_s: 600,
            ..Account::default()
        });
    }
    for p in &mut b.ports {
        p.country = "DE".into();
    }
    [a, b]
}

/// The child: saves the variants alternately until killed.
#[test]
fn save_loop_child() {
    let Some(path) = std::env::var_os(ENV) else { return };
    let store = ConfigStore::new(PathBuf::from(path));
    let v = variants();
    let mut i = 1usize;
    loop {
        if let Err(e) = store.save(&v[i % 2]) {
            panic!("save failed: {e}");
        }
        i += 1;
    }
}

fn check(path: &Path, v: &[Config; 2], what: &str) -> usize {
    let store = ConfigStore::new(path);
    match store.load() {
        Ok(Some(c)) => v
            .iter()
            .position(|x| *x == c)
            .unwrap_or_else(|| panic!("{what}: a valid configuration that is neither variant")),
        Ok(None) => panic!("{what}: missing"),
        Err(e) => panic!("{what}: torn or invalid: {e}"),
    }
}

#[test]
fn saves_killed_at_random_points_leave_old_or_new() {
    let dir = std::env::temp_dir().join(format!("gw-store-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("gateway.toml");
    let v = variants();
    ConfigStore::new(&path).save(&v[0]).expect("first save");

    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6761_7465);
    let mut seen = [0usize; 2];
    let started = Instant::now();
    let mut runs = 0;
    // 200 kills, bounded to 90 s on a loaded machine.
    while runs < 200 && started.elapsed() < Duration::from_secs(90) {
        let mut child = Command::new(&exe)
            .args(["--exact", "save_loop_child", "--test-threads=1", "--quiet"])
            .env(ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn saver");
        // Kill points spread over process start-up and many saves.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..20_000)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        seen[check(&path, &v, "live file")] += 1;
        if ConfigStore::new(&path).previous_path().exists() {
            check(&ConfigStore::new(&path).previous_path(), &v, ".prev");
        }
        runs += 1;
    }
    assert!(runs >= 50, "only {runs} runs in the time bound");
    // The kills must have landed on both sides of saves, or the test proved nothing.
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
