/**
 * Small real servers for the gateway's integration tests: an OPC UA server with a few Double variables updated by
 * a timer (remembering every value it served), and a Modbus TCP server holding fixed registers. Deliberately not
 * the simulators: these tests pin the drivers' behaviour against values the test itself chose.
 */
import { readFileSync } from 'node:fs';
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
  /** The server's application instance certificate (DER). */
  certificate: Buffer;
  /** Add a client's application certificate (PEM file) to the server's trust list. */
  trustClientCertificate(pemFile: string): Promise<void>;
  stop(): Promise<void>;
}

/** The DER bytes of a single-certificate PEM file. */
export function pemToDer(pem: string): Buffer {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw new Error('no certificate in PEM text');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

/** Variables `ns=1;s=<name>` whose value at tick t is valueAt(name, t); the SourceTimestamp is the tick. */
export async function startTestOpcuaServer(opts: {
  port: number;
  pkiDir: string;
  names: string[];
  intervalMs: number;
  valueAt: (name: string, tick: number) => number;
  /** Only Basic256Sha256 SignAndEncrypt, only this user, and only client certificates it was told to trust. */
  secure?: { username: string; password: string };
  /** Names created as AnalogItems with EURange 0..100 (for percent deadbands). */
  analog?: string[];
}): Promise<TestOpcuaServer> {
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(opts.pkiDir, 'server'), automaticallyAcceptUnknownCertificate: !opts.secure, disableFileWatchers: true });
  const secure = opts.secure;
  const server = new OPCUAServer({
    port: opts.port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    serverCertificateManager,
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(opts.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    securityModes: secure ? [MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.None],
    securityPolicies: secure ? [SecurityPolicy.Basic256Sha256] : [SecurityPolicy.None],
    allowAnonymous: !secure,
    ...(secure ? { userManager: { isValidUser: (user: string, password: string) => user === secure.username && password === secure.password } } : {}),
    disableDiscovery: true,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const namespace = addressSpace.getOwnNamespace();
  const history = new Map<string, Map<number, number>>();
  const analog = new Set(opts.analog ?? []);
  const variables: { name: string; nodeId: string; variable: UAVariable }[] = opts.names.map((name) => {
    const common = { organizedBy: addressSpace.rootFolder.objects, browseName: name, nodeId: `s=${name}`, minimumSamplingInterval: 0 };
    const variable = analog.has(name)
      ? namespace.addAnalogDataItem({ ...common, dataType: 'Double', engineeringUnitsRange: { low: 0, high: 100 } })
      : namespace.addVariable({ ...common, dataType: 'Double' });
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
    certificate: server.getCertificate(),
    async trustClientCertificate(pemFile: string) {
      await serverCertificateManager.trustCertificate(pemToDer(readFileSync(pemFile, 'utf8')));
    },
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
  // Stopping twice (a test body, then its finally block) must not wait for a second 'close' that never comes.
  let stopped: Promise<void> | undefined;
  return {
    stop: () => (stopped ??= new Promise<void>((resolve) => server.close(() => resolve()))),
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
