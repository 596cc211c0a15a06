//! Two hotline nodes behind the real Kamailio (Debian's `kamailio`, started by the tests with
//! deploy/kamailio/kamailio.cfg on a loopback port): phones register and callers call through
//! the proxy only. A phone registered through it is rung through it (RFC 3327 Path, kept by
//! the node); the node the dispatcher prefers takes the calls while it answers OPTIONS 200;
//! killed, or draining after SIGTERM (OPTIONS 503), new calls go to the other node. The
//! proxy relays new calls from the carriers' addresses only (the callers' ports here), sends
//! in-dialog requests from outside only to a node, and keeps NAT'd phones reachable.
//!
//! Skipped, with a line saying so, when Kamailio is not installed (scripts/test.sh installs it).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::sipproxy::*;
use common::*;

#[test]
fn a_phone_registered_through_the_proxy_is_rung_through_it() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();

    // The phone knows only the proxy's address.
    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1001", &port);
    // Node A (preferred, answering 200) got the REGISTER and keeps its Path: the proxy, with
    // where the proxy saw the phone.
    let path = wait_for(Duration::from_secs(30), "A keeps the registration", || {
        kept_registration(&data_dir(&a).join("hotline.db"), "1001")
    })
    .expect("the registration has a Path");
    let hop = format!("sip:127.0.0.1:{};lr", k.addr.port());
    assert!(path.starts_with(&hop), "{path}");
    assert!(path.contains(&format!("127.0.0.1:{port}")), "{path}");
    assert_eq!(
        kept_registration(&data_dir(&b).join("hotline.db"), "1001"),
        None,
        "B got no REGISTER"
    );
    available(&a, "1001");

    let phone = phone_through(&k, scenarios.path(), &port);
    let (ok, log) = caller_through(&k, scenarios.path(), 4000).join().unwrap();
    assert!(ok, "the caller through the proxy: {log}\n{}", k.log());
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "the phone rung and hung up through the proxy: {log}\n{}",
        k.log()
    );

    let recs = closed_records(&a, 1);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(r["from"], "13800138000", "{r}");
    assert_eq!(r["queue"], "accounts", "{r}");
    assert_eq!(r["agent"], "1001", "{r}");
    assert!(r["answered"].is_string(), "{r}");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");
    // Media went straight between the peers and node A: both sides are heard.
    let (channels, left, right) = wav_channels_rms(r["recording"].as_str().expect("recording"));
    assert_eq!(channels, 2);
    assert!(left > 100.0, "the caller is audible: rms {left}");
    assert!(right > 100.0, "the agent is audible: rms {right}");
    assert!(records(&b).is_empty(), "B took no call");
}

#[test]
fn a_node_killed_and_started_again_rings_its_phone_through_the_proxy_without_a_new_register() {
    if !kamailio_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = Hotline::serve_with_in(&data, all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1001", &port);
    available(&a, "1001");
    wait_for(Duration::from_secs(30), "A keeps the registration", || {
        kept_registration(&data.join("hotline.db"), "1001").flatten()
    });

    // kill -9, and the same node again on the same address with the same data: the Path
    // comes back from the store, and the call to the phone goes through the proxy.
    let sip = a.sip;
    a.kill9();
    let killed = Instant::now();
    drop(a);
    // No call meanwhile: the probes alone take A out.
    k.wait_node(sip, "down");
    let out = killed.elapsed();
    println!(
        "probing: node A taken out {:.2} s after kill -9",
        out.as_secs_f64()
    );
    // Two failed probes (2 s each, one a second): a few seconds; the bound is loose, for a
    // loaded machine (the figure is printed).
    assert!(out < Duration::from_secs(20), "{out:?}");
    let a = Hotline::serve_with_in_at(&data, sip, all_take_accounts);
    // The proxy has A back once A answers its probes.
    k.wait_node(sip, "up");
    let phone = phone_through(&k, scenarios.path(), &port);
    let (ok, log) = caller_through(&k, scenarios.path(), 3000).join().unwrap();
    assert!(ok, "the caller: {log}\n{}", k.log());
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "the phone rung through the proxy after the restart: {log}\n{}",
        k.log()
    );
    let r = &closed_records(&a, 1)[0];
    assert_eq!(r["agent"], "1001", "{r}");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");
    assert!(records(&b).is_empty(), "B took no call");
}

#[test]
fn the_proxy_relays_nothing_but_requests_for_the_centre() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let status = |ruri: &str, extra: &str| options_for(k.addr, ruri, extra).map(|(s, _)| s);
    // For the centre (its domain, or the proxy's address with a user): to a node, which
    // answers 200 while it takes calls.
    assert_eq!(
        status("sip:95588@hotline.test", ""),
        Some(200),
        "{}",
        k.log()
    );
    assert_eq!(
        status(&format!("sip:95588@{}", k.addr), ""),
        Some(200),
        "{}",
        k.log()
    );
    // For anywhere else: refused, not relayed.
    assert_eq!(status("sip:someone@example.org", ""), Some(403));
    assert_eq!(status("sip:someone@127.0.0.2:5060", ""), Some(403));
    // A pre-loaded Route from outside (only nodes may route through the proxy that way).
    let route = format!("Route: <sip:{};lr>\r\n", k.addr);
    assert_eq!(status("sip:someone@example.org", &route), Some(403));
    // A request dressed as one inside a call (a To tag, a Route naming the proxy) for an
    // address that is no node: refused, and nothing reaches that address.
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    let victim_addr = victim.local_addr().unwrap();
    let forged = format!(
        "To: <sip:victim@{victim_addr}>;tag=x1\r\nRoute: <sip:{};lr>\r\n",
        k.addr
    );
    for method in ["INVITE", "MESSAGE", "BYE"] {
        let answer = request_for(
            k.addr,
            method,
            &format!("sip:victim@{victim_addr}"),
            &forged,
        );
        assert_eq!(
            answer.as_ref().map(|(s, _)| *s),
            Some(403),
            "{method} inside a forged dialog: {answer:?}\n{}",
            k.log()
        );
    }
    victim
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let got = victim.recv_from(&mut buf);
    assert!(
        got.is_err(),
        "the proxy relayed a forged in-dialog request: {}",
        got.map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_default()
    );
    // Looping requests are answered, not forwarded.
    let looping = "Max-Forwards: 0\r\n";
    assert!(
        options_for(k.addr, "sip:95588@hotline.test", looping).is_some_and(|(s, _)| s == 483),
        "{}",
        k.log()
    );
}

#[test]
fn a_caller_giving_up_cancels_the_ringing_phone_through_the_proxy() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1001", &port);
    available(&a, "1001");
    // The phone rings and is never picked up; hotline's CANCEL must reach it through the
    // proxy, as its INVITE did.
    let via = format!(
        "<recv request=\"CANCEL\">\n    <action>\n      <ereg regexp=\"SIP/2\\.0/UDP 127\\.0\\.0\\.1:{};\" search_in=\"hdr\" header=\"Via:\" check_it=\"true\" assign_to=\"cv\"/>\n    </action>\n  </recv>\n  <Reference variables=\"cv\"/>",
        k.addr.port()
    );
    let rings = scenario(
        scenarios.path(),
        "agent-no-answer.xml",
        k.addr,
        &[("<recv request=\"CANCEL\"/>", &via)],
    );
    let (addr, p) = (k.addr, port.clone());
    let phone = std::thread::spawn(move || {
        sipp_at(
            addr,
            &rings,
            &["-p", &p, "-i", "127.0.0.1", "-m", "1", "-timeout", "60s"],
        )
    });
    // The caller hangs up after a few seconds, well inside the ring timeout.
    let (ok, log) = caller_through(&k, scenarios.path(), 4000).join().unwrap();
    assert!(ok, "the caller: {log}\n{}", k.log());
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "the phone got the CANCEL through the proxy, answered 487 and got the ACK: {log}\n{}",
        k.log()
    );
    let r = &closed_records(&a, 1)[0];
    assert!(r["answered"].is_null(), "{r}");
    assert_eq!(r["end_reason"], "abandoned", "{r}");
}

#[test]
fn killing_the_active_node_sends_new_calls_to_the_other() {
    if !kamailio_installed() {
        return;
    }
    let mut a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();

    // While A answers OPTIONS 200, it takes the calls: the flow runs there (the caller
    // presses 1 and waits in the accounts queue; nobody is available).
    let (ok, log) = caller_through(&k, scenarios.path(), 2000).join().unwrap();
    assert!(ok, "the first caller: {log}\n{}", k.log());
    let on_a = closed_records(&a, 1);
    assert_eq!(on_a[0]["queue"], "accounts", "{:#}", on_a[0]);
    assert!(records(&b).is_empty());

    let feed = Feed::open(&b);
    a.kill9();
    let killed = Instant::now();
    // A new caller right after the kill: the proxy's probe or the call itself finds A gone,
    // and B answers.
    let caller = caller_through(&k, scenarios.path(), 2000);
    feed.wait(Duration::from_secs(30), "B to answer a call", |e| {
        count(e, "arrived") >= 1
    });
    let failover = killed.elapsed();
    println!(
        "failover: {:.2} s from kill -9 of node A to the first call answered by node B",
        failover.as_secs_f64()
    );
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "the caller after the kill: {log}\n{}", k.log());
    let on_b = closed_records(&b, 1);
    assert_eq!(
        on_b[0]["queue"], "accounts",
        "B ran the flow: {:#}",
        on_b[0]
    );
    // Loose, for a loaded machine: the figure is printed.
    assert!(
        failover < Duration::from_secs(20),
        "failover took {failover:?}"
    );

    // A is out of the set now: the next caller goes to B without trying A first (the
    // proxy logs each new call a node leaves unanswered; none more for A).
    k.wait_node(a.sip, "down");
    let unanswered = format!(
        "hotline node sip:{} is down: a new call to it got no answer",
        a.sip
    );
    let before = k.log().matches(&unanswered).count();
    let again = Instant::now();
    let caller = caller_through(&k, scenarios.path(), 1000);
    feed.wait(Duration::from_secs(30), "B to answer the next call", |e| {
        count(e, "arrived") >= 2
    });
    let direct = again.elapsed();
    println!(
        "next call: answered by node B {:.2} s after it was placed",
        direct.as_secs_f64()
    );
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "the next caller: {log}\n{}", k.log());
    assert_eq!(
        k.log().matches(&unanswered).count(),
        before,
        "the next call was tried on A first ({direct:?}):\n{}",
        k.log()
    );
}

#[test]
fn a_draining_node_answers_options_503_and_new_calls_go_to_the_other() {
    if !kamailio_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config =
        |t: String| all_take_accounts(t).replace("[centre]", "[centre]\ndrain_seconds = 60");
    let mut a = Hotline::serve_with_in(&data, config);
    let b = Hotline::serve_with(all_take_accounts);
    assert_eq!(options(a.sip).map(|(s, _)| s), Some(200));
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();

    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1001", &port);
    available(&a, "1001");
    let feed_a = Feed::open(&a);
    let phone = phone_through(&k, scenarios.path(), &port);
    // A call in progress on A that outlasts what follows.
    let talking = caller_through(&k, scenarios.path(), 12_000);
    feed_a.wait(Duration::from_secs(45), "A's call answered", |e| {
        count(e, "answered") >= 1
    });

    a.signal("TERM");
    let term = Instant::now();
    // A says it takes no new calls; B still does.
    let (_, answer) = wait_for(Duration::from_secs(10), "A to answer OPTIONS 503", || {
        options(a.sip).filter(|(s, _)| *s == 503)
    });
    assert!(
        answer.lines().any(|l| l.starts_with("Retry-After: ")),
        "{answer}"
    );
    assert_eq!(options(b.sip).map(|(s, _)| s), Some(200));
    k.wait_node(a.sip, "down");
    println!(
        "draining: node A taken out {:.2} s after SIGTERM",
        term.elapsed().as_secs_f64()
    );

    // A new caller goes to B, while A's call goes on.
    let feed_b = Feed::open(&b);
    let (ok, log) = caller_through_from(&k, scenarios.path(), 1000, 1)
        .join()
        .unwrap();
    assert!(ok, "the new caller: {log}\n{}", k.log());
    let on_b = closed_records(&b, 1);
    assert_eq!(on_b[0]["queue"], "accounts", "{:#}", on_b[0]);
    assert_eq!(count(&feed_b.snapshot(), "arrived"), 1);
    assert!(
        a.wait_exit(Duration::from_millis(10)).is_none(),
        "A still runs its call"
    );

    // A's call ends as the caller wants, and A then stops by itself.
    let (ok, log) = talking.join().unwrap();
    assert!(ok, "the call on A finishes normally: {log}\n{}", k.log());
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "A's agent phone: {log}\n{}", k.log());
    let status = a
        .wait_exit(Duration::from_secs(60))
        .expect("A exits once its call is over");
    assert!(status.success(), "{status:?}");
    drop(a);
    let a = Hotline::serve_with_in(&data, config);
    let recs = records(&a);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["agent"], "1001", "{:#}", recs[0]);
    assert_eq!(recs[0]["end_reason"], "caller_hangup", "{:#}", recs[0]);
}

#[test]
fn only_carriers_call_in_through_the_proxy_and_phones_register_with_its_path_only() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();

    // A phone registers from anywhere (hotline challenges it), even writing a Path of its
    // own: the proxy drops that one and puts its own.
    let port = free_port("127.0.0.1").to_string();
    let forged = scenario(
        scenarios.path(),
        "register.xml",
        k.addr,
        &[(
            "Max-Forwards: 70",
            "Max-Forwards: 70\n      Path: <sip:evil@127.0.0.9:5060;lr>",
        )],
    );
    let pw = "pass1001";
    let (ok, log) = sipp_at(
        k.addr,
        &forged,
        &[
            "-p", &port, "-s", "1001", "-au", "1001", "-ap", pw, "-m", "1",
        ],
    );
    assert!(ok, "registration with a forged Path: {log}\n{}", k.log());
    let path = wait_for(Duration::from_secs(30), "A keeps the registration", || {
        kept_registration(&data_dir(&a).join("hotline.db"), "1001")
    })
    .expect("the registration has a Path");
    assert!(
        path.starts_with(&format!("sip:127.0.0.1:{};lr", k.addr.port())),
        "{path}"
    );
    assert!(
        !path.contains("127.0.0.9"),
        "the phone's own Path was kept: {path}"
    );

    // A new call from an address that is not a carrier's (the phone's, or anyone's):
    // refused by the proxy, never seen by a node.
    let answer = request_for(k.addr, "INVITE", "sip:95588@hotline.test", "");
    assert_eq!(
        answer.as_ref().map(|(s, _)| *s),
        Some(403),
        "an INVITE from no carrier: {answer:?}\n{}",
        k.log()
    );
    let answer = request_for(k.addr, "MESSAGE", "sip:1001@hotline.test", "");
    assert_eq!(answer.map(|(s, _)| s), Some(403), "{}", k.log());

    // From a carrier's address: the call is taken (node A runs its flow).
    let (ok, log) = caller_through(&k, scenarios.path(), 1000).join().unwrap();
    assert!(ok, "the carrier's caller: {log}\n{}", k.log());
    let recs = closed_records(&a, 1);
    assert_eq!(
        recs.len(),
        1,
        "only the carrier's call reached a node: {recs:#?}"
    );
    assert_eq!(recs[0]["queue"], "accounts", "{:#}", recs[0]);
    assert!(records(&b).is_empty());
}

#[test]
fn a_node_at_its_call_limit_stays_in_and_the_other_takes_the_call() {
    if !kamailio_installed() {
        return;
    }
    let limited = |t: String| all_take_accounts(t).replace("[centre]", "[centre]\nmax_calls = 1");
    let a = Hotline::serve_with(limited);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();

    // One call waiting on A: A is at its limit.
    let feed_a = Feed::open(&a);
    let first = caller_through_from(&k, scenarios.path(), 10_000, 0);
    feed_a.wait(Duration::from_secs(45), "A's first call", |e| {
        count(e, "arrived") >= 1
    });
    // A second caller at once: A answers 503, the proxy tries B, which takes it.
    let feed_b = Feed::open(&b);
    let (ok, log) = caller_through_from(&k, scenarios.path(), 1000, 1)
        .join()
        .unwrap();
    assert!(ok, "the second caller: {log}\n{}", k.log());
    feed_b.wait(Duration::from_secs(30), "B to take the second call", |e| {
        count(e, "arrived") >= 1
    });
    let refused = format!("hotline node sip:{} refused a new call (503)", a.sip);
    wait_for(Duration::from_secs(10), "the proxy to log A's 503", || {
        k.log().contains(&refused).then_some(())
    });
    let (ok, log) = first.join().unwrap();
    assert!(ok, "the first caller: {log}\n{}", k.log());
    // A was never taken out: a 503 is an answer, and A's probes kept saying 200.
    let down = format!("hotline node sip:{} is down", a.sip);
    assert!(!k.log().contains(&down), "A was taken out:\n{}", k.log());
    // And the next call goes to A again.
    let (ok, log) = caller_through(&k, scenarios.path(), 1000).join().unwrap();
    assert!(ok, "the third caller: {log}\n{}", k.log());
    assert_eq!(closed_records(&a, 2).len(), 2);
    assert_eq!(closed_records(&b, 1).len(), 1);
    assert!(!k.log().contains(&down), "A was taken out:\n{}", k.log());
}

#[test]
fn a_phone_behind_a_nat_gets_the_ack_and_bye_of_its_call_through_the_proxy() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1001", &port);
    available(&a, "1001");

    // The phone answers with a Contact naming an address it does not receive at (as a
    // phone behind a NAT names its private address): nothing listens on that port. The
    // node's ACK and BYE reach the phone only if the proxy sends them to where it saw the
    // phone (the alias it adds to the Contact).
    let private = free_port("127.0.0.1");
    let contact = format!("Contact: <sip:agent@127.0.0.1:{private};transport=[transport]>");
    let phone = phone_through_with(
        &k,
        scenarios.path(),
        &port,
        &[(
            "Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>",
            &contact,
        )],
    );
    let (ok, log) = caller_through(&k, scenarios.path(), 3000).join().unwrap();
    assert!(ok, "the caller: {log}\n{}", k.log());
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "the NAT'd phone got its ACK and BYE through the proxy: {log}\n{}",
        k.log()
    );
    let r = &closed_records(&a, 1)[0];
    assert_eq!(r["agent"], "1001", "{r}");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");
}

#[test]
fn the_proxy_keeps_a_nat_d_phone_s_pinhole_open() {
    if !kamailio_installed() {
        return;
    }
    let a = Hotline::serve_with(all_take_accounts);
    let b = Hotline::serve_with(all_take_accounts);
    let k = Kamailio::start([a.sip, b.sip]);
    let scenarios = tempfile::tempdir().unwrap();
    // A phone behind a NAT: its Via names another port than the one it sends from.
    let port = free_port("127.0.0.1");
    let private = free_port("127.0.0.1");
    let natted = scenario(
        scenarios.path(),
        "register.xml",
        k.addr,
        &[(
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];",
            &format!("Via: SIP/2.0/[transport] [local_ip]:{private};"),
        )],
    );
    let (ok, log) = sipp_at(
        k.addr,
        &natted,
        &[
            "-p",
            &port.to_string(),
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            "pass1001",
            "-m",
            "1",
        ],
    );
    assert!(ok, "the NAT'd phone's registration: {log}\n{}", k.log());
    // Where the proxy saw the phone gets its keep-alives (the node sends none: it has the
    // phone's Path).
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = vec![0u8; 65_536];
    let got = wait_for(
        Duration::from_secs(20),
        "a keep-alive from the proxy",
        || {
            let (n, from) = sock.recv_from(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            text.starts_with("OPTIONS ").then_some((from, text))
        },
    );
    assert_eq!(got.0, k.addr, "{}", got.1);
}

/// The nodes' per-source limits apply to the phones behind the proxy: the proxy names each
/// request's source (`X-Hotline-Source`) and the nodes list it in `sip.proxies`. A phone
/// guessing passwords through the proxy is locked out, whatever account it tries next,
/// while another phone behind the same proxy registers.
#[test]
fn a_phone_guessing_passwords_through_the_proxy_is_locked_out_and_the_others_are_not() {
    if !kamailio_installed() {
        return;
    }
    let proxied = |t: String| {
        all_take_accounts(t).replacen("[sip]\n", "[sip]\nproxies = [\"127.0.0.1/32\"]\n", 1)
    };
    let a = Hotline::serve_with(proxied);
    let b = Hotline::serve_with(proxied);
    let k = Kamailio::start([a.sip, b.sip]);
    // Five wrong passwords for 1005 from the phone at 127.0.0.2.
    for n in 0..5 {
        let (ok, log) = sipp_at(
            k.addr,
            "register-refused.xml",
            &[
                "-i",
                "127.0.0.2",
                "-s",
                "1005",
                "-au",
                "1005",
                "-ap",
                "guess",
                "-m",
                "1",
            ],
        );
        assert!(ok, "wrong password {n} is refused: {log}\n{}", k.log());
    }
    // That phone is now refused before any challenge, even for another account with its
    // right password: the source is locked out (not only the account it guessed at).
    let (ok, log) = sipp_at(
        k.addr,
        "register-locked.xml",
        &[
            "-i",
            "127.0.0.2",
            "-s",
            "1007",
            "-au",
            "1007",
            "-ap",
            "pass1007",
            "-m",
            "1",
        ],
    );
    assert!(ok, "the guessing phone is locked out: {log}\n{}", k.log());
    // Another phone behind the same proxy registers as usual.
    let port = free_port("127.0.0.1").to_string();
    register_through(&k, "1006", &port);
}
