//! Customer import from CSV.

use std::collections::HashMap;
use std::io::Read;

use hotline_model::{
    AuditEvent, Customer, CustomerChange, CustomerEvent, CustomerId, Event, Timestamp,
    normalize_email, normalize_phone,
};

use crate::{Error, Result, Store};

/// Customers committed per append during an import.
const CHUNK: usize = 1000;

/// A row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line in the file where the row starts.
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Customers created or replaced.
    pub imported: usize,
    /// Rows left out, with why; in file order.
    pub rejected: Vec<Rejection>,
}

struct Columns {
    id: usize,
    name: usize,
    phone: usize,
    accounts: Option<usize>,
    vip: Option<usize>,
    language: Option<usize>,
    pin_hash: Option<usize>,
    email: Option<usize>,
    count: usize,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> Result<Columns> {
        let names: Vec<String> = header
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase()
            })
            .collect();
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
        let required = |wanted: &[&str]| {
            find(wanted)
                .ok_or_else(|| Error::Csv(format!("the header has no {:?} column", wanted[0])))
        };
        Ok(Columns {
            id: required(&["id", "customer_id"])?,
            name: required(&["name"])?,
            phone: required(&["phone", "phones"])?,
            accounts: find(&["accounts", "account"]),
            vip: find(&["vip"]),
            language: find(&["language", "lang"]),
            pin_hash: find(&["pin_hash"]),
            email: find(&["email", "emails", "e-mail"]),
            count: names.len(),
        })
    }
}

fn field(record: &csv::ByteRecord, i: usize, name: &str) -> Result<String, String> {
    let raw = record.get(i).unwrap_or_default();
    std::str::from_utf8(raw)
        .map(|s| s.trim().to_owned())
        .map_err(|_| format!("{name} is not valid UTF-8"))
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split([';', '|', ','])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn parse_row(record: &csv::ByteRecord, cols: &Columns) -> Result<Customer, String> {
    if record.len() != cols.count {
        return Err(format!(
            "expected {} fields, found {}",
            cols.count,
            record.len()
        ));
    }
    let id = field(record, cols.id, "id")?;
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if id.len() > 64 || id.chars().any(char::is_control) {
        return Err("id is longer than 64 characters or has control characters".into());
    }
    let name = field(record, cols.name, "name")?;
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err("name is longer than 256 bytes or has control characters".into());
    }
    let phone_field = field(record, cols.phone, "phone")?;
    let mut phones = Vec::new();
    for p in list(&phone_field) {
        let n = normalize_phone(p).ok_or_else(|| format!("invalid phone number {p:?}"))?;
        if !phones.contains(&n) {
            phones.push(n);
        }
    }
    let mut accounts = Vec::new();
    if let Some(i) = cols.accounts {
        let f = field(record, i, "accounts")?;
        for a in list(&f) {
            if a.len() > 34 || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("invalid account {a:?}"));
            }
            accounts.push(a.to_owned());
        }
    }
    let vip = match cols.vip {
        None => false,
        Some(i) => match field(record, i, "vip")?.to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" | "n" => false,
            "1" | "true" | "yes" | "y" => true,
            other => return Err(format!("vip must be true or false, not {other:?}")),
        },
    };
    let language = match cols.language {
        None => None,
        Some(i) => {
            let l = field(record, i, "language")?;
            if l.is_empty() {
                None
            } else if valid_language(&l) {
                Some(l)
            } else {
                return Err(format!("invalid language tag {l:?}"));
            }
        }
    };
    let pin_hash = match cols.pin_hash {
        None => None,
        Some(i) => {
            let h = field(record, i, "pin_hash")?;
            if h.is_empty() {
                None
            } else if h.starts_with("$argon2") {
                Some(h)
            } else {
                return Err("pin_hash must be an argon2 PHC string (hotline hash-password)".into());
            }
        }
    };
    let mut emails = Vec::new();
    if let Some(i) = cols.email {
        let f = field(record, i, "email")?;
        for e in f
            .split([';', '|', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            let n = normalize_email(e).ok_or_else(|| format!("invalid e-mail address {e:?}"))?;
            if !emails.contains(&n) {
                emails.push(n);
            }
        }
    }
    Ok(Customer {
        id: CustomerId::new(id),
        name,
        phones,
        accounts,
        emails,
        vip,
        language,
        pin_hash,
    })
}

impl Store {
    /// Imports customers from CSV with a header naming at least `id`, `name` and `phone`
    /// (also read: `accounts`, `vip`, `language`, `email`; other columns are ignored). Several phone
    /// numbers or accounts in one field are separated by `;` (or `|`). A customer whose id
    /// exists is replaced. A bad row never stops the import: it is reported in
    /// [`ImportReport::rejected`] with its line and why, and so is a second row with an id
    /// already seen in the file. Only input without a usable header fails as a whole.
    ///
    /// The input is read synchronously (a file or bytes in memory). `progress(done, total)`
    /// is called with rows processed so far, first with 0 and last with `total`, after each
    /// committed chunk. Imported customers are appended as events by `user` and recorded in
    /// the audit log.
    pub async fn import_customers_csv<R: Read>(
        &self,
        input: R,
        user: &str,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(input);
        let header = reader
            .byte_headers()
            .map_err(|e| Error::Csv(e.to_string()))?
            .clone();
        let cols = Columns::from_header(&header)?;

        let mut rows: Vec<(u64, Result<Customer, String>)> = Vec::new();
        let mut record = csv::ByteRecord::new();
        loop {
            let line = reader.position().line();
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(line, |p| p.line());
                    rows.push((line, parse_row(&record, &cols)));
                }
                // The csv reader can go on after a malformed row.
                Err(e) => rows.push((line, Err(e.to_string()))),
            }
            if rows.len() > 50_000_000 {
                return Err(Error::Csv("more than 50 million rows".into()));
            }
        }

        let total = rows.len();
        progress(0, total);
        let mut report = ImportReport::default();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut chunk: Vec<Event> = Vec::with_capacity(CHUNK);
        let mut done = 0usize;
        let now = Timestamp::now();
        for (line, row) in rows {
            done += 1;
            match row {
                Ok(c) => {
                    if let Some(first) = seen.get(c.id.as_str()) {
                        report.rejected.push(Rejection {
                            line,
                            reason: format!(
                                "duplicate id {:?} (first on line {first})",
                                c.id.as_str()
                            ),
                        });
                    } else {
                        seen.insert(c.id.as_str().to_owned(), line);
                        chunk.push(Event::from(CustomerEvent::new(
                            now,
                            Some(user.to_owned()),
                            CustomerChange::Upserted(c),
                        )));
                    }
                }
                Err(reason) => report.rejected.push(Rejection { line, reason }),
            }
            if chunk.len() >= CHUNK || done == total {
                if !chunk.is_empty() {
                    let n = chunk.len();
                    self.append(std::mem::take(&mut chunk)).await?;
                    report.imported += n;
                }
                progress(done, total);
            }
        }
        let mut audit = AuditEvent::new(now, user, "customers.import", "customers");
        audit.detail = Some(format!(
            "imported {}, rejected {}",
            report.imported,
            report.rejected.len()
        ));
        self.append_one(audit).await?;
        Ok(report)
    }
}
