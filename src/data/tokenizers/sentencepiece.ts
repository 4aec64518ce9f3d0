// Own SentencePiece reader: npm ports wrap the C++ library as wasm, while the model format and unigram/BPE encoding fit in a few hundred dependency-free lines.
//
// Covers what trained .model files use: ModelProto pieces/types/scores,
// TrainerSpec (model type, special ids, unk surface, byte fallback) and
// NormalizerSpec (precompiled charsmap, dummy prefix, whitespace handling).
import { fs } from '../../platform/host.js';
import { ProtoReader, WireType, fieldFloat, fieldInt32, fieldString } from './protobuf.js';
import { checkId, type Tokenizer } from './types.js';
import { utf8Decode, utf8Encode } from './utf8.js';

export enum PieceType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

export interface SentencePiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface TrainerSpec {
  /** 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  vocabSize: number;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  unkSurface: string;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface ModelProto {
  pieces: SentencePiece[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
}

/** U+2581, SentencePiece's visible stand-in for a space. */
export const SPACE_SYMBOL = '\u2581';

export function parseModelProto(buf: Uint8Array): ModelProto {
  const pieces: SentencePiece[] = [];
  // Defaults are the proto2 defaults from sentencepiece_model.proto.
  const trainerSpec: TrainerSpec = {
    modelType: 1, vocabSize: 8000, unkId: 0, bosId: 1, eosId: 2, padId: -1,
    byteFallback: false, treatWhitespaceAsSuffix: false, unkSurface: ' \u2047 ',
  };
  const normalizerSpec: NormalizerSpec = {
    name: '', precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
  };
  const top = new ProtoReader(buf);
  while (!top.done) {
    const f = top.next();
    if (f.field === 1 && f.wire === WireType.LengthDelimited) {
      const p: SentencePiece = { piece: '', score: 0, type: PieceType.Normal };
      const r = new ProtoReader(f.bytes);
      while (!r.done) {
        const g = r.next();
        if (g.field === 1) p.piece = fieldString(g);
        else if (g.field === 2) p.score = fieldFloat(g);
        else if (g.field === 3) p.type = g.num as PieceType;
      }
      pieces.push(p);
    } else if (f.field === 2 && f.wire === WireType.LengthDelimited) {
      const r = new ProtoReader(f.bytes);
      while (!r.done) {
        const g = r.next();
        switch (g.field) {
          case 3: trainerSpec.modelType = g.num; break;
          case 4: trainerSpec.vocabSize = fieldInt32(g); break;
          case 24: trainerSpec.treatWhitespaceAsSuffix = g.num !== 0; break;
          case 35: trainerSpec.byteFallback = g.num !== 0; break;
          case 40: trainerSpec.unkId = fieldInt32(g); break;
          case 41: trainerSpec.bosId = fieldInt32(g); break;
          case 42: trainerSpec.eosId = fieldInt32(g); break;
          case 43: trainerSpec.padId = fieldInt32(g); break;
          case 44: trainerSpec.unkSurface = fieldString(g); break;
        }
      }
    } else if (f.field === 3 && f.wire === WireType.LengthDelimited) {
      const r = new ProtoReader(f.bytes);
      while (!r.done) {
        const g = r.next();
        switch (g.field) {
          case 1: normalizerSpec.name = fieldString(g); break;
          case 2: normalizerSpec.precompiledCharsmap = g.bytes; break;
          case 3: normalizerSpec.addDummyPrefix = g.num !== 0; break;
          case 4: normalizerSpec.removeExtraWhitespaces = g.num !== 0; break;
          case 5: normalizerSpec.escapeWhitespaces = g.num !== 0; break;
        }
      }
    }
  }
  if (pieces.length === 0) throw new Error('SentencePiece model has no pieces (not a ModelProto file?)');
  checkPieces(pieces);
  return { pieces, trainerSpec, normalizerSpec };
}

/**
 * Upstream's load-time rules: no empty piece (an empty user-defined piece
 * would match without consuming input), no piece defined twice, and known
 * piece types. Checked here so that encode always makes progress.
 */
function checkPieces(pieces: SentencePiece[]): void {
  const seen = new Set<string>();
  pieces.forEach((p, id) => {
    if (p.piece === '') throw new Error(`SentencePiece model: piece ${id} is empty`);
    if (seen.has(p.piece)) throw new Error(`SentencePiece model: piece ${id} ${JSON.stringify(p.piece)} is defined twice`);
    seen.add(p.piece);
    if (!(p.type >= PieceType.Normal && p.type <= PieceType.Byte)) throw new Error(`SentencePiece model: piece ${id} has unknown type ${p.type}`);
  });
}

/**
 * The precompiled charsmap: a darts-clone double-array trie over UTF-8 bytes
 * whose values index NUL-terminated replacement strings. This is what makes
 * nmt_nfkc exact (NFKC plus NMT rules: control chars dropped, odd spaces mapped).
 */
class CharsMap {
  private readonly units: Uint32Array;
  private readonly normalized: Uint8Array;

  constructor(blob: Uint8Array) {
    const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    if (blob.length < 4) throw new Error('SentencePiece: precompiled charsmap is truncated');
    const trieSize = dv.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length) throw new Error('SentencePiece: bad precompiled charsmap');
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = dv.getUint32(4 + 4 * i, true);
    this.normalized = blob.subarray(4 + trieSize);
  }

  /** Longest rule matching bytes[pos..]: [matched length, replacement bytes], or null. */
  longestMatch(bytes: Uint8Array, pos: number): [number, Uint8Array] | null {
    const units = this.units;
    let node = 0;
    let unit = units[0];
    node ^= offsetOf(unit);
    let bestLen = 0;
    let bestValue = 0;
    for (let i = pos; i < bytes.length; i++) {
      const c = bytes[i];
      node ^= c;
      if (node >= units.length) break;
      unit = units[node];
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        bestLen = i + 1 - pos;
        bestValue = units[node] & 0x7fffffff;
      }
    }
    if (bestLen === 0) return null;
    let end = bestValue;
    while (end < this.normalized.length && this.normalized[end] !== 0) end++;
    return [bestLen, this.normalized.subarray(bestValue, end)];
  }
}

function offsetOf(unit: number): number {
  return ((unit >>> 10) << ((unit & (1 << 9)) >>> 6)) >>> 0;
}

/** Length of the valid UTF-8 character at bytes[pos], or 0 if malformed. */
function utf8CharLen(b: Uint8Array, pos: number): number {
  const c = b[pos];
  const cont = (k: number) => pos + k < b.length && (b[pos + k] & 0xc0) === 0x80;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const d = b[pos + 1];
    if ((c === 0xe0 && d < 0xa0) || (c === 0xed && d > 0x9f)) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const d = b[pos + 1];
    if ((c === 0xf0 && d < 0x90) || (c === 0xf4 && d > 0x8f)) return 0;
    return 4;
  }
  return 0;
}

/** UTF-8 decoding as SentencePiece does it: every byte of a malformed sequence becomes its own U+FFFD. */
function decodeBytesPerByte(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const len = utf8CharLen(bytes, i);
    if (len === 0) {
      out += '\ufffd';
      i++;
    } else {
      out += utf8Decode(bytes.subarray(i, i + len));
      i += len;
    }
  }
  return out;
}

const REPLACEMENT = Uint8Array.of(0xef, 0xbf, 0xbd);
const SPACE_BYTES = utf8Encode(SPACE_SYMBOL);
const UNK_PENALTY = 10;

export class SentencePieceProcessor implements Tokenizer {
  readonly model: ModelProto;
  private readonly pieceToIdMap = new Map<string, number>();
  private readonly maxPieceChars: number;
  private readonly minScore: number;
  private readonly maxScore: number;
  private readonly charsMap: CharsMap | null;
  private readonly userDefined: Uint8Array[];
  private readonly userDefinedSet = new Set<string>();
  private maxUserChars = 0;
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(model: ModelProto) {
    this.model = model;
    const { modelType } = model.trainerSpec;
    if (modelType !== 1 && modelType !== 2) {
      throw new Error(`SentencePiece model type ${modelType} is not supported (only unigram=1 and BPE=2)`);
    }
    let maxChars = 1;
    let minScore = Infinity;
    let maxScore = -Infinity;
    const user: Uint8Array[] = [];
    model.pieces.forEach((p, id) => {
      if (p.type === PieceType.Byte) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) this.byteIds[parseInt(m[1], 16)] = id;
      }
      if (!this.pieceToIdMap.has(p.piece)) this.pieceToIdMap.set(p.piece, id);
      if (p.type === PieceType.Normal || p.type === PieceType.UserDefined || p.type === PieceType.Unused) {
        maxChars = Math.max(maxChars, [...p.piece].length);
      }
      if (p.type === PieceType.Normal) {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
      if (p.type === PieceType.UserDefined) {
        user.push(utf8Encode(p.piece));
        this.userDefinedSet.add(p.piece);
        this.maxUserChars = Math.max(this.maxUserChars, [...p.piece].length);
      }
    });
    this.maxPieceChars = maxChars;
    this.minScore = Number.isFinite(minScore) ? minScore : 0;
    this.maxScore = Number.isFinite(maxScore) ? maxScore : 0;
    this.userDefined = user.sort((a, b) => b.length - a.length);
    const cm = model.normalizerSpec.precompiledCharsmap;
    this.charsMap = cm.length > 0 ? new CharsMap(cm) : null;
    const unk = model.trainerSpec.unkId;
    if (unk < 0 || unk >= model.pieces.length || model.pieces[unk].type !== PieceType.Unknown) {
      throw new Error(`SentencePiece model: unk_id ${unk} does not name an <unk> piece`);
    }
  }

  static fromBytes(buf: Uint8Array): SentencePieceProcessor {
    return new SentencePieceProcessor(parseModelProto(buf));
  }

  static load(path: string): SentencePieceProcessor {
    try {
      return SentencePieceProcessor.fromBytes(fs.readFileSync(path));
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  }

  get vocabSize(): number {
    return this.model.pieces.length;
  }

  get unkId(): number {
    return this.model.trainerSpec.unkId;
  }

  pieceToId(piece: string): number {
    const id = this.pieceToIdMap.get(piece);
    if (id === undefined) return this.unkId;
    const t = this.model.pieces[id].type;
    return t === PieceType.Normal || t === PieceType.UserDefined || t === PieceType.Control ||
      t === PieceType.Unknown || t === PieceType.Byte ? id : this.unkId;
  }

  idToToken(id: number): string {
    checkId(id, this.model.pieces.length, 'SentencePiece.idToToken');
    return this.model.pieces[id].piece;
  }

  /** Normalization as SentencePiece's Normalizer::Normalize (spaces become U+2581). */
  normalize(text: string): string {
    const spec = this.model.normalizerSpec;
    let input: Uint8Array;
    if (!this.charsMap && /nfkc/i.test(spec.name)) {
      // No charsmap stored: NFKC is the closest built-in approximation.
      input = utf8Encode(text.normalize('NFKC'));
    } else {
      input = utf8Encode(text);
    }
    const out: number[] = [];
    const space = spec.escapeWhitespaces ? SPACE_BYTES : Uint8Array.of(0x20);
    const asWs = this.model.trainerSpec.treatWhitespaceAsSuffix;
    let pos = 0;
    // Skip leading whitespace.
    if (spec.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [n, piece] = this.normalizePrefix(input, pos);
        if (!(piece.length === 1 && piece[0] === 0x20)) break;
        pos += n;
      }
    }
    if (pos >= input.length) return '';
    if (!asWs && spec.addDummyPrefix) out.push(...space);
    let prevSpace = spec.removeExtraWhitespaces;
    while (pos < input.length) {
      const [n, piece] = this.normalizePrefix(input, pos);
      let s = 0;
      if (prevSpace && spec.removeExtraWhitespaces) while (s < piece.length && piece[s] === 0x20) s++;
      if (s < piece.length) {
        for (let k = s; k < piece.length; k++) {
          if (piece[k] === 0x20 && spec.escapeWhitespaces) out.push(...SPACE_BYTES);
          else out.push(piece[k]);
        }
        prevSpace = piece[piece.length - 1] === 0x20;
      }
      pos += n;
    }
    if (spec.removeExtraWhitespaces) {
      while (out.length >= space.length && space.every((b, k) => out[out.length - space.length + k] === b)) {
        out.length -= space.length;
      }
    }
    if (asWs && spec.addDummyPrefix) out.push(...space);
    return utf8Decode(Uint8Array.from(out));
  }

  /** Always consumes at least one byte (empty pieces are refused at load), so normalize ends. */
  private normalizePrefix(input: Uint8Array, pos: number): [number, Uint8Array] {
    for (const u of this.userDefined) {
      if (u.length === 0) continue;
      if (u.length <= input.length - pos && u.every((b, k) => input[pos + k] === b)) return [u.length, u];
    }
    const m = this.charsMap?.longestMatch(input, pos);
    if (m) return m;
    const len = utf8CharLen(input, pos);
    // Malformed UTF-8 consumes one byte and becomes U+FFFD, as upstream.
    if (len === 0) return [1, REPLACEMENT];
    return [len, input.subarray(pos, pos + len)];
  }

  encode(text: string): number[] {
    return this.encodeAsPieces(text).map((p) => p.id);
  }

  /** Pieces with ids; runs of unknown characters merge into one unk piece (or bytes with byte_fallback). */
  encodeAsPieces(text: string): Array<{ piece: string; id: number }> {
    const normalized = this.normalize(text);
    if (!normalized) return [];
    const chars = Array.from(normalized);
    const segs = this.model.trainerSpec.modelType === 2 ? this.encodeBpe(chars) : this.encodeUnigram(chars);
    const out: Array<{ piece: string; id: number }> = [];
    const unk = this.unkId;
    let prevUnk = false;
    for (const seg of segs) {
      if (seg.id === unk && this.model.trainerSpec.byteFallback) {
        for (const b of utf8Encode(seg.piece)) {
          const bid = this.byteIds[b];
          out.push(bid >= 0 ? { piece: this.model.pieces[bid].piece, id: bid } : { piece: seg.piece, id: unk });
        }
        prevUnk = false;
        continue;
      }
      if (seg.id === unk && prevUnk) out[out.length - 1].piece += seg.piece;
      else out.push(seg);
      prevUnk = seg.id === unk;
    }
    return out;
  }

  /**
   * Best-path search as SentencePiece's optimized unigram encoder. Its number
   * types decide ties, so they are mirrored: path scores are stored as float32,
   * a piece candidate is summed in double and compared against the stored
   * float, and an unk candidate is summed in float32.
   */
  private encodeUnigram(chars: string[]): Array<{ piece: string; id: number }> {
    const n = chars.length;
    const best = new Float32Array(n + 1);
    const backLen = new Int32Array(n + 1).fill(-1);
    const backId = new Int32Array(n + 1);
    const unkScore = Math.fround(this.minScore - UNK_PENALTY);
    const pieces = this.model.pieces;
    for (let i = 0; i < n; i++) {
      const here = best[i];
      let hasSingle = false;
      let s = '';
      const maxLen = Math.min(this.maxPieceChars, n - i);
      for (let len = 1; len <= maxLen; len++) {
        s += chars[i + len - 1];
        const id = this.pieceToIdMap.get(s);
        if (id === undefined) continue;
        const p = pieces[id];
        if (p.type !== PieceType.Normal && p.type !== PieceType.UserDefined) continue;
        // The user-defined bonus counts UTF-8 bytes, as upstream.
        const score = p.type === PieceType.UserDefined ? utf8Encode(s).length * this.maxScore - 0.1 : p.score;
        if (len === 1) hasSingle = true;
        const cand = score + here;
        // Strict '>' keeps the earlier start on exact ties, as upstream.
        if (backLen[i + len] < 0 || cand > best[i + len]) {
          best[i + len] = cand;
          backLen[i + len] = len;
          backId[i + len] = id;
        }
      }
      if (!hasSingle) {
        const cand = Math.fround(unkScore + here);
        if (backLen[i + 1] < 0 || cand > best[i + 1]) {
          best[i + 1] = cand;
          backLen[i + 1] = 1;
          backId[i + 1] = this.unkId;
        }
      }
    }
    const out: Array<{ piece: string; id: number }> = [];
    for (let end = n; end > 0; end -= backLen[end]) {
      const len = backLen[end];
      if (len <= 0) throw new Error('SentencePiece: no segmentation found (malformed model)');
      out.push({ piece: chars.slice(end - len, end).join(''), id: backId[end] });
    }
    return out.reverse();
  }

  /** BPE: repeatedly merge the adjacent pair whose concatenation scores highest (leftmost on ties). */
  private encodeBpe(chars: string[]): Array<{ piece: string; id: number }> {
    // User-defined symbols start out whole; everything else starts as single characters.
    const syms: string[] = [];
    for (let i = 0; i < chars.length; ) {
      let taken = 1;
      for (let len = Math.min(this.maxUserChars, chars.length - i); len >= 2; len--) {
        if (this.userDefinedSet.has(chars.slice(i, i + len).join(''))) {
          taken = len;
          break;
        }
      }
      syms.push(chars.slice(i, i + taken).join(''));
      i += taken;
    }
    const mergeScore = (a: string, b: string): number => {
      const id = this.pieceToIdMap.get(a + b);
      if (id === undefined) return -Infinity;
      const t = this.model.pieces[id].type;
      return t === PieceType.Normal || t === PieceType.UserDefined ? this.model.pieces[id].score : -Infinity;
    };
    // Quadratic in word length, which is fine for whitespace-split text.
    for (;;) {
      let bestI = -1;
      let bestS = -Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const s = mergeScore(syms[i], syms[i + 1]);
        if (s > bestS) {
          bestS = s;
          bestI = i;
        }
      }
      if (bestI < 0) break;
      syms.splice(bestI, 2, syms[bestI] + syms[bestI + 1]);
    }
    return syms.map((piece) => {
      const id = this.pieceToIdMap.get(piece);
      const t = id === undefined ? undefined : this.model.pieces[id].type;
      return { piece, id: id !== undefined && (t === PieceType.Normal || t === PieceType.UserDefined) ? id : this.unkId };
    });
  }

  /**
   * Control ids decode to '', the unk id to the unk surface (' ⁇ '), byte pieces
   * are gathered and UTF-8 decoded, U+2581 becomes a space and the dummy-prefix
   * space of the first piece is removed. Ids >= vocabSize decode as unk, as T5's
   * vocabulary wrapper does.
   */
  decode(ids: ArrayLike<number>): string {
    const spec = this.model.normalizerSpec;
    const stripFirst = !this.model.trainerSpec.treatWhitespaceAsSuffix && (spec.addDummyPrefix || spec.removeExtraWhitespaces);
    let atStart = true;
    let out = '';
    let bytes: number[] = [];
    const flushBytes = () => {
      if (bytes.length) {
        const s = decodeBytesPerByte(Uint8Array.from(bytes));
        bytes = [];
        if (s) atStart = false;
        out += s;
      }
    };
    for (let i = 0; i < ids.length; i++) {
      let id = ids[i];
      if (!Number.isInteger(id) || id < 0) throw new RangeError(`SentencePiece.decode: invalid id ${id}`);
      if (id >= this.model.pieces.length) id = this.unkId;
      const p = this.model.pieces[id];
      if (p.type === PieceType.Byte) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) {
          bytes.push(parseInt(m[1], 16));
          continue;
        }
      }
      flushBytes();
      if (p.type === PieceType.Control) continue;
      let piece = p.type === PieceType.Unknown ? this.model.trainerSpec.unkSurface : p.piece;
      if (atStart && stripFirst && p.type !== PieceType.Unknown && piece.startsWith(SPACE_SYMBOL)) {
        piece = piece.slice(SPACE_SYMBOL.length);
      }
      piece = piece.split(SPACE_SYMBOL).join(' ');
      if (piece) atStart = false;
      out += piece;
    }
    flushBytes();
    return out;
  }
}
