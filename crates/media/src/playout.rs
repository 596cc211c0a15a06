//! A small playout buffer that turns received packets (in any order, with
//! gaps) into a steady 20 ms frame per tick of wall time, for the recorder,
//! the mixer and the voice analysis. Missing audio comes out as silence.
//!
//! Samples are written into a ring at their RTP timestamp's position and
//! read back (and cleared) one frame per tick, a fixed depth behind the
//! newest packet. A packet too far ahead or behind resynchronises the buffer
//! (new SSRC, sender restart), and so do a few late packets in a row: a sender
//! whose clock runs slower than ours falls behind the read point little by
//! little, and without that its audio would be dropped as late until it was a
//! whole window behind (minutes, at a real phone's 100 ppm of drift).

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
const CAP: usize = 2048; // 256 ms

/// Playout buffer for one received stream.
#[derive(Debug, Clone)]
pub struct Playout {
    ring: Box<[i16; CAP]>,
    /// RTP timestamp of the next sample to play; `None` until the first packet.
    play_ts: Option<u32>,
    depth: u32,
    late: u64,
    /// Late packets in a row (a slow sender, not one reordered packet).
    late_run: u32,
    resyncs: u64,
}

/// Late packets in a row after which the buffer starts again around the sender.
const LATE_RUN: u32 = 3;

impl Default for Playout {
    fn default() -> Self {
        Self::new(2)
    }
}

impl Playout {
    /// A buffer holding audio back `depth_frames` frames (20 ms each, 1–8).
    pub fn new(depth_frames: u32) -> Self {
        Playout {
            ring: Box::new([0; CAP]),
            play_ts: None,
            depth: depth_frames.clamp(1, 8) * FRAME as u32,
            late: 0,
            late_run: 0,
            resyncs: 0,
        }
    }

    /// Stores decoded samples starting at RTP timestamp `ts`.
    pub fn push(&mut self, ts: u32, samples: &[i16]) {
        let len = samples.len().min(CAP / 2);
        let play = match self.play_ts {
            Some(p) => p,
            None => {
                let p = ts.wrapping_sub(self.depth);
                self.play_ts = Some(p);
                p
            }
        };
        let off = ts.wrapping_sub(play) as i32;
        let limit = (CAP - len) as i32;
        let drifted = off < 0 && self.late_run + 1 >= LATE_RUN;
        let off = if off < -(2 * FRAME as i32) || off >= limit || drifted {
            self.late_run = 0;
            // Far out of the window: start again around this packet.
            self.resyncs += 1;
            self.ring.fill(0);
            self.play_ts = Some(ts.wrapping_sub(self.depth));
            self.depth as i32
        } else if off < 0 {
            // Slightly late: keep the part still in the future.
            self.late += 1;
            self.late_run += 1;
            let skip = (-off) as usize;
            if skip >= len {
                return;
            }
            return self.write_at(play, &samples[skip..len]);
        } else {
            self.late_run = 0;
            off
        };
        // `off` is within 0..limit here.
        let start = self.play_ts.unwrap_or(play).wrapping_add(off as u32);
        self.write_at(start, &samples[..len]);
    }

    fn write_at(&mut self, ts: u32, samples: &[i16]) {
        let mut pos = ts as usize % CAP;
        for &s in samples {
            self.ring[pos] = s;
            pos = (pos + 1) % CAP;
        }
    }

    /// Takes the next frame (silence where nothing arrived).
    pub fn pull(&mut self, out: &mut [i16; FRAME]) {
        let Some(play) = self.play_ts else {
            out.fill(0);
            return;
        };
        let mut pos = play as usize % CAP;
        for o in out.iter_mut() {
            *o = std::mem::take(&mut self.ring[pos]);
            pos = (pos + 1) % CAP;
        }
        self.play_ts = Some(play.wrapping_add(FRAME as u32));
    }

    /// Packets that arrived too late to be played (partly or wholly).
    pub fn late_packets(&self) -> u64 {
        self.late
    }

    /// Times the buffer restarted around a packet far out of its window.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_and_fills_gaps() {
        let mut p = Playout::new(2);
        let f = |v: i16| [v; FRAME];
        p.push(1000, &f(1));
        p.push(1000 + 320, &f(3)); // arrives before 2
        p.push(1000 + 160, &f(2));
        // frame 4 lost
        p.push(1000 + 640, &f(5));
        let mut out = [0i16; FRAME];
        let mut got = Vec::new();
        for _ in 0..7 {
            p.pull(&mut out);
            got.push(out[0]);
            assert!(out.iter().all(|s| *s == out[0]));
        }
        assert_eq!(got, vec![0, 0, 1, 2, 3, 0, 5]);
    }

    /// A sender whose clock is 1 % slow (a packet every 20.2 ms of our time) stays audible:
    /// its audio is not dropped as late for seconds on end.
    #[test]
    fn a_slow_sender_is_not_dropped_as_late() {
        for drift in [1.01f64, 1.0001, 0.99] {
            let mut p = Playout::new(2);
            let mut out = [0i16; FRAME];
            let (mut silent, mut run, mut longest) = (0, 0, 0);
            let mut next_arrival = 0.0f64;
            let mut ts = 7u32;
            let ticks = 20_000;
            for tick in 0..ticks {
                while next_arrival <= tick as f64 {
                    p.push(ts, &[1000; FRAME]);
                    ts = ts.wrapping_add(FRAME as u32);
                    next_arrival += drift;
                }
                p.pull(&mut out);
                if tick > 10 && out.iter().all(|s| *s == 0) {
                    silent += 1;
                    run += 1;
                    longest = longest.max(run);
                } else {
                    run = 0;
                }
            }
            assert!(
                silent * 100 < ticks * 3,
                "drift {drift}: {silent} of {ticks} frames silent"
            );
            assert!(
                longest <= 5,
                "drift {drift}: {longest} silent frames in a row"
            );
        }
    }

    #[test]
    fn resync_on_jump() {
        let mut p = Playout::new(1);
        p.push(0, &[1; FRAME]);
        p.push(4_000_000, &[9; FRAME]);
        let mut out = [0i16; FRAME];
        p.pull(&mut out);
        assert_eq!(out[0], 0);
        p.pull(&mut out);
        assert_eq!(out[0], 9);
        assert_eq!(p.resyncs(), 1);
    }
}
