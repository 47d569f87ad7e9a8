/**
 * Config of an HJ 212 receiver input: a TCP server that data loggers (数采仪) connect to, and the devices it accepts.
 * Each device is known by its MN, must present its PW, belongs to one plant, and maps its pollutant codes to that
 * plant's meters. The limits bound what one remote peer can make the gateway hold in memory.
 */
import { z } from 'zod';
import { durationMs, idSchema } from '../../../core/config.ts';
import { FRAME_OVERHEAD_BYTES, MAX_DATA_SEGMENT_BYTES } from '../../../protocols/hj212/codec.ts';
import { canonicalCode, codeDef } from '../../../protocols/hj212/codes.ts';
import { sm4ConfigSchema } from '../../../protocols/hj212/sm4-config.ts';

/** The same character sets the codec accepts for MN and PW (codec.ts): the standard's 24 and 6 characters, up to 32 in the field. */
const mnSchema = z.string().regex(/^[0-9A-Za-z_-]{1,32}$/, { message: 'expected an MN of 1 to 32 letters, digits, - or _' });
const pwSchema = z.string().regex(/^[^;,&\r\n]{1,32}$/, { message: 'expected a PW of 1 to 32 characters without ; , & or line breaks' });
const versionSchema = z.enum(['2005', '2017', '2025']);
const pollutantCodeSchema = z.string().regex(/^[A-Za-z0-9]{1,16}$/, { message: 'expected a pollutant code such as w01018' });

export const hj212DeviceSchema = z
  .strictObject({
    mn: mnSchema,
    pw: pwSchema,
    plant: idSchema,
    /** Which CRC16 the device sends: the standard's (appendix A) or the Modbus variant some loggers compute. */
    crc: z.enum(['hj212', 'modbus']).default('hj212'),
    /** Pollutant code (2017 or 2005 spelling) -> meter id of the plant; unmapped codes are skipped and reported. */
    meters: z.record(pollutantCodeSchema, idSchema),
    /** Use the values converted to reference O2 (ZsRtd/ZsAvg) where the device sends them. */
    converted: z.boolean().default(false),
    /** The HJ 212 version this device is expected to send (default: the input's `version`); another one is accepted and warned about. */
    version: versionSchema.optional(),
    /** HJ 212-2025: the device encrypts the CP of its data (2xxx, 1014, 3020) with SM4; its key is in this environment variable. Default: clear text. */
    sm4: sm4ConfigSchema.optional(),
    /** HJ 212-2025: answer a heartbeat (9015) that asks for an answer with a notice answer (9013). */
    answerHeartbeats: z.boolean().default(true),
  })
  .superRefine((device, ctx) => {
    for (const code of Object.keys(device.meters)) {
      if (!codeDef(code)?.quantity) {
        ctx.addIssue({ code: 'custom', path: ['meters', code], message: `expected a pollutant code with a catalog quantity (${canonicalCode(code)} has none); see protocols/hj212/codes.ts` });
      }
    }
  });

export const hj212InputSchema = z
  .strictObject({
    type: z.literal('hj212'),
    /** A name for logs; defaults to hj212:<host>:<port>. */
    name: z.string().min(1).optional(),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535),
    /**
     * The HJ 212 version the devices are expected to send. Each packet is read and answered in the version its own Flag
     * declares; one from another version is accepted, counted, and warned about (once an hour per device and version).
     */
    version: versionSchema.default('2017'),
    /** Largest frame (`##` to CR LF) accepted; longer ones are discarded by the stream decoder. 2017 allows 12 + 9999. */
    maxPacketBytes: z
      .number()
      .int()
      .min(FRAME_OVERHEAD_BYTES + 16)
      .max(FRAME_OVERHEAD_BYTES + MAX_DATA_SEGMENT_BYTES)
      .default(FRAME_OVERHEAD_BYTES + MAX_DATA_SEGMENT_BYTES),
    /** A connection with no bytes received for this long is closed (loggers send at least minute data). */
    idleTimeoutMs: durationMs.default(300_000),
    /** Connections beyond this are closed on accept. */
    maxConnections: z.number().int().positive().default(5000),
    /** CP characters of incomplete split messages (PNUM/PNO) held per connection. */
    maxSplitBytesPerConnection: z.number().int().positive().default(100_000),
    /** Parts of a split message older than this are dropped. */
    splitTimeoutMs: durationMs.default(60_000),
    /** Answer bytes queued to a connection that does not read them; beyond it the connection is closed. */
    maxReplyBacklogBytes: z.number().int().positive().default(64 * 1024),
    /** Zone offset of the loggers' clocks for DataTime (480 = China Standard Time). */
    utcOffsetMinutes: z.number().int().min(-720).max(840).default(480),
    devices: z.array(hj212DeviceSchema).min(1),
  })
  .superRefine((input, ctx) => {
    const seen = new Map<string, number>();
    input.devices.forEach((device, i) => {
      const first = seen.get(device.mn);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['devices', i, 'mn'], message: `expected a unique MN, ${device.mn} is also devices[${first}]` });
      else seen.set(device.mn, i);
    });
  });

export type Hj212InputConfig = z.output<typeof hj212InputSchema>;
export type Hj212DeviceConfig = z.output<typeof hj212DeviceSchema>;
