/**
 * `cleanstream gateway --config <file>`: a bad config file stops the command before anything connects, with an
 * error naming the file, the field path and what was expected; every flag is documented in --help.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError } from '../../../core/errors.ts';
import { registerGatewayCommand } from '../../../gateway/main.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-cli-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function program(): Command {
  const root = new Command('cleanstream').exitOverride();
  registerGatewayCommand(root);
  return root;
}

describe('cleanstream gateway', () => {
  it('refuses a bad config file, naming the file, the field and the expectation', async () => {
    const file = path.join(workDir, 'gateway.yaml');
    writeFileSync(
      file,
      `id: gw-1
mqtt: { url: mqtt://127.0.0.1:1 }
inputs:
  - type: modbus
    host: 127.0.0.1
    port: 1
    registers:
      - { plant: p1, meter: m1, quantity: cod, unit: mg/L, area: holding, address: 0, type: int16 }
      - { plant: p1, meter: m1, quantity: cod, unit: mg/L, area: coils, address: 1, type: int16 }
`,
    );
    const started = Date.now();
    const failure = await program()
      .parseAsync(['node', 'cleanstream', 'gateway', '--config', file])
      .then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(ConfigError);
    const err = failure as ConfigError;
    expect(err.message).toContain(file);
    expect(err.issues).toEqual([{ path: 'inputs[0].registers[1].area', expected: 'expected one of "coil", "discrete", "holding", "input"' }]);
    // Validation happens before any connection attempt (which would take retries to fail).
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('names a missing config file', async () => {
    const missing = path.join(workDir, 'nope.yaml');
    const failure = await program()
      .parseAsync(['node', 'cleanstream', 'gateway', '--config', missing])
      .then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as ConfigError).message).toContain(missing);
  });

  it('documents every flag in --help', () => {
    const gateway = program().commands.find((c) => c.name() === 'gateway')!;
    const help = gateway.helpInformation();
    for (const option of gateway.options) {
      expect(option.description.length, `${option.flags} has help text`).toBeGreaterThan(10);
      expect(help).toContain(option.long!);
    }
    expect(gateway.options.map((o) => o.long)).toEqual(expect.arrayContaining(['--config', '--log-level']));
  });
});
