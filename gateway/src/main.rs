//! `gatewayd`: the gateway process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use gateway::app;
use gateway::config::board::BoardDef;
use gateway::config::model::PortKind;
use gateway::config::store::ConfigStore;
use gateway::config::{self, Config};
use gateway::web::server::{self, WebState};

const USAGE: &str = "\
usage: gatewayd [--board sim|FILE] [--state-dir DIR] [--config FILE]
       gatewayd --check-config FILE

  --board sim|FILE     board definition (default: sim, the simulated board)
  --state-dir DIR      where the configuration is kept (default: /var/lib/gatewayd)
  --config FILE        configuration file (default: STATE_DIR/gateway.toml; created if missing)
  --check-config FILE  validate a configuration file, print every problem, exit non-zero if any
";

struct Args {
    board: String,
    state_dir: PathBuf,
    config: Option<PathBuf>,
    check: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        board: "sim".into(),
        state_dir: "/var/lib/gatewayd".into(),
        config: None,
        check: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--board" => a.board = val("--board")?,
            "--state-dir" => a.state_dir = val("--state-dir")?.into(),
            "--config" => a.config = Some(val("--config")?.into()),
            "--check-config" => a.check = Some(val("--check-config")?.into()),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--version" => {
                println!("gatewayd {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(a)
}

fn check_config(path: &PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match config::parse(&text) {
        Ok(_) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errs) => {
            for e in &errs.0 {
                println!("{}: {e}", path.display());
            }
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gatewayd: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(p) = &args.check {
        return check_config(p);
    }
    let board = if args.board == "sim" {
        BoardDef::sim()
    } else {
        match std::fs::read_to_string(&args.board)
            .map_err(|e| e.to_string())
            .and_then(|t| BoardDef::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(b) => b,
            Err(e) => {
                eprintln!("gatewayd: board {}: {e}", args.board);
                return ExitCode::FAILURE;
            }
        }
    };
    let store = ConfigStore::new(
        args.config
            .clone()
            .unwrap_or_else(|| args.state_dir.join("gateway.toml")),
    );
    let cfg = match store.load_or_previous() {
        Ok(Some((cfg, used))) => {
            if used != store.path() {
                eprintln!(
                    "gatewayd: {} is damaged, started from the previous version {}",
                    store.path().display(),
                    used.display()
                );
            }
            cfg
        }
        Ok(None) => {
            let cfg = Config::default_for_sim();
            if let Err(e) = store.save(&cfg) {
                eprintln!("gatewayd: cannot write the default configuration: {e}");
                return ExitCode::FAILURE;
            }
            cfg
        }
        Err(e) => {
            eprintln!("gatewayd: configuration {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatewayd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, board, store)) {
        Ok(Some(action)) => {
            drop(rt);
            // A supervisor that can reboot the board (the firmware's init) names the exit
            // status that asks for it; elsewhere a reboot starts the process afresh.
            if action == server::PowerAction::Reboot
                && let Some(code) = std::env::var("GATEWAYD_REBOOT_STATUS")
                    .ok()
                    .and_then(|c| c.parse::<u8>().ok())
            {
                println!("Reboot: handing over to the board (exit status {code})");
                return ExitCode::from(code);
            }
            println!("{action:?}: starting again");
            let e = server::reexec();
            eprintln!("gatewayd: cannot restart: {e}");
            ExitCode::FAILURE
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatewayd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    cfg: Config,
    board: BoardDef,
    store: ConfigStore,
) -> Result<Option<server::PowerAction>, app::StartError> {
    let opened = app::open_board(&board)?;
    let listener = server::bind(cfg.web.listen)
        .await
        .map_err(|err| app::StartError::Web {
            addr: cfg.web.listen,
            err,
        })?;
    let web_addr = listener.local_addr().unwrap_or(cfg.web.listen);
    let sip_addr = std::net::SocketAddr::new(cfg.network.interface, cfg.network.sip_port);
    let mut status = app::initial_status(&cfg, &board, &opened.port_addrs);
    status.version = env!("CARGO_PKG_VERSION");
    status.sip_address = format!("sip:{sip_addr};transport={:?}", cfg.network.sip_transport).to_lowercase();
    let status = Arc::new(Mutex::new(status));

    println!(
        "gatewayd {} on the {} board",
        env!("CARGO_PKG_VERSION"),
        board.name
    );
    println!("  configuration: {}", store.path().display());
    println!("  web page:      http://{web_addr}/");
    if cfg.security.admin_password_hash.is_empty() {
        println!("                 (no administrator password yet: the first visit sets it)");
    }
    println!("  SIP:           {sip_addr} ({:?})", cfg.network.sip_transport);
    for (id, kind, addr) in &opened.port_addrs {
        if let Some(a) = addr {
            match kind {
                PortKind::Fxs => println!(
                    "  port {id} FXS:    attach a virtual phone: target/release/simphone --connect {a}"
                ),
                PortKind::Fxo => {
                    println!("  port {id} FXO:    exchange line at {a} (the simulated PSTN attaches here)")
                }
            }
        }
    }
    println!("Press Ctrl-C to stop.");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Fed only while the media loop's tick counter advances (gateway::watchdog).
    let watchdog = board.watchdog.clone().map(|w| {
        let stats = opened.media.stats.clone();
        let ticks = move || stats.ticks.load(std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(gateway::watchdog::run(w, ticks, stop_rx.clone()))
    });
    let calls = app::call_control(&cfg);
    // The live configuration: the web page sends each saved change, subscribers apply it.
    let (config_tx, _) = tokio::sync::watch::channel(Arc::new(cfg.clone()));
    let (sip, sip_side) = match gateway::sipcalls::SipAgent::start(&cfg).await {
        Ok(agent) => {
            // Call events go to the control plane; registration stays with the SIP side.
            let (call_tx, call_rx) = tokio::sync::mpsc::unbounded_channel();
            let media_ip = if cfg.network.interface.is_unspecified() {
                agent.local.ip()
            } else {
                cfg.network.interface
            };
            let mut legs = gateway::call::sipleg::SipLegs::new(
                &cfg,
                media_ip,
                agent.account_ids.clone(),
                opened.media.stats.streams.len(),
            );
            // Behind NAT each call's SDP announces its RTP socket's public address.
            legs.set_media_mapper(gateway::nat::edge::media_mapper(&cfg.nat, media_ip).await);
            let side = app::SipSide {
                ua: agent.handle.clone(),
                events: call_rx,
                legs,
            };
            let task = tokio::spawn(gateway::sipcalls::run(
                agent,
                status.clone(),
                config_tx.subscribe(),
                stop_rx.clone(),
                move |_, ev, _| {
                    let _ = call_tx.send(ev);
                },
            ));
            (Some(task), Some(side))
        }
        Err(e) => {
            eprintln!("gatewayd: SIP disabled: {e}");
            (None, None)
        }
    };
    let control = tokio::spawn(app::control_plane(
        opened.media,
        status.clone(),
        stop_rx.clone(),
        calls,
        sip_side,
        config_tx.subscribe(),
    ));
    let mut web_stop = stop_rx.clone();
    let web_state = WebState::new(status.clone(), config_tx, Some(store.clone()));
    let power = web_state.power.clone();
    let web = tokio::spawn(server::serve(listener, web_state, async move {
        let _ = web_stop.changed().await;
    }));

    let action = tokio::select! {
        _ = shutdown_signal() => None,
        a = power.requested() => Some(a),
    };
    println!("stopping");
    let _ = stop_tx.send(true);
    let _ = web.await;
    if let Some(s) = sip {
        let _ = s.await;
    }
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    if let Ok(media) = control.await
        && let Err(e) = media.shutdown()
    {
        eprintln!("gatewayd: media loop ended with: {e}");
    }
    Ok(action)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
