/**
 * Deterministic noise: every value is a pure function of (key, index), so two processes, two protocols or a later
 * replay that ask for the same point at the same instant get the same number. No state, no Math.random.
 */

/** FNV-1a, 32 bit: turns ids into hash keys once, when a model is built. */
export function hashString(text: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: a cheap avalanche so that neighbouring indices give unrelated values. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combine two 32-bit values into a well-mixed 32-bit hash. */
export function mix(a: number, b: number): number {
  return fmix32((Math.imul(a ^ 0x9e3779b9, 0x27d4eb2d) + Math.imul(b | 0, 0x165667b1)) | 0);
}

/** A hash of a key and a non-negative integer index up to 2^53 (e.g. a time bucket). */
export function hashIndex(key: number, index: number): number {
  const hi = Math.floor(index / 0x1_0000_0000);
  return mix(mix(key, index >>> 0), hi);
}

/** Uniform in [0, 1). */
export function uniform(key: number, index = 0): number {
  return hashIndex(key, index) / 0x1_0000_0000;
}

/**
 * Approximately standard normal (mean 0, sd 1, bounded to ±3.46): the sum of the four bytes of one hash,
 * by the central limit theorem. One hash per call keeps per-sample cost small.
 */
export function gaussian(key: number, index: number): number {
  const h = hashIndex(key, index);
  const sum = (h & 0xff) + ((h >>> 8) & 0xff) + ((h >>> 16) & 0xff) + (h >>> 24);
  // four independent uniforms on 0..255: mean 510, variance 4 * (256^2 - 1) / 12
  return (sum - 510) / 147.8;
}

/**
 * A slow, smooth wander in [-1, 1]: a sum of three sinusoids whose periods and phases come from the key.
 * Chosen over interpolated value noise because its integral has a closed form, which counters need.
 */
export interface Wander {
  at(tHours: number): number;
  /** An antiderivative of `at` (in value·hours). */
  integral(tHours: number): number;
}

const WANDER_BANDS: readonly { minH: number; maxH: number; weight: number }[] = [
  { minH: 3, maxH: 9, weight: 0.5 },
  { minH: 0.6, maxH: 2.5, weight: 0.3 },
  { minH: 0.12, maxH: 0.5, weight: 0.2 },
];

export function createWander(key: number): Wander {
  const terms = WANDER_BANDS.map((band, i) => {
    const period = band.minH + (band.maxH - band.minH) * uniform(key, 2 * i);
    return { omega: (2 * Math.PI) / period, phase: 2 * Math.PI * uniform(key, 2 * i + 1), weight: band.weight };
  });
  const [a, b, c] = terms as [(typeof terms)[0], (typeof terms)[0], (typeof terms)[0]];
  return {
    at: (t) => a.weight * Math.sin(a.omega * t + a.phase) + b.weight * Math.sin(b.omega * t + b.phase) + c.weight * Math.sin(c.omega * t + c.phase),
    integral: (t) =>
      -(a.weight / a.omega) * Math.cos(a.omega * t + a.phase) -
      (b.weight / b.omega) * Math.cos(b.omega * t + b.phase) -
      (c.weight / c.omega) * Math.cos(c.omega * t + c.phase),
  };
}
