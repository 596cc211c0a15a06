//! The mailboxes' I/O: one task per mailbox fetches new mail by IMAP into the
//! conversations ([`crate::chat::Chats::email_in`]), and composed mail goes out by SMTP.
//!
//! A message is marked seen only once it is durable in the log, so a stop or a fault of the
//! log between the two fetches it again, and the conversations know it by its Message-ID.
//! A mailbox that cannot be reached is tried again with a growing pause (up to five
//! minutes); while it is reached, the server's IDLE wakes the task at once, and it looks at
//! least every `poll_seconds`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotline_mail::shell::{Account, Imap, Security};
use tokio::sync::mpsc;

use crate::chat::{Chats, EmailArrival, OutMail};

/// Pauses before each try to send one e-mail: then the agent is told it was not sent.
const SEND_TRIES: [u64; 6] = [0, 2, 10, 60, 300, 900];
/// Longest pause before a mailbox is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A full batch is followed at once by the next.
const BATCH: usize = 100;
/// E-mails one mailbox's SMTP server is given at once (each mailbox has its own: a slow
/// or unreachable server holds up only its own mail).
const SENDING: usize = 4;

#[derive(Clone, PartialEq)]
struct Setup {
    imap: Account,
    smtp: Account,
    folder: String,
    every: Duration,
}

struct Poller {
    setup: Setup,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    chats: Chats,
    /// True once the open e-mails are read back from the log: before, new mail is not
    /// fetched (it may answer them).
    restored: tokio::sync::watch::Receiver<bool>,
    pollers: parking_lot::Mutex<HashMap<String, Poller>>,
    /// The SMTP side of each mailbox, by address in lower case.
    senders: parking_lot::RwLock<HashMap<String, Account>>,
    /// Sending slots of each mailbox, by address in lower case.
    slots: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// The centre's mailboxes.
#[derive(Clone)]
pub struct Mailboxes {
    inner: Arc<Inner>,
}

fn account(host_port: &str, m: &hotline_config::Mailbox) -> Option<Account> {
    let (host, port) = host_port.rsplit_once(':')?;
    Some(Account {
        host: host.trim_matches(['[', ']']).to_string(),
        port: port.parse().ok()?,
        user: m.user.clone(),
        password: m.password()?,
        security: match m.security {
            hotline_config::MailSecurity::Tls => Security::Tls,
            hotline_config::MailSecurity::Starttls => Security::StartTls,
            hotline_config::MailSecurity::Plain => Security::Plain,
        },
        ca_file: m.ca_file.as_ref().map(|f| PathBuf::from(f.get_ref())),
    })
}

impl Mailboxes {
    pub(crate) fn start(
        chats: Chats,
        cfg: &hotline_config::Config,
        outgoing: mpsc::UnboundedReceiver<OutMail>,
        restored: tokio::sync::watch::Receiver<bool>,
    ) -> Mailboxes {
        let mailboxes = Mailboxes {
            inner: Arc::new(Inner {
                chats,
                restored,
                pollers: Default::default(),
                senders: Default::default(),
                slots: Default::default(),
            }),
        };
        mailboxes.configure(cfg);
        tokio::spawn(send_all(Arc::downgrade(&mailboxes.inner), outgoing));
        mailboxes
    }

    /// Takes the mailboxes of `cfg` (at start and on a live change): a mailbox whose
    /// servers or login changed is fetched anew, one removed is no longer fetched.
    pub(crate) fn configure(&self, cfg: &hotline_config::Config) {
        let mut wanted = HashMap::new();
        let mut senders = HashMap::new();
        for m in &cfg.mailboxes {
            let address = m.address.get_ref().trim().to_ascii_lowercase();
            let (Some(imap), Some(smtp)) =
                (account(m.imap.get_ref(), m), account(m.smtp.get_ref(), m))
            else {
                tracing::error!(mailbox = %address, "no password for the mailbox (is `password_env` set?): it is not fetched");
                continue;
            };
            senders.insert(address.clone(), smtp.clone());
            wanted.insert(
                address,
                Setup {
                    imap,
                    smtp,
                    folder: m.folder.clone(),
                    every: Duration::from_secs(u64::from(*m.poll_seconds.get_ref())),
                },
            );
        }
        *self.inner.senders.write() = senders;
        let mut pollers = self.inner.pollers.lock();
        pollers.retain(|address, p| {
            let keep = wanted.get(address) == Some(&p.setup);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for (address, setup) in wanted {
            if pollers.contains_key(&address) {
                continue;
            }
            let task = tokio::spawn(poll(
                self.inner.chats.clone(),
                self.inner.restored.clone(),
                address.clone(),
                setup.clone(),
            ));
            pollers.insert(address, Poller { setup, task });
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for p in self.pollers.get_mut().values() {
            p.task.abort();
        }
    }
}

async fn poll(
    chats: Chats,
    mut restored: tokio::sync::watch::Receiver<bool>,
    address: String,
    setup: Setup,
) {
    if restored.wait_for(|done| *done).await.is_err() {
        return;
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        if let Err(e) = fetch(&chats, &address, &setup, &mut backoff).await {
            tracing::warn!(mailbox = %address, error = %e, retry_in = ?backoff, "the mailbox cannot be read");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One session with the IMAP server: fetches until the connection fails.
async fn fetch(
    chats: &Chats,
    address: &str,
    setup: &Setup,
    backoff: &mut Duration,
) -> Result<(), String> {
    let mut imap = Imap::login(&setup.imap).await.map_err(|e| e.to_string())?;
    tracing::info!(mailbox = %address, folder = %setup.folder, "reading the mailbox");
    *backoff = Duration::from_secs(1);
    loop {
        let batch = imap
            .unseen(&setup.folder)
            .await
            .map_err(|e| e.to_string())?;
        let full = batch.len() >= BATCH;
        for m in batch {
            if let Some(size) = m.oversize {
                // Kept in the mailbox for a person to read; not downloaded, not fetched again.
                tracing::warn!(mailbox = %address, uid = m.uid, bytes = size, "a message over the size limit is left in the mailbox");
                imap.mark_seen(&[m.uid]).await.map_err(|e| e.to_string())?;
                continue;
            }
            // Taken in a task of its own: a live change that stops this mailbox's task
            // never cuts a message's events in half (if it stops before the mark, the
            // message is fetched again and known by its Message-ID).
            let taking = {
                let chats = chats.clone();
                let address = address.to_string();
                tokio::spawn(async move { chats.email_in(&address, &m.raw).await })
            };
            let taken = taking
                .await
                .map_err(|e| format!("taking a message failed: {e}"))?;
            match taken {
                Ok(arrival) => {
                    match &arrival {
                        EmailArrival::Ignored(why) => {
                            tracing::info!(mailbox = %address, uid = m.uid, why = %why, "an automatic message is left in the mailbox")
                        }
                        a => {
                            tracing::info!(mailbox = %address, uid = m.uid, arrival = ?a, "e-mail taken")
                        }
                    }
                    imap.mark_seen(&[m.uid]).await.map_err(|e| e.to_string())?;
                }
                Err(e) if e.code == "bad_message" => {
                    // Kept in the mailbox for a person to read; not fetched again.
                    tracing::warn!(mailbox = %address, uid = m.uid, error = %e.message, "an unreadable message is left in the mailbox");
                    imap.mark_seen(&[m.uid]).await.map_err(|e| e.to_string())?;
                }
                Err(e) => {
                    // Not kept (the log is down): left unseen, fetched again later.
                    return Err(format!("a message was not taken: {}", e.message));
                }
            }
        }
        if !full {
            imap.wait(setup.every).await.map_err(|e| e.to_string())?;
        }
    }
}

async fn send_all(inner: std::sync::Weak<Inner>, mut outgoing: mpsc::UnboundedReceiver<OutMail>) {
    while let Some(mail) = outgoing.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        tokio::spawn(async move { send(&inner, mail).await });
    }
}

async fn send(inner: &Inner, mail: OutMail) {
    let mut last = String::from("the mailbox is no longer configured");
    let mailbox = mail.mailbox.to_ascii_lowercase();
    let slots = inner
        .slots
        .lock()
        .entry(mailbox.clone())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(SENDING)))
        .clone();
    for pause in SEND_TRIES {
        // The slot is held only while the server is talked to, not over the pauses.
        tokio::time::sleep(Duration::from_secs(pause)).await;
        let Ok(_slot) = slots.acquire().await else {
            break;
        };
        let Some(account) = inner.senders.read().get(&mailbox).cloned() else {
            break;
        };
        match hotline_mail::shell::submit(
            &account,
            &mail.envelope_from,
            &mail.recipients,
            &mail.bytes,
        )
        .await
        {
            Ok(()) => {
                tracing::info!(conversation = %mail.conversation, message_id = %mail.message_id, "e-mail sent");
                inner
                    .chats
                    .message_status(mail.conversation, mail.seq, "sent")
                    .await;
                return;
            }
            Err(e) => {
                tracing::warn!(conversation = %mail.conversation, message_id = %mail.message_id, error = %e, "e-mail not sent yet");
                last = e.to_string();
            }
        }
    }
    inner
        .chats
        .email_not_sent(mail.conversation, mail.seq, &last)
        .await;
}
