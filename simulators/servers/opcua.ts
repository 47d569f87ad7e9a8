/**
 * The simulated plants as an OPC UA server (node-opcua): Objects/<plant>/<meter>/<quantity>, one AnalogItem of
 * DataType Double per point, NodeIds from layout.ts. Every update interval the server takes the tick time
 * (now rounded down to the interval) and writes each point's model value with that tick as SourceTimestamp
 * (OPC UA Part 4 section 7.11: the source's own time), so what a client reads or is notified of is reproducible.
 *
 * Scripted faults (faults.ts) show as an aggregating server would show them (Part 4 section 7.34, Part 8 annex A):
 * dropout BadSensorFailure, comm_loss BadNoCommunication, NaN a Double NaN with status Bad, clock_skew a shifted
 * SourceTimestamp; value faults (stuck, drift, spike, tampering, …) are Good values that happen to be wrong.
 */
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Subscription,
  makeEUInformation,
  type EUInformation,
  type UAVariable,
} from 'node-opcua';
import { quantityDef } from '../../core/catalog.ts';
import { CleanstreamError } from '../../core/errors.ts';
import type { PlantRegistry } from '../../core/plants.ts';
import { checkInterval, DEFAULT_UPDATE_INTERVAL_MS, tickTime } from '../clock.ts';
import { OPCUA_NAMESPACE_INDEX, opcuaNodeId } from '../layout.ts';
import { createFaultPlan, type Fault, type FaultedSample, type PointSampler } from '../faults.ts';
import { createRegistryModels } from '../model.ts';

export interface OpcuaSimulatorOptions {
  registry: PlantRegistry;
  seed: number;
  port: number;
  /** Address to listen on and to advertise in the endpoint URL. Default 127.0.0.1. */
  host?: string;
  /** Folder for the server's own certificate and trust lists; never the user's ~/.config. */
  pkiDir: string;
  updateIntervalMs?: number;
  clock?: () => number;
  /** Scripted faults (absolute windows, e.g. a scenario's `faults`), applied to what the server publishes. */
  faults?: readonly Fault[];
}

export interface OpcuaSimulator {
  endpoint: string;
  stop(): Promise<void>;
}

/** UN/CEFACT Recommendation 20 common codes for the catalog's canonical units (EUInformation.unitId, Part 8 5.6.3). */
const UNECE_CODES: Record<string, { code: string; long: string }> = {
  'm3/h': { code: 'MQH', long: 'cubic metre per hour' },
  m3: { code: 'MTQ', long: 'cubic metre' },
  'mg/L': { code: 'M1', long: 'milligram per litre' },
  pH: { code: 'C62', long: 'pH (dimensionless)' },
  kW: { code: 'KWT', long: 'kilowatt' },
  kWh: { code: 'KWH', long: 'kilowatt hour' },
  't/h': { code: 'E18', long: 'tonne per hour' },
  '%': { code: 'P1', long: 'percent' },
  'mg/m3': { code: 'GP', long: 'milligram per cubic metre' },
};

function engineeringUnits(unit: string): EUInformation {
  const known = UNECE_CODES[unit];
  return makeEUInformation(known?.code ?? 'C62', unit, known?.long ?? unit);
}

interface ServedPoint {
  variable: UAVariable;
  sampler: PointSampler;
}

/**
 * node-opcua caps every Publish response at Subscription.maxNotificationPerPublishHighLimit notifications (1,000 by
 * default), so a subscription to 12,500 points ticking once a second would only ever deliver about 10,000 of them
 * a second (one response per outstanding Publish request) and drop the rest from its queue of one. A simulator
 * serving a fleet must not be the bottleneck: raise the cap (process-wide; it is a static of the library).
 */
const MAX_NOTIFICATIONS_PER_PUBLISH = 20_000;

function statusOf(sample: FaultedSample): (typeof StatusCodes)['Good'] {
  if (sample.missing === 'comm_loss') return StatusCodes.BadNoCommunication;
  if (sample.missing === 'dropout') return StatusCodes.BadSensorFailure;
  return sample.quality === 'bad' || Number.isNaN(sample.value) ? StatusCodes.Bad : sample.quality === 'uncertain' ? StatusCodes.Uncertain : StatusCodes.Good;
}

export async function startOpcuaSimulator(opts: OpcuaSimulatorOptions): Promise<OpcuaSimulator> {
  const host = opts.host ?? '127.0.0.1';
  const interval = checkInterval(opts.updateIntervalMs ?? DEFAULT_UPDATE_INTERVAL_MS);
  const clock = opts.clock ?? Date.now;
  const plan = createFaultPlan(createRegistryModels(opts.registry, opts.seed), opts.faults);

  Subscription.maxNotificationPerPublishHighLimit = Math.max(Subscription.maxNotificationPerPublishHighLimit, MAX_NOTIFICATIONS_PER_PUBLISH);
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: join(opts.pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true });
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: join(opts.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true });
  const server = new OPCUAServer({
    port: opts.port,
    host,
    // a wildcard listen address cannot be dialled: advertise the machine's name then (node-opcua's default)
    ...(host === '0.0.0.0' || host === '::' ? {} : { hostname: host }),
    serverCertificateManager,
    userCertificateManager,
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    allowAnonymous: true,
    disableDiscovery: true,
    buildInfo: { productName: 'cleanstream plant simulator', manufacturerName: 'cleanstream' },
  });

  try {
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('node-opcua built no address space');
    const namespace = addressSpace.getOwnNamespace();
    if (namespace.index !== OPCUA_NAMESPACE_INDEX) {
      throw new Error(`the server's own namespace has index ${namespace.index}, the layout assumes ${OPCUA_NAMESPACE_INDEX}`);
    }

    const served: ServedPoint[] = [];
    const objects = addressSpace.rootFolder.objects;
    for (const plant of opts.registry.plants) {
      const plantFolder = namespace.addFolder(objects, { browseName: plant.id, nodeId: `s=${plant.id}`, displayName: `${plant.name.en} ${plant.name.zh}` });
      for (const meter of plant.meters) {
        const meterFolder = namespace.addFolder(plantFolder, { browseName: meter.id, nodeId: `s=${plant.id}.${meter.id}` });
        for (const quantity of meter.quantities) {
          const def = quantityDef(quantity);
          const variable = namespace.addAnalogDataItem({
            componentOf: meterFolder,
            browseName: quantity,
            nodeId: opcuaNodeId(plant.id, meter.id, quantity).replace(`ns=${OPCUA_NAMESPACE_INDEX};`, ''),
            description: `${def.label.en} / ${def.label.zh} (${def.unit})`,
            dataType: 'Double',
            engineeringUnitsRange: { low: def.range[0], high: def.range[1] },
            engineeringUnits: engineeringUnits(def.unit),
            // 0: exception-based; every update is pushed to subscribers whatever sampling interval they ask for
            minimumSamplingInterval: 0,
          });
          served.push({ variable, sampler: plan.sampler(plant.id, meter.id, quantity) });
        }
      }
    }

    let lastTick = Number.NaN;
    const publish = (): void => {
      const tick = tickTime(clock(), interval);
      if (tick === lastTick) return;
      lastTick = tick;
      const sourceTimestamp = new Date(tick);
      for (const p of served) {
        const sample = p.sampler(tick);
        p.variable.setValueFromSource({ dataType: DataType.Double, value: sample.value }, statusOf(sample), sample.ts === tick ? sourceTimestamp : new Date(sample.ts));
      }
    };
    publish();
    await server.start();

    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const schedule = (): void => {
      const delay = interval - (clock() % interval);
      timer = setTimeout(() => {
        publish();
        if (!stopped) schedule();
      }, Math.max(1, delay));
    };
    schedule();

    return {
      endpoint: server.getEndpointUrl(),
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await server.shutdown(0);
        await serverCertificateManager.dispose();
      },
    };
  } catch (err) {
    await server.shutdown(0).catch(() => undefined);
    await serverCertificateManager.dispose();
    await userCertificateManager.dispose();
    throw new CleanstreamError('SIM_OPCUA_START', `OPC UA simulator could not start on ${host}:${opts.port}: ${(err as Error).message}`, { host, port: opts.port }, { cause: err });
  }
}
