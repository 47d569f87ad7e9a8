/**
 * The virtual clock: the MQTT feed a gateway would publish for a scenario, generated step by step without any network
 * and as fast as the CPU allows. Each step is one gateway scan of every plant; each plant's scan is one ReadingBatch
 * on `topics.readings(plant, sim-<protocol>)`, with what the gateway would have read:
 *
 * - Modbus plants: the value after the register encoding (layout.ts) and back, i.e. quantised and with counters
 *   rolling over at 2^32 like the register; the reading's ts is the scan time (Modbus carries no timestamp).
 * - OPC UA plants: the Double as served; ts is the source timestamp (shifted by clock_skew).
 * - NaN, dropout and comm_loss: value null, quality bad (as gateway/drivers report a failed read or Bad status).
 * - duplicate / out_of_order: a batch published twice, or held back and published after the next one.
 *
 * Same scenario, same messages, byte for byte.
 */
import { QUANTITIES, quantityDef } from '../core/catalog.ts';
import type { BatchReading, ReadingBatch } from '../core/reading.ts';
import { topics } from '../bus/topics.ts';
import { createFaultPlan, faultActive, type FaultedSample, type FeedFault } from './faults.ts';
import { decodeRegisters, encodeRegisters, QUANTITY_ENCODING, simulatedQuantity } from './layout.ts';
import { createRegistryModels } from './model.ts';
import { openLineWriter, type QoS } from './recording.ts';
import { scenarioSteps, type Protocol, type Scenario } from './scenario.ts';

export interface FeedMessage {
  /** Publish time (ms since the epoch). */
  t: number;
  topic: string;
  payload: ReadingBatch;
  qos: QoS;
  retain: boolean;
}

/** The gateway id the simulated feed publishes as, one per protocol. */
export function simGatewayId(protocol: Protocol): string {
  return `sim-${protocol}`;
}

/** Decimal places of a register scale (0.01 → 2), to print a quantised value without binary noise. */
function decimals(scale: number): number {
  return Math.max(0, Math.round(-Math.log10(scale)));
}

/** The value a gateway reads for a sample, or null when it reads none. */
export function readValue(protocol: Protocol, quantity: keyof typeof QUANTITIES, s: FaultedSample): number | null {
  if (s.missing || !Number.isFinite(s.value)) return null;
  if (protocol === 'opcua') return s.value;
  const encoding = QUANTITY_ENCODING[quantity];
  const value = decodeRegisters(encoding, encodeRegisters(encoding, s.value, quantityDef(quantity).kind === 'counter'));
  return encoding.type === 'float32' ? value : Number(value.toFixed(decimals(encoding.scale)));
}

interface PlantFeedState {
  /** Batches of the plant seen inside each feed fault's window so far, by fault. */
  countInWindow: Map<FeedFault, number>;
  held?: FeedMessage;
}

/** The scenario's feed, in publish order. */
export function* generateFeed(scenario: Scenario): Generator<FeedMessage> {
  const models = createRegistryModels(scenario.registry, scenario.seed);
  const plan = createFaultPlan(models, scenario.faults);
  const seqs = new Map<string, number>();
  const plants = scenario.registry.plants.map((plant) => {
    const protocol = scenario.protocols.get(plant.id) ?? 'opcua';
    const gateway = simGatewayId(protocol);
    const points = plant.meters.flatMap((m) => m.quantities.map((quantity) => ({ meter: m.id, quantity, unit: quantityDef(quantity).unit })));
    const state: PlantFeedState = { countInWindow: new Map() };
    return { plant, protocol, gateway, topic: topics.readings(plant.id, gateway), points, feedFaults: plan.feedFaults(plant.id), state };
  });

  const steps = scenarioSteps(scenario);
  for (let i = 0; i < steps; i++) {
    const t = scenario.startMs + i * scenario.stepMs;
    for (const p of plants) {
      const readings: BatchReading[] = p.points.map(({ meter, quantity, unit }) => {
        const s = plan.sample(p.plant.id, meter, quantity, t);
        const value = readValue(p.protocol, simulatedQuantity(quantity), s);
        return { meter, quantity, value, unit, ts: p.protocol === 'opcua' ? s.ts : t, quality: value === null ? 'bad' : s.quality };
      });
      const seq = seqs.get(p.gateway) ?? 0;
      seqs.set(p.gateway, seq + 1);
      const message: FeedMessage = { t, topic: p.topic, payload: { v: 1, gateway: p.gateway, plant: p.plant.id, seq, sentAt: t, readings }, qos: 1, retain: false };

      let duplicate = false;
      let holdBack = false;
      for (const f of p.feedFaults) {
        if (!faultActive(f, t)) continue;
        const n = p.state.countInWindow.get(f) ?? 0;
        p.state.countInWindow.set(f, n + 1);
        if (n % f.every !== 0) continue;
        if (f.kind === 'duplicate') duplicate = true;
        else holdBack = true;
      }

      const held = p.state.held;
      p.state.held = undefined;
      if (holdBack && !held) {
        p.state.held = message;
      } else {
        yield message;
        if (duplicate) yield message;
      }
      // the held batch goes out right after the one that overtook it, at that one's publish time
      if (held) yield { ...held, t };
    }
  }
  for (const p of plants) if (p.state.held) yield p.state.held;
}

export interface FeedFileSummary {
  messages: number;
  readings: number;
  /** Bytes written to the file (compressed bytes for .gz). */
  bytes: number;
}

/** Write a scenario's feed as a recording (NDJSON, gzip when the name ends in .gz), the same bytes for the same scenario. */
export async function writeFeedFile(scenario: Scenario, file: string, onMessage?: (count: number) => void): Promise<FeedFileSummary> {
  const writer = openLineWriter(file);
  let messages = 0;
  let readings = 0;
  try {
    for (const m of generateFeed(scenario)) {
      await writer.write(JSON.stringify(m));
      messages++;
      readings += m.payload.readings.length;
      if (onMessage && messages % 1000 === 0) onMessage(messages);
    }
  } catch (err) {
    await writer.close().catch(() => undefined);
    throw err;
  }
  const bytes = await writer.close();
  return { messages, readings, bytes };
}
