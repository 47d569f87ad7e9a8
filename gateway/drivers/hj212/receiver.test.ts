import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { parseConfig } from '../../../core/config.ts';
import { hj212InputSchema } from './config.ts';
import { peekHeader } from './receiver.ts';
import { STANDARD_EXAMPLE_FRAME } from '../../../protocols/hj212/samples.ts';

describe('peekHeader: what the receiver reads before checking a frame', () => {
  it('finds QN, PW, MN and the reply bit of the standard example, so the device (and its CRC) can be chosen', () => {
    expect(peekHeader(Buffer.from(STANDARD_EXAMPLE_FRAME))).toEqual({ qn: '20160801085857223', pw: '100000', mn: '010000A8900016F000169DC0', replyRequested: true, version: '2017' });
  });

  it('ignores malformed values rather than addressing an answer to them', () => {
    const frame = Buffer.from('##0040QN=123;ST=32;CN=2011;PW=a;MN=bad mn!;Flag=4;CP=&&&&0000\r\n');
    expect(peekHeader(frame)).toEqual({ pw: 'a', replyRequested: false, version: '2017' });
    expect(peekHeader(Buffer.from('##00'))).toEqual({});
  });

  it('reads the version of the Flag, to answer a refusal in it; version bits no standard assigned give none', () => {
    const header = (flag: number): unknown => peekHeader(Buffer.from(`##0040QN=20240501083000123;MN=M1;Flag=${flag};CP=&&&&0000\r\n`));
    expect(header(8)).toEqual({ qn: '20240501083000123', mn: 'M1', replyRequested: false, version: '2025' });
    expect(header(1)).toMatchObject({ replyRequested: true, version: '2005' });
    expect(header(13)).toEqual({ qn: '20240501083000123', mn: 'M1', replyRequested: true });
  });
});

describe('hj212 input config', () => {
  const device = { mn: 'MN01', pw: '123456', plant: 'paper-01', meters: { w01018: 'outfall-1-cod' } };

  it('fills the limits with safe defaults', () => {
    const config = hj212InputSchema.parse({ type: 'hj212', port: 9212, devices: [device] });
    expect(config).toMatchObject({ host: '127.0.0.1', version: '2017', maxPacketBytes: 10011, maxConnections: 5000, utcOffsetMinutes: 480 });
    expect(config.devices[0]).toMatchObject({ crc: 'hj212', converted: false });
    expect(config.devices[0]?.version).toBeUndefined();
  });

  it('names a duplicate MN and a code without a catalog quantity', () => {
    const raw = { type: 'hj212', port: 9212, devices: [device, { ...device, meters: { w01020: 'outfall-1-toc' } }] };
    let error: unknown;
    try {
      parseConfig('gw.yaml', raw, hj212InputSchema);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toContain('devices[1].mn');
    expect(paths).toContain('devices[1].meters.w01020');
  });

  it('refuses an HJ 212-2025 SM4 key that is not in its environment variable, naming the field; the key itself is never in the file', () => {
    const issues = (env: string | undefined): string[] => {
      if (env === undefined) delete process.env.CS_TEST_HJ212_KEY;
      else process.env.CS_TEST_HJ212_KEY = env;
      try {
        parseConfig('gw.yaml', { type: 'hj212', port: 9212, devices: [{ ...device, sm4: { keyEnv: 'CS_TEST_HJ212_KEY' } }] }, hj212InputSchema);
        return [];
      } catch (err) {
        return (err as ConfigError).issues.map((i) => `${i.path}: ${i.expected}`);
      } finally {
        delete process.env.CS_TEST_HJ212_KEY;
      }
    };
    expect(issues(undefined)).toEqual([expect.stringMatching(/^devices\[0\]\.sm4\.keyEnv: .*CS_TEST_HJ212_KEY.*not set/)]);
    expect(issues('1234')).toEqual([expect.stringMatching(/^devices\[0\]\.sm4\.keyEnv: .*32 hex digits/)]);
    expect(issues('0123456789abcdeffedcba9876543210')).toEqual([]);
    expect(hj212InputSchema.parse({ type: 'hj212', port: 9212, devices: [device] }).devices[0]).toMatchObject({ answerHeartbeats: true });
  });
});
