//! Durable append throughput with group commit.
//!
//! `cargo run --release -p hotline-store --example append_bench -- [--writers N]
//!  [--events N] [--batch N] [--runs N] [--durability full|normal] [--dir DIR]
//!  [--postgres URL]`
//!
//! N writer tasks each append `batch` events per call and wait for the commit before the
//! next call, like call sessions do; each run uses a fresh database in DIR (default: a
//! temporary directory under the current one, so on the same disk as the work tree).
//! With `--postgres URL` the runs go to that PostgreSQL database instead (emptied before each
//! run; durability is then the server's `synchronous_commit`). Prints every run and the
//! median of the runs.

use std::time::Instant;

use hotline_model::{Event, EventKind, InteractionEvent, InteractionId, Timestamp};
use hotline_store::{Database, Durability, PgTarget, Store, StoreOptions};

struct Args {
    writers: usize,
    events: usize,
    batch: usize,
    runs: usize,
    durability: Durability,
    dir: std::path::PathBuf,
    postgres: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        writers: 64,
        events: 100_000,
        batch: 1,
        runs: 3,
        durability: Durability::Full,
        dir: std::path::PathBuf::from("."),
        postgres: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--writers" => a.writers = num(value()?)?.max(1),
            "--events" => a.events = num(value()?)?.max(1),
            "--batch" => a.batch = num(value()?)?.max(1),
            "--runs" => a.runs = num(value()?)?.max(1),
            "--durability" => {
                a.durability = match value()?.as_str() {
                    "full" => Durability::Full,
                    "normal" => Durability::Normal,
                    other => return Err(format!("--durability full|normal, not {other}")),
                }
            }
            "--dir" => a.dir = value()?.into(),
            "--postgres" => a.postgres = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

struct Run {
    events_per_sec: f64,
    commits: u64,
    events: u64,
}

async fn run(args: &Args) -> Result<Run, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(&args.dir)?;
    let options = StoreOptions {
        durability: args.durability,
        ..StoreOptions::default()
    };
    let database = match &args.postgres {
        Some(url) => {
            let target = PgTarget::parse(url)?;
            // A fresh log for every run, as with SQLite's new file.
            let store = Store::open_database(
                &Database::Postgres(Box::new(target.clone())),
                options.clone(),
            )
            .await?;
            store.close().await;
            empty(url).await?;
            Database::Postgres(Box::new(target))
        }
        None => Database::Sqlite(dir.path().join("bench.db")),
    };
    let store = Store::open_database(&database, options).await?;
    let per_writer = args.events.div_ceil(args.writers);
    let batch = args.batch;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let i = InteractionId::new();
            let mut done = 0;
            while done < per_writer {
                let n = batch.min(per_writer - done);
                let events: Vec<Event> = (0..n)
                    .map(|k| {
                        Event::from(InteractionEvent::new(
                            i,
                            Timestamp::now(),
                            EventKind::FlowStep {
                                step: format!("w{w}"),
                                detail: Some((done + k).to_string()),
                            },
                        ))
                    })
                    .collect();
                store.append(events).await?;
                done += n;
            }
            Ok::<_, hotline_store::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let stats = store.stats();
    store.close().await;
    // The open itself commits once (projection bookkeeping).
    let commits = stats.commits.saturating_sub(1);
    Ok(Run {
        events_per_sec: stats.events as f64 / elapsed,
        commits,
        events: stats.events,
    })
}

/// Empties the log and its projections in the PostgreSQL database at `url`.
async fn empty(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql("TRUNCATE events, interactions, customers, customer_phones, notes, audit, recordings, agent_states")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("append_bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("append_bench: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "writers={} events={} batch={} durability={:?} runs={}",
        args.writers, args.events, args.batch, args.durability, args.runs
    );
    let mut rates = Vec::new();
    for r in 1..=args.runs {
        match rt.block_on(run(&args)) {
            Ok(run) => {
                println!(
                    "run {r}: {:.0} events/s, {} events in {} commits ({:.1} events/commit)",
                    run.events_per_sec,
                    run.events,
                    run.commits,
                    run.events as f64 / run.commits.max(1) as f64
                );
                rates.push(run.events_per_sec);
            }
            Err(e) => {
                eprintln!("append_bench: run {r}: {e}");
                std::process::exit(1);
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} events/s", rates[rates.len() / 2]);
}
