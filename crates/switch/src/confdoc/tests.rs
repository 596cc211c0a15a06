use super::*;
use hotline_model::{Seq, Timestamp};
use serde_json::json;

/// The demo with every kind of item: numbers, routing and wellbeing added, and a queue with
/// overflow.
fn every_kind() -> Docs {
    let centre = hotline_config::DEMO_TOML.replacen(
        "service_numbers = [\"95588\"]",
        "service_numbers = [\"95588\"]\nflows = \"ivr/main.toml\"",
        1,
    );
    let centre = centre.replacen(
        "name = \"complaints\"\n",
        "name = \"complaints\"\noverflow_queue = \"accounts\"\nmax_wait_action = \"overflow\"\noverflow = [{ after_seconds = 60, add_queues = [\"cards\"] }]\n",
        1,
    ) + "\n[[numbers]]\nnumber = \"95566\"\nflow = \"voicemail\"\n\n[[numbers]]\nnumber = \"95567\"\n\n[routing]\nmax_no_answer = 3\nvip_boost = 50\n\n[wellbeing]\nenabled = true\nagitation_threshold = 0.75\n";
    Docs::from_texts(
        "every.toml",
        &centre,
        "flows.toml",
        hotline_flow::DEMO_FLOWS,
    )
    .unwrap()
}

fn ok(docs: &Docs) -> (hotline_config::Config, hotline_flow::FlowSet) {
    match docs.check() {
        Ok(c) => c,
        Err(e) => panic!("{e:?}\n{}", docs.to_toml().0),
    }
}

#[test]
fn kinds_are_named_by_their_segment() {
    for k in Kind::ALL {
        assert_eq!(Kind::from_segment(k.segment()), Some(k));
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            json!(k.segment()),
            "{k:?}"
        );
    }
    assert_eq!(Kind::from_segment("agent"), None);
}

#[test]
fn the_demo_is_made_of_items() {
    let d = Docs::demo();
    let items = d.items();
    let count = |k: Kind| items.keys().filter(|(kind, _)| *kind == k).count();
    assert_eq!(count(Kind::Agents), 10);
    assert_eq!(count(Kind::Queues), 5);
    assert_eq!(count(Kind::Users), 12);
    assert_eq!(count(Kind::Trunks), 1);
    assert_eq!(count(Kind::Numbers), 0);
    assert_eq!(count(Kind::Flows), 5);
    assert_eq!(count(Kind::Schedules), 1);
    let agent = d.item(Kind::Agents, "1003").unwrap();
    assert_eq!(agent["name"], "张伟 Zhang Wei");
    assert_eq!(agent["skills"], json!({"cards": 8, "general": 5}));
    assert_eq!(agent["ha1_md5"], "14c0bd17c2e1d38e64b0dbf245ed1c36");
    assert_eq!(
        d.item(Kind::Queues, "cards").unwrap()["wrap_up_seconds"],
        30
    );
    assert_eq!(d.item(Kind::Users, "admin").unwrap()["role"], "admin");
    assert_eq!(
        d.item(Kind::Trunks, "carrier").unwrap()["sources"],
        json!(["127.0.0.1/32"])
    );
    assert_eq!(d.item(Kind::Flows, "main").unwrap()["start"], "lookup");
    assert_eq!(
        d.item(Kind::Schedules, "office").unwrap()["timezone"],
        "Asia/Shanghai"
    );
    assert_eq!(d.item(Kind::Routing, "-"), Some(json!({})));
    assert_eq!(d.item(Kind::Agents, "9999"), None);
    // The documents' order is kept: agents as in the file, keys as in the file.
    let agents: Vec<&str> = items
        .keys()
        .filter(|(k, _)| *k == Kind::Agents)
        .map(|(_, key)| key.as_str())
        .collect();
    assert_eq!(agents[0], "1001");
    let (centre, _) = d.to_toml();
    let first = centre.find("extension = \"1001\"").unwrap();
    assert!(centre.find("extension = \"1002\"").unwrap() > first);
    ok(&d);
    let e = every_kind();
    assert_eq!(
        e.item(Kind::Numbers, "95567").unwrap(),
        json!({"number": "95567"})
    );
    assert_eq!(e.item(Kind::Routing, "-").unwrap()["vip_boost"], 50);
    assert_eq!(
        e.item(Kind::Wellbeing, "-").unwrap()["agitation_threshold"],
        0.75
    );
}

#[test]
fn exported_toml_reads_back_as_the_same_configuration() {
    for d in [Docs::demo(), every_kind()] {
        let (cfg, flows) = ok(&d);
        let (centre_text, flows_text) = d.to_toml();
        let back = Docs::from_texts("out.toml", &centre_text, "flows.toml", &flows_text).unwrap();
        let (cfg2, flows2) = ok(&back);
        assert_eq!(flows, flows2);
        assert_eq!(
            format!("{:?}", cfg.routing.max_no_answer),
            format!("{:?}", cfg2.routing.max_no_answer)
        );
        assert_eq!(cfg.agents.len(), cfg2.agents.len());
        assert_eq!(d.items(), back.items());
        // The generated text is checked the same way (not the texts read).
        let mut edited = back.clone();
        edited
            .set_item(Kind::Agents, "1003", d.item(Kind::Agents, "1003"))
            .unwrap();
        assert!(edited.texts.is_none());
        ok(&edited);
        assert_eq!(edited, back);
    }
    // The demo uses the built-in flows: they stay built in; the other names its flows file.
    assert!(!Docs::demo().to_toml().0.contains("flows ="));
    assert!(every_kind().to_toml().0.contains("flows = \"flows.toml\""));
    let mut d = Docs::demo();
    d.set_item(Kind::Schedules, "office", Some(json!({"timezone": "UTC"})))
        .unwrap();
    assert!(d.to_toml().0.contains("flows = \"flows.toml\""));
}

#[test]
fn a_change_is_checked_like_the_file_and_errors_name_the_field() {
    let mut d = Docs::demo();
    let mut agent = d.item(Kind::Agents, "1003").unwrap();
    agent["skills"] = json!({"cards": 8, "accounts": 4});
    d.set_item(Kind::Agents, "1003", Some(agent.clone()))
        .unwrap();
    let (cfg, _) = ok(&d);
    assert_eq!(*cfg.agent("1003").unwrap().skills["accounts"].get_ref(), 4);

    // A level out of range: the item and the field.
    agent["skills"] = json!({"cards": 11});
    let mut bad = d.clone();
    bad.set_item(Kind::Agents, "1003", Some(agent.clone()))
        .unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        ("invalid", "skills.cards"),
        "{e:?}"
    );
    assert!(e.message.starts_with("agents/1003: "), "{e:?}");
    // A wrong type.
    let mut q = d.item(Kind::Queues, "cards").unwrap();
    q["wrap_up_seconds"] = json!("thirty");
    let mut bad = d.clone();
    bad.set_item(Kind::Queues, "cards", Some(q)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        ("invalid", "wrap_up_seconds"),
        "{e:?}"
    );
    assert!(e.message.contains("queues/cards"), "{e:?}");
    // An unknown key.
    let mut u = d.item(Kind::Users, "admin").unwrap();
    u["rolle"] = json!("admin");
    let mut bad = d.clone();
    bad.set_item(Kind::Users, "admin", Some(u)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "rolle", "{e:?}");
    // A user working as an agent that does not exist.
    let mut bad = d.clone();
    bad.set_item(
        Kind::Users,
        "x",
        Some(json!({"name": "x", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$QElF7OwKC2Tfjmm86Zr7YQ$a1NsubR6o4+vaBR1BB5NKRultcN+20Lr6dj+e/sIfO4", "role": "agent", "agent": "4242"})),
    )
    .unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("invalid", "agent"), "{e:?}");
    assert!(e.message.contains("users/x"), "{e:?}");
    // A flow step sending callers to a queue that does not exist (the cross-check).
    let mut f = d.item(Kind::Flows, "main").unwrap();
    f["steps"]["cards"]["queue"] = json!("loans");
    let mut bad = d.clone();
    bad.set_item(Kind::Flows, "main", Some(f)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "steps.cards.queue", "{e:?}");
    assert!(
        e.message.contains("flows/main") && e.message.contains("loans"),
        "{e:?}"
    );
    // A flow step with a key its type does not have (the flows' loader).
    let mut f = d.item(Kind::Flows, "survey").unwrap();
    f["steps"]["ask"]["colour"] = json!("blue");
    let mut bad = d.clone();
    bad.set_item(Kind::Flows, "survey", Some(f)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "steps.ask.colour", "{e:?}");
    // A flow validator's error.
    let mut f = d.item(Kind::Flows, "survey").unwrap();
    f["start"] = json!("nowhere");
    let mut bad = d.clone();
    bad.set_item(Kind::Flows, "survey", Some(f)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("invalid", "start"), "{e:?}");
    // A menu key leading nowhere: its key is a table key, not an index.
    let mut f = d.item(Kind::Flows, "main").unwrap();
    f["steps"]["menu"]["options"]["1"] = json!("nowhere");
    let mut bad = d.clone();
    bad.set_item(Kind::Flows, "main", Some(f)).unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "steps.menu.options.1", "{e:?}");
    // A schedule's period.
    let mut bad = d.clone();
    bad.set_item(
        Kind::Schedules,
        "office",
        Some(json!({"timezone": "Asia/Shanghai", "open": [{"from": "25:00", "to": "26:00"}]})),
    )
    .unwrap();
    let e = bad.check().unwrap_err();
    assert!(e.field.starts_with("open"), "{e:?}");
    assert!(e.message.contains("schedules/office"), "{e:?}");
    let mut bad = d.clone();
    bad.set_item(
        Kind::Schedules,
        "office",
        Some(json!({"timezone": "Asia/Shanghai", "open": [{"from": "08:00", "to": "20:00"}, {"from": "21:00", "to": "20:00"}]})),
    )
    .unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "open[1]", "{e:?}");
    bad.set_item(
        Kind::Schedules,
        "office",
        Some(json!({"timezone": "Mars/Olympus"})),
    )
    .unwrap();
    assert_eq!(bad.check().unwrap_err().field, "timezone");
    // Routing, a singleton.
    let mut bad = d.clone();
    bad.set_item(Kind::Routing, "-", Some(json!({"max_no_answer": -1})))
        .unwrap();
    let e = bad.check().unwrap_err();
    assert_eq!(e.field, "max_no_answer", "{e:?}");
}

#[test]
fn an_item_must_be_an_object_with_its_own_key() {
    let mut d = Docs::demo();
    let e = d
        .set_item(Kind::Agents, "1003", Some(json!([1])))
        .unwrap_err();
    assert_eq!(e.code, "bad_item");
    let mut agent = d.item(Kind::Agents, "1003").unwrap();
    agent["extension"] = json!("1004");
    let e = d.set_item(Kind::Agents, "1003", Some(agent)).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("bad_item", "extension"));
    let e = d
        .set_item(Kind::Queues, "loans", Some(json!({"skills": {}})))
        .unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("bad_item", "name"));
    let e = d.set_item(Kind::Routing, "x", Some(json!({}))).unwrap_err();
    assert_eq!(e.code, "bad_item");
    let e = d
        .set_item(Kind::Routing, "-", Some(json!({"vip_boost": [1, null]})))
        .unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("bad_item", "vip_boost[1]"));
    // Nothing was changed by the refusals.
    assert_eq!(d, Docs::demo());
    // A null leaves the key out.
    let mut q = d.item(Kind::Queues, "cards").unwrap();
    q["max_wait_seconds"] = Json::Null;
    d.set_item(Kind::Queues, "cards", Some(q)).unwrap();
    assert!(
        d.item(Kind::Queues, "cards")
            .unwrap()
            .get("max_wait_seconds")
            .is_none()
    );
    // A new queue goes at the end; a removal takes it away again.
    d.set_item(
        Kind::Queues,
        "loans",
        Some(json!({"name": "loans", "skills": {"accounts": 3}})),
    )
    .unwrap();
    let (cfg, _) = ok(&d);
    assert_eq!(cfg.queues.last().unwrap().name.get_ref(), "loans");
    d.set_item(Kind::Queues, "loans", None).unwrap();
    assert_eq!(d.item(Kind::Queues, "loans"), None);
}

#[test]
fn what_is_in_use_is_not_removed() {
    let d = every_kind();
    let refused = |kind: Kind, key: &str, who: &str| {
        let mut x = d.clone();
        let e = x.set_item(kind, key, None).unwrap_err();
        assert_eq!(e.code, "in_use", "{e:?}");
        assert!(e.message.contains(who), "{kind:?} {key}: {}", e.message);
        assert_eq!(x, d);
    };
    refused(Kind::Queues, "cards", "flow `main` (step `cards`)");
    refused(Kind::Queues, "accounts", "queue `complaints` (overflow)");
    refused(Kind::Queues, "cards", "queue `complaints` (overflow)");
    refused(Kind::Flows, "voicemail", "number 95566");
    refused(Kind::Flows, "main", "number 95567");
    refused(Kind::Flows, "main", "the service numbers");
    refused(Kind::Flows, "survey", "flow `main`");
    refused(Kind::Agents, "1003", "user agent1003");
    refused(Kind::Schedules, "office", "flow `main`");
    // Unused: removed.
    let mut x = d.clone();
    x.set_item(Kind::Users, "agent1003", None).unwrap();
    x.set_item(Kind::Agents, "1003", None).unwrap();
    x.set_item(Kind::Numbers, "95566", None).unwrap();
    x.set_item(Kind::Trunks, "carrier", None).unwrap();
    assert_eq!(x.item(Kind::Agents, "1003"), None);
    ok(&x);
}

fn seq(n: u64) -> Seq {
    Seq(n)
}

fn config_entry(
    n: u64,
    kind: Kind,
    key: &str,
    file: Option<Json>,
    new: Option<Json>,
) -> AuditEntry {
    AuditEntry {
        seq: seq(n),
        at: Timestamp::now(),
        user: "admin".into(),
        action: CONFIG_ACTION.into(),
        target: format!("{}/{key}", kind.segment()),
        detail: Some(
            serde_json::to_string(&ConfigChange {
                kind,
                key: key.into(),
                old: file.clone(),
                new,
                file,
            })
            .unwrap(),
        ),
    }
}

fn skills_entry(n: u64, ext: &str, file: &[(&str, u8)], new: &[(&str, u8)]) -> AuditEntry {
    let m = |l: &[(&str, u8)]| l.iter().map(|(s, v)| (s.to_string(), *v)).collect();
    AuditEntry {
        seq: seq(n),
        at: Timestamp::now(),
        user: "supervisor".into(),
        action: crate::live::SKILLS_ACTION.into(),
        target: ext.into(),
        detail: Some(
            serde_json::to_string(&crate::live::SkillsChange {
                old: m(file),
                new: m(new),
                file: m(file),
            })
            .unwrap(),
        ),
    }
}

#[test]
fn restore_the_later_change_wins() {
    let files = Docs::demo();
    let q = files.item(Kind::Queues, "cards").unwrap();
    let mut q2 = q.clone();
    q2["wrap_up_seconds"] = json!(90);
    let new_agent = json!({"extension": "1011", "name": "New", "ha1_md5": "0123456789abcdef0123456789abcdef", "ha1_sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "skills": {"cards": 3}});
    let latest = vec![
        // Files unchanged since: the live value.
        config_entry(1, Kind::Queues, "cards", Some(q.clone()), Some(q2.clone())),
        // An agent added live (not in the files).
        config_entry(2, Kind::Agents, "1011", None, Some(new_agent.clone())),
        // A user removed live.
        config_entry(
            3,
            Kind::Users,
            "agent1010",
            files.item(Kind::Users, "agent1010"),
            None,
        ),
        // Made on files that had other trunk settings: the files changed it since.
        config_entry(
            4,
            Kind::Trunks,
            "carrier",
            Some(json!({"name": "carrier", "sources": ["10.0.0.1/32"]})),
            Some(json!({"name": "carrier", "sources": ["10.0.0.2/32"]})),
        ),
        // A skill change newer than any config change of the agent.
        skills_entry(5, "1003", &[("cards", 8), ("general", 5)], &[("cards", 9)]),
        // Older than the agent's config change: replaced by it.
        skills_entry(1, "1011", &[], &[("general", 2)]),
        // Newer than the config change that added the agent (its file skills: none).
        skills_entry(6, "1011", &[], &[("cards", 4), ("general", 2)]),
        // Unreadable.
        AuditEntry {
            detail: Some("{".into()),
            ..config_entry(7, Kind::Queues, "general", None, None)
        },
        // Another action: ignored.
        AuditEntry {
            action: "recording_pause".into(),
            ..config_entry(8, Kind::Queues, "general", None, None)
        },
    ];
    let (live, aside) = restore(&files, &latest);
    assert_eq!(
        live.item(Kind::Queues, "cards").unwrap()["wrap_up_seconds"],
        90
    );
    let a = live.item(Kind::Agents, "1011").unwrap();
    assert_eq!(a["skills"], json!({"cards": 4, "general": 2}));
    assert_eq!(live.item(Kind::Users, "agent1010"), None);
    assert_eq!(
        live.item(Kind::Trunks, "carrier"),
        files.item(Kind::Trunks, "carrier")
    );
    assert_eq!(
        live.item(Kind::Agents, "1003").unwrap()["skills"],
        json!({"cards": 9})
    );
    assert!(live.item(Kind::Queues, "general").is_some());
    let aside: Vec<&str> = aside.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        aside,
        vec!["trunks/carrier", "queues/general", "1011"],
        "{aside:?}"
    );
    ok(&live);

    // The files changed the skills of 1003 since the skill change: the files win.
    let mut changed = files.clone();
    let mut a = changed.item(Kind::Agents, "1003").unwrap();
    a["skills"] = json!({"cards": 7, "general": 5});
    changed
        .set_item(Kind::Agents, "1003", Some(a.clone()))
        .unwrap();
    let (live, aside) = restore(&changed, &latest);
    assert_eq!(live.item(Kind::Agents, "1003").unwrap(), a);
    assert!(aside.iter().any(|(t, _)| t == "1003"), "{aside:?}");
    // ...but the queue, unchanged in these files, keeps its live value.
    assert_eq!(
        live.item(Kind::Queues, "cards").unwrap()["wrap_up_seconds"],
        90
    );

    // A change that no longer fits (the flow it relies on is gone from the files) is left
    // aside rather than making the whole invalid.
    let latest = vec![config_entry(
        1,
        Kind::Numbers,
        "95577",
        None,
        Some(json!({"number": "95577", "flow": "gone"})),
    )];
    let (live, aside) = restore(&files, &latest);
    assert_eq!(live, files);
    assert_eq!(aside.len(), 1);
    assert!(aside[0].1.contains("gone"), "{aside:?}");
}

#[test]
fn a_reload_changes_what_the_files_changed_in_an_order_that_applies() {
    let before = every_kind();
    let mut after = before.clone();
    // Changed, added and removed items, with a removal that depends on another.
    let mut q = after.item(Kind::Queues, "cards").unwrap();
    q["wrap_up_seconds"] = json!(45);
    after
        .set_item(Kind::Queues, "cards", Some(q.clone()))
        .unwrap();
    after
        .set_item(
            Kind::Numbers,
            "95599",
            Some(json!({"number": "95599", "flow": "survey"})),
        )
        .unwrap();
    after.remove(Kind::Flows, "voicemail");
    after.remove(Kind::Numbers, "95566");
    let changes = file_changes(&before, &after);
    let short: Vec<(Kind, &str, bool)> = changes
        .iter()
        .map(|(k, key, v)| (*k, key.as_str(), v.is_some()))
        .collect();
    assert_eq!(
        short,
        vec![
            (Kind::Queues, "cards", true),
            (Kind::Numbers, "95599", true),
            (Kind::Numbers, "95566", false),
            (Kind::Flows, "voicemail", false),
        ]
    );
    // Applied one by one as live changes, they give the new files.
    let mut live = before.clone();
    for (k, key, v) in changes {
        live.set_item(k, &key, v).unwrap();
    }
    assert_eq!(live, after);
    assert!(file_changes(&before, &before).is_empty());
}

#[test]
fn secrets_are_hidden_and_kept() {
    let d = Docs::demo();
    let mut agent = d.item(Kind::Agents, "1001").unwrap();
    redact(Kind::Agents, &mut agent);
    assert!(agent.get("ha1_md5").is_none() && agent.get("ha1_sha256").is_none());
    assert_eq!(agent["extension"], "1001");
    let mut user = d.item(Kind::Users, "admin").unwrap();
    redact(Kind::Users, &mut user);
    assert!(user.get("password_hash").is_none());
    assert_eq!(user["role"], "admin");

    // A password becomes the digests the demo file has for pass1001.
    let old = d.item(Kind::Agents, "1001");
    let mut with_pw = agent.clone();
    with_pw["password"] = json!("pass1001");
    merge_secrets(Kind::Agents, &mut with_pw, None, "hotline").unwrap();
    assert_eq!(with_pw, old.clone().unwrap());
    // No secret: the old one is kept.
    let mut without = agent.clone();
    without["name"] = json!("Renamed");
    merge_secrets(Kind::Agents, &mut without, old.as_ref(), "hotline").unwrap();
    assert_eq!(without["ha1_md5"], old.as_ref().unwrap()["ha1_md5"]);
    // A new agent needs one.
    let mut fresh = json!({"extension": "1020", "name": "x"});
    let e = merge_secrets(Kind::Agents, &mut fresh, None, "hotline").unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("missing_field", "password"));
    let mut empty = json!({"extension": "1020", "password": ""});
    let e = merge_secrets(Kind::Agents, &mut empty, None, "hotline").unwrap_err();
    assert_eq!(e.field, "password");

    // Users: the hash is made by the caller; left out, the old one is kept.
    let old_user = d.item(Kind::Users, "admin");
    let mut u = user.clone();
    merge_secrets(Kind::Users, &mut u, old_user.as_ref(), "hotline").unwrap();
    assert_eq!(u, old_user.clone().unwrap());
    let mut u = json!({"name": "new", "role": "admin"});
    let e = merge_secrets(Kind::Users, &mut u, None, "hotline").unwrap_err();
    assert_eq!((e.code, e.field.as_str()), ("missing_field", "password"));
    let mut u = json!({"name": "new", "role": "admin", "password": "plain"});
    assert!(merge_secrets(Kind::Users, &mut u, None, "hotline").is_err());
    // Queues have no secrets.
    let mut q = d.item(Kind::Queues, "cards").unwrap();
    let before = q.clone();
    merge_secrets(Kind::Queues, &mut q, None, "hotline").unwrap();
    redact(Kind::Queues, &mut q);
    assert_eq!(q, before);
}

#[test]
fn the_files_are_checked_with_their_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    let centre = dir.path().join("centre.toml");
    std::fs::write(
        &centre,
        hotline_config::DEMO_TOML.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nflows = \"ivr.toml\"",
        ),
    )
    .unwrap();
    let flows = dir.path().join("ivr.toml");
    std::fs::write(
        &flows,
        "[flows.main]\nstart = \"queue\"\n\n[flows.main.steps.queue]\ntype = \"enqueue\"\nqueue = \"loans\"\n",
    )
    .unwrap();
    let d = Docs::read(&centre).unwrap();
    let e = d.check().unwrap_err();
    let name = flows.display().to_string();
    assert!(
        e.message
            .starts_with(&format!("{name}:4: key `flows.main.steps.queue.queue`")),
        "{e:?}"
    );
    assert_eq!(e.field, "steps.queue.queue");
    std::fs::write(&flows, "[flows.main]\nstart = \n").unwrap();
    let e = Docs::read(&centre).unwrap_err();
    assert!(e.starts_with(&format!("{name}:2:")), "{e}");
    std::fs::remove_file(&flows).unwrap();
    assert!(Docs::read(&centre).unwrap_err().contains("cannot read"));
}
