//! The registrar's two steps with hand-made requests, a fake clock and a phone
//! that computes its digest as RFC 7616 §3.4.1 says.

use super::bindings::Binding;
use super::contact::TrunkAddrs;
use super::digest::{Algorithm, ha1};
use super::*;

const T0: u64 = 1_735_000_000_000;
const REALM: &str = "carecall";

fn settings() -> RegistrarSettings {
    RegistrarSettings {
        realm: REALM.into(),
        nonce_secret: b"test secret".to_vec(),
        nonce_lifetime_secs: 300,
        expires: ExpiresPolicy {
            min_secs: 60,
            max_secs: 3600,
            default_secs: 600,
        },
        flood: FloodPolicy {
            burst: 10,
            per_sec: 5.0,
            ban_after: 3,
            window_ms: 60_000,
            ban_ms: 600_000,
        },
        silent: false,
        max_contacts: 2,
        trunk: TrunkAddrs {
            addrs: vec!["203.0.113.5:5060".parse().unwrap()],
            name: None,
        },
    }
}

fn phone() -> SocketAddr {
    "192.0.2.10:5086".parse().unwrap()
}

fn register(user: &str, expires: Option<&str>, cseq: u32) -> RequestParts {
    RequestParts {
        method: "REGISTER".into(),
        to: Some(format!("<sip:{user}@{REALM}>")),
        call_id: Some("reg-1@192.0.2.10".into()),
        cseq: Some(format!("{cseq} REGISTER")),
        contacts: vec![format!("<sip:{user}@192.0.2.10:5086>")],
        expires: expires.map(str::to_string),
        authorization: None,
        user_agent: Some("baresip".into()),
        transport: "udp".into(),
    }
}

/// The nonce of a 401's WWW-Authenticate.
fn nonce_of(reply: &Reply) -> String {
    let h = reply.header("WWW-Authenticate").expect("challenge");
    let start = h.find("nonce=\"").unwrap() + 7;
    h[start..].split('"').next().unwrap().to_string()
}

/// What a phone sends back: qop=auth, MD5.
fn authorize(req: &mut RequestParts, user: &str, password: &str, nonce: &str) {
    let h1 = ha1(Algorithm::Md5, user, REALM, password);
    let uri = format!("sip:{REALM}");
    let ha2 = hex::encode(<md5::Md5 as sha2::Digest>::digest(format!(
        "REGISTER:{uri}"
    )));
    let response = hex::encode(<md5::Md5 as sha2::Digest>::digest(format!(
        "{h1}:{nonce}:00000001:abcdef:auth:{ha2}"
    )));
    req.authorization = Some(format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abcdef\""
    ));
}

fn challenge(r: &mut Registrar, req: &RequestParts, now: u64) -> Reply {
    match r.on_request(req, phone(), now) {
        Step::Reply(reply) if reply.code == 401 => reply,
        other => panic!("expected a 401, got {other:?}"),
    }
}

fn pending(r: &mut Registrar, req: &RequestParts, now: u64) -> Pending {
    match r.on_request(req, phone(), now) {
        Step::Authenticate(p) => *p,
        other => panic!("expected Authenticate, got {other:?}"),
    }
}

const LAN_HA1: fn() -> String = || ha1(Algorithm::Md5, "lan", REALM, "mật khẩu");

fn lan(h1: &str) -> Option<OperatorAuth<'_>> {
    Some(OperatorAuth {
        sip_user: "lan",
        ha1: h1,
    })
}

#[test]
fn challenge_then_200_with_the_binding() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", Some("120"), 1);
    let c = challenge(&mut r, &req, T0);
    assert!(
        c.header("WWW-Authenticate")
            .unwrap()
            .contains("realm=\"carecall\"")
    );
    authorize(&mut req, "lan", "mật khẩu", &nonce_of(&c));
    let p = pending(&mut r, &req, T0 + 50);
    assert_eq!(p.user, "lan");
    let h1 = LAN_HA1();
    let out = r.on_operator(&p, lan(&h1), &[], T0 + 50);
    let reply = out.reply.unwrap();
    assert_eq!(reply.code, 200);
    assert_eq!(
        reply.header("Contact"),
        Some("<sip:lan@192.0.2.10:5086>;expires=120")
    );
    let [Change::Upsert(b)] = out.changes.as_slice() else {
        panic!("{:?}", out.changes)
    };
    assert_eq!(b.expires_at_ms, (T0 + 50) as i64 + 120_000);
    assert_eq!(
        (b.source.as_str(), b.transport.as_str(), b.cseq),
        ("192.0.2.10:5086", "udp", 1)
    );
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_403() {
    let mut r = Registrar::new(&settings());
    let h1 = LAN_HA1();
    for (user, password, exists) in [("lan", "sai", true), ("ghost", "x", false)] {
        let mut req = register(user, None, 1);
        let nonce = nonce_of(&challenge(&mut r, &req, T0));
        authorize(&mut req, user, password, &nonce);
        let p = pending(&mut r, &req, T0);
        let op = if exists { lan(&h1) } else { None };
        let out = r.on_operator(&p, op, &[], T0);
        assert_eq!(out.reply.unwrap().code, 403, "{user}");
        assert!(out.changes.is_empty());
    }
}

#[test]
fn credentials_of_another_user_do_not_register_this_aor() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", None, 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    // Mai's valid credentials on Lan's AOR (RFC 3261 §10.3 step 6).
    authorize(&mut req, "mai", "pw-mai", &nonce);
    let p = pending(&mut r, &req, T0);
    let mai = ha1(Algorithm::Md5, "mai", REALM, "pw-mai");
    let out = r.on_operator(
        &p,
        Some(OperatorAuth {
            sip_user: "lan",
            ha1: &mai,
        }),
        &[],
        T0,
    );
    assert_eq!(out.reply.unwrap().code, 403);
}

#[test]
fn stale_nonce_gets_stale_true_and_forged_nonce_a_plain_401() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", None, 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "lan", "mật khẩu", &nonce);
    let again = challenge(&mut r, &req, T0 + 301_000);
    assert!(
        again
            .header("WWW-Authenticate")
            .unwrap()
            .ends_with("stale=true")
    );
    authorize(&mut req, "lan", "mật khẩu", "5f00.deadbeef");
    let forged = challenge(&mut r, &req, T0 + 1000);
    assert!(!forged.header("WWW-Authenticate").unwrap().contains("stale"));
}

#[test]
fn other_realm_is_challenged_again() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", None, 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "lan", "mật khẩu", &nonce);
    req.authorization = req
        .authorization
        .map(|a| a.replace("realm=\"carecall\"", "realm=\"elsewhere\""));
    challenge(&mut r, &req, T0);
}

#[test]
fn too_brief_is_423_with_min_expires() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", Some("30"), 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "lan", "mật khẩu", &nonce);
    let p = pending(&mut r, &req, T0);
    let h1 = LAN_HA1();
    let reply = r.on_operator(&p, lan(&h1), &[], T0).reply.unwrap();
    assert_eq!((reply.code, reply.header("Min-Expires")), (423, Some("60")));
}

#[test]
fn unregister_all_with_star() {
    let mut r = Registrar::new(&settings());
    let mut req = register("lan", Some("0"), 2);
    req.contacts = vec!["*".into()];
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "lan", "mật khẩu", &nonce);
    let p = pending(&mut r, &req, T0);
    let h1 = LAN_HA1();
    let current = [Binding {
        contact: "sip:lan@192.0.2.10:5086".into(),
        source: "192.0.2.10:5086".into(),
        transport: "udp".into(),
        user_agent: None,
        call_id: "reg-1@192.0.2.10".into(),
        cseq: 1,
        expires_at_ms: (T0 + 60_000) as i64,
    }];
    let out = r.on_operator(&p, lan(&h1), &current, T0);
    assert_eq!(out.reply.as_ref().unwrap().code, 200);
    assert_eq!(out.reply.unwrap().header("Contact"), None);
    assert_eq!(out.changes, vec![Change::RemoveAll]);
}

#[test]
fn malformed_registers_are_400() {
    let mut r = Registrar::new(&settings());
    type Spoil = fn(&mut RequestParts);
    let cases: [(&str, Spoil); 6] = [
        ("no To", |q| q.to = None),
        ("To without user", |q| q.to = Some("<sip:carecall>".into())),
        ("garbage Contact", |q| q.contacts = vec!["garbage<<".into()]),
        ("bad Expires", |q| q.expires = Some("soon".into())),
        ("bad CSeq", |q| q.cseq = Some("REGISTER".into())),
        ("no Call-ID", |q| q.call_id = None),
    ];
    for (what, spoil) in cases {
        let mut req = register("lan", None, 1);
        spoil(&mut req);
        match r.on_request(&req, phone(), T0) {
            Step::Reply(reply) => assert_eq!(reply.code, 400, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let mut req = register("lan", None, 1);
    req.authorization = Some("Digest username=\"lan".into());
    assert!(matches!(
        r.on_request(&req, phone(), T0),
        Step::Reply(Reply { code: 400, .. })
    ));
}

#[test]
fn options_is_answered_with_allow_and_accept() {
    let mut r = Registrar::new(&settings());
    let req = RequestParts {
        method: "OPTIONS".into(),
        ..RequestParts::default()
    };
    let Step::Reply(reply) = r.on_request(&req, phone(), T0) else {
        panic!()
    };
    assert_eq!(reply.code, 200);
    assert!(reply.header("Allow").unwrap().contains("REGISTER"));
    assert_eq!(reply.header("Accept"), Some("application/sdp"));
}

#[test]
fn flood_gets_503_then_failed_auths_ban_with_403() {
    let mut r = Registrar::new(&settings());
    let req = register("lan", None, 1);
    for _ in 0..10 {
        challenge(&mut r, &req, T0);
    }
    let Step::Reply(limited) = r.on_request(&req, phone(), T0) else {
        panic!()
    };
    assert_eq!(
        (limited.code, limited.header("Retry-After")),
        (503, Some("5"))
    );
    // Another source is served meanwhile.
    let other: SocketAddr = "192.0.2.11:5060".parse().unwrap();
    assert!(matches!(
        r.on_request(&req, other, T0),
        Step::Reply(Reply { code: 401, .. })
    ));

    // Three wrong passwords within the window ban the source at the transport.
    let h1 = LAN_HA1();
    let t = T0 + 60_000;
    for _ in 0..3 {
        let mut req = register("lan", None, 1);
        let nonce = nonce_of(&challenge(&mut r, &req, t));
        authorize(&mut req, "lan", "guess", &nonce);
        let p = pending(&mut r, &req, t);
        assert_eq!(r.on_operator(&p, lan(&h1), &[], t).reply.unwrap().code, 403);
    }
    let ingress = r.ingress().clone();
    assert!(!lock(&ingress).admit_datagram(phone().ip(), t + 1));
    assert!(lock(&ingress).admit_datagram(other.ip(), t + 1));
    // The ban ends.
    assert!(lock(&ingress).admit_datagram(phone().ip(), t + 600_000));
}

#[test]
fn silent_mode_leaves_the_rate_to_the_transport() {
    let s = RegistrarSettings {
        silent: true,
        ..settings()
    };
    assert_eq!(s.transport_flood(), s.flood);
    assert_eq!(
        settings().transport_flood().burst,
        40,
        "4x when answering 503"
    );
    let mut r = Registrar::new(&s);
    let req = register("lan", None, 1);
    for _ in 0..50 {
        challenge(&mut r, &req, T0);
    }
}

/// Lan's REGISTER with a valid digest for a nonce issued to `from`.
fn signed(r: &mut Registrar, from: SocketAddr, cseq: u32, contact: &str, now: u64) -> RequestParts {
    let mut req = register("lan", Some("120"), cseq);
    req.contacts = vec![contact.into()];
    let nonce = r.nonces.issue(now / 1000, from.ip());
    authorize(&mut req, "lan", "mật khẩu", &nonce);
    req
}

fn register_from(r: &mut Registrar, req: &RequestParts, from: SocketAddr, now: u64) -> Reply {
    let h1 = LAN_HA1();
    match r.on_request(req, from, now) {
        Step::Reply(reply) => reply,
        Step::Authenticate(p) => r.on_operator(&p, lan(&h1), &[], now).reply.unwrap(),
    }
}

#[test]
fn a_replayed_authorization_is_refused_from_anywhere() {
    let mut r = Registrar::new(&settings());
    let req = signed(&mut r, phone(), 1, "<sip:lan@192.0.2.10:5086>", T0);
    assert_eq!(register_from(&mut r, &req, phone(), T0).code, 200);
    // The same request again (same nonce, same nc) from the phone's address:
    // a replay; re-challenged with stale=true, no ban counted.
    let again = register_from(&mut r, &req, phone(), T0 + 1000);
    assert_eq!(again.code, 401);
    assert!(
        again
            .header("WWW-Authenticate")
            .unwrap()
            .ends_with("stale=true")
    );
    // The captured header with another Contact, from another address: the
    // nonce was not issued there.
    let attacker: SocketAddr = "198.51.100.66:5060".parse().unwrap();
    let mut evil = req.clone();
    evil.contacts = vec!["<sip:lan@198.51.100.66:5060>".into()];
    let reply = register_from(&mut r, &evil, attacker, T0 + 2000);
    assert_eq!(reply.code, 401);
    assert!(!reply.header("WWW-Authenticate").unwrap().contains("stale"));
    // Contact: * replayed from the phone's own address is refused too.
    let mut star = req.clone();
    star.contacts = vec!["*".into()];
    star.expires = Some("0".into());
    assert_eq!(register_from(&mut r, &star, phone(), T0 + 3000).code, 401);
    // The phone's next request (nc 2 on the same nonce) is fine.
    let mut next = req.clone();
    next.authorization = next
        .authorization
        .map(|a| a.replace("nc=00000001", "nc=00000002"));
    // (the response covers nc, so recompute it the way the phone does)
    let nonce =
        nonce_of(&Reply::new(401, "").with("WWW-Authenticate", req.authorization.clone().unwrap()));
    let h1 = LAN_HA1();
    let ha2 = hex::encode(<md5::Md5 as sha2::Digest>::digest("REGISTER:sip:carecall"));
    let response = hex::encode(<md5::Md5 as sha2::Digest>::digest(format!(
        "{h1}:{nonce}:00000002:abcdef:auth:{ha2}"
    )));
    let old = req.authorization.as_deref().unwrap();
    let old_response = old
        .split("response=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    next.authorization = next
        .authorization
        .map(|a| a.replace(old_response, &response));
    next.cseq = Some("2 REGISTER".into());
    assert_eq!(register_from(&mut r, &next, phone(), T0 + 4000).code, 200);
}

#[test]
fn unknown_users_cost_one_digest_against_the_dummy() {
    let mut r = Registrar::new(&settings());
    let h1 = LAN_HA1();
    let mut req = register("ghost", None, 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "ghost", "x", &nonce);
    let p = pending(&mut r, &req, T0);
    assert!(r.authenticate(p.clone(), None, T0).is_err());
    assert_eq!(r.digests_checked(), (1, 1), "one digest, against the dummy");
    // Someone else's account for this AOR: also the dummy, also one digest.
    assert!(r.authenticate(p, lan(&h1), T0).is_err());
    assert_eq!(r.digests_checked(), (2, 2));
    // A known user with a wrong password: one digest, its own HA1.
    let mut req = register("lan", None, 1);
    let nonce = nonce_of(&challenge(&mut r, &req, T0));
    authorize(&mut req, "lan", "sai", &nonce);
    let p = pending(&mut r, &req, T0);
    assert!(r.authenticate(p, lan(&h1), T0).is_err());
    assert_eq!(r.digests_checked(), (3, 2));
}

#[test]
fn a_contact_at_the_trunk_is_403_and_the_cap_is_503() {
    let mut r = Registrar::new(&settings());
    let t = signed(&mut r, phone(), 1, "<sip:0912345678@203.0.113.5:5060>", T0);
    let reply = register_from(&mut r, &t, phone(), T0);
    assert_eq!(
        (reply.code, reply.reason),
        (403, "Contact Points At The Trunk")
    );
    // The cap (2): a third phone is refused, existing ones kept.
    let current = [
        binding("sip:lan@192.0.2.10:5086", "a"),
        binding("sip:lan@192.0.2.11:5086", "b"),
    ];
    let req = signed(&mut r, phone(), 1, "<sip:lan@192.0.2.12:5086>", T0);
    let Step::Authenticate(p) = r.on_request(&req, phone(), T0) else {
        panic!()
    };
    let h1 = LAN_HA1();
    let out = r.on_operator(&p, lan(&h1), &current, T0);
    let reply = out.reply.unwrap();
    assert_eq!(
        (reply.code, reply.reason),
        (503, "Too Many Registered Contacts")
    );
    assert!(out.changes.is_empty());
}

fn binding(contact: &str, call_id: &str) -> Binding {
    Binding {
        contact: contact.into(),
        source: "192.0.2.10:5086".into(),
        transport: "udp".into(),
        user_agent: None,
        call_id: call_id.into(),
        cseq: 1,
        expires_at_ms: (T0 + 60_000) as i64,
    }
}
