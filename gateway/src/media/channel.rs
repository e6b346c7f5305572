//! The audio chain of one analog port.
//!
//! Capture (line to network): line PCM -> echo canceller (reference: what was played to the
//! line in the same period) -> DTMF detector -> call progress detector (FXO) -> gain.
//! An on-hook FXO line's PCM also goes to the caller ID receivers (Bell 202, V.23, DTMF).
//! Render (network to line): what the port's peers say -> gain -> call progress tone, RFC 4733
//! regenerated digit, DTMF sender, or caller ID -> line PCM.

use codecs::callerid::{CallerId, CidDecoder, CidStandard};
use codecs::dtmf::{DtmfDetector, DtmfEventKind, DtmfGenerator};
use codecs::echo::{EchoCanceller, EchoConfig, EchoError};
use codecs::tones::{CallProgressDetector, Heard, ToneGenerator, ToneKind, TonePlan};
use hal::pcm::{FRAME_SAMPLES, Frame, SILENCE};
use heapless::Vec as HVec;

use super::api::{AudioEventKind, CallerIdSamples};
use super::mixer::{Gain, mix_into};

/// Events of one tick of one port.
pub type PortEvents = HVec<AudioEventKind, 8>;

/// Default plan when none was set.
pub fn default_plan() -> &'static TonePlan {
    TonePlan::for_country("US")
        .or_else(|| TonePlan::all().first())
        .unwrap_or_else(|| unreachable!("the tone plan table is not empty"))
}

/// The caller ID receivers of an FXO line. Which standard the exchange uses is not configured:
/// all three listen while the line is on hook and the first checked message wins.
pub struct CallerIdReceivers {
    rx: [CidDecoder; 3],
    /// The last message reported and when (sample clock): the same message decoded by both FSK
    /// receivers, or repeated by the exchange, is reported once.
    last: Option<(CallerId, u64)>,
}

/// A message equal to the last one within this many samples is a repeat (4 s).
const CID_REPEAT_SAMPLES: u64 = 32_000;

impl CallerIdReceivers {
    /// Allocates the receivers (outside the loop).
    pub fn new() -> Self {
        CallerIdReceivers {
            rx: [
                CidDecoder::new(CidStandard::Bell202),
                CidDecoder::new(CidStandard::V23),
                CidDecoder::new(CidStandard::Dtmf),
            ],
            last: None,
        }
    }

    /// Feeds one frame; pushes each new message as [`AudioEventKind::CallerId`].
    pub fn process(&mut self, frame: &Frame, sample_clock: u64, events: &mut PortEvents) {
        for i in 0..self.rx.len() {
            self.rx[i].process(frame);
            while let Some(r) = self.rx[i].poll() {
                // A message with a bad checksum or framing is dropped: the next ring goes
                // out without caller ID rather than with a wrong one.
                let Ok(msg) = r else { continue };
                let repeat = self.last.is_some_and(|(c, at)| {
                    c == msg.caller && sample_clock.saturating_sub(at) < CID_REPEAT_SAMPLES
                });
                if !repeat {
                    self.last = Some((msg.caller, sample_clock));
                    let _ = events.push(AudioEventKind::CallerId(msg.caller));
                }
            }
        }
    }
}

impl Default for CallerIdReceivers {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-port audio state, built once when the loop starts.
pub struct PortAudio {
    plan: &'static TonePlan,
    echo: EchoCanceller,
    echo_on: bool,
    dtmf: DtmfDetector,
    dtmf_on: bool,
    held_digit: Option<char>,
    progress: Option<CallProgressDetector>,
    silence_ms: u32,
    silence_since: Option<u64>,
    silence_reported: bool,
    tone: Option<(ToneGenerator<'static>, bool)>,
    caller_id: Option<CallerIdSamples>,
    /// FXO: caller ID receivers, and whether the line is on hook (listening).
    cid_rx: Option<Box<CallerIdReceivers>>,
    cid_listen: bool,
    dtmf_out: DtmfGenerator,
    dtmf_out_busy: bool,
    to_line: Gain,
    from_line: Gain,
    /// Processed line input of this tick (what the port says to its peers).
    pub up: Frame,
    scratch: Frame,
}

impl PortAudio {
    pub fn new(echo_tail_ms: u32) -> Result<Self, EchoError> {
        Ok(PortAudio {
            plan: default_plan(),
            echo: EchoCanceller::with_config(EchoConfig::new(echo_tail_ms))?,
            echo_on: true,
            dtmf: DtmfDetector::new(),
            dtmf_on: true,
            held_digit: None,
            progress: None,
            silence_ms: 0,
            silence_since: None,
            silence_reported: false,
            tone: None,
            caller_id: None,
            cid_rx: None,
            cid_listen: true,
            dtmf_out: DtmfGenerator::new(),
            dtmf_out_busy: false,
            to_line: Gain::UNITY,
            from_line: Gain::UNITY,
            up: SILENCE,
            scratch: SILENCE,
        })
    }

    pub fn plan(&self) -> &'static TonePlan {
        self.plan
    }

    /// A digit is being held on the line right now (to be muted from RFC 4733 streams).
    pub fn digit_held(&self) -> bool {
        self.held_digit.is_some()
    }

    pub fn set_plan(&mut self, plan: &'static TonePlan) {
        self.plan = plan;
        if self.progress.is_some() {
            self.progress = Some(CallProgressDetector::new(plan));
        }
    }

    /// Gives the port caller ID receivers (an FXO line; allocates, call before the loop runs).
    pub fn enable_caller_id_receiver(&mut self) {
        self.cid_rx = Some(Box::new(CallerIdReceivers::new()));
    }

    /// The FXO line was seized (`false`) or released (`true`): caller ID arrives on hook only.
    pub fn set_caller_id_listen(&mut self, on_hook: bool) {
        self.cid_listen = on_hook;
    }

    pub fn set_gain(&mut self, to_line_db: f32, from_line_db: f32) {
        self.to_line = Gain::from_db(to_line_db);
        self.from_line = Gain::from_db(from_line_db);
    }

    pub fn set_echo(&mut self, enabled: bool, nlp: bool, reset: bool) {
        self.echo_on = enabled;
        self.echo.set_nlp(nlp);
        if reset {
            self.echo.reset();
        }
    }

    pub fn set_dtmf_detect(&mut self, enabled: bool) {
        self.dtmf_on = enabled;
        if !enabled {
            self.dtmf.reset();
            self.held_digit = None;
        }
    }

    pub fn set_call_progress(&mut self, enabled: bool, silence_ms: u32) {
        self.progress = enabled.then(|| CallProgressDetector::new(self.plan));
        self.silence_ms = silence_ms;
        self.silence_since = None;
        self.silence_reported = false;
    }

    /// Starts a tone of the plan; `false` if the plan has no such tone.
    pub fn play_tone(&mut self, kind: ToneKind, over_audio: bool) -> bool {
        match self.plan.tone(kind) {
            Some(spec) => {
                self.tone = Some((ToneGenerator::new(spec), over_audio));
                true
            }
            None => false,
        }
    }

    pub fn stop_tone(&mut self) {
        self.tone = None;
    }

    /// Starts caller ID; returns a previous encoder still playing, for retirement.
    pub fn send_caller_id(&mut self, enc: CallerIdSamples) -> Option<CallerIdSamples> {
        self.caller_id.replace(enc)
    }

    /// Queues in-band digits; `false` if one was invalid or the queue is full.
    pub fn send_digits(&mut self, digits: &str, on_ms: u16, off_ms: u16) -> bool {
        let mut ok = true;
        for c in digits.chars() {
            ok &= self
                .dtmf_out
                .push_timed(c, u32::from(on_ms.max(40)), u32::from(off_ms.max(40)))
                .is_ok();
        }
        self.dtmf_out_busy |= !self.dtmf_out.is_idle();
        ok
    }

    /// Line input for this tick: `far` is what was played during the same period.
    pub fn capture(&mut self, far: &Frame, near: &Frame, sample_clock: u64, events: &mut PortEvents) {
        if self.cid_listen
            && let Some(rx) = self.cid_rx.as_mut()
        {
            rx.process(near, sample_clock, events);
        }
        self.up = *near;
        if self.echo_on {
            let _ = self.echo.process_in_place(far, &mut self.up);
        }
        if self.dtmf_on {
            self.dtmf.process(&self.up);
            while let Some(e) = self.dtmf.poll() {
                let kind = match e.kind {
                    DtmfEventKind::Start => {
                        self.held_digit = Some(e.digit);
                        AudioEventKind::DtmfStart {
                            digit: e.digit,
                            at_sample: e.at_sample,
                        }
                    }
                    DtmfEventKind::End => {
                        self.held_digit = None;
                        AudioEventKind::DtmfEnd {
                            digit: e.digit,
                            duration_ms: e.duration_samples / 8,
                        }
                    }
                };
                let _ = events.push(kind);
            }
        }
        if let Some(cp) = self.progress.as_mut() {
            cp.process(&self.up);
            while let Some(e) = cp.poll() {
                if e.heard == Heard::Silence {
                    self.silence_since = Some(e.at_sample);
                    self.silence_reported = false;
                } else {
                    self.silence_since = None;
                }
                let _ = events.push(AudioEventKind::CallProgress {
                    heard: e.heard,
                    at_sample: e.at_sample,
                });
            }
            if let Some(since) = self.silence_since
                && self.silence_ms > 0
                && !self.silence_reported
            {
                let ms = (sample_clock.saturating_sub(since) / 8) as u32;
                if ms >= self.silence_ms {
                    self.silence_reported = true;
                    let _ = events.push(AudioEventKind::LongSilence { ms });
                }
            }
        }
        self.from_line.apply(&mut self.up);
    }

    /// Line output for this tick. `heard` holds the mix of the port's peers on entry and the
    /// frame to play on return. Returns a finished caller ID encoder for retirement.
    pub fn render(&mut self, heard: &mut Frame, events: &mut PortEvents) -> Option<CallerIdSamples> {
        if let Some(cid) = self.caller_id.as_mut() {
            // On-hook transmission: the data replaces everything else.
            cid.0.fill(heard);
            if cid.0.is_done() {
                let _ = events.push(AudioEventKind::CallerIdDone);
                return self.caller_id.take();
            }
            return None;
        }
        self.to_line.apply(heard);
        if let Some((tone, over)) = self.tone.as_mut() {
            if !*over {
                *heard = SILENCE;
            }
            tone.fill(&mut self.scratch);
            mix_into(heard, &self.scratch);
            if tone.is_done() {
                self.tone = None;
                let _ = events.push(AudioEventKind::ToneDone);
            }
        }
        if self.dtmf_out_busy {
            let n = self.dtmf_out.fill(&mut self.scratch);
            mix_into(
                &mut heard[..n.min(FRAME_SAMPLES)],
                &self.scratch[..n.min(FRAME_SAMPLES)],
            );
            if self.dtmf_out.is_idle() {
                self.dtmf_out_busy = false;
                let _ = events.push(AudioEventKind::DigitsSent);
            }
        }
        None
    }
}
