/**
 * Config of an HJ 212 uplink: which plants' readings it reports, as which monitoring stations (MN/PW, one per data
 * logger the regulator knows: an outfall, a stack), to which platform, and how patiently.
 */
import path from 'node:path';
import { z } from 'zod';
import { configPathSchema, durationMs, idSchema, loadConfigFile, mqttConnectionSchema, parseConfig, sessionExpirySecondsSchema } from '../core/config.ts';
import { codeDef, quantityForCode } from '../protocols/hj212/codes.ts';
import { sm4ConfigSchema } from '../protocols/hj212/sm4-config.ts';

const pollutantSchema = z
  .strictObject({
    /** HJ 212-2017 pollutant code (appendix B), e.g. w01018. */
    code: z.string().regex(/^[A-Za-z0-9]{1,16}$/, { message: 'expected a pollutant code such as w01018' }),
    /** The meter of the plant whose readings of the code's quantity are reported under this code. */
    meter: idSchema,
  })
  .superRefine((p, ctx) => {
    if (!codeDef(p.code) || !quantityForCode(p.code)) {
      ctx.addIssue({ code: 'custom', path: ['code'], message: `expected a pollutant code with a catalog quantity (see protocols/hj212/codes.ts), got ${p.code}` });
    }
  });

const stationSchema = z.strictObject({
  plant: idSchema,
  /** The station's device id at the platform (24 characters in the standard). */
  mn: z.string().regex(/^[0-9A-Za-z_-]{1,32}$/, { message: 'expected an MN of 1 to 32 letters, digits, - or _' }),
  pw: z.string().regex(/^[^;,&\r\n]{1,32}$/, { message: 'expected a PW of 1 to 32 characters without ; , & or line breaks' }),
  /** System code: 32 wastewater, 31 flue gas. */
  st: z.string().regex(/^\d{2}$/).default('32'),
  pollutants: z.array(pollutantSchema).min(1),
  /** HJ 212-2025: encrypt the station's data CP with SM4; the key is in this environment variable. Default: clear text. */
  sm4: sm4ConfigSchema.optional(),
});

export const uplinkConfigSchema = z
  .strictObject({
    /** Names the MQTT client (cleanstream-uplink-<id>) and the default outbox folder. */
    id: idSchema,
    mqtt: mqttConnectionSchema,
    /** MQTT 5 only: how long the broker keeps this client's session (and queues its readings) after a disconnect. */
    sessionExpirySeconds: sessionExpirySecondsSchema,
    platform: z.strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      version: z.enum(['2017', '2025']).default('2017'),
      crc: z.enum(['hj212', 'modbus']).default('hj212'),
      /** HJ 212-2025: send each station's heartbeat (9015, answer requested) this often while connected; leave out to send none. */
      heartbeatIntervalMs: durationMs.optional(),
    }),
    /** OverTime: how long to wait for the 9014 of a packet before resending it (the platform may change it with CN 1000). */
    overTimeMs: durationMs.default(10_000),
    /** ReCount: resends after the first attempt; then the connection is dropped and re-opened, the packet kept. */
    reCount: z.number().int().min(0).max(100).default(3),
    /** Send real-time data (2011, latest values) this often; leave out to send none. */
    realtimeIntervalMs: durationMs.optional(),
    /** Which interval data to send. */
    send: z
      .strictObject({ minute: z.boolean().default(true), hourly: z.boolean().default(true), daily: z.boolean().default(true) })
      .prefault({}),
    /** Readings up to this much older than the newest of their plant still count; an interval closes this long after it ends (event time). */
    latenessMs: z.number().int().min(0).default(120_000),
    /**
     * Send intervals (and codes) without any reading, with empty values and data flag B (communication failure), so
     * that the platform sees no silent gap. Only between intervals with readings: event time stands still while a
     * plant sends nothing.
     */
    sendEmptyIntervals: z.boolean().default(true),
    /** Save each station's open intervals this often (and at stop), so that a restart loses none of their readings. */
    checkpointIntervalMs: durationMs.default(5000),
    /**
     * Messages are acknowledged to the broker only once a checkpoint holds what they added (a crash then loses
     * none: the broker delivers them again). A checkpoint is taken early when this many wait.
     */
    maxUnackedMessages: z.number().int().positive().max(20_000).default(1000),
    reconnect: z.strictObject({ initialMs: durationMs.default(1000), maxMs: durationMs.default(30_000) }).prefault({}),
    outbox: z
      .strictObject({
        /** Default var/uplink/<id>. One durable queue per station in a sub-folder named after its MN. */
        dir: configPathSchema.optional(),
        maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
      })
      .prefault({}),
    utcOffsetMinutes: z.number().int().min(-720).max(840).default(480),
    stations: z.array(stationSchema).min(1),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.stations.forEach((s, i) => {
      if (seen.has(s.mn)) ctx.addIssue({ code: 'custom', path: ['stations', i, 'mn'], message: `expected a unique MN, ${s.mn} is used twice` });
      seen.add(s.mn);
    });
  })
  .transform((config) => ({ ...config, outbox: { ...config.outbox, dir: config.outbox.dir ?? path.join('var', 'uplink', config.id) } }));

export type UplinkConfig = z.output<typeof uplinkConfigSchema>;
export type UplinkStationConfig = UplinkConfig['stations'][number];

export function loadUplinkConfig(file: string, env: NodeJS.ProcessEnv = process.env): UplinkConfig {
  return loadConfigFile(file, uplinkConfigSchema, env);
}

export function parseUplinkConfig(source: string, raw: unknown, env: NodeJS.ProcessEnv = process.env): UplinkConfig {
  return parseConfig(source, raw, uplinkConfigSchema, env);
}
