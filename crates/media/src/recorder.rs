//! Stereo call recorder: caller on the left, agent on the right, 16-bit PCM
//! at 8 kHz, one frame per 20 ms of wall time (silence for gaps, hold and
//! pauses), crash-safe.
//!
//! Crash safety: the file starts with a canonical 44-byte WAV header whose
//! sizes are rewritten in place after every flush (once a second by
//! default), so a file cut by `kill -9` is at most a second short and its
//! header is at most a second stale. [`repair`] fixes the RIFF and data sizes
//! from the file length, which makes any cut file readable. Writes are
//! batched: samples go to an in-memory buffer and reach the file in one
//! `write` per flush.
//!
//! Disk writes can stall (page-cache writeback throttling, a slow disk), and a
//! media thread that stalls drops packets. A [`RecordWriter`] moves the
//! writes to a thread of their own: the recorder hands it each full buffer
//! (about once a second per call) and carries on.
//!
//! The header is written by hand (rather than through a WAV library's writer)
//! because the recorder must rewrite it in place without moving the append
//! position, and [`repair`] must understand exactly the layout that was written.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use crate::playout::FRAME;

const HEADER_LEN: u64 = 44;
const RATE: u32 = 8000;
const CHANNELS: u16 = 2;
const BLOCK_ALIGN: u16 = CHANNELS * 2;

fn header(data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36u32.saturating_add(data_len)).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&CHANNELS.to_le_bytes());
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * u32::from(BLOCK_ALIGN)).to_le_bytes());
    h[32..34].copy_from_slice(&BLOCK_ALIGN.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

enum Job {
    Write {
        file: Arc<File>,
        offset: u64,
        data: Vec<u8>,
    },
    Sync(Arc<File>),
    Barrier(mpsc::SyncSender<()>),
}

/// A thread that does recorders' disk writes, so media threads never block
/// on the disk. Cheap to clone; the thread ends when every clone and every
/// recorder using it is gone.
///
/// The queue is bounded (4,096 one-second buffers, about 128 MB): if the disk
/// falls that far behind, recorders write on their own thread again, so
/// memory stays bounded and no audio is dropped.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    tx: mpsc::SyncSender<Job>,
}

impl RecordWriter {
    /// Starts the writer thread.
    pub fn start() -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("hotline-recorder".into())
            .spawn(move || {
                for job in rx {
                    let r = match job {
                        Job::Write { file, offset, data } => write_chunk(&file, offset, &data),
                        Job::Sync(file) => file.sync_data(),
                        Job::Barrier(done) => {
                            let _ = done.send(());
                            Ok(())
                        }
                    };
                    if let Err(e) = r {
                        tracing::warn!("recording write failed: {e}");
                    }
                }
            })?;
        Ok(RecordWriter { tx })
    }

    /// Blocks until every write handed over so far is done (for shutdown and tests).
    pub fn wait_idle(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Job::Barrier(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// Appends `data` at `offset` and updates the header sizes in place.
fn write_chunk(file: &File, offset: u64, data: &[u8]) -> io::Result<()> {
    file.write_all_at(data, offset)?;
    let end = offset - HEADER_LEN + data.len() as u64;
    let d = u32::try_from(end).unwrap_or(u32::MAX - 36);
    file.write_at(&header(d)[4..8], 4)?;
    file.write_at(&d.to_le_bytes(), 40)?;
    Ok(())
}

/// Writes one stereo recording.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    file: Arc<File>,
    buf: Vec<u8>,
    flush_bytes: usize,
    data_len: u64,
    paused: bool,
    writer: Option<RecordWriter>,
}

impl Recorder {
    /// Creates (truncates) `path` and writes the header. Data is flushed every
    /// `flush_ms` milliseconds of audio (at least 20).
    pub fn create(path: &Path, flush_ms: u32) -> io::Result<Self> {
        Self::create_with(path, flush_ms, None)
    }

    /// Like [`Recorder::create`], handing the writes to `writer` if given.
    pub fn create_with(
        path: &Path,
        flush_ms: u32,
        writer: Option<RecordWriter>,
    ) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        file.write_all(&header(0))?;
        let flush_bytes = (flush_ms.max(20) as usize / 20) * FRAME * usize::from(BLOCK_ALIGN);
        Ok(Recorder {
            path: path.to_owned(),
            file: Arc::new(file),
            buf: Vec::with_capacity(flush_bytes),
            flush_bytes,
            data_len: 0,
            paused: false,
            writer,
        })
    }

    /// Appends one 20 ms stereo frame. While paused, silence is written instead.
    pub fn write_frame(&mut self, left: &[i16; FRAME], right: &[i16; FRAME]) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + FRAME * usize::from(BLOCK_ALIGN), 0);
        if !self.paused {
            let dst = &mut self.buf[start..];
            for ((d, l), r) in dst.chunks_exact_mut(4).zip(left).zip(right) {
                let (l, r) = (l.to_le_bytes(), r.to_le_bytes());
                d.copy_from_slice(&[l[0], l[1], r[0], r[1]]);
            }
        }
        if self.buf.len() >= self.flush_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends `frames` frames of silence (e.g. to catch up with wall time).
    pub fn write_silence(&mut self, frames: usize) -> io::Result<()> {
        let z = [0i16; FRAME];
        for _ in 0..frames {
            self.write_frame(&z, &z)?;
        }
        Ok(())
    }

    /// Pauses (silence is recorded) or resumes.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Writes buffered audio and updates the header sizes in place.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let offset = HEADER_LEN + self.data_len;
        self.data_len += self.buf.len() as u64;
        if let Some(w) = &self.writer {
            // One buffer allocation per flush (about once a second), not per packet.
            let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.flush_bytes));
            let job = Job::Write {
                file: self.file.clone(),
                offset,
                data,
            };
            match w.tx.try_send(job) {
                Ok(()) => {}
                Err(
                    mpsc::TrySendError::Full(Job::Write { file, offset, data })
                    | mpsc::TrySendError::Disconnected(Job::Write { file, offset, data }),
                ) => {
                    // The writer is far behind or gone: write here rather than lose audio.
                    write_chunk(&file, offset, &data)?;
                }
                Err(_) => {}
            }
            return Ok(());
        }
        write_chunk(&self.file, offset, &self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Seconds of audio written so far (including buffered).
    pub fn duration_secs(&self) -> f64 {
        (self.data_len + self.buf.len() as u64) as f64 / f64::from(RATE * u32::from(BLOCK_ALIGN))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and closes, returning the path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.flush()?;
        match &self.writer {
            Some(w) => {
                if w.tx.try_send(Job::Sync(self.file.clone())).is_err() {
                    self.file.sync_data()?;
                }
            }
            None => self.file.sync_data()?,
        }
        Ok(self.path.clone())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Best effort: a dropped recorder still leaves a complete file.
        let _ = self.flush();
    }
}

/// Fixes the RIFF and data chunk sizes of a WAV file from its length (after a
/// crash). Trailing bytes that do not make a whole sample frame are cut.
/// Returns the number of audio bytes in the repaired file.
pub fn repair(path: &Path) -> io::Result<u64> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut riff = [0u8; 12];
    f.read_exact(&mut riff)
        .map_err(|_| bad("too short for a WAV header"))?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    // Walk the chunks to find `fmt ` (block align) and `data`.
    let mut pos = 12u64;
    let mut block_align = 1u64;
    loop {
        let mut ch = [0u8; 8];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut ch).map_err(|_| bad("no data chunk"))?;
        let size = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
        if &ch[0..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            f.read_exact(&mut fmt).map_err(|_| bad("short fmt chunk"))?;
            block_align = u64::from(u16::from_le_bytes([fmt[12], fmt[13]])).max(1);
        }
        if &ch[0..4] == b"data" {
            let data_start = pos + 8;
            let avail = len.saturating_sub(data_start);
            let data = (avail / block_align * block_align).min(u64::from(u32::MAX) - 64);
            f.set_len(data_start + data)?;
            // data_start + data fits in u32 by the clamp above (data_start is small).
            let total = (data_start + data - 8) as u32;
            f.write_at(&total.to_le_bytes(), 4)?;
            f.write_at(&(data as u32).to_le_bytes(), pos + 4)?;
            f.sync_all()?;
            return Ok(data);
        }
        pos += 8 + size + (size & 1);
        if pos >= len {
            return Err(bad("no data chunk"));
        }
    }
}

/// Header length of files written by [`Recorder`].
pub const fn header_len() -> u64 {
    HEADER_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stereo_and_pause_is_silent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.wav");
        let mut r = Recorder::create(&p, 1000).unwrap();
        let l = [100i16; FRAME];
        let rt = [-200i16; FRAME];
        r.write_frame(&l, &rt).unwrap();
        r.set_paused(true);
        r.write_frame(&l, &rt).unwrap();
        r.set_paused(false);
        r.write_frame(&l, &rt).unwrap();
        r.finish().unwrap();
        let mut rd = hound::WavReader::open(&p).unwrap();
        assert_eq!(rd.spec().channels, 2);
        assert_eq!(rd.spec().sample_rate, 8000);
        let s: Vec<i16> = rd.samples::<i16>().map(|x| x.unwrap()).collect();
        assert_eq!(s.len(), 3 * FRAME * 2);
        assert_eq!((s[0], s[1]), (100, -200));
        assert_eq!((s[FRAME * 2], s[FRAME * 2 + 1]), (0, 0));
        assert_eq!((s[FRAME * 4], s[FRAME * 4 + 1]), (100, -200));
    }

    #[test]
    fn writer_thread_writes_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.wav");
        let w = RecordWriter::start().unwrap();
        let mut r = Recorder::create_with(&p, 20, Some(w.clone())).unwrap();
        for i in 0..10 {
            r.write_frame(&[i; FRAME], &[-i; FRAME]).unwrap();
        }
        r.finish().unwrap();
        w.wait_idle();
        let mut rd = hound::WavReader::open(&p).unwrap();
        let s: Vec<i16> = rd.samples::<i16>().map(|x| x.unwrap()).collect();
        assert_eq!(s.len(), 10 * FRAME * 2);
        assert_eq!((s[FRAME * 2 * 9], s[FRAME * 2 * 9 + 1]), (9, -9));
    }

    #[test]
    fn repair_fixes_sizes_and_partial_frames() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.wav");
        let mut f = File::create(&p).unwrap();
        f.write_all(&header(0)).unwrap();
        f.write_all(&[1u8; 4003]).unwrap(); // 1000 frames + 3 stray bytes
        drop(f);
        assert_eq!(repair(&p).unwrap(), 4000);
        let rd = hound::WavReader::open(&p).unwrap();
        assert_eq!(rd.duration(), 1000);
        assert!(repair(&dir.path().join("missing.wav")).is_err());
        std::fs::write(dir.path().join("junk.wav"), b"hello").unwrap();
        assert!(repair(&dir.path().join("junk.wav")).is_err());
    }
}
