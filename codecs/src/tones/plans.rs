//! Built-in national tone plans, from ITU-T E.180 Supplement 2 ("Various tones used in national
//! networks") with the national specifications named in docs/codecs-signal.md.

use super::{RingCadence, Segment, Sound, ToneKind, TonePlan, ToneSpec};

const fn on(f: u16, ms: u16) -> Segment {
    Segment {
        sound: Sound::Single(f),
        ms,
    }
}
const fn on2(f1: u16, f2: u16, ms: u16) -> Segment {
    Segment {
        sound: Sound::Dual(f1, f2),
        ms,
    }
}
const fn on4(f1: u16, f2: u16, f3: u16, f4: u16, ms: u16) -> Segment {
    Segment {
        sound: Sound::Quad(f1, f2, f3, f4),
        ms,
    }
}
const fn am(carrier: u16, modulator: u16, ms: u16) -> Segment {
    Segment {
        sound: Sound::Modulated { carrier, modulator },
        ms,
    }
}
const fn off(ms: u16) -> Segment {
    Segment {
        sound: Sound::Silence,
        ms,
    }
}
/// `ms` for a segment that lasts until the tone is stopped.
const STEADY: u16 = 0;

const fn tone(kind: ToneKind, level_dbm0: f32, cycle: &'static [Segment]) -> ToneSpec {
    ToneSpec {
        kind,
        level_dbm0,
        intro: &[],
        intro_repeat: 0,
        cycle,
    }
}
const fn intro_tone(
    kind: ToneKind,
    level_dbm0: f32,
    intro: &'static [Segment],
    intro_repeat: u8,
    cycle: &'static [Segment],
) -> ToneSpec {
    ToneSpec {
        kind,
        level_dbm0,
        intro,
        intro_repeat,
        cycle,
    }
}
const fn ring(name: &'static str, freq_hz: u8, pattern: &'static [(u16, u16)]) -> RingCadence {
    RingCadence {
        name,
        freq_hz,
        pattern,
    }
}

use ToneKind::*;

/// Special information tone as in E.180 §7: 950, 1400, 1800 Hz, 330 ms each, then 1 s silence.
const SIT_STD: &[Segment] = &[on(950, 330), on(1400, 330), on(1800, 330), off(1000)];
/// The variant with a 900 Hz first segment (Germany, New Zealand).
const SIT_900: &[Segment] = &[on(900, 330), on(1400, 330), on(1800, 330), off(1000)];

/// Receiver off-hook tone (Telcordia GR-506 §17.2.8): 1400 + 2060 + 2450 + 2600 Hz, 100 ms on,
/// 100 ms off. Played loud: -10 dBm0 per frequency keeps the sum of four in range. Countries
/// without a howler of their own use it too: it is unmistakable.
const ROH: ToneSpec = tone(Howler, -10.0, &[on4(1400, 2060, 2450, 2600, 100), off(100)]);

// North American Numbering Plan: Telcordia GR-506 / Precise Tone Plan (E.300 Supp. 3).
const NANP_TONES: &[ToneSpec] = &[
    tone(Dial, -13.0, &[on2(350, 440, STEADY)]),
    tone(Ringback, -19.0, &[on2(440, 480, 2000), off(4000)]),
    tone(Busy, -24.0, &[on2(480, 620, 500), off(500)]),
    tone(Congestion, -24.0, &[on2(480, 620, 250), off(250)]),
    tone(CallWaiting, -13.0, &[on(440, 300), off(9700)]),
    intro_tone(
        StutterDial,
        -13.0,
        &[on2(350, 440, 100), off(100)],
        10,
        &[on2(350, 440, STEADY)],
    ),
    tone(Sit, -24.0, SIT_STD),
    ROH,
];
const NANP_RING: RingCadence = ring("normal", 20, &[(2000, 4000)]);
const NANP_DISTINCTIVE: &[RingCadence] = &[
    ring("bellcore-dr2", 20, &[(800, 400), (800, 4000)]),
    ring("bellcore-dr3", 20, &[(400, 200), (400, 200), (800, 4000)]),
    ring("bellcore-dr4", 20, &[(300, 200), (1000, 200), (300, 4000)]),
    ring("bellcore-dr5", 20, &[(500, 5500)]),
];

const BRITISH_RING: &[(u16, u16)] = &[(400, 200), (400, 2000)];

pub static PLANS: &[TonePlan] = &[
    TonePlan {
        country: "US",
        name: "United States",
        tones: NANP_TONES,
        ring: NANP_RING,
        distinctive_rings: NANP_DISTINCTIVE,
    },
    TonePlan {
        country: "CA",
        name: "Canada",
        tones: NANP_TONES,
        ring: NANP_RING,
        distinctive_rings: NANP_DISTINCTIVE,
    },
    TonePlan {
        country: "GB",
        name: "United Kingdom",
        tones: &[
            tone(Dial, -13.0, &[on2(350, 440, STEADY)]),
            tone(
                Ringback,
                -13.0,
                &[on2(400, 450, 400), off(200), on2(400, 450, 400), off(2000)],
            ),
            tone(Busy, -10.0, &[on(400, 375), off(375)]),
            tone(
                Congestion,
                -10.0,
                &[on(400, 400), off(350), on(400, 225), off(525)],
            ),
            tone(CallWaiting, -10.0, &[on(400, 100), off(4000)]),
            tone(StutterDial, -13.0, &[on2(350, 440, 750), on(440, 750)]),
            tone(
                Sit,
                -10.0,
                &[
                    on(950, 330),
                    off(15),
                    on(1400, 330),
                    off(15),
                    on(1800, 330),
                    off(1000),
                ],
            ),
            // BT's howler: a warble of the DTMF pairs of * and # (the exchange also raises its
            // level over time; here it plays loud from the start).
            tone(Howler, -7.0, &[on2(941, 1209, 250), on2(941, 1477, 250)]),
        ],
        ring: ring("normal", 25, BRITISH_RING),
        distinctive_rings: &[ring("bt-type2", 25, &[(1000, 2000)])],
    },
    TonePlan {
        country: "IE",
        name: "Ireland",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(
                Ringback,
                -13.0,
                &[on2(400, 450, 400), off(200), on2(400, 450, 400), off(2000)],
            ),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 250), off(250)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 180), off(100), on(425, 180), off(4700)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, BRITISH_RING),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "DE",
        name: "Germany",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 480), off(480)]),
            tone(Congestion, -10.0, &[on(425, 240), off(240)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(200), on(425, 200), off(5000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_900),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[ring("ring-ii", 25, &[(250, 4000), (1000, 4000)])],
    },
    TonePlan {
        country: "AT",
        name: "Austria",
        tones: &[
            tone(Dial, -10.0, &[on(420, STEADY)]),
            tone(Ringback, -10.0, &[on(420, 1000), off(5000)]),
            tone(Busy, -10.0, &[on(420, 400), off(400)]),
            tone(Congestion, -10.0, &[on(420, 200), off(200)]),
            tone(CallWaiting, -10.0, &[on(420, 40), off(1960)]),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(420, 100), off(100)],
                3,
                &[on(420, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 50, &[(1000, 5000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "CH",
        name: "Switzerland",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 200), off(200)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(200), on(425, 200), off(4000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(
                Sit,
                -10.0,
                &[
                    on(950, 330),
                    off(30),
                    on(1400, 330),
                    off(30),
                    on(1800, 330),
                    off(1000),
                ],
            ),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "FR",
        name: "France",
        tones: &[
            tone(Dial, -10.0, &[on(440, STEADY)]),
            tone(Ringback, -10.0, &[on(440, 1500), off(3500)]),
            tone(Busy, -10.0, &[on(440, 500), off(500)]),
            tone(Congestion, -10.0, &[on(440, 250), off(250)]),
            tone(CallWaiting, -10.0, &[on(440, 300), off(10000)]),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(440, 100), off(100)],
                5,
                &[on(440, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 50, &[(1500, 3500)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "IT",
        name: "Italy",
        tones: &[
            tone(Dial, -10.0, &[on(425, 200), off(200), on(425, 600), off(1000)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 200), off(200)]),
            tone(
                CallWaiting,
                -10.0,
                &[
                    on(425, 400),
                    off(100),
                    on(425, 250),
                    off(100),
                    on(425, 150),
                    off(14000),
                ],
            ),
            tone(StutterDial, -10.0, &[on(470, 400), on(425, 400)]),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "ES",
        name: "Spain",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1500), off(3000)]),
            tone(Busy, -10.0, &[on(425, 200), off(200)]),
            tone(
                Congestion,
                -10.0,
                &[
                    on(425, 200),
                    off(200),
                    on(425, 200),
                    off(200),
                    on(425, 200),
                    off(600),
                ],
            ),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 175), off(175), on(425, 175), off(3500)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1500, 3000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "NL",
        name: "Netherlands",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 250), off(250)]),
            tone(CallWaiting, -10.0, &[on(425, 500), off(9500)]),
            tone(StutterDial, -10.0, &[on(425, 500), off(50)]),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "BE",
        name: "Belgium",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(3000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 167), off(167)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(1400, 175), off(175), on(1400, 175), off(3500)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 3000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "AU",
        name: "Australia",
        tones: &[
            tone(Dial, -10.0, &[on2(413, 438, STEADY)]),
            tone(
                Ringback,
                -10.0,
                &[on2(413, 438, 400), off(200), on2(413, 438, 400), off(2000)],
            ),
            tone(Busy, -10.0, &[on(425, 375), off(375)]),
            tone(
                Congestion,
                -10.0,
                &[on(425, 375), off(375), on(420, 375), off(375)],
            ),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(200), on(425, 200), off(4400)],
            ),
            tone(StutterDial, -10.0, &[on2(413, 438, 100), off(40)]),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, BRITISH_RING),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "NZ",
        name: "New Zealand",
        tones: &[
            tone(Dial, -10.0, &[on(400, STEADY)]),
            tone(
                Ringback,
                -10.0,
                &[on2(400, 450, 400), off(200), on2(400, 450, 400), off(2000)],
            ),
            tone(Busy, -10.0, &[on(400, 500), off(500)]),
            tone(Congestion, -10.0, &[on(400, 250), off(250)]),
            tone(CallWaiting, -10.0, &[on(400, 200), off(3000)]),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(400, 100), off(100)],
                3,
                &[on(400, STEADY)],
            ),
            tone(Sit, -10.0, SIT_900),
            ROH,
        ],
        ring: ring("normal", 25, BRITISH_RING),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "JP",
        name: "Japan",
        tones: &[
            tone(Dial, -10.0, &[on(400, STEADY)]),
            tone(Ringback, -10.0, &[am(400, 16, 1000), off(2000)]),
            tone(Busy, -10.0, &[on(400, 500), off(500)]),
            tone(Congestion, -10.0, &[on(400, 500), off(500)]),
            tone(CallWaiting, -10.0, &[am(400, 16, 500), off(8000)]),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(400, 100), off(100)],
                3,
                &[on(400, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 16, &[(1000, 2000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "BR",
        name: "Brazil",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 250), off(250)]),
            tone(
                Congestion,
                -10.0,
                &[on(425, 250), off(250), on(425, 750), off(250)],
            ),
            tone(CallWaiting, -10.0, &[on(425, 50), off(1000)]),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "SE",
        name: "Sweden",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(5000)]),
            tone(Busy, -10.0, &[on(425, 250), off(250)]),
            tone(Congestion, -10.0, &[on(425, 250), off(750)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(500), on(425, 200), off(5000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 5000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "NO",
        name: "Norway",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 200), off(200)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(600), on(425, 200), off(10000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "DK",
        name: "Denmark",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 250), off(250)]),
            tone(
                Congestion,
                -10.0,
                &[
                    on(425, 250),
                    off(250),
                    on(425, 250),
                    off(250),
                    on(425, 250),
                    off(1000),
                ],
            ),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(600), on(425, 200), off(3000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "FI",
        name: "Finland",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(4000)]),
            tone(Busy, -10.0, &[on(425, 300), off(300)]),
            tone(Congestion, -10.0, &[on(425, 200), off(200)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 150), off(150), on(425, 150), off(8000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 4000)]),
        distinctive_rings: &[],
    },
    TonePlan {
        country: "PT",
        name: "Portugal",
        tones: &[
            tone(Dial, -10.0, &[on(425, STEADY)]),
            tone(Ringback, -10.0, &[on(425, 1000), off(5000)]),
            tone(Busy, -10.0, &[on(425, 500), off(500)]),
            tone(Congestion, -10.0, &[on(425, 200), off(200)]),
            tone(
                CallWaiting,
                -10.0,
                &[on(425, 200), off(200), on(425, 200), off(5000)],
            ),
            intro_tone(
                StutterDial,
                -10.0,
                &[on(425, 100), off(100)],
                3,
                &[on(425, STEADY)],
            ),
            tone(Sit, -10.0, SIT_STD),
            ROH,
        ],
        ring: ring("normal", 25, &[(1000, 5000)]),
        distinctive_rings: &[],
    },
];
