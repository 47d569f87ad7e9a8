import { describe, expect, it } from 'vitest';
import { loadPlantRegistry } from './plants.ts';
import path from 'node:path';
import { z } from 'zod';
import { configPathSchema, DEFAULT_SESSION_EXPIRY_SECONDS, durableSessionOptions, httpUrlSchema, loadConfigFile, mqttConnectionSchema, sessionExpirySecondsSchema } from './config.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { loadIngestConfig } from '../ingest/config.ts';
import { configErrorOf as errorOf, tempConfigFile } from '../test/harness/config-files.ts';

const fileWith = (text: string): string => tempConfigFile('plants.yaml', text);

describe('config files', () => {
  it('loads the demo plant registry', () => {
    const registry = loadPlantRegistry('deploy/demo/plants.yaml');
    expect(registry.plants.map((p) => p.industry)).toEqual(['pulp-paper', 'textile-dyeing', 'steel']);
    expect(registry.knows('paper-01', 'outfall-1-cod', 'cod')).toBe(true);
    expect(registry.knows('paper-01', 'outfall-1-cod', 'nh3n')).toBe(false);
  });

  it('fails naming the file, the field path and what was expected', () => {
    const file = fileWith(`plants:
  - id: p1
    name: { en: P, zh: 厂 }
    region: hebei
    industry: paper
    meters:
      - { id: m1, location: site, quantities: [cod, colour] }
`);
    const err = errorOf(() => loadPlantRegistry(file));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.issues).toContainEqual({ path: 'plants[0].industry', expected: expect.stringContaining('"pulp-paper"') });
    expect(err.issues).toContainEqual({ path: 'plants[0].meters[0].quantities[1]', expected: expect.stringContaining('expected a quantity id') });
  });

  it('checks references across fields: a meter must sit at a declared outfall or stack', () => {
    const file = fileWith(`plants:
  - id: p1
    name: { en: P, zh: 厂 }
    region: hebei
    industry: steel
    outfalls: [{ id: outfall-1 }]
    meters:
      - { id: m1, location: outfall-2, quantities: [cod] }
`);
    expect(errorOf(() => loadPlantRegistry(file)).issues).toEqual([
      { path: 'plants[0].meters[0].location', expected: 'one of site, outfall-1 (the plant\'s outfalls, stacks, or site)' },
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const err = errorOf(() => loadPlantRegistry(fileWith('plants: [\n  - id: p1\n')));
    expect(err.issues[0]?.path).toMatch(/^line \d+/);
  });

  it('takes secrets from the environment, and names a missing variable', () => {
    const file = fileWith('url: mqtt://127.0.0.1:1883\npassword: ${GW_PASSWORD}\n');
    expect(loadConfigFile(file, mqttConnectionSchema, { GW_PASSWORD: 's3cret' }).password).toBe('s3cret');
    expect(errorOf(() => loadConfigFile(file, mqttConnectionSchema, {})).issues).toEqual([
      { path: 'password', expected: 'environment variable GW_PASSWORD to be set' },
    ]);
  });

  it('names a missing file', () => {
    expect(errorOf(() => loadPlantRegistry('/nonexistent/plants.yaml')).message).toMatch(/\/nonexistent\/plants\.yaml[\s\S]*ENOENT/);
  });
});

describe('paths and URLs in config files', () => {
  it('resolves a relative path against the config file\'s folder, not the working directory, so a copied sample works anywhere', () => {
    const gatewayFile = tempConfigFile('gateway.yaml', `id: gw-1
mqtt: { url: mqtt://127.0.0.1:1883, caFile: certs/ca.pem }
dataDir: state
inputs:
  - { type: modbus, host: 127.0.0.1, port: 502, registers: [{ plant: p1, meter: m1, quantity: cod, unit: mg/L, area: holding, address: 0, type: uint16 }] }
`);
    const dir = path.dirname(gatewayFile);
    expect(dir).not.toBe(process.cwd());
    const gateway = loadGatewayConfig(gatewayFile);
    expect(gateway.dataDir).toBe(path.join(dir, 'state'));
    expect(gateway.queue.dir).toBe(path.join(dir, 'state', 'queue'));
    expect(gateway.mqtt.caFile).toBe(path.join(dir, 'certs', 'ca.pem'));

    const ingestFile = tempConfigFile('ingest.yaml', `mqtt: { url: mqtt://127.0.0.1:1883 }
influx: { url: http://127.0.0.1:8086, database: cs }
plants: ../plants.yaml
spool: { dir: spool }
`);
    const ingest = loadIngestConfig(ingestFile);
    expect(ingest.plants).toBe(path.resolve(path.dirname(ingestFile), '../plants.yaml'));
    expect(ingest.spool?.dir).toBe(path.join(path.dirname(ingestFile), 'spool'));
    // absolute paths stay as they are
    expect(loadConfigFile(fileWith('file: /etc/x.pem'), z.strictObject({ file: configPathSchema })).file).toBe('/etc/x.pem');
  });

  it('refuses a URL a typo made unusable, naming the field', () => {
    const file = tempConfigFile('ingest.yaml', `mqtt: { url: "mqtt://" }
influx: { url: "htp:/localhost:8086", database: cs }
`);
    const err = errorOf(() => loadIngestConfig(file));
    expect(err.issues).toContainEqual({ path: 'influx.url', expected: expect.stringContaining('http:// or https:// URL with a host') });
    expect(err.issues).toContainEqual({ path: 'mqtt.url', expected: expect.stringContaining('URL with a host') });
    expect(httpUrlSchema.safeParse('https://influx.example:8086/prefix').success).toBe(true);
    expect(httpUrlSchema.safeParse('http:/localhost:8086').success).toBe(false);
  });
});

describe('durable subscriber sessions', () => {
  const mqtt = (protocolVersion: 4 | 5) => mqttConnectionSchema.parse({ url: 'mqtt://127.0.0.1:1883', protocolVersion });

  it('keep the session on MQTT 3.1.1 with clean session off, and on MQTT 5 ask the broker to keep it past the disconnect', () => {
    expect(durableSessionOptions(mqtt(4), 3600)).toEqual({ clean: false });
    expect(durableSessionOptions(mqtt(5), 3600)).toEqual({ clean: false, properties: { sessionExpiryInterval: 3600 } });
  });

  it('default to a week and refuse an expiry MQTT 5 cannot carry (four bytes)', () => {
    expect(sessionExpirySecondsSchema.parse(undefined)).toBe(DEFAULT_SESSION_EXPIRY_SECONDS);
    expect(DEFAULT_SESSION_EXPIRY_SECONDS).toBe(604_800);
    expect(sessionExpirySecondsSchema.safeParse(2 ** 32).success).toBe(false);
  });
});
