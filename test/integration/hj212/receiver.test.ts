/**
 * HJ 212 receiver end to end over loopback: simulated data loggers -> the gateway's hj212 input -> the embedded broker
 * -> ingest -> a real InfluxDB 1.x. What users rely on: a logger's minute and real-time values land in InfluxDB at
 * their DataTime, converted to canonical units, with the data flag as quality; a device that computes the Modbus CRC
 * works when configured so; a wrong PW is refused with 9011 QnRtn=3 and writes nothing; a client sending an
 * over-long frame or garbage is dropped while the loggers next to it carry on; each packet is read and answered in the
 * HJ 212 version its own Flag declares, whatever version the receiver is configured for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { type PlantRegistry } from '../../../core/plants.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { createPlantModel } from '../../../simulators/model.ts';
import { startHj212Logger } from '../../../simulators/hj212/logger.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { crcFromTheStandard, frameProblem, headerFields } from '../../harness/hj212-frames.ts';
import { demoPlants } from '../../harness/plants.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const DB = 'hj212_e2e';
const WATER_MN = 'PAPER01WATER000000000001';
const STACK_MN = 'PAPER01STACK000000000001';
const WATER_METERS = { w01018: 'outfall-1-cod', w00000: 'outfall-1-flow', w21003: 'outfall-1-nh3n', w01001: 'outfall-1-ph' };
const STACK_METERS = { a21026: 'stack-1-cems', a19001: 'stack-1-cems' };
const DYEING_WATER_MN = 'DYEING01WATER00000000001';
const DYEING_STACK_MN = 'DYEING01STACK00000000001';


describe('HJ 212 data loggers -> gateway -> MQTT -> ingest -> InfluxDB', () => {
  let influx: RunningInflux;
  let broker: RunningBroker;
  let ingest: Ingest;
  let gateway: RunningGateway;
  let registry: PlantRegistry;
  let workDir: string;
  let port: number;
  let port2025: number;

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-hj212-rx-'));
    registry = demoPlants();
    [influx, broker, port, port2025] = await Promise.all([startInfluxd(), startBroker(), freePort(), freePort()]);
    ingest = await startIngest(parseIngestConfig('test ingest', { mqtt: { url: broker.url }, clientId: 'ingest-hj212', influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 50 }, timestamps: { backfill: true } }), {
      registry,
      connectTimeoutMs: 5000,
    });
    const config = parseGatewayConfig('test gw-hj212', {
      id: 'gw-hj212',
      mqtt: { url: broker.url },
      dataDir: path.join(workDir, 'gw'),
      inputs: [
        {
          type: 'hj212',
          port,
          maxPacketBytes: 2048,
          idleTimeoutMs: 10_000,
          devices: [
            { mn: WATER_MN, pw: '123456', plant: 'paper-01', meters: WATER_METERS },
            { mn: STACK_MN, pw: 'abc123', plant: 'paper-01', crc: 'modbus', meters: STACK_METERS },
            { mn: DYEING_WATER_MN, pw: '222222', plant: 'dyeing-01', meters: { w01018: 'outfall-1-cod' } },
          ],
        },
        {
          type: 'hj212',
          port: port2025,
          version: '2025',
          idleTimeoutMs: 10_000,
          devices: [{ mn: DYEING_STACK_MN, pw: '333333', plant: 'dyeing-01', meters: { a21026: 'stack-1-cems' } }],
        },
      ],
    });
    gateway = await startGateway(config, { logger });
  });

  afterAll(async () => {
    await gateway?.stop();
    await ingest?.stop();
    await broker?.stop();
    await influx?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('writes the loggers’ values at their DataTime with their quality, refuses a wrong PW, and drops an abusive client alone', async () => {
    const model = createPlantModel(registry.plant('paper-01')!, 7);
    // Minute 2 is a calibration (C -> uncertain), minute 3 a fault (D -> bad).
    const flagAt = (code: string, t: number): string => (code === 'w01018' && t === T0 + 2 * 60_000 ? 'C' : code === 'w01018' && t === T0 + 3 * 60_000 ? 'D' : 'N');
    const common = { host: '127.0.0.1', port, intervalMs: 30, overTimeMs: 2000, reCount: 1 };

    // An abusive client: '##' and then more bytes than any frame may have, without a CR LF.
    const abusive = connect({ host: '127.0.0.1', port });
    const abusiveClosed = new Promise<void>((resolve) => abusive.on('close', () => resolve()));
    abusive.on('error', () => undefined);
    abusive.on('connect', () => abusive.write(`##9999${'A'.repeat(5000)}`));
    // And one that sends only noise.
    const noisy = connect({ host: '127.0.0.1', port });
    const noisyClosed = new Promise<void>((resolve) => noisy.on('close', () => resolve()));
    noisy.on('error', () => undefined);
    noisy.on('connect', () => noisy.write(Buffer.alloc(4096, 0x55)));

    const water = startHj212Logger({ ...common, mn: WATER_MN, pw: '123456', codes: Object.keys(WATER_METERS), source: { model, meters: WATER_METERS }, cn: '2051', count: 5, startDataTime: T0, flag: flagAt });
    const stack = startHj212Logger({ ...common, mn: STACK_MN, pw: 'abc123', crc: 'modbus', codes: Object.keys(STACK_METERS), source: { model, meters: STACK_METERS }, cn: '2011', count: 3, startDataTime: T0 });
    const intruder = startHj212Logger({ ...common, mn: WATER_MN, pw: '654321', codes: ['w01018'], source: { value: () => 12345 }, cn: '2051', count: 1, startDataTime: T0 + 86_400_000, reCount: 0 });
    await Promise.all([water.done, stack.done, intruder.done, abusiveClosed, noisyClosed]);

    expect(water.stats()).toMatchObject({ sent: 5, acknowledged: 5, unanswered: 0 });
    expect(stack.stats()).toMatchObject({ sent: 3, acknowledged: 3, unanswered: 0 });
    expect(intruder.sent[0]).toMatchObject({ outcome: 'refused', qnRtn: 3 });

    // 5 minutes × 4 water codes + 3 real-time packets × 2 stack codes.
    await until('the readings published', () => gateway.stats().publisher.readingsPublished >= 26, 10_000);
    await gateway.flush(5000);
    await until('the readings written', () => ingest.stats().writtenReadings >= 26, 10_000);
    await ingest.flush();

    const cod = await influx.query<{ time: number; cod: number | null; cod_quality: string }>(`SELECT cod, cod_quality FROM water WHERE meter = 'outfall-1-cod' ORDER BY time`, DB);
    expect(cod.map((r) => r.time)).toEqual([0, 1, 2, 3, 4].map((m) => T0 + m * 60_000));
    expect(cod.map((r) => r.cod_quality)).toEqual(['good', 'good', 'uncertain', 'bad', 'good']);
    cod.forEach((row, m) => expect(row.cod).toBe(water.sent[m]!.pollutants.w01018!.values.Avg));

    // Flow arrives in L/s (the HJ 212 unit) and is stored in m3/h.
    const flow = await influx.query<{ time: number; wastewater_flow: number }>(`SELECT wastewater_flow FROM water WHERE meter = 'outfall-1-flow' ORDER BY time`, DB);
    expect(flow).toHaveLength(5);
    flow.forEach((row, m) => expect(row.wastewater_flow).toBeCloseTo(water.sent[m]!.pollutants.w00000!.values.Avg! * 3.6, 6));
    // And agrees with the plant model it came from (canonical unit, within the rounding of 3 decimals in L/s).
    const sampled = model.sample('outfall-1-flow', 'wastewater_flow', T0).value;
    expect(Math.abs(flow[0]!.wastewater_flow - sampled)).toBeLessThan(0.2 * sampled);

    // The Modbus-CRC stack logger's real-time values, at their 30-second DataTimes.
    const so2 = await influx.query<{ time: number; so2: number; o2: number }>(`SELECT so2, o2 FROM emissions WHERE meter = 'stack-1-cems' ORDER BY time`, DB);
    expect(so2.map((r) => r.time)).toEqual([T0, T0 + 30_000, T0 + 60_000]);
    so2.forEach((row, i) => {
      expect(row.so2).toBe(stack.sent[i]!.pollutants.a21026!.values.Rtd);
      expect(row.o2).toBe(stack.sent[i]!.pollutants.a19001!.values.Rtd);
    });

    // The refused packet wrote nothing.
    const intruded = await influx.query(`SELECT * FROM water WHERE time >= ${(T0 + 86_400_000) * 1_000_000}`, DB);
    expect(intruded).toEqual([]);

    const input = gateway.stats().inputs[0]!;
    expect(input.type).toBe('hj212');
    expect(input.errors).toBeGreaterThanOrEqual(3);
  });

  it('keeps the readings of a packet in another version than configured and answers it in its own version', async () => {
    const common = { host: '127.0.0.1', intervalMs: 20, overTimeMs: 2000, reCount: 1, startDataTime: T0 };
    const errorsBefore = gateway.stats().inputs.map((i) => i.errors);
    // Public real-time data of a 2025 logger, Flag=8 (no answer asked), into an input configured for 2017 (the default).
    const rtd = (code: string, t: number): number => 40 + (t - T0) / 30_000;
    const flag8 = startHj212Logger({ ...common, port, mn: DYEING_WATER_MN, pw: '222222', codes: ['w01018'], source: { value: rtd }, cn: '2011', count: 3, version: '2025', replyRequested: false });
    await flag8.done;
    expect(flag8.sent.map((p) => p.outcome)).toEqual(['sent', 'sent', 'sent']);
    // The same device's minute data with Flag=9 (2025, answer asked): answered with 2025 version bits.
    const flag9 = startHj212Logger({ ...common, port, mn: DYEING_WATER_MN, pw: '222222', codes: ['w01018'], source: { value: () => 50 }, cn: '2051', count: 2, startDataTime: T0 + 3_600_000, version: '2025' });
    // A 2017 logger (Flag=5) on the input configured for 2025: answered with 2017 version bits (Flag=4), not Flag=8.
    const flag5 = startHj212Logger({ ...common, port: port2025, mn: DYEING_STACK_MN, pw: '333333', codes: ['a21026'], source: { value: () => 20 }, cn: '2011', count: 2 });
    await Promise.all([flag9.done, flag5.done]);
    expect(flag9.sent.map((p) => [p.outcome, p.answerVersion])).toEqual([['acknowledged', '2025'], ['acknowledged', '2025']]);
    expect(flag5.sent.map((p) => [p.outcome, p.answerVersion])).toEqual([['acknowledged', '2017'], ['acknowledged', '2017']]);

    await until('the readings written', () => ingest.stats().writtenReadings >= 26 + 7, 10_000);
    await ingest.flush();
    const cod = await influx.query<{ time: number; cod: number }>(`SELECT cod FROM water WHERE plant = 'dyeing-01' AND meter = 'outfall-1-cod' ORDER BY time`, DB);
    expect(cod).toEqual([
      { time: T0, cod: 40 },
      { time: T0 + 30_000, cod: 41 },
      { time: T0 + 60_000, cod: 42 },
      { time: T0 + 3_600_000, cod: 50 },
      { time: T0 + 3_660_000, cod: 50 },
    ]);
    const so2 = await influx.query<{ time: number; so2: number }>(`SELECT so2 FROM emissions WHERE plant = 'dyeing-01' ORDER BY time`, DB);
    expect(so2).toEqual([
      { time: T0, so2: 20 },
      { time: T0 + 30_000, so2: 20 },
    ]);
    // One warning per device and version, not one per packet: 5 packets of 2025 into the 2017 input, 2 of 2017 into the 2025 one.
    expect(gateway.stats().inputs.map((i, n) => i.errors - (errorsBefore[n] ?? 0))).toEqual([1, 1]);
  });

  it('accepts a minute packet written by hand (not by our codec) and answers it with a 9014 the standard\'s own CRC accepts', async () => {
    // China Standard Time digits of a whole minute two minutes ago
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 60_000;
    const cst = new Date(minute + 8 * 3_600_000).toISOString().replace(/\D/g, '').slice(0, 14);
    const qn = `${cst}123`;
    const segment = `QN=${qn};ST=32;CN=2051;PW=123456;MN=${WATER_MN};Flag=5;CP=&&DataTime=${cst};w01018-Min=41.0,w01018-Avg=42.5,w01018-Max=44.0,w01018-Flag=N&&`;
    const crc = crcFromTheStandard(Buffer.from(segment)).toString(16).toUpperCase().padStart(4, '0');
    const frame = `##${String(segment.length).padStart(4, '0')}${segment}${crc}\r\n`;

    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(frame);
    await until('the 9014 answer', () => answer.endsWith('\r\n'), 10_000);
    socket.destroy();

    expect(frameProblem(answer)).toBeUndefined();
    expect(headerFields(answer)).toMatchObject({ ST: '91', CN: '9014', PW: '123456', MN: WATER_MN });
    expect(answer).toContain(`CP=&&QN=${qn}&&`);

    await until('the reading written', async () => (await influx.query(`SELECT cod FROM water WHERE meter = 'outfall-1-cod' AND time = ${minute * 1_000_000}`, DB)).length === 1, 20_000, 200);
    const [row] = await influx.query<{ time: number; cod: number }>(`SELECT cod FROM water WHERE meter = 'outfall-1-cod' AND time = ${minute * 1_000_000}`, DB);
    expect(row).toMatchObject({ time: minute, cod: 42.5 });
  });
});
