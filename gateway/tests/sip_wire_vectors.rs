//! RFC 4475 (SIP torture messages) and RFC 5118 (IPv6 torture messages): every vector is handled
//! as /work/shared/vectors/*/EXPECT.tsv says. The messages are parsed from bytes only: they name
//! real-looking hosts and must never reach a socket.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use gateway::sip::wire::multipart;
use gateway::sip::wire::{
    ErrorKind, Framing, HeaderName, Host, Method, ParseError, SipMsg, Transport, Uri, error_response, frame,
};

fn vectors_dir() -> Option<PathBuf> {
    let d = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"));
    if d.join("rfc4475/EXPECT.tsv").exists() {
        Some(d.to_path_buf())
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "SIP torture vectors missing at {}",
            d.display()
        );
        eprintln!("SIP torture vectors not found at {}; skipping", d.display());
        None
    }
}

fn expect_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("EXPECT.tsv"))
        .expect("EXPECT.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// What a correct element does with a message that must be rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reject {
    /// Answer with this status (the request is addressable).
    Respond(u16),
    /// Parse error and no response possible (missing addressing headers, or a response).
    Drop,
}

fn reject(buf: &[u8], name: &str, want: Reject) -> ParseError {
    let err = match SipMsg::parse_datagram(buf) {
        Ok(m) => panic!("{name}: accepted but must be rejected: {:?}", m.start_line()),
        Err(e) => e,
    };
    let resp = error_response(buf, &err, "tag-400");
    match (want, resp) {
        (Reject::Drop, None) => {}
        (Reject::Respond(code), Some(r)) => {
            assert_eq!(r.status(), Some(code), "{name}: {err}");
            let bytes = r.to_bytes();
            assert_eq!(frame(&bytes), Ok(Framing::Complete(bytes.len())), "{name}");
            let text = String::from_utf8_lossy(&bytes);
            let reason = text.lines().next().unwrap_or_default();
            if code == 400 {
                assert!(
                    reason.starts_with("SIP/2.0 400 Bad Request ("),
                    "{name}: {reason}"
                );
            }
            assert!(
                text.contains(";tag=tag-400\r\n") || text.contains("tag="),
                "{name}: To tag"
            );
            // The addressing headers are copied as received: when they are well-formed the
            // response parses completely.
            if let Ok(m) = SipMsg::parse_datagram(&bytes) {
                assert!(m.to().tag().is_some(), "{name}");
            }
        }
        (w, r) => panic!(
            "{name}: expected {w:?}, error response {:?} for {err}",
            r.map(|r| r.status())
        ),
    }
    err
}

fn sip<'a>(u: &'a Uri<&'a str>) -> &'a gateway::sip::wire::SipUri<&'a str> {
    u.as_sip().expect("sip URI")
}

fn check_4475(name: &str, buf: &[u8]) {
    let ok = || SipMsg::parse_datagram(buf).unwrap_or_else(|e| panic!("{name}: {e}"));
    match name {
        "wsinv.dat" => {
            let m = ok();
            assert_eq!(m.method(), Some(&Method::Invite));
            let ru = sip(m.request_uri().unwrap());
            assert_eq!(ru.host, Host::Domain("chair-dnrc.example.com"));
            assert!(ru.params.contains("unknownparam"));
            assert_eq!(m.to().tag(), Some("1918181833n"));
            assert_eq!(m.from().tag(), Some("98asjd8"));
            assert_eq!(m.from().display_name().as_deref(), Some("J Rosenberg \\\""));
            assert_eq!(m.max_forwards(), Some(68));
            assert_eq!(m.call_id(), "wsinv.ndaksdj@192.0.2.1");
            assert_eq!((m.cseq().seq, &m.cseq().method), (9, &Method::Invite));
            let vias: Vec<_> = m.vias().collect();
            assert_eq!(vias.len(), 3);
            assert_eq!(vias[0].transport, Transport::Udp);
            assert_eq!(vias[0].host, Host::V4("192.0.2.2".parse().unwrap()));
            assert_eq!(vias[0].branch(), Some("390skdjuw"));
            assert_eq!(vias[1].transport, Transport::Tcp);
            assert_eq!(vias[1].host, Host::Domain("spindle.example.com"));
            assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
            assert_eq!(vias[2].host, Host::V4("192.168.255.111".parse().unwrap()));
            assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
            assert_eq!(m.header("Subject"), Some(""));
            assert!(
                m.header("newfangledheader")
                    .unwrap()
                    .contains("continued newfangled value")
            );
            let c: Vec<_> = m.contacts().collect();
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].display_name().as_deref(), Some("Quoted string \"\""));
            assert_eq!(c[0].params.get("newparam"), Some("newvalue"));
            assert!(c[0].params.contains("secondparam"));
            assert_eq!(c[0].params.get("q"), Some("0.33"));
            assert_eq!(m.routes().count(), 1);
            assert!(m.content_type().unwrap().is("application", "sdp"));
            assert_eq!(m.body().len(), 150);
            assert!(m.body().starts_with(b"v=0"));
        }
        "intmeth.dat" => {
            let m = ok();
            let meth = "!interesting-Method0123456789_*+`.%indeed'~";
            assert_eq!(m.method(), Some(&Method::Other(meth)));
            assert_eq!(m.cseq().method, Method::Other(meth));
            let ru = sip(m.request_uri().unwrap());
            assert_eq!(ru.user, Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
            assert_eq!(ru.password, Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
            assert_eq!(ru.host, Host::Domain("example.com"));
            assert_eq!(m.to().display_name().as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
            assert_eq!(m.from().display, Some("token1~` token2'+_ token3*%!.-"));
            assert_eq!(m.from().params.get("fromParam''~+*_!.-%"), Some("работающий"));
            assert_eq!(m.from().tag(), Some("_token~1'+`*%!-."));
            assert_eq!(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
            assert_eq!(m.header("extensionHeader-!.%*+_`'~"), Some("\u{feff}大停電"));
        }
        "esc01.dat" => {
            let m = ok();
            let ru = sip(m.request_uri().unwrap());
            assert_eq!(ru.user_unescaped().unwrap().as_ref(), b"sips:user@example.com");
            assert_eq!(ru.host, Host::Domain("example.net"));
            let to_uri = &m.to().uri;
            assert!(to_uri.rfc_eq(&Uri::parse("sip:user@example.com").unwrap()));
            assert_eq!(
                sip(&m.from().uri).user_unescaped().unwrap().as_ref(),
                b"I have spaces"
            );
            let c = m.contacts().next().unwrap();
            assert!(
                c.uri
                    .rfc_eq(&Uri::parse("sip:caller@host5.example.net;lr;name=value%2541").unwrap())
            );
        }
        "escnull.dat" => {
            let m = ok();
            assert_eq!(m.method(), Some(&Method::Register));
            assert_eq!(
                sip(&m.to().uri).user_unescaped().unwrap().as_ref(),
                b"null-\0-null"
            );
            let c: Vec<_> = m.contacts().collect();
            assert_eq!(c.len(), 2);
            assert_eq!(sip(&c[0].uri).user_unescaped().unwrap().as_ref(), b"\0");
            assert_eq!(sip(&c[1].uri).user_unescaped().unwrap().as_ref(), b"\0\0");
            assert!(!c[0].uri.rfc_eq(&c[1].uri));
        }
        "esc02.dat" => {
            let m = ok();
            assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R")));
            assert_eq!(m.contacts().count(), 2);
            let odd = m.headers().iter().find(|h| h.name_text == "C%6Fntact").unwrap();
            assert_eq!(odd.name, HeaderName::Other);
            assert_eq!(m.top_via().branch(), Some("z9hG4bK209%fzsnel234"));
            assert_eq!(m.to().display, Some("%Z%45"));
        }
        "lwsdisp.dat" => {
            let m = ok();
            assert_eq!(m.from().display, Some("caller"));
            assert_eq!(sip(&m.from().uri).user, Some("caller"));
        }
        "longreq.dat" => {
            let m = ok();
            assert!(m.to().display.unwrap().contains("extremeextreme"));
            assert!(m.vias().count() >= 20);
            assert!(m.header_by(HeaderName::From).unwrap().len() > 500);
            assert_eq!(m.body().len() as u32, m.content_length().unwrap());
        }
        "dblreq.dat" => {
            let m = ok();
            assert_eq!(m.method(), Some(&Method::Register));
            assert!(m.body().is_empty());
            assert!(m.wire_len() < buf.len(), "trailing INVITE must be left over");
        }
        "semiuri.dat" => {
            let m = ok();
            let ru = sip(m.request_uri().unwrap());
            assert_eq!(ru.user, Some("user;par=u%40example.net"));
            assert_eq!(ru.host, Host::Domain("example.com"));
            assert!(ru.params.is_empty());
        }
        "transports.dat" => {
            let m = ok();
            let t: Vec<_> = m.vias().map(|v| v.transport).collect();
            assert_eq!(
                t,
                [
                    Transport::Udp,
                    Transport::Sctp,
                    Transport::Tls,
                    Transport::Other("UNKNOWN"),
                    Transport::Tcp
                ]
            );
        }
        "mpart01.dat" => {
            let m = ok();
            assert_eq!(m.body().len(), 553);
            let ct = m.content_type().unwrap();
            let mp = multipart::parse(m.body(), ct.boundary().unwrap()).unwrap();
            assert_eq!(mp.parts.len(), 2);
            assert_eq!(mp.parts[0].content_type(), "text/plain");
            assert_eq!(mp.parts[0].body, b"Hello");
            assert_eq!(mp.parts[1].content_type(), "application/octet-stream");
            assert!(mp.parts[1].body.contains(&0));
        }
        "unreason.dat" => {
            let m = ok();
            assert_eq!(m.status(), Some(200));
            assert_eq!(
                m.reason(),
                Some("= 2**3 * 5**2 но сто девяносто девять - простое")
            );
        }
        "noreason.dat" => {
            let m = ok();
            assert_eq!((m.status(), m.reason()), (Some(100), Some("")));
        }
        "badinv01.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.header, Some(HeaderName::Via));
        }
        "clerr.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert!(matches!(e.kind, ErrorKind::BodyTooShort { declared: 9999, .. }));
            // Over a stream the same bytes just wait for the rest of the body.
            assert!(matches!(frame(buf), Ok(Framing::Incomplete { needed: Some(_) })));
        }
        "ncl.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.kind, ErrorKind::BadContentLength);
            assert!(frame(buf).is_err());
        }
        "scalar02.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.header, Some(HeaderName::CSeq));
        }
        "scalarlg.dat" | "bigcode.dat" => {
            reject(buf, name, Reject::Drop);
        }
        "quotbal.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.header, Some(HeaderName::To));
        }
        "ltgtruri.dat" | "lwsruri.dat" | "lwsstart.dat" | "trws.dat" | "escruri.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.header, None, "{name}: start line error");
        }
        "baddate.dat" => {
            // Preferably ignored unless used: the Date header is kept raw.
            let m = ok();
            assert!(m.header("Date").unwrap().ends_with("EST"));
        }
        "regbadct.dat" | "badaspec.dat" | "baddn.dat" => {
            reject(buf, name, Reject::Respond(400));
        }
        "badvers.dat" => {
            let e = reject(buf, name, Reject::Respond(505));
            assert_eq!(e.kind, ErrorKind::UnsupportedVersion);
        }
        "mismatch01.dat" | "mismatch02.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.kind, ErrorKind::CSeqMethodMismatch);
        }
        "badbranch.dat" => {
            let m = ok();
            assert_eq!(m.top_via().branch(), Some("z9hG4bK"));
        }
        "insuf.dat" => {
            let e = reject(buf, name, Reject::Drop);
            assert_eq!(e.kind, ErrorKind::MissingHeader);
        }
        "unkscm.dat" => {
            let m = ok();
            let Some(Uri::Other(o)) = m.request_uri() else {
                panic!("{name}")
            };
            assert!(o.scheme.eq_ignore_ascii_case("nobodyknowsthisscheme"));
            assert_eq!(o.rest, "totallyopaquecontent");
        }
        "novelsc.dat" => {
            let m = ok();
            assert_eq!(m.request_uri().unwrap().scheme(), "soap.beep");
        }
        "unksm2.dat" => {
            let m = ok();
            assert_eq!(m.to().uri.scheme(), "isbn");
            assert_eq!(m.from().uri.scheme(), "http");
            assert_eq!(m.contacts().next().unwrap().uri.scheme(), "name");
        }
        "bext01.dat" => {
            let m = ok();
            let req: Vec<_> = m.tokens(HeaderName::Require).collect();
            assert_eq!(req, ["nothingSupportsThis", "nothingSupportsThisEither"]);
            assert_eq!(m.tokens(HeaderName::ProxyRequire).count(), 2);
        }
        "invut.dat" => {
            let m = ok();
            assert!(m.content_type().unwrap().is("application", "unknownformat"));
        }
        "regaut01.dat" => {
            let m = ok();
            assert!(
                m.header("Authorization")
                    .unwrap()
                    .starts_with("NoOneKnowsThisScheme")
            );
        }
        "multi01.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(e.kind, ErrorKind::DuplicateHeader);
        }
        "mcl01.dat" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert_eq!(
                (e.kind, e.header),
                (ErrorKind::DuplicateHeader, Some(HeaderName::ContentLength))
            );
            assert!(frame(buf).is_err(), "stream framing must fail too");
        }
        "bcast.dat" => {
            let m = ok();
            let v: Vec<_> = m.vias().collect();
            assert_eq!(v[1].host, Host::V4("255.255.255.255".parse().unwrap()));
        }
        "zeromf.dat" => assert_eq!(ok().max_forwards(), Some(0)),
        "cparam01.dat" => {
            let m = ok();
            let c = m.contacts().next().unwrap();
            assert!(!c.uri.params().unwrap().contains("unknownparam"));
            assert!(c.params.contains("unknownparam"));
        }
        "cparam02.dat" => {
            let m = ok();
            let c = m.contacts().next().unwrap();
            assert!(c.uri.params().unwrap().contains("unknownparam"));
            assert!(c.params.is_empty());
        }
        "regescrt.dat" => {
            let m = ok();
            let c = m.contacts().next().unwrap();
            assert_eq!(sip(&c.uri).headers, Some("Route=%3Csip:sip.example.com%3E"));
        }
        "sdp01.dat" => assert_eq!(ok().header("Accept"), Some("text/nobodyKnowsThis")),
        "inv2543.dat" => {
            let m = ok();
            assert!(!m.top_via().has_rfc3261_branch());
            assert_eq!(m.max_forwards(), None);
        }
        "test.dat" => {
            reject(buf, name, Reject::Drop);
        }
        other => panic!("no expectation coded for {other}"),
    }
}

#[test]
fn rfc4475_torture_messages() {
    let Some(dir) = vectors_dir() else { return };
    let dir = dir.join("rfc4475");
    let names = expect_files(&dir);
    assert_eq!(names.len(), 50);
    for name in &names {
        let buf = std::fs::read(dir.join(name)).unwrap();
        check_4475(name, &buf);
    }
    // The variant of baddn with a final empty line is rejected the same way.
    let v = std::fs::read(dir.join("variants/baddn.with-final-crlf.dat")).unwrap();
    reject(&v, "baddn variant", Reject::Respond(400));
}

fn v6(s: &str) -> Host<&'static str> {
    Host::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn check_5118(name: &str, buf: &[u8]) {
    let ok = || SipMsg::parse_datagram(buf).unwrap_or_else(|e| panic!("{name}: {e}"));
    match name {
        "ipv6-good" => {
            let m = ok();
            assert_eq!(sip(m.request_uri().unwrap()).host, v6("2001:db8::10"));
            assert_eq!(m.top_via().host, v6("2001:db8::9:1"));
            assert_eq!(sip(&m.contacts().next().unwrap().uri).host, v6("2001:db8::1"));
        }
        "ipv6-bad" => {
            let e = reject(buf, name, Reject::Respond(400));
            assert!(matches!(e.kind, ErrorKind::BadRequestUri(_)));
        }
        "port-ambiguous" => {
            let ru = ok().request_uri().cloned().unwrap();
            let u = ru.as_sip().unwrap();
            assert_eq!((&u.host, u.port), (&v6("2001:db8::10:5070"), None));
        }
        "port-unambiguous" => {
            let ru = ok().request_uri().cloned().unwrap();
            let u = ru.as_sip().unwrap();
            assert_eq!((&u.host, u.port), (&v6("2001:db8::10"), Some(5070)));
        }
        "via-received-param-with-delim" | "via-received-param-no-delim" => {
            let want: IpAddr = "2001:db8::9:255".parse().unwrap();
            assert_eq!(ok().top_via().received(), Some(want));
        }
        "ipv6-in-sdp" => {
            let m = ok();
            assert!(String::from_utf8_lossy(m.body()).contains("IN IP6 2001:db8::20"));
        }
        "mult-ip-in-header" => {
            let m = ok();
            let v: Vec<_> = m.vias().collect();
            assert_eq!(v.len(), 3);
            assert_eq!((&v[0].host, v[0].port), (&v6("2001:db8::9:1"), Some(6050)));
            assert_eq!(v[1].host, Host::V4("192.0.2.1".parse().unwrap()));
            assert_eq!(v[2].host, v6("2001:db8::9:255"));
            assert_eq!(v[2].received(), Some("192.0.2.200".parse().unwrap()));
        }
        "mult-ip-in-sdp" => {
            let m = ok();
            assert!(String::from_utf8_lossy(m.body()).contains("IN IP6 2001:db8::1"));
        }
        "ipv4-mapped-ipv6" => {
            let m = ok();
            let c = m.contacts().next().unwrap();
            let h = &sip(&c.uri).host;
            let Host::V6(a) = h else { panic!("{name}: {h:?}") };
            assert!(a.to_ipv4_mapped().is_some());
        }
        "ipv6-bug-abnf-3-colons" | "ipv6-correct-abnf-2-colons" => {
            let m = ok();
            let want = v6("2001:db8::192.0.2.1");
            let hosts: Vec<_> = m
                .contacts()
                .map(|c| c.uri.as_sip().unwrap().host.clone())
                .chain(m.vias().map(|v| v.host))
                .chain(std::iter::once(sip(m.request_uri().unwrap()).host.clone()))
                .collect();
            assert!(hosts.contains(&want), "{name}: {hosts:?}");
        }
        other => panic!("no expectation coded for {other}"),
    }
}

#[test]
fn rfc5118_ipv6_messages() {
    let Some(dir) = vectors_dir() else { return };
    let dir = dir.join("rfc5118");
    let names = expect_files(&dir);
    assert_eq!(names.len(), 12);
    for name in &names {
        // The wire/ copies have CRLF line ends and correct Content-Length.
        let buf = std::fs::read(dir.join("wire").join(name)).unwrap();
        check_5118(name, &buf);
        // The archive copies (bare LF, some with wrong Content-Length) must not break anything.
        let raw = std::fs::read(dir.join(name)).unwrap();
        if let Err(e) = SipMsg::parse_datagram(&raw) {
            let _ = error_response(&raw, &e, "t");
        }
    }
}

#[test]
fn stream_framing_of_all_valid_vectors() {
    let Some(dir) = vectors_dir() else { return };
    for sub in ["rfc4475", "rfc5118/wire"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir()
                || path
                    .extension()
                    .is_some_and(|e| e == "tsv" || e == "pcap" || e == "txt")
            {
                continue;
            }
            let buf = std::fs::read(&path).unwrap();
            let Ok(m) = SipMsg::parse_datagram(&buf) else {
                continue;
            };
            if m.content_length().is_none() {
                continue;
            }
            // Byte-by-byte arrival: incomplete until the whole message is there.
            let n = m.wire_len();
            for cut in [1, n / 2, n - 1] {
                match frame(&buf[..cut]) {
                    Ok(Framing::Incomplete { .. }) => {}
                    other => panic!("{}: cut {cut}: {other:?}", path.display()),
                }
            }
            assert_eq!(frame(&buf).unwrap(), Framing::Complete(n), "{}", path.display());
            let (s, used) = SipMsg::parse_stream(&buf).unwrap();
            assert_eq!(used, n);
            assert_eq!(s.to_message(), m.to_message());
        }
    }
}
