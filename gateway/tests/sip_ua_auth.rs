//! Digest authentication: golden vectors from RFC 7616 3.9.1 and RFC 2617 3.5, challenge
//! parsing and the client's nonce counting.

use gateway::sip::auth::{
    Algorithm, ChallengeKind, Credentials, DigestClient, DigestInput, Qop, digest_response, parse_challenges,
};

fn input<'a>(
    algorithm: Algorithm,
    password: &'a str,
    realm: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
) -> DigestInput<'a> {
    DigestInput {
        algorithm,
        username: "Mufasa",
        password,
        realm,
        nonce,
        cnonce,
        nc: 1,
        qop: Some(Qop::Auth),
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    }
}

#[test]
fn rfc7616_md5_and_sha256() {
    let realm = "http-auth@example.org";
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let md5 = digest_response(&input(Algorithm::Md5, "Circle of Life", realm, nonce, cnonce));
    assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
    let sha = digest_response(&input(Algorithm::Sha256, "Circle of Life", realm, nonce, cnonce));
    assert_eq!(
        sha,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc2617_md5() {
    let r = digest_response(&input(
        Algorithm::Md5,
        "Circle Of Life",
        "testrealm@host.com",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "0a4f113b",
    ));
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn session_variants_and_auth_int_differ() {
    let base = input(Algorithm::Md5, "p", "r", "n", "c");
    let plain = digest_response(&base);
    let sess = digest_response(&DigestInput {
        algorithm: Algorithm::Md5Sess,
        ..base.clone()
    });
    let int = digest_response(&DigestInput {
        qop: Some(Qop::AuthInt),
        body: b"v=0",
        ..base.clone()
    });
    let sha_sess = digest_response(&DigestInput {
        algorithm: Algorithm::Sha256Sess,
        ..base.clone()
    });
    assert_ne!(plain, sess);
    assert_ne!(plain, int);
    assert_eq!(sha_sess.len(), 64);
    // MD5-sess: HA1 = MD5(MD5(user:realm:pass):nonce:cnonce).
    let ha1 = Algorithm::Md5.hex(&[b"Mufasa:r:p"]);
    let ha1s = Algorithm::Md5.hex(&[ha1.as_bytes(), b":n:c"]);
    let ha2 = Algorithm::Md5.hex(&[b"GET:/dir/index.html"]);
    let want = Algorithm::Md5.hex(&[ha1s.as_bytes(), b":n:00000001:c:auth:", ha2.as_bytes()]);
    assert_eq!(sess, want);
}

#[test]
fn rfc2069_without_qop() {
    let i = DigestInput {
        qop: None,
        ..input(Algorithm::Md5, "p", "r", "n", "c")
    };
    let ha1 = Algorithm::Md5.hex(&[b"Mufasa:r:p"]);
    let ha2 = Algorithm::Md5.hex(&[b"GET:/dir/index.html"]);
    assert_eq!(
        digest_response(&i),
        Algorithm::Md5.hex(&[ha1.as_bytes(), b":n:", ha2.as_bytes()])
    );
}

#[test]
fn parses_rfc8760_multiple_challenges() {
    let v = r#"Digest realm="sip.example.com", qop="auth", algorithm=SHA-512-256, nonce="a", opaque="o", Digest realm="sip.example.com", qop="auth", algorithm=SHA-256, nonce="a", Digest realm="sip.example.com", qop="auth", algorithm=MD5, nonce="a", stale=TRUE"#;
    let cs: Vec<_> = parse_challenges(ChallengeKind::Www, v)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(cs.len(), 3);
    assert_eq!(cs[0].algorithm, Algorithm::Sha512_256);
    assert_eq!(cs[0].opaque.as_deref(), Some("o"));
    assert!(cs[2].stale);
    assert!(parse_challenges(ChallengeKind::Www, "Basic realm=\"x\"")[0].is_err());
    assert!(parse_challenges(ChallengeKind::Www, "Digest nonce=\"x\"")[0].is_err());
    assert!(
        parse_challenges(
            ChallengeKind::Www,
            "Digest realm=\"x\", nonce=\"n\", algorithm=FOO"
        )[0]
        .is_err()
    );
}

fn creds() -> Credentials {
    Credentials {
        username: "1001".into(),
        password: "secret".into(),
        realm: None,
    }
}

#[test]
fn client_prefers_sha256_and_counts_nonces() {
    let mut c = DigestClient::new(creds(), 7);
    let stale = c
        .on_challenge([
            (
                ChallengeKind::Www,
                r#"Digest realm="r", nonce="n1", qop="auth", algorithm=MD5"#,
            ),
            (
                ChallengeKind::Www,
                r#"Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256, opaque="op""#,
            ),
        ])
        .unwrap();
    assert!(!stale);
    let a = c.authorize("REGISTER", "sip:example.net", b"");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].name(), "Authorization");
    assert!(a[0].value.contains("algorithm=SHA-256"), "{}", a[0].value);
    assert!(a[0].value.contains("nc=00000001"));
    assert!(a[0].value.contains("opaque=\"op\""));
    let b = c.authorize("INVITE", "sip:x@example.net", b"");
    assert!(b[0].value.contains("nc=00000002"));
    // A stale challenge with a new nonce restarts the count and says so.
    let stale = c
        .on_challenge([(
            ChallengeKind::Www,
            r#"Digest realm="r", nonce="n2", qop="auth", algorithm=SHA-256, stale=true"#,
        )])
        .unwrap();
    assert!(stale);
    let d = c.authorize("REGISTER", "sip:example.net", b"");
    assert!(d[0].value.contains("nonce=\"n2\"") && d[0].value.contains("nc=00000001"));
    // Proxy challenges are answered with Proxy-Authorization, and the response verifies.
    let mut p = DigestClient::new(creds(), 9);
    p.on_challenge([(ChallengeKind::Proxy, r#"Digest realm="p", nonce="x", qop="auth""#)])
        .unwrap();
    let h = p.authorize("INVITE", "sip:2000@p", b"");
    assert_eq!(h[0].name(), "Proxy-Authorization");
    let cnonce = h[0]
        .value
        .split("cnonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let want = digest_response(&DigestInput {
        algorithm: Algorithm::Md5,
        username: "1001",
        password: "secret",
        realm: "p",
        nonce: "x",
        cnonce: &cnonce,
        nc: 1,
        qop: Some(Qop::Auth),
        method: "INVITE",
        uri: "sip:2000@p",
        body: b"",
    });
    assert!(h[0].value.contains(&format!("response=\"{want}\"")));
}
