//! What a restart keeps, and the pieces of a graceful stop: the agents' last states put back
//! into the routing engine, the phones' registrations kept in the store as they change and
//! put back at start, and where "today" starts for the per-day figures.

use std::sync::Arc;
use std::time::Duration;

use hotline_model::Timestamp;
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::{AgentCommand, RouterCmd};

/// Awaits every receiver (their outcomes do not matter, only that each call is over).
pub(crate) async fn futures_join_all<T>(rxs: Vec<oneshot::Receiver<T>>) {
    for rx in rxs {
        let _ = rx.await;
    }
}

/// Midnight (UTC) of the day of `t`: where "today" starts for the per-day figures.
pub fn start_of_day(t: Timestamp) -> Timestamp {
    let day = 86_400 * 1_000_000_000i64;
    let now = t.unix_nanos();
    Timestamp::from_unix_nanos(now - now.rem_euclid(day))
}

/// Puts each agent's last state in the log back into the routing engine, before the first
/// call: available agents are offered calls at once, an agent who was not ready or on a
/// break stays so with its reason. The log never holds "talking" or "wrap-up" (those are the
/// engine's own), so an agent cut off in a call or in wrap-up comes back as its last logged
/// state, normally available: the call is over, and an agent held not ready would leave the
/// restarted centre with nobody to take calls. Agents no longer in the configuration are
/// logged out (`by: system`) so that the log and the engine agree.
pub(crate) fn restore_agents(
    cfg: &hotline_config::Config,
    router: &mpsc::UnboundedSender<RouterCmd>,
    store: &Store,
    states: &[hotline_model::AgentStatus],
) {
    use hotline_model::AgentState as S;
    let known: std::collections::HashSet<&str> = cfg
        .agents
        .iter()
        .map(|a| a.extension.get_ref().as_str())
        .collect();
    let mut replies = Vec::new();
    let mut gone = Vec::new();
    for st in states {
        let ext = st.agent.as_str();
        if st.state == S::LoggedOut || st.state == S::Unknown {
            continue;
        }
        if !known.contains(ext) {
            let mut e =
                hotline_model::AgentEvent::new(st.agent.clone(), Timestamp::now(), S::LoggedOut);
            e.by = Some("system".into());
            gone.push(hotline_model::Event::from(e));
            continue;
        }
        let commands = match &st.state {
            S::LoggedIn => vec![AgentCommand::LogIn],
            S::Available => vec![AgentCommand::Available],
            S::NotReady { reason } => {
                vec![AgentCommand::NotReady(reason.clone().unwrap_or_default())]
            }
            S::Break { reason } => vec![
                AgentCommand::LogIn,
                AgentCommand::Break(reason.clone().unwrap_or_default()),
            ],
            S::LoggedOut | S::Unknown => vec![],
        };
        for command in commands {
            let (done, rx) = oneshot::channel();
            let _ = router.send(RouterCmd::Agent {
                extension: ext.to_string(),
                command,
                done,
            });
            replies.push((ext.to_string(), rx));
        }
        // A pause goes on from when it began (time in state on the wallboard); an available
        // agent's last logged change says nothing of the calls taken since.
        if matches!(st.state, S::NotReady { .. } | S::Break { .. }) {
            let _ = router.send(RouterCmd::PausedSince {
                extension: ext.to_string(),
                since: st.since,
            });
        }
    }
    let store = store.clone();
    tokio::spawn(async move {
        let mut restored = std::collections::HashSet::new();
        for (ext, rx) in replies {
            match rx.await {
                Ok(Ok(_)) => {
                    restored.insert(ext);
                }
                Ok(Err(e)) => {
                    tracing::warn!(agent = %ext, error = %e, "cannot restore the agent's state")
                }
                Err(_) => return,
            }
        }
        if !restored.is_empty() {
            tracing::info!(
                agents = restored.len(),
                "agents' states restored from the log"
            );
        }
        if !gone.is_empty() {
            tracing::warn!(
                agents = gone.len(),
                "agents no longer configured are logged out"
            );
            if let Err(e) = store.submit(gone).await {
                tracing::error!(error = %e, "cannot log out agents no longer configured");
            }
        }
    });
}

/// Writes the registrations that changed (see [`crate::Centre::save_registrations`]). If the
/// store cannot take them, they are marked as changed again for the next try.
pub(crate) async fn save_registrations(
    registrar: &hotline_sip::registrar::Registrar,
    store: &Store,
) -> Result<usize, hotline_store::Error> {
    let now = std::time::Instant::now();
    let wall = std::time::SystemTime::now();
    let changes: Vec<(String, Vec<hotline_store::Registration>)> = registrar
        .take_changed(now)
        .into_iter()
        .map(|(ext, bindings)| {
            let rows = bindings
                .into_iter()
                .map(|b| registration_of(&ext, &b, now, wall))
                .collect();
            (ext, rows)
        })
        .collect();
    let n = changes.len();
    let exts: Vec<String> = changes.iter().map(|(e, _)| e.clone()).collect();
    match store.save_registrations(changes).await {
        Ok(()) => Ok(n),
        Err(e) => {
            for ext in &exts {
                registrar.mark_changed(ext);
            }
            Err(e)
        }
    }
}

/// A binding as the store keeps it: its expiry on the wall clock.
pub fn registration_of(
    extension: &str,
    b: &hotline_sip::registrar::Binding,
    now: std::time::Instant,
    wall: std::time::SystemTime,
) -> hotline_store::Registration {
    let left = b.expires_at.saturating_duration_since(now);
    let at = wall + left;
    let nanos = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    hotline_store::Registration {
        extension: extension.to_string(),
        uri: b.uri.clone(),
        expires: Timestamp::from_unix_nanos(nanos),
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        source: b.source.to_string(),
        transport: b.transport.to_string(),
        instance: b.instance.clone(),
        reg_id: b.reg_id,
        path: b.path_text(),
    }
}

/// Keeps the phones' registrations in the store as they change, off the REGISTER path: the
/// registrar only marks what changed; this task writes it (several changes coalesce while a
/// write is under way, so memory stays bounded by the number of extensions). Ends when the
/// store is closed.
pub async fn keep_registrations(registrar: Arc<hotline_sip::registrar::Registrar>, store: Store) {
    loop {
        registrar.changed().await;
        match save_registrations(&registrar, &store).await {
            Ok(_) => {}
            Err(hotline_store::Error::Closed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep the phones' registrations; trying again");
                // A pause before the next try, not a wait for anything.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Puts back the registrations kept before the last stop (only the live ones). Returns
/// how many bindings were restored and how many were left out (TCP and TLS: their
/// connection ended with the process, and nothing can be sent to a phone over a connection
/// it has not opened again; it registers anew once it notices).
pub async fn restore_registrations(
    registrar: &hotline_sip::registrar::Registrar,
    store: &Store,
) -> Result<(usize, usize), String> {
    let wall = Timestamp::now();
    let rows = store.registrations(wall).await.map_err(|e| e.to_string())?;
    let now = std::time::Instant::now();
    let mut by_ext: std::collections::BTreeMap<String, Vec<hotline_sip::registrar::Binding>> =
        Default::default();
    let mut skipped = 0;
    for r in rows {
        let (Some(transport), Ok(source)) = (
            hotline_sip::registrar::Binding::transport_named(&r.transport),
            r.source.parse::<std::net::SocketAddr>(),
        ) else {
            skipped += 1;
            continue;
        };
        if transport != "udp" {
            skipped += 1;
            continue;
        }
        let left = u64::try_from(r.expires.unix_nanos() - wall.unix_nanos()).unwrap_or(0);
        by_ext
            .entry(r.extension)
            .or_default()
            .push(hotline_sip::registrar::Binding {
                uri: r.uri,
                expires_at: now + Duration::from_nanos(left),
                call_id: r.call_id,
                cseq: r.cseq,
                source,
                transport,
                instance: r.instance,
                reg_id: r.reg_id,
                path: hotline_sip::registrar::Binding::path_from_text(r.path.as_deref()),
            });
    }
    let mut restored = 0;
    for (ext, bindings) in by_ext {
        restored += registrar.restore(&ext, bindings, now);
    }
    Ok((restored, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_sip::registrar::{Binding, Registrar};

    fn registrar() -> Registrar {
        let cfg = hotline_config::Config::from_toml("demo.toml", hotline_config::DEMO_TOML)
            .expect("the demo configuration is valid");
        Registrar::from_config(&cfg)
    }

    fn binding(uri: &str, source: &str, transport: &'static str, secs: u64) -> Binding {
        Binding {
            uri: uri.into(),
            expires_at: std::time::Instant::now() + Duration::from_secs(secs),
            call_id: format!("call-{uri}"),
            cseq: 3,
            source: source.parse().unwrap(),
            transport,
            instance: Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".into()),
            reg_id: Some(1),
            path: Vec::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn udp_bindings_come_back_with_their_source_and_expiry_and_tcp_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("log.db")).await.unwrap();
        let now = std::time::Instant::now();
        let wall = std::time::SystemTime::now();
        // Registered through a proxy (RFC 3327 Path): requests go to the proxy, so the
        // Path must come back with the binding.
        let udp = Binding {
            path: vec![
                "sip:203.0.113.7:5060;lr;received=sip:198.51.100.20:40001".into(),
                "sip:10.0.0.1;lr".into(),
            ],
            ..binding(
                "sip:1001@192.168.1.20:5060",
                "203.0.113.7:40001",
                "udp",
                600,
            )
        };
        let tcp = binding(
            "sip:1002@10.0.0.2:5060;transport=tcp",
            "10.0.0.2:51000",
            "tcp",
            600,
        );
        store
            .save_registrations(vec![
                (
                    "1001".into(),
                    vec![registration_of("1001", &udp, now, wall)],
                ),
                (
                    "1002".into(),
                    vec![registration_of("1002", &tcp, now, wall)],
                ),
                // Not configured: never put back.
                (
                    "9999".into(),
                    vec![registration_of("9999", &udp, now, wall)],
                ),
            ])
            .await
            .unwrap();

        let r = registrar();
        let (restored, left_out) = restore_registrations(&r, &store).await.unwrap();
        assert_eq!((restored, left_out), (1, 1));
        let at = std::time::Instant::now();
        let back = r.lookup("1001", at);
        assert_eq!(back.len(), 1);
        let b = &back[0];
        assert_eq!(b.uri, udp.uri);
        assert_eq!(b.source, udp.source);
        assert_eq!(b.transport, "udp");
        assert_eq!(b.instance, udp.instance);
        assert_eq!(b.reg_id, Some(1));
        assert_eq!((b.call_id.as_str(), b.cseq), (udp.call_id.as_str(), 3));
        let left = b.expires_at.saturating_duration_since(at).as_secs_f64();
        assert!((590.0..=600.0).contains(&left), "{left}");
        // Requests go where they went before the restart: through the same proxies.
        assert_eq!(b.path, udp.path);
        assert_eq!(
            b.destination(),
            ("203.0.113.7:5060".parse().unwrap(), "udp")
        );
        assert_eq!(b.destination(), udp.destination());
        assert!(r.lookup("1002", at).is_empty());
        assert!(r.lookup("9999", at).is_empty());
        // Putting back is not a change to write down again.
        assert!(r.take_changed(at).is_empty());
        store.close().await;
    }

    #[test]
    fn today_starts_at_midnight_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-30T21:04:35.5Z").unwrap();
        assert_eq!(
            start_of_day(t),
            Timestamp::parse_rfc3339("2026-11-30T00:00:00Z").unwrap()
        );
    }
}
