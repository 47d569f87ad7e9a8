/**
 * An HJ 212 frame checker written from the standard's text alone, sharing no code with gateway/drivers/hj212: the
 * test platform, the receiver tests and the public-vector tests use it so that a frame our codec builds is judged by
 * something other than the codec that built it.
 *
 * Frame (HJ 212-2017 §6.3): `##` + the data segment's length as 4 decimal digits + the data segment + its CRC as
 * 4 hex digits + CR LF. CRC (appendix A): register 0xFFFF; per byte: register = (register >> 8) XOR byte, then 8 times:
 * shift right, and XOR 0xA001 when the bit shifted out was 1.
 */

export function crcFromTheStandard(segment: Uint8Array): number {
  let register = 0xffff;
  for (const byte of segment) {
    register = (register >> 8) ^ byte;
    for (let round = 0; round < 8; round++) {
      const out = register & 1;
      register >>= 1;
      if (out) register ^= 0xa001;
    }
  }
  return register;
}

/** What is wrong with a frame by the standard's rules, or undefined when nothing is. */
export function frameProblem(frame: string | Uint8Array): string | undefined {
  const bytes = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : Buffer.from(frame);
  const text = bytes.toString('latin1');
  const head = /^##(\d{4})/.exec(text);
  if (!head) return 'does not start with ## and four digits';
  if (!text.endsWith('\r\n')) return 'does not end with CR LF';
  const declared = Number(head[1]);
  const segment = bytes.subarray(6, bytes.length - 6);
  if (segment.length !== declared) return `declares ${declared} bytes of data segment, carries ${segment.length}`;
  const sent = text.slice(bytes.length - 6, bytes.length - 2);
  if (!/^[0-9A-Fa-f]{4}$/.test(sent)) return `CRC field ${JSON.stringify(sent)} is not 4 hex digits`;
  const computed = crcFromTheStandard(segment);
  if (parseInt(sent, 16) !== computed) return `CRC ${sent} where the standard's algorithm gives ${computed.toString(16).toUpperCase().padStart(4, '0')}`;
  return undefined;
}

/** The `KEY=value` fields of a data segment's header (before CP=), for asserting replies without our parser. */
export function headerFields(frame: string): Record<string, string> {
  const segment = frame.slice(6, frame.length - 6);
  const header = segment.slice(0, segment.indexOf('CP=&&'));
  return Object.fromEntries(header.split(';').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
