/**
 * HJ 212 parse throughput: parses a mix of realistic data uploads (real-time, minute, hourly and daily data from outfall
 * loggers and stack CEMS, see protocols/hj212/samples.ts) until a packet count or a time limit, whichever comes
 * first, and prints packets/s and MB/s. Run: node bin/run-ts.js bench/hj212-parse.ts [--count N] [--seconds S]
 */
import { parseArgs } from 'node:util';
import { buildPacket, parsePacket, type ParseOptions } from '../protocols/hj212/codec.ts';
import { samplePacket, seededRandom } from '../protocols/hj212/samples.ts';
import { Hj212StreamDecoder } from '../protocols/hj212/stream.ts';
import { positive } from './peers/flags.ts';

const HELP = `usage: node bin/run-ts.js bench/hj212-parse.ts [options]

Parses a mix of realistic HJ 212-2017 data uploads and prints packets/s and MB/s.

options:
  --count N      stop after N packets (default 500000)
  --seconds S    stop after S seconds (default 20)
  --pool N       distinct packets in the mix (default 5000)
  --seed N       seed of the packet generator (default 1)
  --crc V        CRC variant the packets carry and are checked with: hj212 | modbus (default hj212)
  --stream       also cut the packets out of a byte stream in 1460-byte chunks (TCP segment size)
  --help         this text`;


const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    seconds: { type: 'string' },
    pool: { type: 'string' },
    seed: { type: 'string' },
    crc: { type: 'string' },
    stream: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const count = Math.floor(positive('count', values.count, 500_000));
const seconds = positive('seconds', values.seconds, 20);
const poolSize = Math.floor(positive('pool', values.pool, 5000));
const seed = Math.floor(positive('seed', values.seed, 1));
const crc = values.crc ?? 'hj212';
if (crc !== 'hj212' && crc !== 'modbus') {
  console.error(`--crc must be hj212 or modbus, got ${JSON.stringify(crc)}`);
  process.exit(2);
}
const options: ParseOptions = { crc };

const random = seededRandom(seed);
const pool = Array.from({ length: poolSize }, () => Buffer.from(buildPacket(samplePacket(random), { crc })));
const poolBytes = pool.reduce((sum, frame) => sum + frame.length, 0);
console.log(`hj212-parse: ${poolSize} distinct packets, mean ${(poolBytes / poolSize).toFixed(0)} bytes, crc ${crc}; limit ${count} packets or ${seconds} s`);

// Warm up the JIT so that the figure is the steady state, not the compile.
for (let i = 0; i < Math.min(20_000, count); i++) parsePacket(pool[i % poolSize] as Buffer, options);

const deadline = performance.now() + seconds * 1000;
const started = performance.now();
let packets = 0;
let bytes = 0;
let pollutants = 0;
let errors = 0;
if (values.stream) {
  const stream = Buffer.concat(pool);
  const decoder = new Hj212StreamDecoder();
  outer: while (true) {
    for (let pos = 0; pos < stream.length; pos += 1460) {
      for (const item of decoder.push(stream.subarray(pos, pos + 1460))) {
        if (item.kind !== 'frame') {
          errors++;
          continue;
        }
        pollutants += parsePacket(item.frame, options).data.pollutants.size;
        packets++;
        bytes += item.frame.length;
      }
      if (packets >= count || performance.now() > deadline) break outer;
    }
  }
} else {
  while (packets < count) {
    const frame = pool[packets % poolSize] as Buffer;
    try {
      pollutants += parsePacket(frame, options).data.pollutants.size;
    } catch {
      errors++;
    }
    packets++;
    bytes += frame.length;
    if ((packets & 1023) === 0 && performance.now() > deadline) break;
  }
}
const elapsedS = (performance.now() - started) / 1000;
console.log(`parsed ${packets} packets (${pollutants} pollutant groups, ${errors} errors) in ${elapsedS.toFixed(2)} s${values.stream ? ' through the stream decoder' : ''}`);
console.log(`${Math.round(packets / elapsedS)} packets/s, ${(bytes / elapsedS / 1e6).toFixed(1)} MB/s`);
if (errors > 0) process.exitCode = 1;
