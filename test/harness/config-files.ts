/**
 * What config tests share: a config file written to a scratch folder (removed when the test process exits), and the
 * ConfigError a loader throws, so a test can state which file, field path and expectation the user is told about.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../core/errors.ts';

let scratch: string | undefined;

function scratchDir(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'cs-config-test-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

let written = 0;

/** Writes `text` to a fresh file named `name` (each call gets its own folder, so names may repeat) and returns its path. */
export function tempConfigFile(name: string, text: string): string {
  const dir = path.join(scratchDir(), String(++written));
  mkdirSync(dir);
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The ConfigError `load` throws; fails the test if it throws something else or nothing. */
export function configErrorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}
