/* Document hashes computed in the browser, for the public verification page.
 *
 * SM3 follows GB/T 32905-2016 (padding, message expansion to W[0..67] and W'[0..63],
 * 64 compression rounds with FF/GG/P0/P1); keccak-256 follows the Keccak
 * submission as Ethereum uses it (FIPS 202's Keccak-f[1600] with rate 1088 bits and
 * the original 0x01 padding, not SHA3-256's 0x06). Both are incremental
 * (update/digest) so a large file is hashed chunk by chunk. Written for Gusu from the
 * algorithm descriptions; checked against the standards' vectors and Python by
 * tests/console/test_console_browser.py.
 */
"use strict";
(function (root) {
  // --- SM3 ---------------------------------------------------------------------
  const SM3_IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];
  const rotl = (x, n) => ((x << (n & 31)) | (x >>> ((32 - (n & 31)) & 31))) >>> 0;
  const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
  const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
  // T_j rotated left by j mod 32, precomputed once.
  const SM3_T = [];
  for (let j = 0; j < 64; j++) SM3_T.push(rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32));

  function sm3Compress(v, block, offset) {
    const w = new Uint32Array(68);
    const w1 = new Uint32Array(64);
    for (let j = 0; j < 16; j++) {
      const i = offset + 4 * j;
      w[j] = ((block[i] << 24) | (block[i + 1] << 16) | (block[i + 2] << 8) | block[i + 3]) >>> 0;
    }
    for (let j = 16; j < 68; j++) {
      w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
    }
    for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
    let [a, b, c, d, e, f, g, h] = v;
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(a, 12);
      const ss1 = rotl((a12 + e + SM3_T[j]) >>> 0, 7);
      const ss2 = (ss1 ^ a12) >>> 0;
      const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
      const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
      const tt1 = (ff + d + ss2 + w1[j]) >>> 0;
      const tt2 = (gg + h + ss1 + w[j]) >>> 0;
      d = c;
      c = rotl(b, 9);
      b = a;
      a = tt1;
      h = g;
      g = rotl(f, 19);
      f = e;
      e = p0(tt2);
    }
    const next = [a, b, c, d, e, f, g, h];
    for (let i = 0; i < 8; i++) v[i] = (v[i] ^ next[i]) >>> 0;
  }

  function createSm3() {
    const v = SM3_IV.slice();
    const buffer = new Uint8Array(64);
    let buffered = 0;
    let length = 0; // bytes hashed so far; exact up to 2^53
    return {
      update(data) {
        let offset = 0;
        length += data.length;
        if (buffered > 0) {
          const take = Math.min(64 - buffered, data.length);
          buffer.set(data.subarray(0, take), buffered);
          buffered += take;
          offset = take;
          if (buffered < 64) return this;
          sm3Compress(v, buffer, 0);
          buffered = 0;
        }
        for (; offset + 64 <= data.length; offset += 64) sm3Compress(v, data, offset);
        buffer.set(data.subarray(offset), 0);
        buffered = data.length - offset;
        return this;
      },
      digest() {
        const bits = length * 8;
        const tail = new Uint8Array(buffered + 9 <= 64 ? 64 : 128);
        tail.set(buffer.subarray(0, buffered), 0);
        tail[buffered] = 0x80;
        const end = tail.length;
        const high = Math.floor(bits / 0x100000000);
        for (let i = 0; i < 4; i++) {
          tail[end - 1 - i] = (bits >>> (8 * i)) & 0xff;
          tail[end - 5 - i] = (high >>> (8 * i)) & 0xff;
        }
        for (let offset = 0; offset < end; offset += 64) sm3Compress(v, tail, offset);
        const out = new Uint8Array(32);
        for (let i = 0; i < 8; i++) {
          out[4 * i] = v[i] >>> 24;
          out[4 * i + 1] = (v[i] >>> 16) & 0xff;
          out[4 * i + 2] = (v[i] >>> 8) & 0xff;
          out[4 * i + 3] = v[i] & 0xff;
        }
        return out;
      },
    };
  }

  // --- keccak-256 -----------------------------------------------------------------
  // Lanes are 64-bit, held as [low, high] 32-bit halves at index 2*(x + 5y).
  // Round constants come from the spec's LFSR rc(t); rotation offsets from its (x, y) walk.
  function lfsrBit(t) {
    if (t % 255 === 0) return 1;
    let r = 0x01;
    for (let i = 1; i <= t % 255; i++) {
      r <<= 1;
      if (r & 0x100) r ^= 0x171; // x^8 + x^6 + x^5 + x^4 + 1
    }
    return r & 1;
  }
  const KECCAK_RC = [];
  for (let round = 0; round < 24; round++) {
    let low = 0;
    let high = 0;
    for (let j = 0; j <= 6; j++) {
      if (lfsrBit(j + 7 * round)) {
        const bit = (1 << j) - 1;
        if (bit < 32) low |= 1 << bit;
        else high |= 1 << (bit - 32);
      }
    }
    KECCAK_RC.push([low >>> 0, high >>> 0]);
  }
  const KECCAK_ROT = new Array(25).fill(0);
  {
    let x = 1;
    let y = 0;
    for (let t = 0; t < 24; t++) {
      KECCAK_ROT[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64;
      [x, y] = [y, (2 * x + 3 * y) % 5];
    }
  }

  function rotl64(low, high, n) {
    if (n === 0) return [low, high];
    if (n >= 32) {
      [low, high] = [high, low];
      n -= 32;
      if (n === 0) return [low, high];
    }
    return [((low << n) | (high >>> (32 - n))) >>> 0, ((high << n) | (low >>> (32 - n))) >>> 0];
  }

  function keccakF(state) {
    const c = new Uint32Array(10);
    const b = new Uint32Array(50);
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) {
        c[2 * x] = state[2 * x] ^ state[2 * x + 10] ^ state[2 * x + 20] ^ state[2 * x + 30] ^ state[2 * x + 40];
        c[2 * x + 1] =
          state[2 * x + 1] ^ state[2 * x + 11] ^ state[2 * x + 21] ^ state[2 * x + 31] ^ state[2 * x + 41];
      }
      for (let x = 0; x < 5; x++) {
        const next = (x + 1) % 5;
        const [rl, rh] = rotl64(c[2 * next], c[2 * next + 1], 1);
        const prev = (x + 4) % 5;
        const dl = c[2 * prev] ^ rl;
        const dh = c[2 * prev + 1] ^ rh;
        for (let y = 0; y < 5; y++) {
          state[2 * (x + 5 * y)] ^= dl;
          state[2 * (x + 5 * y) + 1] ^= dh;
        }
      }
      for (let x = 0; x < 5; x++) {
        for (let y = 0; y < 5; y++) {
          const lane = x + 5 * y;
          const [rl, rh] = rotl64(state[2 * lane], state[2 * lane + 1], KECCAK_ROT[lane]);
          const target = y + 5 * ((2 * x + 3 * y) % 5);
          b[2 * target] = rl;
          b[2 * target + 1] = rh;
        }
      }
      for (let y = 0; y < 5; y++) {
        for (let x = 0; x < 5; x++) {
          const lane = 2 * (x + 5 * y);
          const one = 2 * (((x + 1) % 5) + 5 * y);
          const two = 2 * (((x + 2) % 5) + 5 * y);
          state[lane] = b[lane] ^ (~b[one] & b[two]);
          state[lane + 1] = b[lane + 1] ^ (~b[one + 1] & b[two + 1]);
        }
      }
      state[0] ^= KECCAK_RC[round][0];
      state[1] ^= KECCAK_RC[round][1];
    }
  }

  const KECCAK_RATE = 136;

  function absorb(state, block, offset) {
    for (let i = 0; i < KECCAK_RATE / 4; i++) {
      const at = offset + 4 * i;
      state[i] ^= (block[at] | (block[at + 1] << 8) | (block[at + 2] << 16) | (block[at + 3] << 24)) >>> 0;
    }
    keccakF(state);
  }

  function createKeccak256() {
    const state = new Uint32Array(50);
    const buffer = new Uint8Array(KECCAK_RATE);
    let buffered = 0;
    return {
      update(data) {
        let offset = 0;
        if (buffered > 0) {
          const take = Math.min(KECCAK_RATE - buffered, data.length);
          buffer.set(data.subarray(0, take), buffered);
          buffered += take;
          offset = take;
          if (buffered < KECCAK_RATE) return this;
          absorb(state, buffer, 0);
          buffered = 0;
        }
        for (; offset + KECCAK_RATE <= data.length; offset += KECCAK_RATE) absorb(state, data, offset);
        buffer.set(data.subarray(offset), 0);
        buffered = data.length - offset;
        return this;
      },
      digest() {
        const last = new Uint8Array(KECCAK_RATE);
        last.set(buffer.subarray(0, buffered), 0);
        last[buffered] ^= 0x01;
        last[KECCAK_RATE - 1] ^= 0x80;
        absorb(state, last, 0);
        const out = new Uint8Array(32);
        for (let i = 0; i < 8; i++) {
          const word = state[i];
          out[4 * i] = word & 0xff;
          out[4 * i + 1] = (word >>> 8) & 0xff;
          out[4 * i + 2] = (word >>> 16) & 0xff;
          out[4 * i + 3] = word >>> 24;
        }
        return out;
      },
    };
  }

  function toHex(bytes) {
    let text = "";
    for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
    return text;
  }

  const creators = { SM3: createSm3, "keccak-256": createKeccak256 };
  root.GusuHash = Object.freeze({
    create(name) {
      const creator = creators[name];
      if (!creator) throw new Error("unknown hash " + name);
      return creator();
    },
    digestHex(name, bytes) {
      return toHex(this.create(name).update(bytes).digest());
    },
    toHex,
  });
})(globalThis);
