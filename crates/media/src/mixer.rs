//! N-1 mixer for three or more parties: each party hears the sum of the
//! others it is allowed to hear (conference, supervisor whisper and barge).

use crate::playout::FRAME;

/// Who hears whom. `hears[i][j]` = party i hears party j.
#[derive(Debug, Clone, Default)]
pub struct MixMatrix {
    n: usize,
    hears: Vec<bool>,
}

impl MixMatrix {
    /// Everyone hears everyone else (a conference).
    pub fn conference(n: usize) -> Self {
        let mut hears = vec![true; n * n];
        for i in 0..n {
            hears[i * n + i] = false;
        }
        MixMatrix { n, hears }
    }

    /// Sets whether `listener` hears `talker`.
    pub fn set(&mut self, listener: usize, talker: usize, on: bool) {
        if listener < self.n && talker < self.n && listener != talker {
            self.hears[listener * self.n + talker] = on;
        }
    }

    pub fn hears(&self, listener: usize, talker: usize) -> bool {
        listener < self.n && talker < self.n && self.hears[listener * self.n + talker]
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whisper: `supervisor` hears everyone; only `agent` hears the supervisor.
    pub fn whisper(n: usize, supervisor: usize, agent: usize) -> Self {
        let mut m = Self::conference(n);
        for i in 0..n {
            if i != agent {
                m.set(i, supervisor, false);
            }
        }
        m
    }

    /// Listen: `supervisor` hears everyone; nobody hears the supervisor.
    pub fn listen(n: usize, supervisor: usize) -> Self {
        let mut m = Self::conference(n);
        for i in 0..n {
            m.set(i, supervisor, false);
        }
        m
    }
}

/// Mixes `inputs` (one frame per party) into `outputs` following `m`.
/// Uses a full sum minus the party's own contribution when the matrix is a
/// plain conference, else sums the heard parties; saturates to 16 bits.
pub fn mix(m: &MixMatrix, inputs: &[[i16; FRAME]], outputs: &mut [[i16; FRAME]]) {
    let n = m.len().min(inputs.len()).min(outputs.len());
    let mut total = [0i32; FRAME];
    for inp in &inputs[..n] {
        for (t, s) in total.iter_mut().zip(inp) {
            *t += i32::from(*s);
        }
    }
    for i in 0..n {
        let all_others = (0..n).all(|j| j == i || m.hears(i, j));
        let out = &mut outputs[i];
        if all_others {
            for k in 0..FRAME {
                out[k] = sat(total[k] - i32::from(inputs[i][k]));
            }
        } else {
            let mut acc = [0i32; FRAME];
            for (j, inp) in inputs[..n].iter().enumerate() {
                if m.hears(i, j) {
                    for (a, s) in acc.iter_mut().zip(inp) {
                        *a += i32::from(*s);
                    }
                }
            }
            for k in 0..FRAME {
                out[k] = sat(acc[k]);
            }
        }
    }
}

#[inline]
fn sat(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_minus_one() {
        let inputs = [[100i16; FRAME], [20; FRAME], [3; FRAME]];
        let mut out = [[0i16; FRAME]; 3];
        mix(&MixMatrix::conference(3), &inputs, &mut out);
        assert_eq!(out[0][0], 23);
        assert_eq!(out[1][0], 103);
        assert_eq!(out[2][0], 120);
    }

    #[test]
    fn whisper_only_agent_hears_supervisor() {
        // 0 caller, 1 agent, 2 supervisor
        let inputs = [[100i16; FRAME], [20; FRAME], [3; FRAME]];
        let mut out = [[0i16; FRAME]; 3];
        mix(&MixMatrix::whisper(3, 2, 1), &inputs, &mut out);
        assert_eq!(out[0][0], 20); // caller hears agent only
        assert_eq!(out[1][0], 103); // agent hears caller + supervisor
        assert_eq!(out[2][0], 120); // supervisor hears both
    }

    #[test]
    fn listen_nobody_hears_the_supervisor() {
        // 0 caller, 1 agent, 2 supervisor
        let inputs = [[100i16; FRAME], [20; FRAME], [3; FRAME]];
        let mut out = [[0i16; FRAME]; 3];
        let m = MixMatrix::listen(3, 2);
        mix(&m, &inputs, &mut out);
        assert_eq!(out[0][0], 20); // caller hears the agent only
        assert_eq!(out[1][0], 100); // agent hears the caller only
        assert_eq!(out[2][0], 120); // supervisor hears both
        assert!(!m.hears(0, 2) && !m.hears(1, 2));
        assert!(m.hears(2, 0) && m.hears(2, 1) && m.hears(0, 1) && m.hears(1, 0));
    }

    #[test]
    fn saturates() {
        let inputs = [[30000i16; FRAME], [30000; FRAME], [30000; FRAME]];
        let mut out = [[0i16; FRAME]; 3];
        mix(&MixMatrix::conference(3), &inputs, &mut out);
        assert_eq!(out[0][0], i16::MAX);
    }
}
