import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { watchClientIdClash } from './client-id-clash.ts';

function fakeClient(): { client: MqttClient; emit: (event: string, arg?: unknown) => void; outgoing: Record<number, unknown> } {
  const emitter = new EventEmitter();
  const outgoing: Record<number, unknown> = {};
  Object.assign(emitter, { outgoing });
  return { client: emitter as unknown as MqttClient, emit: (event, arg) => void emitter.emit(event, arg), outgoing };
}

describe('client id clash', () => {
  it('reports an MQTT 5 "session taken over" at once', () => {
    const { client, emit } = fakeClient();
    const reports: string[] = [];
    watchClientIdClash(client, 'gw-1', (m) => reports.push(m));
    emit('connect');
    emit('disconnect', { reasonCode: 0x8e });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain('gw-1');
  });

  it('reports repeated closes right after connecting once per window, and not slow ordinary drops', () => {
    let t = 0;
    const { client, emit } = fakeClient();
    const reports: string[] = [];
    watchClientIdClash(client, 'ingest', (m) => reports.push(m), { now: () => t, quickCloseMs: 5_000, closes: 3, windowMs: 60_000 });
    const session = (lifetimeMs: number) => {
      emit('connect');
      t += lifetimeMs;
      emit('close');
      t += 1_000;
    };
    for (let i = 0; i < 5; i++) session(30_000);
    expect(reports).toHaveLength(0);
    for (let i = 0; i < 10; i++) session(500);
    expect(reports).toHaveLength(1);
    t += 120_000;
    for (let i = 0; i < 3; i++) session(500);
    expect(reports).toHaveLength(2);
    // a close with no connection before it (a failed attempt) is not a dropped session
    emit('close');
    expect(reports).toHaveLength(2);
  });

  it('does not take a broker closing the connection on a refused PUBLISH for a clash', () => {
    let t = 0;
    const { client, emit, outgoing } = fakeClient();
    const reports: string[] = [];
    watchClientIdClash(client, 'gw-1', (m) => reports.push(m), { now: () => t });
    for (let i = 0; i < 10; i++) {
      emit('connect');
      t += 200;
      emit('packetsend', { cmd: 'publish', qos: 1 });
      outgoing[1] = {};
      t += 5;
      emit('close');
      delete outgoing[1];
      t += 1_000;
    }
    expect(reports).toHaveLength(0);
  });
});
