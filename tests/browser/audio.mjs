// Audio for the browser tests: tones as WAV files (a fake microphone for chromium), a
// caller's RTP peer that speaks a tone and keeps what it hears, and tone detection in
// what it heard and in the centre's stereo recordings.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';

// G.711 µ-law of one 16-bit sample.
export function ulaw(sample) {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp -= 1;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

// The 16-bit sample of a µ-law byte.
export function unulaw(b) {
  const u = ~b & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return (u & 0x80) ? 0x84 - t : t - 0x84;
}

// A mono 16-bit WAV of a sine at `hz` (chromium loops it as its fake microphone).
export function toneWav(path, hz, secs = 4, rate = 48000, amplitude = 9000) {
  const n = secs * rate;
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i += 1) data.writeInt16LE(Math.round(amplitude * Math.sin(2 * Math.PI * hz * i / rate)), i * 2);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0); head.writeUInt32LE(36 + data.length, 4); head.write('WAVE', 8);
  head.write('fmt ', 12); head.writeUInt32LE(16, 16); head.writeUInt16LE(1, 20); head.writeUInt16LE(1, 22);
  head.writeUInt32LE(rate, 24); head.writeUInt32LE(rate * 2, 28); head.writeUInt16LE(2, 32); head.writeUInt16LE(16, 34);
  head.write('data', 36); head.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([head, data]));
}

// Whether `samples` (8 kHz) hold a tone at `hz`: enough energy, and at least `share` of it
// at that frequency (most of it by default; less where voices are mixed).
export function hasTone(samples, hz, rate = 8000, share = 0.3) {
  const coeff = 2 * Math.cos(2 * Math.PI * hz / rate);
  let energy = 0; let s1 = 0; let s2 = 0;
  for (const x of samples) {
    energy += x * x;
    const s = x + coeff * s1 - s2; s2 = s1; s1 = s;
  }
  if (samples.length === 0 || energy === 0) return false;
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  const rms = Math.sqrt(energy / samples.length);
  return rms > 100 && power / (samples.length * energy / 2) > share;
}

// The share of 20 ms windows of `samples` that hold a tone at `hz` (with at least `share` of
// a window's energy).
export function toneShare(samples, hz, share = 0.3) {
  let yes = 0; let all = 0;
  for (let w = 0; w + 160 <= samples.length; w += 160) {
    all += 1;
    if (hasTone(samples.subarray(w, w + 160), hz, 8000, share)) yes += 1;
  }
  return all ? yes / all : 0;
}

// The amplitude of the tone at `hz` in `samples` (8 kHz), whatever else is mixed in (tones
// with a whole number of cycles in the window do not leak into each other's bins).
export function toneAmplitude(samples, hz, rate = 8000) {
  const coeff = 2 * Math.cos(2 * Math.PI * hz / rate);
  let s1 = 0; let s2 = 0;
  for (const x of samples) { const s = x + coeff * s1 - s2; s2 = s1; s1 = s; }
  const power = Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2);
  return samples.length ? 2 * Math.sqrt(power) / samples.length : 0;
}

// The share of 20 ms windows in which a voice (a tone at `hz`) is heard at an amplitude of at
// least `min`, however loud the other voices mixed with it.
export function voiceShare(samples, hz, min = 150) {
  let yes = 0; let all = 0;
  for (let w = 0; w + 160 <= samples.length; w += 160) {
    all += 1;
    if (toneAmplitude(samples.subarray(w, w + 160), hz) >= min) yes += 1;
  }
  return all ? yes / all : 0;
}

// The two channels of a stereo 16-bit WAV (the centre's recordings: caller left, agent right).
export function readStereo(path) {
  const data = readFileSync(path);
  assert.equal(data.toString('ascii', 0, 4), 'RIFF');
  let off = 12;
  let pcm = null;
  let channels = 0;
  while (off + 8 <= data.length) {
    const id = data.toString('ascii', off, off + 4);
    const len = data.readUInt32LE(off + 4);
    if (id === 'fmt ') channels = data.readUInt16LE(off + 10);
    if (id === 'data') { pcm = data.subarray(off + 8, Math.min(off + 8 + len, data.length)); break; }
    off += 8 + len;
  }
  assert.equal(channels, 2);
  const frames = Math.floor(pcm.length / 4);
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i += 1) {
    left[i] = pcm.readInt16LE(i * 4);
    right[i] = pcm.readInt16LE(i * 4 + 2);
  }
  return { left, right };
}

// A caller's media: a UDP socket that, once the centre has sent it a packet (symmetric
// RTP), speaks µ-law every 20 ms (a tone at `hz`, or silence) and keeps what it hears with
// the time it arrived. `press(event)` sends an RFC 4733 key press (payload type 101).
export class RtpPeer {
  constructor(hz) {
    this.hz = hz;
    this.heard = []; // {at, pt, payload}
    this.events = []; // {at, event, end}
    this.seq = 1;
    this.ts = 0;
    this.n = 0;
    this.remote = null;
    this.sock = dgram.createSocket('udp4');
    this.first = new Promise((res) => { this.gotFirst = res; });
    this.sock.on('message', (msg, rinfo) => {
      if (msg.length < 12 || (msg[0] >> 6) !== 2) return;
      const pt = msg[1] & 0x7f;
      const cc = msg[0] & 0x0f;
      const payload = msg.subarray(12 + cc * 4);
      const at = Date.now();
      if (pt === 101 && payload.length >= 4) {
        this.events.push({ at, event: payload[0], end: (payload[1] & 0x80) !== 0 });
      } else {
        this.heard.push({ at, pt, payload: Buffer.from(payload) });
      }
      if (!this.remote) {
        this.remote = { address: rinfo.address, port: rinfo.port };
        this.timer = setInterval(() => this.speak(), 20);
        this.gotFirst();
      }
    });
  }

  async bind() {
    await new Promise((res) => this.sock.bind(0, '127.0.0.1', res));
    return this.sock.address().port;
  }

  packet(pt, marker, payload, ts) {
    const p = Buffer.alloc(12 + payload.length);
    p[0] = 0x80; p[1] = (marker ? 0x80 : 0) | pt;
    p.writeUInt16BE(this.seq & 0xffff, 2); this.seq += 1;
    p.writeUInt32BE(ts >>> 0, 4); p.writeUInt32BE(0x5eed1234, 8);
    payload.copy(p, 12);
    return p;
  }

  speak() {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i += 1) {
      const t = (this.n * 160 + i) / 8000;
      payload[i] = this.hz ? ulaw(Math.round(8000 * Math.sin(2 * Math.PI * this.hz * t))) : 0xff;
    }
    this.n += 1;
    this.ts += 160;
    this.sock.send(this.packet(0, false, payload, this.ts), this.remote.port, this.remote.address);
  }

  // A key press by RFC 4733: 100 ms of the event, its end three times.
  press(event) {
    const ts = this.ts;
    for (let k = 1; k <= 5; k += 1) {
      const end = k === 5;
      const payload = Buffer.from([event, (end ? 0x80 : 0) | 10, (k * 160) >> 8, (k * 160) & 0xff]);
      const copies = end ? 3 : 1;
      for (let c = 0; c < copies; c += 1) {
        this.sock.send(this.packet(101, k === 1, payload, ts), this.remote.port, this.remote.address);
      }
    }
  }

  // The 8 kHz samples heard between two times (ms since the epoch).
  samples(from = 0, to = Infinity) {
    const parts = this.heard.filter((h) => h.at >= from && h.at < to && h.pt === 0);
    const out = new Int16Array(parts.length * 160);
    let k = 0;
    for (const h of parts) for (const b of h.payload) out[k++] = unulaw(b);
    return out.subarray(0, k);
  }

  close() {
    clearInterval(this.timer);
    this.sock.close();
  }
}
