//! `simphone`: a virtual analog phone for an FXS port of the simulated board or exchange.
//!
//! ```text
//! simphone [--country US] [--cid bell202|v23|dtmf] [--script FILE] [--connect] HOST:PORT
//! ```
//! Without `--script` it reads commands from standard input (interactive); with it, it runs the
//! commands in FILE and exits with status 1 at the first one that fails. Commands:
//! `offhook`, `onhook`, `flash [MS]`, `dial DIGITS` (DTMF), `pulse DIGITS [PPS]`,
//! `play FILE`, `tone HZ MS`, `record FILE` (start), `stop` (stop recording and audio),
//! `wait tone KIND [S]`, `wait ring [S]`, `wait cid [S]`, `wait dtmf DIGITS [S]`, `pause MS`,
//! `status`, `help`, `quit`. Events are printed as they happen.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use board::pstn::parse_cid;
use board::simphone::{PhoneConfig, PhoneEvent, PhoneEventKind, SimPhone, ToneKind};

const HELP: &str = "commands: offhook | onhook | flash [MS] | dial DIGITS | pulse DIGITS [PPS] | play FILE | \
tone HZ MS | record FILE | stop | wait tone KIND [S] | wait ring [S] | wait cid [S] | wait dtmf DIGITS [S] | \
pause MS | status | quit";

fn describe(e: &PhoneEvent) -> String {
    let t = e.at as f64 / 8000.0;
    let what = match &e.kind {
        PhoneEventKind::Feed(f) => format!("line feed {f:?}"),
        PhoneEventKind::Ring(true) => "RING".into(),
        PhoneEventKind::Ring(false) => "ring stops".into(),
        PhoneEventKind::Tone(h) => format!("hear {h:?}"),
        PhoneEventKind::Dtmf(c) => format!("DTMF {c}"),
        PhoneEventKind::CallerId(id) => format!(
            "caller ID: number {:?} name {:?}",
            id.number.as_str(),
            id.name.as_str()
        ),
        PhoneEventKind::Hook(h) => format!("{h:?}"),
        PhoneEventKind::Disconnected => "port disconnected".into(),
    };
    format!("[{t:9.2}] {what}")
}

fn secs(arg: Option<&str>, default: u64) -> Duration {
    Duration::from_secs_f64(
        arg.and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(default as f64)
            .max(0.0),
    )
}

/// Runs one command line; `Ok(false)` to quit.
fn run(phone: &SimPhone, line: &str) -> Result<bool, String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let e = |e: board::simphone::PhoneError| e.to_string();
    match w.as_slice() {
        [] => {}
        [c, ..] if c.starts_with('#') => {}
        ["offhook"] => phone.off_hook(),
        ["onhook"] => phone.on_hook(),
        ["flash"] => phone.flash().map_err(e)?,
        ["flash", ms] => phone
            .flash_for(Duration::from_millis(ms.parse().map_err(|_| "flash MS")?))
            .map_err(e)?,
        ["dial", d] => phone.dial_dtmf(d).map_err(e)?,
        ["pulse", d] => phone.dial_pulse(d, 10).map_err(e)?,
        ["pulse", d, pps] => phone
            .dial_pulse(d, pps.parse().map_err(|_| "pulse DIGITS PPS")?)
            .map_err(e)?,
        ["play", f] => phone.play_file(Path::new(f)).map_err(e)?,
        ["tone", hz, ms] => phone.play_tone(
            hz.parse().map_err(|_| "tone HZ MS")?,
            Duration::from_millis(ms.parse().map_err(|_| "tone HZ MS")?),
            8000,
        ),
        ["record", f] => {
            phone.record_start();
            RECORD_TO.with(|r| *r.borrow_mut() = Some(PathBuf::from(f)));
        }
        ["stop"] => {
            phone.stop_audio();
            if let Some(p) = RECORD_TO.with(|r| r.borrow_mut().take()) {
                let n = phone.record_to(&p).map_err(e)?;
                println!("recorded {n} samples to {}", p.display());
            }
        }
        ["wait", "tone", k, rest @ ..] => {
            let kind = ToneKind::from_name(k).ok_or_else(|| format!("unknown tone {k}"))?;
            phone
                .wait_for_tone(kind, secs(rest.first().copied(), 10))
                .map_err(e)?;
        }
        ["wait", "ring", rest @ ..] => phone.wait_ringing(secs(rest.first().copied(), 30)).map_err(e)?,
        ["wait", "cid", rest @ ..] => {
            phone.wait_caller_id(secs(rest.first().copied(), 30)).map_err(e)?;
        }
        ["wait", "dtmf", d, rest @ ..] => phone.wait_dtmf(d, secs(rest.first().copied(), 10)).map_err(e)?,
        ["pause", ms] => phone
            .pause(Duration::from_millis(ms.parse().map_err(|_| "pause MS")?))
            .map_err(e)?,
        ["status"] => {
            println!(
                "hook {:?}, feed {:?}, ringing {}, hearing {:?}, caller ID {:?}, rings {:?}",
                phone.hook(),
                phone.feed(),
                phone.is_ringing(),
                phone.heard(),
                phone.caller_id().map(|c| c.number.as_str().to_string()),
                phone.ring_bursts()
            );
        }
        ["help"] => println!("{HELP}"),
        ["quit"] | ["exit"] => return Ok(false),
        _ => return Err(format!("unknown command: {line} ({HELP})")),
    }
    Ok(true)
}

thread_local! {
    static RECORD_TO: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: simphone [--country CC] [--cid bell202|v23|dtmf] [--script FILE] [--connect] HOST:PORT"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut cfg = PhoneConfig::default();
    let mut script = None;
    let mut addr: Option<SocketAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--country" => match args.next() {
                Some(c) => cfg.country = c,
                None => return usage(),
            },
            "--cid" => match args.next().as_deref().and_then(parse_cid) {
                Some(c) => cfg.cid = c,
                None => return usage(),
            },
            "--connect" => match args.next().and_then(|a| a.parse().ok()) {
                Some(a) => addr = Some(a),
                None => return usage(),
            },
            "--script" => match args.next() {
                Some(f) => script = Some(f),
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            s => match s.parse() {
                Ok(a) => addr = Some(a),
                Err(_) => return usage(),
            },
        }
    }
    let Some(addr) = addr else { return usage() };
    let phone = match SimPhone::connect(addr, cfg) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("simphone: cannot attach to {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("simphone attached to {addr}; type `help` for commands");
    // Prints events as they happen.
    let quit = Arc::new(AtomicBool::new(false));
    let printer = {
        let (phone, quit) = (phone.clone(), quit.clone());
        thread::spawn(move || {
            let mut seen = 0;
            while !quit.load(Ordering::Acquire) {
                for e in phone.events_since(seen) {
                    seen += 1;
                    println!("{}", describe(&e));
                }
                let _ = std::io::stdout().flush();
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let input: Box<dyn BufRead> = match &script {
        Some(f) => match std::fs::File::open(f) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("simphone: {f}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stdin().lock()),
    };
    let mut status = ExitCode::SUCCESS;
    for line in input.lines() {
        let Ok(line) = line else { break };
        match run(&phone, line.trim()) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                eprintln!("simphone: {e}");
                if script.is_some() {
                    status = ExitCode::FAILURE;
                    break;
                }
            }
        }
        if !phone.is_connected() {
            eprintln!("simphone: port disconnected");
            break;
        }
    }
    thread::sleep(Duration::from_millis(100));
    quit.store(true, Ordering::Release);
    let _ = printer.join();
    status
}
