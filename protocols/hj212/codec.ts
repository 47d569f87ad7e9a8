/**
 * HJ 212 frames (HJ 212-2017, table "communication packet structure" (通讯包结构组成)):
 *   `##` + 4-digit decimal length of the data segment + data segment + 4 hex digits CRC (appendix A) + CR LF
 * and the data segment (table "data segment structure", 数据段结构组成):
 *   `QN=...;ST=..;CN=....;PW=......;MN=...;Flag=.;[PNUM=..;PNO=..;]CP=&&...&&`
 *
 * The length is counted in bytes of the UTF-8 encoded data segment. The standard says "characters" and all field data is
 * ASCII, where the two agree; counting bytes keeps framing exact on a byte stream if a logger ever sends non-ASCII text.
 */
import { crcEquals, crcHex, type CrcVariant } from './crc.ts';
import { interpretCp, parseCpGroups, preview, type Hj212CpGroup, type Hj212Data } from './cp.ts';
import { Hj212Error } from './errors.ts';
import { CHINA_STANDARD_TIME_OFFSET_MINUTES, parseHj212Time } from './time.ts';
import { decryptCp, encryptCp, isEncryptedCommand, type Hj212Sm4 } from './sm4.ts';

export { Hj212StreamDecoder } from './stream.ts';

export type Hj212Version = '2005' | '2017' | '2025';
export type ReceiverVersion = '2017' | '2025';

/** Flag bits 7..2 carry the standard's version (data segment structure table, Flag row): 0 = HJ/T 212-2005, 1 = HJ 212-2017, 2 = HJ 212-2025. */
export const VERSION_BITS: Record<Hj212Version, number> = { '2005': 0, '2017': 1, '2025': 2 };
const VERSION_BY_BITS = new Map<number, Hj212Version>([
  [0, '2005'],
  [1, '2017'],
  [2, '2025'],
]);

/** Largest data segment the 4-digit length field can declare; HJ 212-2017 allows 0..9999. */
export const MAX_DATA_SEGMENT_BYTES = 9999;
/** `##` + length (4) + CRC (4) + CR LF. */
export const FRAME_OVERHEAD_BYTES = 12;

export interface Hj212Flag {
  raw: number;
  /** Bits 7..2. */
  versionBits: number;
  /** Undefined for version bits no standard has assigned. */
  version?: Hj212Version;
  /** Bit 1 (D): PNUM/PNO present, the message is split over several packets. */
  splitPacket: boolean;
  /** Bit 0 (A): the sender wants an answer (9011 for requests, 9014 for uploaded data). */
  replyRequested: boolean;
}

export interface Hj212Packet {
  /** Request id YYYYMMDDhhmmsszzz; absent in uploads of some old loggers. */
  qn?: string;
  st: string;
  cn: string;
  pw: string;
  mn: string;
  /** Absent in uploads of some old loggers; then no answer is expected. */
  flag?: Hj212Flag;
  pnum?: number;
  pno?: number;
  /** Data segment fields outside the standard's list, in received order (placed before CP when rebuilt). */
  headerExtras: Hj212CpGroup;
  /** CP groups in received order. */
  cp: Hj212CpGroup[];
  data: Hj212Data;
  /** What the frame declared, for parsed packets. */
  frame?: { declaredLength: number; crc: string };
  /** The CP arrived SM4-encrypted (HJ 212-2025) and was decrypted with the station's key. */
  encrypted?: boolean;
}

export interface Hj212CpItemInput {
  key: string;
  value: string | number;
}

/** What buildPacket needs. A parsed Hj212Packet is one, so parse → build round-trips. */
export interface Hj212PacketInput {
  qn?: string;
  st: string;
  cn: string;
  pw: string;
  mn: string;
  /** The raw Flag; when absent it is computed from the version, PNUM and `replyRequested`. */
  flag?: number | { raw: number };
  replyRequested?: boolean;
  pnum?: number;
  pno?: number;
  headerExtras?: readonly Hj212CpItemInput[];
  cp: readonly (readonly Hj212CpItemInput[])[];
}

export interface ParseOptions {
  /** Which CRC16 the device computes (per device: some loggers send the Modbus variant). Default 'hj212'. */
  crc?: CrcVariant;
  /**
   * The newest version accepted: a Flag declaring a newer one is refused (a client that speaks one version, as the
   * uplink does). Default: every version this codec knows (2005, 2017, 2025), each packet read as its Flag declares.
   * Version bits no standard has assigned are always refused.
   */
  version?: Hj212Version;
  /** Largest accepted data segment in bytes. Default 9999. */
  maxLength?: number;
  /** Zone offset of the logger's clock for DataTime; default 480 (China Standard Time, UTC+8). */
  utcOffsetMinutes?: number;
  /** HJ 212-2025: the station's SM4 key; the CP of the commands sm4.ts lists is decrypted with it. Default: no encryption. */
  sm4?: Hj212Sm4;
}

export interface BuildOptions {
  crc?: CrcVariant;
  /** HJ 212-2025: the station's SM4 key; the CP of the commands sm4.ts lists is encrypted with it. Default: no encryption. */
  sm4?: Hj212Sm4;
  /** The version written in the Flag's bits 7..2 when the Flag is not given. Default '2017'. */
  version?: Hj212Version;
  maxLength?: number;
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const HASH = 0x23;
const CR = 0x0d;
const LF = 0x0a;
const HEX4 = /^[0-9A-Fa-f]{4}$/;

/** Parse and check one complete frame. Throws Hj212Error; see errors.ts for the reasons. */
export function parsePacket(frame: string | Buffer, options: ParseOptions = {}): Hj212Packet {
  const bytes = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame;
  const size = bytes.length;
  if (size < FRAME_OVERHEAD_BYTES) {
    throw new Hj212Error('bad_header', `frame is ${size} bytes; the shortest frame ('##', 4-digit length, CRC, CR LF) is ${FRAME_OVERHEAD_BYTES}`, {
      frameBytes: size,
    });
  }
  if (bytes[0] !== HASH || bytes[1] !== HASH) {
    throw new Hj212Error('bad_header', `frame must start with '##', starts with ${JSON.stringify(bytes.toString('latin1', 0, 2))}`);
  }
  let declared = 0;
  for (let i = 2; i < 6; i++) {
    const b = bytes[i] as number;
    if (b < DIGIT_0 || b > DIGIT_9) {
      throw new Hj212Error('bad_header', `length field ${JSON.stringify(bytes.toString('latin1', 2, 6))} must be 4 decimal digits`);
    }
    declared = declared * 10 + (b - DIGIT_0);
  }
  if (bytes[size - 2] !== CR || bytes[size - 1] !== LF) {
    throw new Hj212Error('bad_tail', `frame must end with CR LF, ends with ${JSON.stringify(bytes.toString('latin1', size - 2))}`);
  }
  const actual = size - FRAME_OVERHEAD_BYTES;
  const maxLength = options.maxLength ?? MAX_DATA_SEGMENT_BYTES;
  if (actual > maxLength || declared > maxLength) {
    throw new Hj212Error('too_long', `data segment is ${actual} bytes (declared ${declared}); the maximum is ${maxLength}`, {
      declared,
      actual,
      maxLength,
    });
  }
  if (declared !== actual) {
    throw new Hj212Error(
      'length_mismatch',
      `declared data segment length ${bytes.toString('latin1', 2, 6)} but the frame holds ${actual} bytes between the length field and the CRC`,
      { declared, actual },
    );
  }
  const variant = options.crc ?? 'hj212';
  const computed = crcHex(bytes, variant, 6, 6 + actual);
  const received = bytes.toString('latin1', size - 6, size - 2);
  if (!HEX4.test(received)) {
    throw new Hj212Error('crc_mismatch', `CRC field ${JSON.stringify(received)} is not 4 hex digits (computed ${computed})`, { received, computed });
  }
  if (!crcEquals(received, computed)) {
    throw new Hj212Error('crc_mismatch', `received CRC ${received}, computed ${computed} (${variant} CRC16 over the ${actual}-byte data segment)`, {
      received,
      computed,
      variant,
    });
  }
  const packet = parseDataSegment(bytes.toString('utf8', 6, 6 + actual), options);
  packet.frame = { declaredLength: declared, crc: received };
  return packet;
}

const HEADER_FIELDS = new Set(['QN', 'ST', 'CN', 'PW', 'MN', 'Flag', 'PNUM', 'PNO']);
const QN_PATTERN = /^\d{17}$/;
const ST_PATTERN = /^\d{2}$/;
const CN_PATTERN = /^\d{4}$/;
/** The standard's PW is 6 characters and MN 24; shorter and longer ones occur in the field and are accepted up to 32. */
const PW_PATTERN = /^[^;,&\r\n]{1,32}$/;
const MN_PATTERN = /^[0-9A-Za-z_-]{1,32}$/;
const SMALL_INT = /^\d{1,4}$/;
const FLAG_PATTERN = /^\d{1,3}$/;

/** Parse a data segment (the text between the length field and the CRC). */
export function parseDataSegment(segment: string, options: ParseOptions = {}): Hj212Packet {
  const cpAt = segment.indexOf('CP=&&');
  if (cpAt < 0) throw new Hj212Error('missing_field', `data segment has no CP=&&...&& field`, { field: 'CP' });
  if (segment.length < cpAt + 7 || !segment.endsWith('&&')) {
    throw new Hj212Error('bad_field', `CP must be closed by '&&' at the end of the data segment`, { field: 'CP' });
  }
  const headerText = segment.slice(0, cpAt);
  if (headerText !== '' && !headerText.endsWith(';')) {
    throw new Hj212Error('bad_field', `the field before CP must end with ';', got ${JSON.stringify(preview(headerText.slice(-20)))}`, { field: 'CP' });
  }
  const header = new Map<string, string>();
  const headerExtras: Hj212CpGroup = [];
  if (headerText !== '') {
    for (const itemText of headerText.slice(0, -1).split(';')) {
      const eq = itemText.indexOf('=');
      if (eq <= 0) throw new Hj212Error('bad_field', `data segment item ${JSON.stringify(preview(itemText))} is not key=value`, { item: preview(itemText) });
      const key = itemText.slice(0, eq);
      const value = itemText.slice(eq + 1);
      if (HEADER_FIELDS.has(key)) {
        if (header.has(key)) throw new Hj212Error('bad_field', `data segment repeats field ${key}`, { field: key });
        header.set(key, value);
      } else {
        headerExtras.push({ key, value });
      }
    }
  }
  const st = required(header, 'ST', ST_PATTERN, '2 digits');
  const cn = required(header, 'CN', CN_PATTERN, '4 digits');
  const pw = required(header, 'PW', PW_PATTERN, '1 to 32 characters without ; , & CR or LF');
  const mn = required(header, 'MN', MN_PATTERN, '1 to 32 letters, digits, - or _');
  const packet: Hj212Packet = { st, cn, pw, mn, headerExtras, cp: [], data: { pollutants: new Map(), fields: new Map() } };

  const qn = header.get('QN');
  if (qn !== undefined) {
    if (!QN_PATTERN.test(qn)) throw new Hj212Error('bad_field', `QN=${JSON.stringify(preview(qn))} must be 17 digits YYYYMMDDhhmmsszzz`, { field: 'QN' });
    parseHj212Time(qn, 'QN');
    packet.qn = qn;
  }
  const flagText = header.get('Flag');
  if (flagText !== undefined) {
    if (!FLAG_PATTERN.test(flagText) || Number(flagText) > 255) {
      throw new Hj212Error('bad_field', `Flag=${JSON.stringify(preview(flagText))} must be a number 0..255`, { field: 'Flag' });
    }
    packet.flag = decodeFlag(Number(flagText));
    const newest = options.version;
    if (packet.flag.version === undefined || (newest !== undefined && packet.flag.versionBits > VERSION_BITS[newest])) {
      const declared = packet.flag.version ? `HJ 212-${packet.flag.version}` : 'a version no standard has assigned';
      const spoken = newest === undefined ? 'HJ/T 212-2005, HJ 212-2017 and HJ 212-2025' : `HJ 212-${newest} and older`;
      throw new Hj212Error('unsupported_version', `Flag=${flagText} declares version bits ${packet.flag.versionBits} (${declared}); this side reads ${spoken}`, {
        field: 'Flag',
        versionBits: packet.flag.versionBits,
      });
    }
  }
  const pnumText = header.get('PNUM');
  const pnoText = header.get('PNO');
  if (packet.flag?.splitPacket || pnumText !== undefined || pnoText !== undefined) {
    if (pnumText === undefined) throw new Hj212Error('missing_field', `split packet (Flag bit 1 or PNO set) has no PNUM field`, { field: 'PNUM' });
    if (pnoText === undefined) throw new Hj212Error('missing_field', `split packet (Flag bit 1 or PNUM set) has no PNO field`, { field: 'PNO' });
    if (!SMALL_INT.test(pnumText) || Number(pnumText) < 1) {
      throw new Hj212Error('bad_field', `PNUM=${JSON.stringify(preview(pnumText))} must be a number 1..9999`, { field: 'PNUM' });
    }
    if (!SMALL_INT.test(pnoText) || Number(pnoText) < 1 || Number(pnoText) > Number(pnumText)) {
      throw new Hj212Error('bad_field', `PNO=${JSON.stringify(preview(pnoText))} must be a number 1..PNUM (${pnumText})`, { field: 'PNO' });
    }
    packet.pnum = Number(pnumText);
    packet.pno = Number(pnoText);
  }
  let cpText = segment.slice(cpAt + 5, segment.length - 2);
  if (options.sm4 && isEncryptedCommand(cn)) {
    cpText = decryptCp(cpText, options.sm4, `MN=${mn} CN=${cn}`);
    packet.encrypted = true;
  }
  packet.cp = parseCpGroups(cpText);
  packet.data = interpretCp(packet.cp, { utcOffsetMinutes: options.utcOffsetMinutes ?? CHINA_STANDARD_TIME_OFFSET_MINUTES });
  return packet;
}

function required(header: Map<string, string>, field: string, pattern: RegExp, expected: string): string {
  const value = header.get(field);
  if (value === undefined) throw new Hj212Error('missing_field', `data segment has no ${field} field`, { field });
  if (!pattern.test(value)) throw new Hj212Error('bad_field', `${field}=${JSON.stringify(preview(value))} must be ${expected}`, { field });
  return value;
}

export function decodeFlag(raw: number): Hj212Flag {
  const versionBits = raw >> 2;
  const version = VERSION_BY_BITS.get(versionBits);
  return { raw, versionBits, ...(version ? { version } : {}), splitPacket: (raw & 2) !== 0, replyRequested: (raw & 1) !== 0 };
}

export function encodeFlag(version: Hj212Version, splitPacket: boolean, replyRequested: boolean): number {
  return (VERSION_BITS[version] << 2) | (splitPacket ? 2 : 0) | (replyRequested ? 1 : 0);
}

const KEY_TEXT = /^[^;,=&\r\n]+$/;
const VALUE_TEXT = /^[^;,&\r\n]*$/;

function itemText(item: Hj212CpItemInput, where: string): string {
  const value = typeof item.value === 'number' ? numberText(item.value, item.key) : item.value;
  if (!KEY_TEXT.test(item.key)) throw new Hj212Error('bad_field', `${where} key ${JSON.stringify(preview(item.key))} is empty or holds a separator`, { field: item.key });
  if (!VALUE_TEXT.test(value)) throw new Hj212Error('bad_field', `${where} ${item.key}=${JSON.stringify(preview(value))} holds a separator (; , & CR LF)`, { field: item.key });
  return `${item.key}=${value}`;
}

function numberText(value: number, key: string): string {
  if (!Number.isFinite(value)) throw new Hj212Error('bad_field', `${key} must be a finite number, got ${value}`, { field: key });
  return String(value);
}

/** The data segment text of a packet (no length, CRC or tail). */
export function buildDataSegment(p: Hj212PacketInput, options: BuildOptions = {}): string {
  const parts: string[] = [];
  const add = (key: string, value: string | number | undefined): void => {
    if (value !== undefined) parts.push(itemText({ key, value }, 'field'));
  };
  const split = p.pnum !== undefined || p.pno !== undefined;
  const flag = typeof p.flag === 'number' ? p.flag : (p.flag?.raw ?? encodeFlag(options.version ?? '2017', split, p.replyRequested ?? false));
  add('QN', p.qn);
  add('ST', p.st);
  add('CN', p.cn);
  add('PW', p.pw);
  add('MN', p.mn);
  add('Flag', flag);
  add('PNUM', p.pnum);
  add('PNO', p.pno);
  for (const extra of p.headerExtras ?? []) parts.push(itemText(extra, 'field'));
  const cp = p.cp.map((group) => group.map((item) => itemText(item, 'CP item')).join(',')).join(';');
  parts.push(`CP=&&${options.sm4 && isEncryptedCommand(p.cn) ? encryptCp(cp, options.sm4) : cp}&&`);
  return parts.join(';');
}

/** A complete frame, CR LF included. Throws Hj212Error(too_long) beyond the maximum length, (bad_field) for unsendable text. */
export function buildPacket(p: Hj212PacketInput, options: BuildOptions = {}): string {
  const segment = buildDataSegment(p, options);
  const length = Buffer.byteLength(segment, 'utf8');
  const maxLength = options.maxLength ?? MAX_DATA_SEGMENT_BYTES;
  if (length > maxLength) {
    throw new Hj212Error('too_long', `data segment is ${length} bytes; the maximum is ${maxLength}: split it (PNUM/PNO)`, { actual: length, maxLength });
  }
  return `##${String(length).padStart(4, '0')}${segment}${crcHex(segment, options.crc ?? 'hj212')}\r\n`;
}
