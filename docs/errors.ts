/**
 * Writes docs/errors.md from the catalogue (core/error-codes.ts): `node bin/run-ts.js docs/errors.ts`.
 * `--check` exits 1 when the file differs from what the catalogue gives, without writing it.
 * core/error-codes.test.ts fails in the same case, so the page cannot fall behind the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEAD_LETTER_REASONS, ERROR_CODES, READING_REASONS, type ErrorCodeEntry, type ErrorStage } from '../core/error-codes.ts';
import { HJ212_ERROR_REASON_MEANINGS } from '../protocols/hj212/errors.ts';
import { HJ212_RECEIVER_REASONS } from '../gateway/drivers/hj212/reasons.ts';

export const ERRORS_DOC = path.join(import.meta.dirname, 'errors.md');

const STAGE_ORDER: readonly ErrorStage[] = ['core', 'mqtt', 'nats', 'influxdb', 'gateway', 'ingest', 'rules', 'uplink', 'dashboard', 'cli', 'simulators'];
const STAGE_TITLES: Record<ErrorStage, string> = {
  core: 'Shared (core/)',
  mqtt: 'The MQTT broker and its clients',
  nats: 'The NATS JetStream transport of the bus',
  influxdb: 'InfluxDB',
  gateway: 'Gateway',
  ingest: 'Ingest',
  rules: 'Rules',
  uplink: 'HJ 212 uplink',
  dashboard: 'Dashboard API',
  cli: 'Command line',
  simulators: 'Simulators, record and replay',
};

/** A table cell: a `|` would end it. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

function retryText(e: ErrorCodeEntry): string {
  if (e.retryable === undefined) return '';
  return e.retryable === 'depends' ? 'depends' : e.retryable ? 'yes' : 'no';
}

export function renderErrorsDoc(): string {
  const out: string[] = [
    '<!-- Generated from core/error-codes.ts by `node bin/run-ts.js docs/errors.ts`: edit the catalogue, then run it. A test fails when this file differs. -->',
    '',
    '# Error codes and rejection reasons',
    '',
    'Every error cleanstream logs, emits or answers with carries a stable `code` (its `context` names what was being',
    'done and with what); every message refused on its way in is dead-lettered with a stable `reason`. Logs, metrics,',
    'alerting on logs and API clients may match on both. The catalogue is `core/error-codes.ts`: a code or reason that',
    'is not in it does not compile, and this page is generated from it.',
    '',
    '**Retry**: for failures talking to another system, whether trying again may help (the stage retries by itself where',
    'it says so). **HTTP**: the status the dashboard API answers with; its error body is',
    '`{statusCode, code, error, message, field?}` (`field` names the parameter at fault). The API also passes on',
    'Fastify\'s own `FST_*` codes (Fastify documentation, "Errors"), e.g. `FST_ERR_CTP_INVALID_MEDIA_TYPE`.',
    '',
  ];
  const codes = Object.entries(ERROR_CODES) as [string, ErrorCodeEntry][];
  for (const stage of STAGE_ORDER) {
    const here = codes.filter(([, e]) => e.stages[0] === stage);
    if (here.length === 0) continue;
    out.push(`## ${STAGE_TITLES[stage]}`, '', '| code | meaning | where | retry | HTTP |', '|---|---|---|---|---|');
    for (const [code, e] of here) {
      out.push(`| \`${code}\` | ${cell(e.meaning)} | ${e.stages.join(', ')} | ${retryText(e)} | ${e.http ?? ''} |`);
    }
    out.push('');
  }
  out.push(
    '## Dead-letter reasons',
    '',
    'A message a stage cannot use is published to `cleanstream/v1/deadletter/{stage}` as `{stage, reason, detail, topic,',
    'receivedAt, payload, ...}` (README.md, "MQTT topics and payload") and counted by reason. **decoder**: the shared',
    'decoder every consumer uses (`core/reading.ts` decodeBatch): rules drops such messages and counts them by the same',
    'reasons (its `rejected` statistics, with `internal_error` for a batch it failed to judge), the dashboard\'s live feed',
    'skips them and logs the first of each reason. **ingest**: ingest\'s own checks and writes. Details never repeat the',
    'input.',
    '',
    '| reason | meaning | from |',
    '|---|---|---|',
  );
  for (const [reason, r] of Object.entries(DEAD_LETTER_REASONS)) out.push(`| \`${reason}\` | ${cell(r.meaning)} | ${r.source} |`);
  out.push(
    '',
    '## Reading reasons',
    '',
    'Not rejections: a reading that is not good may say why in its `reason` (README.md, "MQTT topics and payload"); it is',
    'stored with its quality, the reason in `<q>_reason`, and counted by reason in ingest\'s `flaggedReadings`.',
    '',
    '| reason | meaning |',
    '|---|---|',
  );
  for (const [reason, meaning] of Object.entries(READING_REASONS)) out.push(`| \`${reason}\` | ${cell(meaning)} |`);
  out.push(
    '',
    '## HJ 212 refusal reasons',
    '',
    'The HJ 212 receiver (gateway, `gateway/drivers/hj212/`) counts refused frames, dropped split messages and closed',
    'connections by reason (its `refused`, `refusedData`, `droppedSplitMessages` and `closedConnections` statistics), and',
    'logs them with `HJ212_INVALID`, `HJ212_REFUSED` or `HJ212_CONNECTION`; the uplink reports what a platform sends with',
    '`UPLINK_INVALID` and the same reasons. Where a refusal can be answered, it is answered 9011 with the QnRtn the',
    'reason maps to (`protocols/hj212/replies.ts`).',
    '',
    '| reason | meaning | from |',
    '|---|---|---|',
  );
  for (const [reason, meaning] of Object.entries(HJ212_ERROR_REASON_MEANINGS)) out.push(`| \`${reason}\` | ${cell(meaning)} | HJ 212 codec |`);
  for (const [reason, meaning] of Object.entries(HJ212_RECEIVER_REASONS)) out.push(`| \`${reason}\` | ${cell(meaning)} | receiver |`);
  out.push('');
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderErrorsDoc();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(ERRORS_DOC, 'utf8');
    } catch {
      // missing: differs
    }
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), ERRORS_DOC)} differs from core/error-codes.ts: run node bin/run-ts.js docs/errors.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(ERRORS_DOC, text);
    console.log(`wrote ${path.relative(process.cwd(), ERRORS_DOC)}`);
  }
}
