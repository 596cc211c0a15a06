//! Customer import from CSV.

mod common;

use common::*;
use hotline_model::*;
use hotline_store::Error;

fn csv_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(
        b"id,name,phone,accounts,vip,language
C1,Ada Lovelace,+44 20 7946 0018,ACC-1;ACC-2,yes,en
C2,Grace Hopper,\"+1 (555) 010-0199; sip:+15550100200@host\",ACC-3,false,en-US
,No Id,+4412345,,no,en
C3,,+4412345,,no,en
C4,Bad Phone,call me,,no,en
C5,Bad Vip,+4412345,,maybe,en
C6,Bad Lang,+4412345,,no,english-language-tag
C7,Too Few,+4412345
C1,Ada Again,+4400000,,no,en
C8,\"Multi
Line Name\",+4412399,,1,zh-CN
C9,Ok Row,+8613800000000,,1,zh-CN
C10,",
    );
    v.extend_from_slice(b"\xff\xfe broken,+4412345,,no,en\n");
    v.extend_from_slice(b"C11,No Phone Yet,,,,\n");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_and_never_abort_the_import() {
    for db in backends("bad_rows_are_reported_and_never_abort_the_import").await {
        let store = db.open().await;
        let mut calls = Vec::new();
        let report = store
            .import_customers_csv(&csv_bytes()[..], "admin", |done, total| {
                calls.push((done, total))
            })
            .await
            .unwrap();

        let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            [4, 5, 6, 7, 8, 9, 10, 11, 14],
            "{:#?}",
            report.rejected
        );
        let reasons: Vec<&str> = report.rejected.iter().map(|r| r.reason.as_str()).collect();
        for (reason, want) in reasons.iter().zip([
            "id is empty",
            "name is empty",
            "invalid phone number \"call me\"",
            "vip must be true or false",
            "invalid language tag",
            "expected 6 fields, found 3",
            "duplicate id \"C1\" (first on line 2)",
            "control characters",
            "not valid UTF-8",
        ]) {
            assert!(reason.contains(want), "{reason:?} should say {want:?}");
        }
        assert_eq!(report.imported, 4);

        // Progress: starts at 0, never goes back, ends at the total of data rows.
        assert_eq!(calls.first(), Some(&(0, 13)));
        assert_eq!(calls.last(), Some(&(13, 13)));
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

        let ada = store
            .customer_by_phone("+44 (20) 7946-0018")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada.id, "C1".into());
        assert_eq!(
            ada.name, "Ada Lovelace",
            "the duplicate row did not overwrite"
        );
        assert_eq!(ada.accounts, ["ACC-1", "ACC-2"]);
        assert!(ada.vip);
        assert_eq!(ada.language.as_deref(), Some("en"));
        let grace = store
            .customer_by_phone("sip:+15550100200@10.0.0.1;user=phone")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grace.id, "C2".into());
        assert_eq!(grace.phones, ["+15550100199", "+15550100200"]);
        assert!(!grace.vip);
        assert_eq!(store.customer_by_phone("+4412345").await.unwrap(), None);
        assert_eq!(store.customer_by_phone("garbage").await.unwrap(), None);
        let c11 = store.customer(&"C11".into()).await.unwrap().unwrap();
        assert!(c11.phones.is_empty());
        assert_eq!(c11.language, None);
        assert_eq!(store.customer_count().await.unwrap(), 4);

        let audit = store.audit(Timestamp::UNIX_EPOCH).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.action == "customer.upsert" && a.user == "admin")
                .count(),
            4
        );
        let summary = audit
            .iter()
            .find(|a| a.action == "customers.import")
            .unwrap();
        assert_eq!(summary.detail.as_deref(), Some("imported 4, rejected 9"));

        // A second import replaces existing customers by id.
        let again = store
            .import_customers_csv(
                &b"ID,Name,Phone\nC1,Ada King,+442079460018\n"[..],
                "admin",
                |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(again.imported, 1);
        assert_eq!(
            store.customer(&"C1".into()).await.unwrap().unwrap().name,
            "Ada King"
        );
        assert_eq!(
            store
                .customer(&"C1".into())
                .await
                .unwrap()
                .unwrap()
                .accounts,
            Vec::<String>::new()
        );
        assert_eq!(store.customer_count().await.unwrap(), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_the_required_columns_is_refused_whole() {
    for db in backends("a_file_without_the_required_columns_is_refused_whole").await {
        let store = db.open().await;
        let r = store
            .import_customers_csv(&b"id,name\nC1,Ada\n"[..], "admin", |_, _| {})
            .await;
        assert!(
            matches!(&r, Err(Error::Csv(m)) if m.contains("phone")),
            "{r:?}"
        );
        let empty = store
            .import_customers_csv(&b"id,name,phone\n"[..], "admin", |_, _| {})
            .await
            .unwrap();
        assert_eq!(empty.imported, 0);
        assert!(empty.rejected.is_empty());
        assert_eq!(store.customer_count().await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_commits_in_chunks_with_progress() {
    for db in backends("a_large_import_commits_in_chunks_with_progress").await {
        let store = db.open().await;
        let mut csv = String::from("id,name,phone,accounts,vip,language\n");
        for n in 0..2500 {
            csv.push_str(&format!("K{n},Customer {n},+4470000{n:05},A{n},no,en\n"));
        }
        let mut calls = Vec::new();
        let report = store
            .import_customers_csv(csv.as_bytes(), "admin", |d, t| calls.push((d, t)))
            .await
            .unwrap();
        assert_eq!(report.imported, 2500);
        assert_eq!(calls, [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]);
        assert_eq!(
            store
                .customer_by_phone("+447000002499")
                .await
                .unwrap()
                .unwrap()
                .id,
            "K2499".into()
        );
    }
}
