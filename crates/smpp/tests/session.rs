//! The session driven by hand-built SMSC PDUs.

use std::time::{Duration, Instant};

use hotline_smpp::pdu::{ESM_CLASS_RECEIPT, ESM_CLASS_UDHI};
use hotline_smpp::text::encode_ucs2;
use hotline_smpp::tlv;
use hotline_smpp::{
    Address, BindResp, Body, CommandStatus, Config, DisconnectReason, Event, MessageState, Pdu,
    Session, Sm, SmResp, SubmitRequest, Tlv,
};
use proptest::prelude::*;

fn config() -> Config {
    let mut c = Config::new("hotline", "secret");
    c.max_submits_per_second = 0;
    c
}

/// Everything the session wants to send, decoded.
fn sent(s: &mut Session) -> Vec<Pdu> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|b| Pdu::decode(&b).expect("session sends valid PDUs"))
        .collect()
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn feed(s: &mut Session, now: Instant, pdu: Pdu) {
    s.handle_input(now, &pdu.encode().unwrap());
}

fn resp(seq: u32, status: CommandStatus, body: Body) -> Pdu {
    Pdu {
        command_status: status,
        sequence_number: seq,
        body,
    }
}

fn submit_resp(seq: u32, id: &str) -> Pdu {
    resp(
        seq,
        CommandStatus::ESME_ROK,
        Body::SubmitSmResp(SmResp {
            message_id: id.into(),
        }),
    )
}

fn bind_ok(seq: u32) -> Pdu {
    resp(
        seq,
        CommandStatus::ESME_ROK,
        Body::BindTransceiverResp(BindResp {
            system_id: "SMSC".into(),
            tlvs: vec![],
        }),
    )
}

fn bound(config: Config, now: Instant) -> Session {
    let mut s = Session::new(config);
    s.connected(now);
    let bind = sent(&mut s);
    feed(&mut s, now, bind_ok(bind[0].sequence_number));
    assert_eq!(
        events(&mut s),
        vec![Event::Bound {
            system_id: "SMSC".into()
        }]
    );
    s
}

fn req(text: &str) -> SubmitRequest {
    SubmitRequest::new(
        Address::alphanumeric("Hotline"),
        Address::international("447700900123"),
        text,
    )
}

fn submits(pdus: &[Pdu]) -> Vec<(u32, Sm)> {
    pdus.iter()
        .filter_map(|p| match &p.body {
            Body::SubmitSm(sm) => Some((p.sequence_number, (**sm).clone())),
            _ => None,
        })
        .collect()
}

fn deliver(seq: u32, sm: Sm) -> Pdu {
    Pdu::new(seq, Body::DeliverSm(Box::new(sm)))
}

fn mo(text: &[u8]) -> Sm {
    Sm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: "447700900123".into(),
        destination_addr: "8800".into(),
        short_message: text.to_vec(),
        ..Sm::default()
    }
}

#[test]
fn binds_as_transceiver_and_reports_bound() {
    let now = Instant::now();
    let mut s = Session::new(config());
    assert_eq!(s.poll_timeout(), None);
    s.connected(now);
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    let Body::BindTransceiver(b) = &out[0].body else {
        panic!("expected bind_transceiver, got {:?}", out[0]);
    };
    assert_eq!(
        (
            b.system_id.as_str(),
            b.password.as_str(),
            b.interface_version
        ),
        ("hotline", "secret", 0x34)
    );
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(10)));
    feed(&mut s, now, bind_ok(out[0].sequence_number));
    assert!(s.is_bound());
    assert!(matches!(events(&mut s)[..], [Event::Bound { .. }]));
}

#[test]
fn bind_failure_then_reconnect_with_backoff() {
    let t0 = Instant::now();
    let mut s = Session::new(config());
    s.connected(t0);
    let seq = sent(&mut s)[0].sequence_number;
    feed(
        &mut s,
        t0,
        resp(
            seq,
            CommandStatus::ESME_RINVPASWD,
            Body::BindTransceiverResp(BindResp::default()),
        ),
    );
    assert_eq!(
        events(&mut s),
        vec![
            Event::BindFailed {
                status: CommandStatus::ESME_RINVPASWD
            },
            Event::ConnectionLost {
                reason: DisconnectReason::BindFailed(CommandStatus::ESME_RINVPASWD)
            }
        ]
    );
    s.disconnected(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    s.handle_timeout(t0 + Duration::from_millis(999));
    assert!(events(&mut s).is_empty());
    let t1 = t0 + Duration::from_secs(1);
    s.handle_timeout(t1);
    assert_eq!(events(&mut s), vec![Event::Reconnect]);
    assert_eq!(s.poll_timeout(), None);
    // The connect attempt fails: the next wait doubles.
    s.disconnected(t1);
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(2)));
    // A bind that succeeds resets the backoff.
    let t2 = t1 + Duration::from_secs(2);
    s.handle_timeout(t2);
    s.connected(t2);
    let seq = sent(&mut s)[0].sequence_number;
    feed(&mut s, t2, bind_ok(seq));
    s.disconnected(t2);
    assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(1)));
}

#[test]
fn bind_without_response_times_out() {
    let t0 = Instant::now();
    let mut s = Session::new(config());
    s.connected(t0);
    sent(&mut s);
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost {
            reason: DisconnectReason::ResponseTimeout
        }]
    );
}

#[test]
fn submits_queue_while_unbound_and_flow_after_bind() {
    let now = Instant::now();
    let mut s = Session::new(config());
    let h = s.submit(now, req("Hello [world] €5")).unwrap();
    assert_eq!(s.queued(), 1);
    assert!(s.poll_transmit().is_none());
    s.connected(now);
    let seq = sent(&mut s)[0].sequence_number;
    feed(&mut s, now, bind_ok(seq));
    let out = submits(&sent(&mut s));
    assert_eq!(out.len(), 1);
    let (seq, sm) = &out[0];
    assert_eq!(sm.data_coding, 0);
    assert_eq!(sm.esm_class, 0);
    assert_eq!(sm.registered_delivery, 1);
    assert_eq!(
        (sm.source_addr_ton, sm.source_addr.as_str()),
        (5, "Hotline")
    );
    assert_eq!(
        (
            sm.dest_addr_ton,
            sm.dest_addr_npi,
            sm.destination_addr.as_str()
        ),
        (1, 1, "447700900123")
    );
    assert_eq!(
        hotline_smpp::text::decode_gsm7(&sm.short_message),
        "Hello [world] €5"
    );
    feed(&mut s, now, submit_resp(*seq, "m-1"));
    assert_eq!(
        events(&mut s)[1..],
        [Event::SubmitAccepted {
            handle: h,
            message_ids: vec!["m-1".into()]
        }]
    );
    assert_eq!(s.outstanding(), 0);
}

#[test]
fn long_message_goes_out_in_segments_and_collects_every_id() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let text: String = (0..200)
        .map(|i| char::from_u32(0x4E00 + i).unwrap())
        .collect();
    let h = s.submit(now, req(&text)).unwrap();
    let out = submits(&sent(&mut s));
    assert_eq!(out.len(), 3);
    for (i, (_, sm)) in out.iter().enumerate() {
        assert_eq!(sm.data_coding, 8);
        assert_eq!(sm.esm_class & ESM_CLASS_UDHI, ESM_CLASS_UDHI);
        assert_eq!(sm.short_message[4..6], [3, i as u8 + 1]);
    }
    // Responses in any order; ids come back in segment order.
    feed(&mut s, now, submit_resp(out[2].0, "c"));
    feed(&mut s, now, submit_resp(out[0].0, "a"));
    assert!(events(&mut s).is_empty());
    feed(&mut s, now, submit_resp(out[1].0, "b"));
    assert_eq!(
        events(&mut s),
        vec![Event::SubmitAccepted {
            handle: h,
            message_ids: vec!["a".into(), "b".into(), "c".into()]
        }]
    );
    // The next long message uses another reference.
    s.submit(now, req(&text)).unwrap();
    let next = submits(&sent(&mut s));
    assert_ne!(next[0].1.short_message[3], out[0].1.short_message[3]);
}

#[test]
fn window_limits_outstanding_submits() {
    let now = Instant::now();
    let mut c = config();
    c.window_size = 2;
    let mut s = bound(c, now);
    for i in 0..5 {
        s.submit(now, req(&format!("msg {i}"))).unwrap();
    }
    let out = submits(&sent(&mut s));
    assert_eq!(out.len(), 2);
    assert_eq!((s.outstanding(), s.queued()), (2, 3));
    feed(&mut s, now, submit_resp(out[0].0, "x"));
    let more = submits(&sent(&mut s));
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].1.short_message, b"msg 2");
}

#[test]
fn throttle_is_a_token_bucket_on_now() {
    let t0 = Instant::now();
    let mut c = config();
    c.max_submits_per_second = 2;
    c.window_size = 100;
    let mut s = bound(c, t0);
    for i in 0..5 {
        s.submit(t0, req(&format!("m{i}"))).unwrap();
    }
    assert_eq!(submits(&sent(&mut s)).len(), 2);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    s.handle_timeout(t0 + Duration::from_millis(499));
    assert!(submits(&sent(&mut s)).is_empty());
    s.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(submits(&sent(&mut s)).len(), 1);
    s.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(submits(&sent(&mut s)).len(), 2);
}

#[test]
fn throttled_response_backs_off_and_resends_the_same_segment() {
    let t0 = Instant::now();
    let mut s = bound(config(), t0);
    let h = s.submit(t0, req("first")).unwrap();
    let out = submits(&sent(&mut s));
    feed(
        &mut s,
        t0,
        resp(
            out[0].0,
            CommandStatus::ESME_RTHROTTLED,
            Body::SubmitSmResp(SmResp::default()),
        ),
    );
    let until = t0 + Duration::from_secs(1);
    assert_eq!(events(&mut s), vec![Event::Throttled { until }]);
    s.submit(t0, req("second")).unwrap();
    assert!(submits(&sent(&mut s)).is_empty());
    assert_eq!(s.poll_timeout(), Some(until));
    s.handle_timeout(until);
    let again = submits(&sent(&mut s));
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].1, out[0].1);
    assert_ne!(again[0].0, out[0].0);
    assert_eq!(again[1].1.short_message, b"second");
    feed(&mut s, until, submit_resp(again[0].0, "id-1"));
    assert_eq!(
        events(&mut s),
        vec![Event::SubmitAccepted {
            handle: h,
            message_ids: vec!["id-1".into()]
        }]
    );
}

#[test]
fn a_refused_segment_fails_the_whole_message() {
    let now = Instant::now();
    let mut c = config();
    c.window_size = 1;
    let mut s = bound(c, now);
    let h = s.submit(now, req(&"a".repeat(400))).unwrap();
    let out = submits(&sent(&mut s));
    assert_eq!(out.len(), 1);
    feed(
        &mut s,
        now,
        resp(
            out[0].0,
            CommandStatus::ESME_RINVDSTADR,
            Body::SubmitSmResp(SmResp::default()),
        ),
    );
    assert_eq!(
        events(&mut s),
        vec![Event::SubmitFailed {
            handle: h,
            status: CommandStatus::ESME_RINVDSTADR
        }]
    );
    assert!(sent(&mut s).is_empty());
    assert_eq!(s.queued(), 0);
}

#[test]
fn bad_submits_are_refused_up_front() {
    let now = Instant::now();
    let mut s = Session::new(config());
    let mut r = req("hi");
    r.to.addr = "1".repeat(21);
    assert!(matches!(
        s.submit(now, r),
        Err(hotline_smpp::SubmitError::Encode(_))
    ));
    assert!(matches!(
        s.submit(now, req(&"中".repeat(67 * 256))),
        Err(hotline_smpp::SubmitError::Text(_))
    ));
}

#[test]
fn outstanding_submits_are_retried_after_reconnect() {
    let t0 = Instant::now();
    let mut s = bound(config(), t0);
    let h = s.submit(t0, req("one")).unwrap();
    s.submit(t0, req("two")).unwrap();
    let before = submits(&sent(&mut s));
    assert_eq!(before.len(), 2);
    s.disconnected(t0);
    assert_eq!((s.outstanding(), s.queued()), (0, 2));
    s.submit(t0, req("three")).unwrap();
    s.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(events(&mut s), vec![Event::Reconnect]);
    let t1 = t0 + Duration::from_secs(1);
    s.connected(t1);
    let seq = sent(&mut s)[0].sequence_number;
    feed(&mut s, t1, bind_ok(seq));
    let after = submits(&sent(&mut s));
    let texts: Vec<&[u8]> = after.iter().map(|(_, sm)| &sm.short_message[..]).collect();
    assert_eq!(texts, vec![&b"one"[..], b"two", b"three"]);
    // A late response from the old connection's sequence number is not confused.
    feed(&mut s, t1, submit_resp(after[0].0, "new-id"));
    assert!(events(&mut s).iter().any(|e| *e
        == Event::SubmitAccepted {
            handle: h,
            message_ids: vec!["new-id".into()]
        }));
}

#[test]
fn missing_submit_response_means_the_connection_is_dead() {
    let t0 = Instant::now();
    let mut s = bound(config(), t0);
    s.submit(t0, req("x")).unwrap();
    sent(&mut s);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost {
            reason: DisconnectReason::ResponseTimeout
        }]
    );
}

#[test]
fn mobile_originated_message_is_acknowledged_and_delivered() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    feed(&mut s, now, deliver(77, mo(b"Hi \x1b\x65 there")));
    let out = sent(&mut s);
    assert_eq!(
        out,
        vec![Pdu::new(77, Body::DeliverSmResp(SmResp::default()))]
    );
    let ev = events(&mut s);
    let [Event::Delivered(m)] = &ev[..] else {
        panic!("expected one delivered message, got {ev:?}");
    };
    assert_eq!(m.text, "Hi € there");
    assert_eq!(m.from, Address::international("447700900123"));
    assert_eq!(m.to.addr, "8800");
    assert_eq!(m.segments, 1);
}

#[test]
fn message_payload_tlv_is_read_when_short_message_is_empty() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let mut sm = mo(b"");
    sm.data_coding = 8;
    sm.tlvs.push(Tlv {
        tag: tlv::MESSAGE_PAYLOAD,
        value: encode_ucs2("こんにちは 😀"),
    });
    feed(&mut s, now, deliver(1, sm));
    let ev = events(&mut s);
    assert!(matches!(&ev[..], [Event::Delivered(m)] if m.text == "こんにちは 😀"));
}

#[test]
fn segmented_mo_is_joined_from_udh_out_of_order() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let text: String = (0..200)
        .map(|i| char::from_u32(0x4E00 + i).unwrap())
        .collect();
    let enc = hotline_smpp::text::encode_text(&text, 9).unwrap();
    for (n, i) in [2usize, 0, 0, 1].into_iter().enumerate() {
        let mut sm = mo(&enc.segments[i]);
        sm.esm_class = ESM_CLASS_UDHI;
        sm.data_coding = 8;
        feed(&mut s, now, deliver(10 + n as u32, sm));
    }
    assert_eq!(sent(&mut s).len(), 4, "every segment is acknowledged");
    let ev = events(&mut s);
    let [Event::Delivered(m)] = &ev[..] else {
        panic!("expected one joined message, got {ev:?}");
    };
    assert_eq!(m.text, text);
    assert_eq!(m.segments, 3);
}

#[test]
fn segmented_mo_is_joined_from_sar_tlvs() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    for (seq, part) in [(2u8, &b"world"[..]), (1, b"hello ")] {
        let mut sm = mo(part);
        sm.tlvs = vec![
            Tlv::u16(tlv::SAR_MSG_REF_NUM, 0x0102),
            Tlv::u8(tlv::SAR_TOTAL_SEGMENTS, 2),
            Tlv::u8(tlv::SAR_SEGMENT_SEQNUM, seq),
        ];
        feed(&mut s, now, deliver(u32::from(seq), sm));
    }
    let ev = events(&mut s);
    assert!(matches!(&ev[..], [Event::Delivered(m)] if m.text == "hello world"));
}

#[test]
fn incomplete_mo_is_dropped_after_the_reassembly_timeout() {
    let t0 = Instant::now();
    let mut c = config();
    c.reassembly_timeout = Duration::from_secs(60);
    c.enquire_link_interval = Duration::from_secs(600);
    let mut s = bound(c, t0);
    let mut sm = mo(&[5, 0, 3, 7, 2, 1, b'a']);
    sm.esm_class = ESM_CLASS_UDHI;
    feed(&mut s, t0, deliver(1, sm));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    s.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(
        events(&mut s),
        vec![Event::IncompleteMessageDropped {
            source: "447700900123".into(),
            reference: 7,
            total: 2
        }]
    );
}

#[test]
fn receipt_text_becomes_a_receipt_event() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let mut sm = mo(b"id:4F2A sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 text:Hello");
    sm.esm_class = ESM_CLASS_RECEIPT;
    feed(&mut s, now, deliver(5, sm));
    assert_eq!(
        sent(&mut s),
        vec![Pdu::new(5, Body::DeliverSmResp(SmResp::default()))]
    );
    let ev = events(&mut s);
    let [Event::Receipt { receipt, from, .. }] = &ev[..] else {
        panic!("expected a receipt, got {ev:?}");
    };
    assert_eq!(receipt.message_id, "4F2A");
    assert_eq!(receipt.state, MessageState::Delivered);
    assert_eq!(receipt.done_date.as_deref(), Some("2401311201"));
    assert_eq!(from.addr, "447700900123");
}

#[test]
fn receipt_tlvs_win_and_unreadable_receipts_are_reported() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let mut sm = mo(b"id:1 stat:DELIVRD");
    sm.esm_class = ESM_CLASS_RECEIPT;
    sm.tlvs = vec![
        Tlv::cstring(tlv::RECEIPTED_MESSAGE_ID, "abc"),
        Tlv::u8(tlv::MESSAGE_STATE, 3),
    ];
    feed(&mut s, now, deliver(5, sm));
    let mut junk = mo(b"garbage");
    junk.esm_class = ESM_CLASS_RECEIPT;
    feed(&mut s, now, deliver(6, junk));
    let ev = events(&mut s);
    assert!(matches!(&ev[0], Event::Receipt { receipt, .. }
        if receipt.message_id == "abc" && receipt.state == MessageState::Expired));
    assert_eq!(
        ev[1],
        Event::UnreadableReceipt {
            text: "garbage".into()
        }
    );
}

#[test]
fn answers_the_smscs_enquire_link_and_unbind() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    feed(&mut s, now, Pdu::new(40, Body::EnquireLink));
    assert_eq!(sent(&mut s), vec![Pdu::new(40, Body::EnquireLinkResp)]);
    feed(&mut s, now, Pdu::new(41, Body::Unbind));
    assert_eq!(sent(&mut s), vec![Pdu::new(41, Body::UnbindResp)]);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost {
            reason: DisconnectReason::Unbound { by_peer: true }
        }]
    );
}

#[test]
fn keepalive_sends_enquire_link_and_detects_a_dead_link() {
    let t0 = Instant::now();
    let mut s = bound(config(), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    // Traffic from the SMSC pushes the keepalive back.
    let t1 = t0 + Duration::from_secs(20);
    feed(&mut s, t1, Pdu::new(1, Body::EnquireLink));
    sent(&mut s);
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    let t2 = t1 + Duration::from_secs(30);
    s.handle_timeout(t2);
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, Body::EnquireLink);
    feed(
        &mut s,
        t2,
        Pdu::new(out[0].sequence_number, Body::EnquireLinkResp),
    );
    assert!(events(&mut s).is_empty());
    let t3 = t2 + Duration::from_secs(30);
    s.handle_timeout(t3);
    assert_eq!(sent(&mut s)[0].body, Body::EnquireLink);
    s.handle_timeout(t3 + Duration::from_secs(10));
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost {
            reason: DisconnectReason::KeepaliveTimeout
        }]
    );
}

#[test]
fn insane_command_length_gets_generic_nack_and_drops_the_link() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    s.handle_input(now, &[0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(
        sent(&mut s),
        vec![Pdu::generic_nack(3, CommandStatus::ESME_RINVCMDLEN)]
    );
    assert!(matches!(
        &events(&mut s)[..],
        [Event::ConnectionLost {
            reason: DisconnectReason::ProtocolError(_)
        }]
    ));
}

#[test]
fn unknown_commands_get_invalid_command_id() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    feed(
        &mut s,
        now,
        Pdu::new(
            9,
            Body::Unknown {
                command_id: hotline_smpp::CommandId::DATA_SM,
                body: vec![],
            },
        ),
    );
    assert_eq!(
        sent(&mut s),
        vec![Pdu::generic_nack(9, CommandStatus::ESME_RINVCMDID)]
    );
}

#[test]
fn garbled_deliver_sm_gets_an_error_response() {
    let now = Instant::now();
    let mut s = bound(config(), now);
    let mut bytes = deliver(12, mo(b"hi")).encode().unwrap();
    let at = bytes.len() - 3;
    bytes[at] = 250; // sm_length past the end
    s.handle_input(now, &bytes);
    assert_eq!(
        sent(&mut s),
        vec![Pdu {
            command_status: CommandStatus::ESME_RINVMSGLEN,
            sequence_number: 12,
            body: Body::DeliverSmResp(SmResp::default()),
        }]
    );
    assert!(events(&mut s).is_empty());
}

#[test]
fn unbind_shuts_down_without_reconnecting() {
    let t0 = Instant::now();
    let mut s = bound(config(), t0);
    s.unbind(t0);
    let out = sent(&mut s);
    assert_eq!(out[0].body, Body::Unbind);
    feed(
        &mut s,
        t0,
        Pdu::new(out[0].sequence_number, Body::UnbindResp),
    );
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost {
            reason: DisconnectReason::Unbound { by_peer: false }
        }]
    );
    s.disconnected(t0);
    assert_eq!(s.poll_timeout(), None);
    assert!(s.submit(t0, req("late")).is_err());
}

#[test]
fn input_split_byte_by_byte_works() {
    let now = Instant::now();
    let mut s = Session::new(config());
    s.connected(now);
    let seq = sent(&mut s)[0].sequence_number;
    let mut stream = bind_ok(seq).encode().unwrap();
    stream.extend(deliver(2, mo(b"hey")).encode().unwrap());
    for b in &stream {
        s.handle_input(now, std::slice::from_ref(b));
    }
    let ev = events(&mut s);
    assert!(matches!(&ev[..], [Event::Bound { .. }, Event::Delivered(m)] if m.text == "hey"));
}

proptest! {
    #[test]
    fn random_input_never_panics(chunks in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..80), 0..8)
    ) {
        let now = Instant::now();
        let mut s = bound(config(), now);
        s.submit(now, req("x")).unwrap();
        for c in chunks {
            s.handle_input(now, &c);
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
        }
        s.handle_timeout(now + Duration::from_secs(3600));
    }
}

#[test]
fn packed_gsm7_goes_out_packed_and_comes_in_unpacked() {
    let now = Instant::now();
    let mut c = config();
    c.gsm7_packing = hotline_smpp::Gsm7Packing::Packed;
    let mut s = bound(c, now);
    s.submit(now, req("hellohello")).unwrap();
    let out = submits(&sent(&mut s));
    assert_eq!(
        out[0].1.short_message,
        vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
    );
    // A long packed MO in two segments, second first.
    let text = format!("{}[{}]", "p".repeat(160), "q".repeat(10));
    let enc =
        hotline_smpp::text::encode_text_with(&text, 4, hotline_smpp::Gsm7Packing::Packed).unwrap();
    assert_eq!(enc.segments.len(), 2);
    for (n, seg) in enc.segments.iter().rev().enumerate() {
        let mut sm = mo(seg);
        sm.esm_class = ESM_CLASS_UDHI;
        feed(&mut s, now, deliver(n as u32 + 1, sm));
    }
    let mut single = mo(&enc.segments[0][..0]);
    single.short_message =
        hotline_smpp::text::encode_text_with("abcdefg", 0, hotline_smpp::Gsm7Packing::Packed)
            .unwrap()
            .segments
            .remove(0);
    feed(&mut s, now, deliver(9, single));
    let ev = events(&mut s);
    let texts: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Delivered(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec![text.as_str(), "abcdefg"]);
}
