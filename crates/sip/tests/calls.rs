//! Call legs against sipp on loopback: a trunk caller that is answered, sends DTMF by INFO and
//! hangs up; a caller that cancels while ringing; an agent phone that answers and is hung up
//! on; an agent phone that is busy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use hotline_sip::calls::{EndReason, IncomingCall, Leg, LegEvent};
use hotline_sip::registrar::Caller;
use hotline_sip::sdp::{self, LocalMedia};
use hotline_sip::{SipMetrics, SipServer};
use tokio::sync::mpsc;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/sipp")
        .join(name)
}

fn free_port() -> u16 {
    hotline_testports::port("127.0.0.1")
}

/// Runs sipp to completion on a blocking thread; returns (success, error log).
fn sipp(args: Vec<String>) -> tokio::task::JoinHandle<(bool, String)> {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("sipp")
            .current_dir(dir.path())
            .args(&args)
            .args([
                "-m",
                "1",
                "-nostdin",
                "-trace_err",
                "-timeout",
                "20s",
                "-timeout_error",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("sipp (Debian package sip-tester) must be installed");
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            log.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        (out.status.success(), log)
    })
}

async fn server() -> (SipServer, mpsc::UnboundedReceiver<IncomingCall>) {
    let cfg = hotline_config::Config::from_toml("demo.toml", hotline_config::DEMO_TOML).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let srv = SipServer::start_with_calls(
        &cfg,
        "127.0.0.1:0".parse().unwrap(),
        SipMetrics::default(),
        Some(tx),
    )
    .await
    .unwrap();
    (srv, rx)
}

fn local(port: u16) -> LocalMedia {
    LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port,
        session_id: 42,
        version: 1,
        crypto: None,
    }
}

async fn next(leg: &mut Leg) -> LegEvent {
    tokio::time::timeout(Duration::from_secs(20), leg.next_event())
        .await
        .expect("an event in time")
        .expect("the leg is still there")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_call_answered_dtmf_by_info_and_caller_hangs_up() {
    let (srv, mut calls) = server().await;
    let run = sipp(vec![
        "-sf".into(),
        scenario("call-caller-hangs-up.xml").display().to_string(),
        "-p".into(),
        free_port().to_string(),
        srv.udp_addr.to_string(),
    ]);
    let mut call = tokio::time::timeout(Duration::from_secs(20), calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.caller, Caller::Trunk("carrier".into()));
    assert_eq!(
        (call.from.as_str(), call.to.as_str()),
        ("13800138000", "95588")
    );
    let offer = call.offer.clone().unwrap();
    assert_eq!(offer.telephone_event, Some(101));
    call.leg.ring().unwrap();
    let answer = sdp::answer(&offer, &local(30000)).unwrap();
    call.leg.answer(local(30000), answer.sdp).unwrap();
    assert_eq!(next(&mut call.leg).await, LegEvent::Confirmed);
    assert_eq!(next(&mut call.leg).await, LegEvent::Dtmf('5'));
    assert_eq!(
        next(&mut call.leg).await,
        LegEvent::Ended(EndReason::RemoteHangup)
    );
    let (ok, log) = run.await.unwrap();
    assert!(ok, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancels_while_ringing() {
    let (srv, mut calls) = server().await;
    let run = sipp(vec![
        "-sf".into(),
        scenario("call-caller-cancels.xml").display().to_string(),
        "-p".into(),
        free_port().to_string(),
        srv.udp_addr.to_string(),
    ]);
    let mut call = tokio::time::timeout(Duration::from_secs(20), calls.recv())
        .await
        .unwrap()
        .unwrap();
    call.leg.ring().unwrap();
    assert_eq!(
        next(&mut call.leg).await,
        LegEvent::Ended(EndReason::Cancelled)
    );
    let (ok, log) = run.await.unwrap();
    assert!(ok, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_phone_rings_answers_and_is_hung_up_on() {
    let (srv, _calls) = server().await;
    let port = free_port();
    let phone = sipp(vec![
        "-sf".into(),
        scenario("agent-answers.xml").display().to_string(),
        "-p".into(),
        port.to_string(),
        "-i".into(),
        "127.0.0.1".into(),
    ]);
    let at: SocketAddr = ([127, 0, 0, 1], port).into();
    // sipp may still be starting: the INVITE's retransmissions cover that.
    let mut leg = srv
        .calls
        .dial(&format!("sip:1001@{at}"), at, false, "95588", local(30002))
        .unwrap();
    assert_eq!(next(&mut leg).await, LegEvent::Ringing);
    match next(&mut leg).await {
        LegEvent::Answered { sdp: Some(s) } => {
            assert_eq!(s.codecs, vec![sdp::Codec::Pcmu]);
            assert!(s.remote().is_some());
        }
        other => panic!("expected an answer, got {other:?}"),
    }
    leg.hangup().await.unwrap();
    assert_eq!(
        next(&mut leg).await,
        LegEvent::Ended(EndReason::LocalHangup)
    );
    let (ok, log) = phone.await.unwrap();
    assert!(ok, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_agent_phone_fails_the_leg() {
    let (srv, _calls) = server().await;
    let port = free_port();
    let phone = sipp(vec![
        "-sf".into(),
        scenario("agent-busy.xml").display().to_string(),
        "-p".into(),
        port.to_string(),
        "-i".into(),
        "127.0.0.1".into(),
    ]);
    let at: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut leg = srv
        .calls
        .dial(&format!("sip:1002@{at}"), at, false, "95588", local(30004))
        .unwrap();
    assert_eq!(
        next(&mut leg).await,
        LegEvent::Ended(EndReason::Rejected(486))
    );
    let (ok, log) = phone.await.unwrap();
    assert!(ok, "{log}");
}
