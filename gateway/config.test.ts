import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { configErrorOf as configError, tempConfigFile as fileWith } from '../test/harness/config-files.ts';
import { loadGatewayConfig, parseGatewayConfig } from './config.ts';
import { driverRegistry } from './drivers/index.ts';

const header = `id: gw-1
mqtt: { url: mqtt://127.0.0.1:1883 }
`;

describe('gateway config', () => {
  it('loads every driver’s sample.yaml, so the samples users copy stay valid', () => {
    for (const type of Object.keys(driverRegistry)) {
      const config = loadGatewayConfig(`gateway/drivers/${type}/sample.yaml`);
      expect(config.inputs.length).toBeGreaterThan(0);
      expect(config.inputs.every((i) => i.type === type)).toBe(true);
    }
  });

  it('fills defaults: dataDir under var/gateway/<id>, QoS 1, MQTT 3.1.1, Modbus unit id, interval and word order', () => {
    const config = parseGatewayConfig('test', {
      id: 'gw-7',
      mqtt: { url: 'mqtt://127.0.0.1:1883' },
      inputs: [{ type: 'modbus', host: '127.0.0.1', registers: [{ plant: 'p1', meter: 'm1', quantity: 'ph', unit: 'pH', area: 'input', address: 3, type: 'float32' }] }],
    });
    expect(config.dataDir).toBe(path.join('var', 'gateway', 'gw-7'));
    expect(config.publish.qos).toBe(1);
    expect(config.mqtt.protocolVersion).toBe(4);
    const input = config.inputs[0]!;
    if (input.type !== 'modbus') throw new Error('expected a modbus input');
    expect([input.port, input.unitId, input.pollIntervalMs, input.maxRegistersPerRequest]).toEqual([502, 1, 1000, 100]);
    expect(input.registers[0]).toMatchObject({ wordOrder: 'big', scale: 1, offset: 0 });
  });

  it('names the file, the field path and the expected values of a bad register type', () => {
    const registers = ['int16', 'uint16', 'float32', 'double']
      .map((type, i) => `      - { plant: p1, meter: m1, quantity: cod, unit: mg/L, area: holding, address: ${i * 2}, type: ${type} }`)
      .join('\n');
    const file = fileWith('bad-type.yaml', `${header}inputs:\n  - type: modbus\n    host: 127.0.0.1\n    registers:\n${registers}\n`);
    const err = configError(() => loadGatewayConfig(file));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.issues).toEqual([{ path: 'inputs[0].registers[3].type', expected: 'expected one of "bool", "int16", "uint16", "int32", "uint32", "float32", "float64"' }]);
  });

  it('names the registered driver types when an input’s type is unknown', () => {
    const err = configError(() => parseGatewayConfig('generated', { id: 'gw-1', mqtt: { url: 'mqtt://x:1' }, inputs: [{ type: 'bacnet' }] }));
    expect(err.issues).toEqual([{ path: 'inputs[0].type', expected: `expected type to be one of ${Object.keys(driverRegistry).map((t) => JSON.stringify(t)).join(', ')}` }]);
  });

  it('rejects a unit that does not fit the quantity, listing the ones that do', () => {
    const file = fileWith('bad-unit.yaml', `${header}inputs:
  - type: opcua
    endpoint: opc.tcp://127.0.0.1:4840
    nodes:
      - { nodeId: "ns=1;s=a", plant: p1, meter: m1, quantity: cod, unit: m3/h }
`);
    const err = configError(() => loadGatewayConfig(file));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toBe('inputs[0].nodes[0].unit');
    expect(err.issues[0]!.expected).toContain('"mg/L"');
  });

  it('rejects malformed NodeIds, endpoints and ids before touching the network', () => {
    const err = configError(() =>
      parseGatewayConfig('generated', {
        id: 'GW 1',
        mqtt: { url: 'mqtt://127.0.0.1:1883' },
        inputs: [{ type: 'opcua', endpoint: 'http://x', nodes: [{ nodeId: 'ns=1;x=1', plant: 'p1', meter: 'm1', quantity: 'ph', unit: 'pH' }] }],
      }),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual(['id', 'inputs[0].endpoint', 'inputs[0].nodes[0].nodeId']);
  });

  it('rejects unknown fields, which are usually typos', () => {
    const err = configError(() =>
      parseGatewayConfig('generated', {
        id: 'gw-1',
        mqtt: { url: 'mqtt://127.0.0.1:1883' },
        inputs: [{ type: 'modbus', host: 'h', pollInterval: 500, registers: [{ plant: 'p1', meter: 'm1', quantity: 'ph', unit: 'pH', area: 'holding', address: 0, type: 'int16' }] }],
      }),
    );
    expect(err.issues).toEqual([{ path: 'inputs[0]', expected: 'unknown field(s) "pollInterval"' }]);
  });

  it('refuses a request size above the Modbus limit of 125 registers', () => {
    const err = configError(() =>
      parseGatewayConfig('generated', {
        id: 'gw-1',
        mqtt: { url: 'mqtt://127.0.0.1:1883' },
        inputs: [{ type: 'modbus', host: 'h', maxRegistersPerRequest: 200, registers: [{ plant: 'p1', meter: 'm1', quantity: 'ph', unit: 'pH', area: 'holding', address: 0, type: 'int16' }] }],
      }),
    );
    expect(err.issues.map((i) => i.path)).toEqual(['inputs[0].maxRegistersPerRequest']);
  });
});
