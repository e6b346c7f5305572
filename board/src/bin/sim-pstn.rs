//! `sim-pstn`: the simulated PSTN exchange.
//!
//! ```text
//! sim-pstn --config FILE.toml
//! sim-pstn [--country US] [--ring ON:OFF] --card NUMBER:PORT ... --trunk NUMBER:HOST:PORT ...
//! ```
//! `--card` lines take a virtual phone (`simphone 127.0.0.1:PORT`); `--trunk` lines connect to a
//! gateway FXO port. Prints line state changes until interrupted.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use board::pstn::{Exchange, ExchangeConfig, LineConfig};

fn usage() -> ExitCode {
    eprintln!(
        "usage: sim-pstn --config FILE.toml\n       sim-pstn [--country CC] [--ring ON_MS:OFF_MS] \
         [--card NUMBER:PORT]... [--trunk NUMBER:127.0.0.1:PORT]..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut cfg = ExchangeConfig::new("US", Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(v) = args.next() else { return usage() };
        match a.as_str() {
            "--config" => {
                let text = match std::fs::read_to_string(&v) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("sim-pstn: {v}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                match ExchangeConfig::from_toml(&text) {
                    Ok(c) => cfg = c,
                    Err(e) => {
                        eprintln!("sim-pstn: {v}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            "--country" => cfg.country = v,
            "--ring" => {
                let Some((on, off)) = v.split_once(':') else {
                    return usage();
                };
                let (Ok(on), Ok(off)) = (on.parse(), off.parse()) else {
                    return usage();
                };
                cfg.ring = Some(vec![(on, off)]);
            }
            "--card" => {
                let Some((n, p)) = v.split_once(':') else {
                    return usage();
                };
                let Ok(p) = p.parse() else { return usage() };
                cfg.lines.push(LineConfig::card(n, p));
            }
            "--trunk" => {
                let Some((n, a)) = v.split_once(':') else {
                    return usage();
                };
                let Ok(a) = a.parse() else { return usage() };
                cfg.lines.push(LineConfig::trunk(n, a));
            }
            _ => return usage(),
        }
    }
    let numbers: Vec<String> = cfg.lines.iter().map(|l| l.number.clone()).collect();
    let ex = match Exchange::start(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sim-pstn: {e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &numbers {
        match ex.line_addr(n) {
            Some(a) => println!("line {n}: line card, attach a phone with `simphone {a}`"),
            None => println!("line {n}: trunk to a gateway FXO port"),
        }
    }
    let mut last = Vec::new();
    loop {
        let now = ex.status();
        for l in &now {
            if !last.contains(l) {
                println!(
                    "line {}: {}{}{}{}",
                    l.number,
                    l.state,
                    if l.attached { "" } else { " (nothing attached)" },
                    if l.digits.is_empty() {
                        String::new()
                    } else {
                        format!(", digits {}", l.digits)
                    },
                    l.peer.as_ref().map(|p| format!(", with {p}")).unwrap_or_default()
                );
            }
        }
        last = now;
        thread::sleep(Duration::from_millis(100));
    }
}
