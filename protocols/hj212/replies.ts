/**
 * Answers a platform sends (ST=91, system interaction). Each carries the original request's QN in its header, PW and MN
 * of the device, and a Flag with only the version bits (an answer is never itself answered):
 *   9011 request answer     CP=&&QnRtn=n&&
 *   9012 execution result   CP=&&ExeRtn=n&&
 *   9014 data answer        CP=&&QN=<original QN>&&  (the QN is also in CP, as the upload flow expects)
 * Upload flow (HJ 212-2017 communication procedures, docs/hj212.md): the logger sends 2051/2061/2031 with Flag=5 and resends up
 * to ReCount times unless a 9014 with the same QN arrives within OverTime seconds.
 */
import { buildPacket, type BuildOptions, type Hj212Packet } from './codec.ts';
import { Hj212Error, type Hj212ErrorReason } from './errors.ts';

export const SYSTEM_INTERACTION_ST = '91';

export const QN_RTN = {
  ok: 1,
  refused: 2,
  badPassword: 3,
  badMn: 4,
  badSt: 5,
  badFlag: 6,
  badQn: 7,
  badCn: 8,
  crcError: 9,
  unknown: 100,
} as const;
export type QnRtn = (typeof QN_RTN)[keyof typeof QN_RTN];

export const EXE_RTN = {
  ok: 1,
  failed: 2,
  badConditions: 3,
  timeout: 4,
  busy: 5,
  clockError: 6,
  noData: 100,
} as const;
export type ExeRtn = (typeof EXE_RTN)[keyof typeof EXE_RTN];

/** What an answer needs from the packet it answers. */
export type OriginalPacket = Pick<Hj212Packet, 'qn' | 'pw' | 'mn'>;

function answer(original: OriginalPacket, cn: string, cp: { key: string; value: string | number }[], options: BuildOptions): string {
  if (original.qn === undefined) {
    throw new Hj212Error('missing_field', `cannot build a ${cn} answer: the original packet from MN=${original.mn} has no QN`, { field: 'QN', mn: original.mn });
  }
  return buildPacket({ qn: original.qn, st: SYSTEM_INTERACTION_ST, cn, pw: original.pw, mn: original.mn, replyRequested: false, cp: [cp] }, options);
}

/** 9014: acknowledges uploaded data so the logger stops resending it. */
export function buildDataAnswer(original: OriginalPacket, options: BuildOptions = {}): string {
  return answer(original, '9014', [{ key: 'QN', value: original.qn ?? '' }], options);
}

/** 9011: accepts or refuses a request (QnRtn). */
export function buildRequestAnswer(original: OriginalPacket, qnRtn: QnRtn, options: BuildOptions = {}): string {
  return answer(original, '9011', [{ key: 'QnRtn', value: qnRtn }], options);
}

/** 9012: the result of executing a command (ExeRtn). */
export function buildExecutionResult(original: OriginalPacket, exeRtn: ExeRtn, options: BuildOptions = {}): string {
  return answer(original, '9012', [{ key: 'ExeRtn', value: exeRtn }], options);
}

/** Data uploads (CN 2xxx) whose Flag asks for an answer get a 9014. */
export function needsDataAnswer(packet: Pick<Hj212Packet, 'cn' | 'flag' | 'qn'>): boolean {
  return packet.cn.startsWith('2') && packet.flag?.replyRequested === true && packet.qn !== undefined;
}

/** The QnRtn that describes why a packet was refused. */
export function qnRtnFor(reason: Hj212ErrorReason, field?: string): QnRtn {
  if (reason === 'crc_mismatch') return QN_RTN.crcError;
  if (reason === 'unsupported_version') return QN_RTN.badFlag;
  switch (field) {
    case 'PW':
      return QN_RTN.badPassword;
    case 'MN':
      return QN_RTN.badMn;
    case 'ST':
      return QN_RTN.badSt;
    case 'Flag':
      return QN_RTN.badFlag;
    case 'QN':
      return QN_RTN.badQn;
    case 'CN':
      return QN_RTN.badCn;
    default:
      return QN_RTN.unknown;
  }
}

/**
 * HJ 212-2025 heartbeat (9015) and notice answer (9013), as public HJ 212-2025 implementations list them in the command
 * table (UNVERIFIED against the standard's text, see the HJ 212 README). A heartbeat carries an empty CP; the notice
 * answer echoes the heartbeat's QN in its header, as every answer does, with an empty CP.
 */
export const HEARTBEAT_CN = '9015';
export const NOTICE_ANSWER_CN = '9013';

/** 9013: acknowledges a notice (a heartbeat), so the sender knows the link is alive. */
export function buildNoticeAnswer(original: OriginalPacket, options: BuildOptions = {}): string {
  if (original.qn === undefined) {
    throw new Hj212Error('missing_field', `cannot build a 9013 answer: the original packet from MN=${original.mn} has no QN`, { field: 'QN', mn: original.mn });
  }
  return buildPacket({ qn: original.qn, st: SYSTEM_INTERACTION_ST, cn: NOTICE_ANSWER_CN, pw: original.pw, mn: original.mn, replyRequested: false, cp: [] }, options);
}

/** 9015: a heartbeat from a station, asking for a 9013 when `replyRequested`. */
export function buildHeartbeat(station: { qn: string; pw: string; mn: string; replyRequested: boolean }, options: BuildOptions = {}): string {
  return buildPacket({ qn: station.qn, st: SYSTEM_INTERACTION_ST, cn: HEARTBEAT_CN, pw: station.pw, mn: station.mn, replyRequested: station.replyRequested, cp: [] }, options);
}
