import { describe, expect, it } from 'vitest';
import { buildPacket, decodeFlag, parsePacket, type Hj212PacketInput } from './codec.ts';
import { dataCp } from './cp.ts';
import { Hj212Error, type Hj212ErrorReason } from './errors.ts';
import { frameOf, STANDARD_EXAMPLE_FRAME } from './samples.ts';
import { formatHj212Time, parseHj212Time } from './time.ts';

const HEADER = 'QN=20240501083000123;ST=32;CN=2011;PW=123456;MN=88888880000001;Flag=4;';

function failure(run: () => unknown): Hj212Error {
  try {
    run();
  } catch (err) {
    if (err instanceof Hj212Error) return err;
    throw err;
  }
  throw new Error('expected an Hj212Error, nothing was thrown');
}

function expectReason(run: () => unknown, reason: Hj212ErrorReason, ...messageParts: string[]): Hj212Error {
  const err = failure(run);
  expect(err.reason).toBe(reason);
  expect(err.code).toBe('HJ212_INVALID');
  for (const part of messageParts) expect(err.message).toContain(part);
  return err;
}

describe("the standard's example packet", () => {
  it('parses with CRC 1C80 into its fields', () => {
    const p = parsePacket(STANDARD_EXAMPLE_FRAME);
    expect(p).toMatchObject({ qn: '20160801085857223', st: '32', cn: '1062', pw: '100000', mn: '010000A8900016F000169DC0' });
    expect(p.pnum).toBeUndefined();
    expect(p.frame).toEqual({ declaredLength: 101, crc: '1C80' });
    expect(p.flag).toEqual({ raw: 5, versionBits: 1, version: '2017', splitPacket: false, replyRequested: true });
    expect(p.cp).toEqual([[{ key: 'RtdInterval', value: '30' }]]);
    expect(p.data.fields.get('RtdInterval')).toBe('30');
    expect(p.data.pollutants.size).toBe(0);
  });

  it('round-trips byte for byte through build', () => {
    expect(buildPacket(parsePacket(STANDARD_EXAMPLE_FRAME))).toBe(STANDARD_EXAMPLE_FRAME);
  });

  it('parses from a Buffer as from a string', () => {
    expect(parsePacket(Buffer.from(STANDARD_EXAMPLE_FRAME)).qn).toBe('20160801085857223');
  });

  it('is refused under the Modbus CRC option, naming both CRCs', () => {
    expectReason(() => parsePacket(STANDARD_EXAMPLE_FRAME, { crc: 'modbus' }), 'crc_mismatch', 'received CRC 1C80', 'computed 0759');
  });
});

describe('Flag (data segment structure table: bits 7..2 version, bit 1 split, bit 0 reply requested)', () => {
  it('decodes 4 as 2017 without reply and 7 as 2017 split with reply', () => {
    expect(decodeFlag(4)).toEqual({ raw: 4, versionBits: 1, version: '2017', splitPacket: false, replyRequested: false });
    expect(decodeFlag(7)).toMatchObject({ version: '2017', splitPacket: true, replyRequested: true });
    expect(decodeFlag(1)).toMatchObject({ version: '2005', replyRequested: true });
    expect(decodeFlag(9)).toMatchObject({ versionBits: 2, version: '2025' });
  });

  it('is computed on build from the version, PNUM and replyRequested', () => {
    const base = { st: '32', cn: '2061', pw: '123456', mn: 'MN1', cp: [] };
    expect(parsePacket(buildPacket({ ...base, replyRequested: true })).flag?.raw).toBe(5);
    expect(parsePacket(buildPacket({ ...base, pnum: 2, pno: 1 })).flag?.raw).toBe(6);
    expect(parsePacket(buildPacket({ ...base }, { version: '2025' }), { version: '2025' }).flag?.raw).toBe(8);
  });

  it('reads each packet in the version its own Flag declares: 2005, 2017 and 2025 alike', () => {
    const versionOf = (flag: string): unknown => parsePacket(frameOf(`${HEADER.replace('Flag=4', flag)}CP=&&&&`)).flag;
    // Flag=8: HJ 212-2025 public real-time data, no answer asked.
    expect(versionOf('Flag=8')).toEqual({ raw: 8, versionBits: 2, version: '2025', splitPacket: false, replyRequested: false });
    expect(versionOf('Flag=5')).toMatchObject({ version: '2017', replyRequested: true });
    expect(versionOf('Flag=1')).toMatchObject({ version: '2005', replyRequested: true });
    expect(parsePacket(frameOf(`${HEADER.replace('Flag=4;', '')}CP=&&&&`)).flag).toBeUndefined();
  });

  it('refuses version bits no standard has assigned', () => {
    const frame = frameOf(`${HEADER.replace('Flag=4', 'Flag=13')}CP=&&&&`);
    expectReason(() => parsePacket(frame), 'unsupported_version', 'Flag=13', 'version bits 3', 'no standard has assigned');
  });

  it('refuses a newer version than a one-version client (the uplink) is told to accept', () => {
    const frame = frameOf(`${HEADER.replace('Flag=4', 'Flag=9')}CP=&&&&`);
    expectReason(() => parsePacket(frame, { version: '2017' }), 'unsupported_version', 'Flag=9', 'HJ 212-2025', 'reads HJ 212-2017 and older');
    expect(parsePacket(frame, { version: '2025' }).flag?.version).toBe('2025');
  });

  it('builds the Flag of any version, 2005 included', () => {
    const base = { qn: '20240501083000123', st: '91', cn: '9014', pw: '123456', mn: 'MN1', cp: [] };
    expect(parsePacket(buildPacket(base, { version: '2005' })).flag?.raw).toBe(0);
    expect(parsePacket(buildPacket({ ...base, replyRequested: true }, { version: '2025' })).flag?.raw).toBe(9);
  });
});

describe('build → parse round trips of data uploads', () => {
  const dataTime = parseHj212Time('20240501083000', 'DataTime');
  const cases: [string, Hj212PacketInput][] = [
    [
      '2011 real-time water data',
      {
        qn: '20240501083000123',
        st: '32',
        cn: '2011',
        pw: '123456',
        mn: '88888880000001',
        cp: dataCp(dataTime, [
          { code: 'w00000', values: { Rtd: '12.50' }, flag: 'N' },
          { code: 'w01018', values: { Rtd: '45.2' }, flag: 'N' },
          { code: 'w21003', values: { Rtd: '1.35' }, flag: 'C' },
          { code: 'w01001', values: { Rtd: null }, flag: 'D' },
        ]),
      },
    ],
    [
      '2051 minute flue gas data with converted values',
      {
        qn: '20240501084000000',
        st: '31',
        cn: '2051',
        pw: '123456',
        mn: 'STACK0001',
        replyRequested: true,
        cp: dataCp(dataTime, [
          { code: 'a21026', values: { Cou: '1.234', Min: '20.1', Avg: '25.3', Max: '30.9', ZsMin: '22', ZsAvg: '27.5', ZsMax: '33' }, flag: 'N' },
          { code: 'a21002', values: { Cou: '3.4', Min: '50', Avg: '61.25', Max: '70' }, flag: 'M' },
          { code: 'a19001', values: { Min: '8.1', Avg: '8.4', Max: '8.9' }, flag: 'N' },
        ]),
      },
    ],
    [
      '2061 hourly data',
      {
        qn: '20240501090000001',
        st: '32',
        cn: '2061',
        pw: '123456',
        mn: 'OUTFALL01',
        replyRequested: true,
        cp: dataCp(dataTime, [
          { code: 'w00000', values: { Cou: '45000.5', Min: '10', Avg: '12.5', Max: '15' }, flag: 'N' },
          { code: 'w01018', values: { Cou: '2.1', Min: '40', Avg: '45', Max: '50' }, flag: 'T' },
        ]),
      },
    ],
    [
      '2031 daily data',
      {
        qn: '20240502000500000',
        st: '32',
        cn: '2031',
        pw: '123456',
        mn: 'OUTFALL01',
        replyRequested: true,
        cp: dataCp(dataTime, [
          { code: 'w21011', values: { Cou: '0.5', Min: '0.1', Avg: '0.2', Max: '0.3' }, flag: 'B' },
          { code: 'w20111', values: { Cou: '0.01', Min: '0.02', Avg: '0.05', Max: '0.09' }, flag: 'F' },
        ]),
      },
    ],
  ];

  for (const [name, input] of cases) {
    it(name, () => {
      const frame = buildPacket(input);
      const parsed = parsePacket(frame);
      expect(buildPacket(parsed)).toBe(frame);
      expect(parsed.cn).toBe(input.cn);
      expect(parsed.data.dataTime).toBe(dataTime);
      const groups = input.cp.slice(1);
      expect(parsed.data.pollutants.size).toBe(groups.length);
      for (const group of groups) {
        for (const { key, value } of group) {
          const [code, suffix] = key.split('-') as [string, string];
          const pollutant = parsed.data.pollutants.get(code);
          if (suffix === 'Flag') expect(pollutant?.flag).toBe(value);
          else expect(pollutant?.values[suffix as 'Rtd']).toBe(value === '' ? null : Number(value));
        }
      }
    });
  }

  it('reads DataTime as China Standard Time by default and as any other offset when told', () => {
    const frame = frameOf(`${HEADER}CP=&&DataTime=20240501083000;w01018-Rtd=1&&`);
    expect(new Date(parsePacket(frame).data.dataTime ?? 0).toISOString()).toBe('2024-05-01T00:30:00.000Z');
    expect(new Date(parsePacket(frame, { utcOffsetMinutes: 0 }).data.dataTime ?? 0).toISOString()).toBe('2024-05-01T08:30:00.000Z');
    expect(formatHj212Time(Date.UTC(2024, 4, 1, 0, 30))).toBe('20240501083000');
  });

  it('accepts a 2005-style upload without QN and Flag, with legacy codes', () => {
    const p = parsePacket(frameOf('ST=32;CN=2011;PW=123456;MN=OLD0001;CP=&&DataTime=20240501083000;011-Rtd=45.2,011-Flag=N;B01-Rtd=3&&'));
    expect(p.qn).toBeUndefined();
    expect(p.flag).toBeUndefined();
    expect(p.data.pollutants.get('011')?.values.Rtd).toBe(45.2);
  });

  it('keeps run states (2021) and items it does not interpret', () => {
    const p = parsePacket(frameOf(`${HEADER.replace('2011', '2021')}CP=&&DataTime=20240501083000;SB1-RS=1;SB2-RS=0,SB2-Info=x;PolId=w01018&&`));
    expect(p.data.pollutants.get('SB1')?.runState).toBe(1);
    expect(p.data.pollutants.get('SB2')?.other).toEqual({ Info: 'x' });
    expect(p.data.fields.get('PolId')).toBe('w01018');
  });

  it('keeps unknown header fields and puts them back before CP', () => {
    const frame = frameOf(`${HEADER}Extra=1;CP=&&&&`);
    const p = parsePacket(frame);
    expect(p.headerExtras).toEqual([{ key: 'Extra', value: '1' }]);
    expect(buildPacket(p)).toBe(frame);
  });
});

describe('errors name exactly what is wrong', () => {
  const good = frameOf(`${HEADER}CP=&&DataTime=20240501083000;w01018-Rtd=45.2,w01018-Flag=N&&`);

  it('bad_header: not starting with ##, a non-numeric length, a frame too short', () => {
    expectReason(() => parsePacket(`$$${good.slice(2)}`), 'bad_header', "must start with '##'", '"$$"');
    expectReason(() => parsePacket(`##01x1${good.slice(6)}`), 'bad_header', 'length field "01x1" must be 4 decimal digits');
    expectReason(() => parsePacket('##00\r\n'), 'bad_header', 'frame is 6 bytes');
  });

  it('bad_tail: no CR LF at the end', () => {
    expectReason(() => parsePacket(`${good.slice(0, -2)}\n\n`), 'bad_tail', 'must end with CR LF', '"\\n\\n"');
  });

  it('length_mismatch: with the declared and the actual length', () => {
    const actual = good.length - 12;
    const wrong = String(actual + 3).padStart(4, '0');
    expectReason(() => parsePacket(`##${wrong}${good.slice(6)}`), 'length_mismatch', `declared data segment length ${wrong}`, `holds ${actual} bytes`);
  });

  it('counts the length in UTF-8 bytes', () => {
    const frame = frameOf(`${HEADER}CP=&&Note=水&&`);
    expect(frame.slice(2, 6)).toBe(String(Buffer.byteLength(`${HEADER}CP=&&Note=水&&`)).padStart(4, '0'));
    expect(parsePacket(frame).data.fields.get('Note')).toBe('水');
  });

  it('crc_mismatch: with the received and the computed CRC; case does not matter', () => {
    const crc = good.slice(-6, -2);
    const other = crc === '0000' ? '0001' : '0000';
    expectReason(() => parsePacket(`${good.slice(0, -6)}${other}\r\n`), 'crc_mismatch', `received CRC ${other}`, `computed ${crc}`);
    expectReason(() => parsePacket(`${good.slice(0, -6)}ZZZZ\r\n`), 'crc_mismatch', 'CRC field "ZZZZ" is not 4 hex digits');
    expect(parsePacket(`${good.slice(0, -6)}${crc.toLowerCase()}\r\n`).cn).toBe('2011');
  });

  it('accepts the Modbus CRC when the device is configured for it', () => {
    const frame = frameOf(`${HEADER}CP=&&&&`, 'modbus');
    expect(parsePacket(frame, { crc: 'modbus' }).mn).toBe('88888880000001');
    expect(failure(() => parsePacket(frame)).reason).toBe('crc_mismatch');
  });

  it('missing_field: names the field', () => {
    for (const field of ['ST', 'CN', 'PW', 'MN']) {
      const segment = HEADER.replace(new RegExp(`${field}=[^;]*;`), '');
      expectReason(() => parsePacket(frameOf(`${segment}CP=&&&&`)), 'missing_field', `no ${field} field`);
    }
    expectReason(() => parsePacket(frameOf(HEADER)), 'missing_field', 'no CP=&&...&& field');
    expectReason(() => parsePacket(frameOf(`${HEADER.replace('Flag=4', 'Flag=6')}PNO=1;CP=&&&&`)), 'missing_field', 'no PNUM field');
  });

  it('bad_field: names the field, the value and what was expected', () => {
    const cases: [string, string[]][] = [
      [`${HEADER.replace('ST=32', 'ST=3x')}CP=&&&&`, ['ST="3x" must be 2 digits']],
      [`${HEADER.replace('CN=2011', 'CN=20')}CP=&&&&`, ['CN="20" must be 4 digits']],
      // Found by the receiver fuzz: a PW holding CR LF (inside a frame whose length is right) cannot be echoed in an answer.
      [`${HEADER.replace('PW=123456', 'PW=1234\r\n56')}CP=&&&&`, ['PW="1234\\r\\n56" must be 1 to 32 characters']],
      [`${HEADER.replace('Flag=4', 'Flag=300')}CP=&&&&`, ['Flag="300" must be a number 0..255']],
      [`${HEADER.replace('QN=20240501083000123', 'QN=2024')}CP=&&&&`, ['QN="2024" must be 17 digits']],
      [`${HEADER.replace('QN=20240501083000123', 'QN=20241301083000123')}CP=&&&&`, ['QN=20241301083000123 is not a valid calendar time']],
      [`${HEADER}CP=&&w01018-Rtd=abc&&`, ['w01018-Rtd="abc" is not a number']],
      [`${HEADER}CP=&&w01018-Flag=NN&&`, ['w01018-Flag="NN" must be one data flag letter']],
      [`${HEADER}CP=&&DataTime=20240230083000&&`, ['DataTime=20240230083000 is not a valid calendar time']],
      [`${HEADER}CP=&&DataTime=20240501083000;;w01018-Rtd=1&&`, ['CP has an empty group']],
      [`${HEADER}CP=&&w01018-Rtd&&`, ['CP item "w01018-Rtd" is not key=value']],
      [`${HEADER}CP=&&w01018-Rtd=1;w01018-Rtd=2&&`, ['CP repeats w01018-Rtd with different values']],
      [`${HEADER}CP=&&w01018-Rtd=1`, ["CP must be closed by '&&'"]],
      [`${HEADER.replace('Flag=4', 'Flag=6')}PNUM=2;PNO=3;CP=&&&&`, ['PNO="3" must be a number 1..PNUM (2)']],
      [`${HEADER}ST=32;CP=&&&&`, ['repeats field ST']],
    ];
    for (const [segment, parts] of cases) expectReason(() => parsePacket(frameOf(segment)), 'bad_field', ...parts);
  });

  it('too_long: beyond the configured maximum on parse, beyond 9999 on build', () => {
    expectReason(() => parsePacket(good, { maxLength: 50 }), 'too_long', 'the maximum is 50');
    const huge: Hj212PacketInput = { st: '32', cn: '2011', pw: '123456', mn: 'MN1', cp: [Array.from({ length: 800 }, (_, i) => ({ key: `w${i}-Rtd`, value: '12.345' }))] };
    expectReason(() => buildPacket(huge), 'too_long', 'the maximum is 9999');
  });

  it('build refuses text that would break the framing', () => {
    expectReason(() => buildPacket({ st: '32', cn: '2011', pw: '1;2', mn: 'MN1', cp: [] }), 'bad_field', 'PW="1;2" holds a separator');
    expectReason(() => buildPacket({ st: '32', cn: '2011', pw: '1', mn: 'MN1', cp: [[{ key: 'a,b', value: '1' }]] }), 'bad_field', 'key "a,b"');
    expectReason(() => buildPacket({ st: '32', cn: '2011', pw: '1', mn: 'MN1', cp: [[{ key: 'x', value: Number.NaN }]] }), 'bad_field', 'finite number');
  });
});
