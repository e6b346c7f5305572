//! `gwcodec`: transcode files and exercise the gateway's DSP from the command line.
//!
//! Audio files are raw s16le mono 8 kHz, or WAV (16-bit mono 8 kHz) on input.

mod args;
mod signal;
mod transcode;

use std::process::ExitCode;

use args::CliError;

const USAGE: &str = "\
usage: gwcodec COMMAND [OPTIONS]

commands:
  encode --codec pcmu|pcma|gsm IN OUT       encode linear audio (raw s16le or WAV) to a codec stream
  decode --codec pcmu|pcma|gsm IN OUT       decode a codec stream to raw s16le (WAV if OUT ends in .wav)
  tone --plan CC --tone NAME --ms N OUT      generate a national call progress tone
                                            (NAME: dial|ringback|busy|congestion|callwaiting|stutter|sit)
  dtmf-detect IN                            print each DTMF digit with start time and duration
  cid-encode --std bell202|v23|dtmf [--mdmf] --number N --name S [--time MMDDHHMM]
             [--alert] [--offhook] OUT      generate a caller ID signal (--alert: precede it with the
                                            dual-tone alerting signal; --offhook: call-waiting framing)
  cid-decode IN                             print the decoded caller ID fields
";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "encode" | "decode" => transcode::run(cmd, rest),
        "tone" | "dtmf-detect" | "cid-encode" | "cid-decode" => signal::run(cmd, rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(CliError::Usage(format!("unknown command '{other}'"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Usage(_)) => {
            eprintln!("gwcodec: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("gwcodec: {e}");
            ExitCode::FAILURE
        }
    }
}
