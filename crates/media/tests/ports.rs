//! RTP ports come from the configured range: even ports only, each once, and a clear error
//! when the range is used up.

use std::net::{IpAddr, Ipv4Addr};

use hotline_media::{EngineConfig, MediaEngine};

#[tokio::test]
async fn legs_take_even_ports_of_the_range_until_it_is_used_up() {
    // A small range of its own per run, so parallel runs do not meet.
    let base = 42_000 + (std::process::id() % 4000) as u16 * 2;
    let eng = MediaEngine::new(EngineConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port_min: base - 1, // odd: the range starts at the next even port
        port_max: base + 4,
        ..EngineConfig::default()
    });
    let mut legs = Vec::new();
    let mut ports = Vec::new();
    while let Ok(leg) = eng.bind_leg().await {
        ports.push(leg.local_addr().port());
        legs.push(leg);
        assert!(legs.len() <= 3, "more legs than even ports: {ports:?}");
    }
    ports.sort();
    assert_eq!(ports, vec![base, base + 2, base + 4]);
    let err = eng.bind_leg().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // A port given back is taken again.
    let freed = legs.pop().unwrap().local_addr().port();
    let again = eng.bind_leg().await.unwrap();
    assert_eq!(again.local_addr().port(), freed);
}
