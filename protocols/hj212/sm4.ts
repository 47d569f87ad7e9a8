/**
 * HJ 212-2025 optional SM4 encryption of the data area (CP). The standard's full text is sold, not public; what is
 * implemented here follows public implementations (see the HJ 212 README's 2025 table) and is UNVERIFIED against the
 * text:
 *   - algorithm SM4 (GB/T 32907-2016), 16-byte key per station, ECB mode;
 *   - what is encrypted: the characters between `CP=&&` and the closing `&&`, written back as upper-case hex;
 *   - which commands: data uploads (CN 2000-2999), the key exchange 1014 and the field-unit information 3020;
 *   - padding: the public sources say "NoPadding" without saying how a CP not a multiple of 16 bytes is filled;
 *     `zero` (0x00 up to the block, stripped on decryption) and `pkcs7` are both offered, per station.
 * Node's crypto provides `sm4-ecb` through OpenSSL 3; `sm4Available()` says whether this runtime has it.
 */
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { Hj212Error } from './errors.ts';

export type Sm4Padding = 'zero' | 'pkcs7';

export interface Hj212Sm4 {
  /** 16 bytes. */
  key: Buffer;
  padding: Sm4Padding;
}

const BLOCK = 16;
const HEX = /^(?:[0-9A-Fa-f]{32})+$/;

export function sm4Available(): boolean {
  return getCiphers().includes('sm4-ecb');
}

/** A key written as 32 hex digits (how public implementations and platforms hand them out), or undefined when it is not one. */
export function sm4KeyFromHex(text: string): Buffer | undefined {
  return /^[0-9A-Fa-f]{32}$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

/** The commands whose CP is encrypted when a station has a key: 2xxx uploads, 1014 and 3020. */
export function isEncryptedCommand(cn: string): boolean {
  return cn.startsWith('2') || cn === '1014' || cn === '3020';
}

export function encryptCp(plain: string, sm4: Hj212Sm4): string {
  let data = Buffer.from(plain, 'utf8');
  if (sm4.padding === 'zero') {
    const rest = data.length % BLOCK;
    // An empty CP is one block of zeros: ECB cannot encrypt nothing, and the empty text comes back on decryption.
    if (rest !== 0 || data.length === 0) data = Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
  }
  const cipher = createCipheriv('sm4-ecb', sm4.key, null);
  cipher.setAutoPadding(sm4.padding === 'pkcs7');
  return Buffer.concat([cipher.update(data), cipher.final()]).toString('hex').toUpperCase();
}

export function decryptCp(hex: string, sm4: Hj212Sm4, where: string): string {
  if (!HEX.test(hex)) {
    throw new Hj212Error('decrypt_failed', `${where}: an encrypted CP must be hex digits in whole 16-byte blocks, got ${hex.length} characters`, { field: 'CP' });
  }
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('sm4-ecb', sm4.key, null);
    decipher.setAutoPadding(sm4.padding === 'pkcs7');
    plain = Buffer.concat([decipher.update(Buffer.from(hex, 'hex')), decipher.final()]);
  } catch (err) {
    throw new Hj212Error('decrypt_failed', `${where}: SM4 (ECB, ${sm4.padding} padding) cannot decrypt the CP: ${(err as Error).message} (wrong key or padding?)`, { field: 'CP' });
  }
  if (sm4.padding === 'zero') {
    let end = plain.length;
    while (end > 0 && plain[end - 1] === 0) end--;
    plain = plain.subarray(0, end);
  }
  const text = plain.toString('utf8');
  // A wrong key gives bytes that are not CP text; say so rather than "CP has an empty group".
  if (text.includes('\uFFFD') || hasControlCharacter(text)) {
    throw new Hj212Error('decrypt_failed', `${where}: the CP decrypted with this station's SM4 key is not text (wrong key or padding?)`, { field: 'CP' });
  }
  return text;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}
