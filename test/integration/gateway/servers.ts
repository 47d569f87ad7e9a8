/**
 * Small real servers for the gateway's integration tests: an OPC UA server with a few Double variables updated by
 * a timer (remembering every value it served), and a Modbus TCP server holding fixed registers. Deliberately not
 * the simulators: these tests pin the drivers' behaviour against values the test itself chose.
 */
import path from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  type UAVariable,
} from 'node-opcua';
import ModbusModule from 'modbus-serial';

export interface TestOpcuaServer {
  endpoint: string;
  /** nodeId -> (sourceTimestamp ms -> value) of everything the server has served. */
  history: Map<string, Map<number, number>>;
  stop(): Promise<void>;
}

/** Variables `ns=1;s=<name>` whose value at tick t is valueAt(name, t); the SourceTimestamp is the tick. */
export async function startTestOpcuaServer(opts: {
  port: number;
  pkiDir: string;
  names: string[];
  intervalMs: number;
  valueAt: (name: string, tick: number) => number;
}): Promise<TestOpcuaServer> {
  const server = new OPCUAServer({
    port: opts.port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    serverCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(opts.pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(opts.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    allowAnonymous: true,
    disableDiscovery: true,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const namespace = addressSpace.getOwnNamespace();
  const history = new Map<string, Map<number, number>>();
  const variables: { name: string; nodeId: string; variable: UAVariable }[] = opts.names.map((name) => {
    const variable = namespace.addVariable({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: name,
      nodeId: `s=${name}`,
      dataType: 'Double',
      minimumSamplingInterval: 0,
    });
    const nodeId = `ns=${namespace.index};s=${name}`;
    history.set(nodeId, new Map());
    return { name, nodeId, variable };
  });
  const update = (): void => {
    const tick = Math.floor(Date.now() / opts.intervalMs) * opts.intervalMs;
    for (const v of variables) {
      const value = opts.valueAt(v.name, tick);
      history.get(v.nodeId)!.set(tick, value);
      v.variable.setValueFromSource({ dataType: DataType.Double, value }, StatusCodes.Good, new Date(tick));
    }
  };
  update();
  await server.start();
  const timer = setInterval(update, opts.intervalMs);
  return {
    endpoint: server.getEndpointUrl(),
    history,
    async stop() {
      clearInterval(timer);
      await server.shutdown(0);
    },
  };
}

export interface TestModbusServer {
  stop(): Promise<void>;
}

/** A Modbus TCP server answering from fixed register maps: unit id -> address -> 16-bit word. */
export async function startTestModbusServer(opts: {
  port: number;
  holding: Map<number, Map<number, number>>;
  input: Map<number, Map<number, number>>;
}): Promise<TestModbusServer> {
  const wordsOf = (area: Map<number, Map<number, number>>, unitId: number, address: number, count: number): number[] => {
    const unit = area.get(unitId);
    if (!unit) throw Object.assign(new Error(`no unit ${unitId}`), { modbusErrorCode: 0x0b });
    return Array.from({ length: count }, (_, i) => {
      const word = unit.get(address + i);
      if (word === undefined) throw Object.assign(new Error(`no register ${address + i}`), { modbusErrorCode: 0x02 });
      return word;
    });
  };
  const server = new ModbusModule.ServerTCP(
    {
      getMultipleHoldingRegisters: (address: number, count: number, unitId: number) => wordsOf(opts.holding, unitId, address, count),
      getMultipleInputRegisters: (address: number, count: number, unitId: number) => wordsOf(opts.input, unitId, address, count),
      // modbus-serial asks the single-register handlers for reads of one register
      getHoldingRegister: (address: number, unitId: number) => wordsOf(opts.holding, unitId, address, 1)[0]!,
      getInputRegister: (address: number, unitId: number) => wordsOf(opts.input, unitId, address, 1)[0]!,
    },
    { host: '127.0.0.1', port: opts.port, unitID: 255 },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (err: Error | null) => reject(err ?? new Error('modbus server error')));
  });
  server.on('socketError', () => {
    // a gateway disconnecting mid-request; not a test failure
  });
  return {
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** 16-bit words of a 32-bit value, high word first. */
export function words32(value: number, type: 'int32' | 'uint32' | 'float32'): [number, number] {
  const bytes = Buffer.alloc(4);
  if (type === 'float32') bytes.writeFloatBE(value);
  else if (type === 'int32') bytes.writeInt32BE(value);
  else bytes.writeUInt32BE(value);
  return [bytes.readUInt16BE(0), bytes.readUInt16BE(2)];
}
