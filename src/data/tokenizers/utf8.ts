// UTF-8 helpers. JS strings may hold lone surrogates; the "wtf8" variants
// encode them as 3-byte sequences so byte-level tokenizers stay lossless.

const strictEncoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, which Python's decode('utf-8') also keeps.
const lenientDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Standard UTF-8; lone surrogates become U+FFFD (Python's encode would raise instead). */
export function utf8Encode(text: string): Uint8Array {
  return strictEncoder.encode(text);
}

/** Decodes UTF-8, replacing each maximal invalid subsequence with U+FFFD (Python's errors='replace'). */
export function utf8Decode(bytes: Uint8Array): string {
  return lenientDecoder.decode(bytes);
}

/** Encodes every UTF-16 code point, including lone surrogates, as generalized UTF-8. */
export function wtf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/**
 * Inverse of wtf8Encode. Well-formed UTF-8 and encoded surrogates decode exactly;
 * any other invalid sequence becomes U+FFFD per maximal subpart, never an exception.
 */
export function wtf8Decode(bytes: ArrayLike<number>): string {
  const parts: string[] = [];
  let buf: number[] = [];
  const flush = () => {
    if (buf.length) {
      parts.push(String.fromCharCode(...buf));
      buf = [];
    }
  };
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i];
    let cp = -1;
    let len = 1;
    if (b < 0x80) {
      cp = b;
    } else if (b >= 0xc2 && b <= 0xdf) {
      if (i + 1 < n && (bytes[i + 1] & 0xc0) === 0x80) {
        cp = ((b & 31) << 6) | (bytes[i + 1] & 63);
        len = 2;
      }
    } else if (b >= 0xe0 && b <= 0xef) {
      // Lower bound of the second byte excludes overlong forms; surrogates (ED A0..BF) are allowed.
      const lo = b === 0xe0 ? 0xa0 : 0x80;
      if (i + 1 < n && bytes[i + 1] >= lo && bytes[i + 1] <= 0xbf) {
        if (i + 2 < n && (bytes[i + 2] & 0xc0) === 0x80) {
          cp = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
          len = 3;
        } else len = 2;
      }
    } else if (b >= 0xf0 && b <= 0xf4) {
      const lo = b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xf4 ? 0x8f : 0xbf;
      if (i + 1 < n && bytes[i + 1] >= lo && bytes[i + 1] <= hi) {
        if (i + 2 < n && (bytes[i + 2] & 0xc0) === 0x80) {
          if (i + 3 < n && (bytes[i + 3] & 0xc0) === 0x80) {
            cp = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
            len = 4;
          } else len = 3;
        } else len = 2;
      }
    }
    if (cp < 0) cp = 0xfffd;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      buf.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else buf.push(cp);
    if (buf.length > 8192) flush();
    i += len;
  }
  flush();
  return parts.join('');
}
