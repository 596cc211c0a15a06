//! The password-hashing pool: every argon2 verification in the process (API logins and
//! callers' PINs) runs here, on a fixed number of workers with a bounded queue.
//!
//! argon2 is slow and memory-hard on purpose (the default costs 19 MiB a check). Run as
//! many at once as clients ask for, a hundred logins cost gigabytes; here at most `workers`
//! run at once, each in a memory area that is kept and reused rather than allocated per
//! check, so the peak is `workers` areas and nothing grows with load. Beyond `queue` waiting
//! checks a login is refused at once ([`Busy`]) instead of being queued.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, Block, Params};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// The pool is full: refuse the request cheaply (HTTP 429) and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct HashPool {
    permits: Semaphore,
    workers: usize,
    queue: usize,
    waiting: AtomicUsize,
    /// One memory area per worker, reused check after check.
    areas: Mutex<Vec<Vec<Block>>>,
}

static GLOBAL: OnceLock<Arc<HashPool>> = OnceLock::new();

impl HashPool {
    /// A pool of `workers` (0: one per CPU core, at most 4) with at most `queue` checks
    /// waiting.
    pub fn new(workers: usize, queue: usize) -> HashPool {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
        } else {
            workers
        };
        HashPool {
            permits: Semaphore::new(workers),
            workers,
            queue,
            waiting: AtomicUsize::new(0),
            areas: Mutex::new(Vec::new()),
        }
    }

    /// Sets the process's pool (once, at start-up); later calls change nothing.
    pub fn configure(workers: usize, queue: usize) -> Arc<HashPool> {
        GLOBAL
            .get_or_init(|| Arc::new(HashPool::new(workers, queue)))
            .clone()
    }

    /// The process's pool (one worker per core up to 4, and a queue of 16, unless configured).
    pub fn global() -> Arc<HashPool> {
        HashPool::configure(0, 16)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Verifies `secret` against the argon2 PHC string `phc`, refusing at once with [`Busy`]
    /// if `queue` checks are already waiting for a worker. A malformed `phc` costs the same
    /// as a real one would not: callers pass a well-formed decoy for unknown users.
    pub async fn verify(&self, phc: String, secret: Vec<u8>) -> Result<bool, Busy> {
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let before = self.waiting.fetch_add(1, Ordering::AcqRel);
                if before >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let p = self.permits.acquire().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                p.map_err(|_| Busy)?
            }
        };
        let mut area = self.areas.lock().pop().unwrap_or_default();
        let (ok, area) = tokio::task::spawn_blocking(move || {
            let ok = verify_in(&phc, &secret, &mut area);
            (ok, area)
        })
        .await
        .unwrap_or((false, Vec::new()));
        if !area.is_empty() {
            self.areas.lock().push(area);
        }
        drop(permit);
        Ok(ok)
    }

    /// Hashes a new password (argon2id, default costs, a random salt) into a PHC string, on
    /// the pool like a check (an administrator setting a user's password).
    pub async fn hash(&self, secret: Vec<u8>) -> Result<String, Busy> {
        let permit = self.permits.acquire().await.map_err(|_| Busy)?;
        let phc = tokio::task::spawn_blocking(move || {
            use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(&secret, &salt)
                .map(|h| h.to_string())
                .ok()
        })
        .await
        .ok()
        .flatten();
        drop(permit);
        phc.ok_or(Busy)
    }

    /// Like [`HashPool::verify`] but waits for a worker however long the queue (a caller's
    /// PIN: calls are already bounded by the centre's call limit).
    pub async fn verify_waiting(&self, phc: String, secret: Vec<u8>) -> bool {
        let Ok(permit) = self.permits.acquire().await else {
            return false;
        };
        let mut area = self.areas.lock().pop().unwrap_or_default();
        let (ok, area) = tokio::task::spawn_blocking(move || {
            let ok = verify_in(&phc, &secret, &mut area);
            (ok, area)
        })
        .await
        .unwrap_or((false, Vec::new()));
        if !area.is_empty() {
            self.areas.lock().push(area);
        }
        drop(permit);
        ok
    }
}

/// Checks `secret` against `phc` computing in `area` (grown to the hash's memory cost once,
/// then reused). Constant-time comparison of the outputs.
fn verify_in(phc: &str, secret: &[u8], area: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = hash
        .version
        .and_then(|v| argon2::Version::try_from(v).ok())
        .unwrap_or_default();
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if area.len() != blocks {
        area.clear();
        area.shrink_to_fit();
        area.resize(blocks, Block::default());
    }
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(secret, salt, &mut out, &mut area[..])
        .is_err()
    {
        return false;
    }
    out.iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn phc(pw: &str) -> String {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn verifies_like_argon2_and_refuses_beyond_the_queue() {
        let pool = Arc::new(HashPool::new(1, 2));
        let h = phc("secret");
        assert_eq!(pool.verify(h.clone(), b"secret".to_vec()).await, Ok(true));
        assert_eq!(pool.verify(h.clone(), b"wrong".to_vec()).await, Ok(false));
        assert_eq!(
            pool.verify("nonsense".into(), b"x".to_vec()).await,
            Ok(false)
        );
        assert!(pool.verify_waiting(h.clone(), b"secret".to_vec()).await);
        // One running, two waiting: the rest are refused at once.
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let pool = pool.clone();
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                pool.verify(h, b"secret".to_vec()).await
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(true) => ok += 1,
                Err(Busy) => busy += 1,
                Ok(false) => panic!("a right password was refused"),
            }
        }
        assert!(ok >= 3, "{ok}");
        assert!(busy >= 1, "{busy}");
        assert_eq!(ok + busy, 10);
        // Areas are reused: never more than one per worker.
        assert!(pool.areas.lock().len() <= 1);
        assert_eq!(pool.verify(h, b"secret".to_vec()).await, Ok(true));
    }
}
