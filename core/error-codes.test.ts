import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS_DOC, renderErrorsDoc } from '../docs/errors.ts';
import { REPO_ROOT, scanSource, sourceFiles, type Found } from '../test/harness/error-scan.ts';
import { DEAD_LETTER_REASONS, ERROR_CODES, isErrorCode, isRejectReason, READING_REASONS, type ErrorCodeEntry } from './error-codes.ts';
import { NO_VALUE, OUT_OF_RANGE } from './reading.ts';

const scanned = scanSource();
const missing = (found: Found[], known: (v: string) => boolean): string[] => found.filter((f) => !known(f.value)).map((f) => `${f.value} (${f.where})`);

describe('the error catalogue (core/error-codes.ts)', () => {
  it('finds the codes the source throws and answers with (the scan is not blind)', () => {
    const codes = new Set(scanned.codes.map((f) => f.value));
    // one of each way a code is given: new XError, super(...), new HttpError(status, ...), a reply object, a wrapper
    for (const code of ['MQTT_CONNECT', 'DISK_QUEUE_FULL', 'OUT_OF_SCOPE', 'UNAUTHENTICATED', 'HJ212_REFUSED', 'BAD_EVERY', 'REPLAY_CONNECT']) expect(codes).toContain(code);
    expect(codes.size).toBeGreaterThan(80);
  });

  it('lists every code the source throws, emits or answers with', () => {
    expect(missing(scanned.codes, isErrorCode)).toEqual([]);
  });

  it('lists no code the source never uses', () => {
    const text = sourceFiles().map((f) => readFileSync(path.join(REPO_ROOT, f), 'utf8')).join('\n');
    // InfluxError's codes are INFLUX_ and its kind in upper case (influxdb/client.ts)
    const writerKinds = [...readFileSync(path.join(REPO_ROOT, 'influxdb/client.ts'), 'utf8').matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => `INFLUX_${m[1]!.toUpperCase()}`);
    const unused = Object.keys(ERROR_CODES).filter((code) => !text.includes(`'${code}'`) && !writerKinds.includes(code));
    expect(unused).toEqual([]);
  });

  it('says what the source does: the HTTP status each code is answered with, and whether retrying may help', () => {
    const wrong: string[] = [];
    for (const fact of scanned.facts) {
      if (!isErrorCode(fact.value)) continue; // reported by the test above
      const entry: ErrorCodeEntry = ERROR_CODES[fact.value];
      if (fact.http !== undefined && entry.http !== fact.http) wrong.push(`${fact.value} answered ${fact.http} (${fact.where}), catalogued ${entry.http}`);
      if (fact.retryable !== undefined) {
        const catalogued = entry.retryable;
        const ok = fact.retryable === 'expression' ? catalogued === 'depends' : catalogued === fact.retryable || catalogued === 'depends';
        if (!ok) wrong.push(`${fact.value} thrown with retryable ${fact.retryable} (${fact.where}), catalogued ${catalogued}`);
      }
    }
    expect(scanned.facts.length).toBeGreaterThan(40);
    expect(wrong).toEqual([]);
  });

  it('lists every dead-letter reason ingest and the shared decoder emit', () => {
    const reasons = new Set(scanned.reasons.map((f) => f.value));
    for (const reason of ['not_json', 'ts_too_old', 'bad_topic', 'unknown_meter', 'write_rejected', 'internal_error']) expect(reasons).toContain(reason);
    expect(missing(scanned.reasons, isRejectReason)).toEqual([]);
    // and no reason is listed that nothing emits
    expect(Object.keys(DEAD_LETTER_REASONS).filter((r) => !reasons.has(r))).toEqual([]);
  });

  it('explains the reading reasons cleanstream gives', () => {
    expect(Object.keys(READING_REASONS)).toEqual(expect.arrayContaining([NO_VALUE, OUT_OF_RANGE]));
  });

  it('is what docs/errors.md says (regenerate it with node bin/run-ts.js docs/errors.ts)', () => {
    const doc = readFileSync(ERRORS_DOC, 'utf8');
    const undocumented = [...Object.keys(ERROR_CODES), ...Object.keys(DEAD_LETTER_REASONS)].filter((c) => !doc.includes(`| \`${c}\` |`));
    expect(undocumented).toEqual([]);
    expect(doc).toBe(renderErrorsDoc());
  });
});
