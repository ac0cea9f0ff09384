/**
 * Just enough PNG to compare Chromium's screenshots pixel by pixel in Node: decode an 8-bit,
 * non-interlaced greyscale, RGB or RGBA PNG (what Chromium writes) to RGBA, and count the
 * pixels two images differ in. No dependency beyond node:zlib.
 *
 * Spec: PNG (ISO/IEC 15948), sections 11.2.2 (IHDR), 9 (filters 0-4, Paeth).
 */

import { inflateSync } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel for the colour types read here (bit depth 8). */
const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };

/**
 * Decode a PNG to `{ width, height, rgba }` (rgba: Uint8Array of width * height * 4).
 * Throws Error for anything else than an 8-bit, non-interlaced, non-palette PNG.
 * @param {Uint8Array} bytes
 * @returns {{ width: number, height: number, rgba: Uint8Array }}
 */
export function decodePng(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG");
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + length);
    pos += 12 + length;
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      colorType = data[9];
      if (depth !== 8 || !(colorType in CHANNELS) || data[12] !== 0) {
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colorType}, `
          + `interlace ${data[12]}`);
      }
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
  }
  if (width === 0 || height === 0) throw new Error("PNG without IHDR");
  const bpp = CHANNELS[colorType];
  const stride = width * bpp;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length < height * (stride + 1)) throw new Error("PNG data too short");
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y += 1) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x += 1) {
      const a = x >= bpp ? pixels[row + x - bpp] : 0;
      const b = y > 0 ? pixels[prev + x] : 0;
      const c = x >= bpp && y > 0 ? pixels[prev + x - bpp] : 0;
      let predictor;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`bad PNG filter ${filter} in row ${y}`);
      }
      pixels[row + x] = (raw[src + x] + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i += 1, j += bpp) {
    const grey = bpp <= 2;
    rgba[i * 4] = pixels[j];
    rgba[i * 4 + 1] = grey ? pixels[j] : pixels[j + 1];
    rgba[i * 4 + 2] = grey ? pixels[j] : pixels[j + 2];
    rgba[i * 4 + 3] = bpp === 4 ? pixels[j + 3] : bpp === 2 ? pixels[j + 1] : 255;
  }
  return { width, height, rgba };
}

/**
 * How two decoded images of one size differ: `count` = pixels whose largest channel
 * difference exceeds `tolerance` (0..255), `meanX` = their mean column (NaN when none).
 * Throws Error when the sizes differ.
 * @param {{ width: number, height: number, rgba: Uint8Array }} a
 * @param {{ width: number, height: number, rgba: Uint8Array }} b
 * @param {number} tolerance
 * @returns {{ count: number, meanX: number, width: number, height: number }}
 */
export function pixelDiff(a, b, tolerance = 8) {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
  let count = 0;
  let sumX = 0;
  for (let i = 0; i < a.width * a.height; i += 1) {
    let d = 0;
    for (let k = 0; k < 4; k += 1) d = Math.max(d, Math.abs(a.rgba[i * 4 + k] - b.rgba[i * 4 + k]));
    if (d > tolerance) {
      count += 1;
      sumX += i % a.width;
    }
  }
  return { count, meanX: count === 0 ? Number.NaN : sumX / count, width: a.width, height: a.height };
}
