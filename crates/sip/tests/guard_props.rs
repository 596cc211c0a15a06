//! Property test over mutated SIP messages: the same checks the fuzz target runs
//! (`fuzz/fuzz_targets/ingress_guard.rs`), on valid and torture messages cut, flipped,
//! spliced and stretched at random. Nothing may panic and every answer must be well formed.

use proptest::prelude::*;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(load_seeds)
}

fn load_seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc4475");
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "dat"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    v.sort();
    v.push(
        b"REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:1001@hotline>;tag=a\r\nTo: <sip:1001@hotline>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5070>\r\nAuthorization: Digest username=\"1001\", realm=\"hotline\", nonce=\"00\", uri=\"sip:hotline\", response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    );
    v
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        b"\r\n".to_vec(),
        b" ".to_vec(),
        b":".to_vec(),
        b";".to_vec(),
        b",".to_vec(),
        b"\"".to_vec(),
        b"<".to_vec(),
        b"\r\n ".to_vec(),
        b"\x00".to_vec(),
        b"\xff\xfe".to_vec(),
        b"Content-Length: 99999999999999999999\r\n".to_vec(),
        b"Via: SIP/2.0/UDP\r\n".to_vec(),
        b"CSeq: 4294967296 REGISTER\r\n".to_vec(),
        b"Require: 100rel, timer\r\n".to_vec(),
        "中文".as_bytes().to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), tokens).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(mut m: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for mu in muts {
        if m.is_empty() {
            break;
        }
        let len = m.len();
        match mu {
            Mutation::Flip(i, b) => m[i % len] ^= b | 1,
            Mutation::Insert(i, t) => {
                let at = i % (len + 1);
                m.splice(at..at, t.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                let end = (at + n).min(len);
                m.drain(at..end);
            }
            Mutation::Truncate(i) => m.truncate(i % len),
            Mutation::DuplicateLine(i) => {
                let at = i % len;
                let start = m[..at]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = m[at..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(len, |p| at + p + 1);
                let line = m[start..end].to_vec();
                m.splice(end..end, line);
            }
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_break_the_guard(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let base = seeds[seed.index(seeds.len())].clone();
        hotline_sip::guard::fuzz_one(&apply(base, &muts));
    }

    #[test]
    fn arbitrary_bytes_never_break_the_guard(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        hotline_sip::guard::fuzz_one(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// SDP from the network never panics the parser, and whatever parses can be answered
    /// with a description that parses again.
    #[test]
    fn sdp_parser_survives_mutations(
        muts in prop::collection::vec(mutation(), 0..6),
    ) {
        let base = b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n".to_vec();
        let data = apply(base, &muts);
        let text = String::from_utf8_lossy(&data);
        if let Ok(offer) = hotline_sip::sdp::parse(&text) {
            let local = hotline_sip::sdp::LocalMedia {
                address: "127.0.0.1".parse().unwrap(), port: 30000, session_id: 1, version: 1, crypto: None,
            };
            if let Ok(ans) = hotline_sip::sdp::answer(&offer, &local) {
                prop_assert!(hotline_sip::sdp::parse(&ans.sdp).is_ok(), "{}", ans.sdp);
            }
        }
    }
}
