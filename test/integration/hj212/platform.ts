/**
 * A regulator's platform for tests: a TCP server that receives HJ 212 uploads and answers them with 9014, except
 * when a script says to ignore a packet (forcing an OverTime resend) or to drop the connection instead of answering.
 * It records every packet it received, resends included, in arrival order, and checks each frame's length and CRC with
 * test/harness/hj212-frames.ts (written from the standard, not from our codec): a mismatch lands in `errors`.
 * HJ 212-2025: heartbeats (9015) are kept apart in `heartbeats` and answered with 9013 when asked; with an SM4 key the
 * data CPs are decrypted with it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { buildDataAnswer, parsePacket, type Hj212Packet } from '../../../protocols/hj212/index.ts';
import { buildNoticeAnswer, HEARTBEAT_CN } from '../../../protocols/hj212/replies.ts';
import type { Hj212Sm4 } from '../../../protocols/hj212/sm4.ts';
import { Hj212StreamDecoder } from '../../../protocols/hj212/stream.ts';
import { frameProblem } from '../../harness/hj212-frames.ts';

export type PlatformAction = 'answer' | 'ignore' | 'drop';

export interface TestPlatform {
  readonly port: number;
  /** Every data packet received, in arrival order (resends included). */
  readonly received: Hj212Packet[];
  /** HJ 212-2025 heartbeats (9015) received, in arrival order; not in `received` and not given to the script. */
  readonly heartbeats: Hj212Packet[];
  readonly connections: number;
  /** Frames that failed to parse (should stay empty). */
  readonly errors: string[];
  stop(): Promise<void>;
}

/** `script(n)` decides what to do with the n-th data packet received (1-based, resends counted). */
export async function startTestPlatform(port: number, script: (n: number, packet: Hj212Packet) => PlatformAction = () => 'answer', options: { sm4?: Hj212Sm4 } = {}): Promise<TestPlatform> {
  const received: Hj212Packet[] = [];
  const heartbeats: Hj212Packet[] = [];
  const errors: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new Hj212StreamDecoder();
    socket.on('data', (chunk) => {
      for (const item of decoder.push(chunk)) {
        if (item.kind !== 'frame') {
          errors.push(item.error.message);
          continue;
        }
        // judged first by a checker written from the standard alone, so frames our codec builds are not only checked
        // by the same codec
        const problem = frameProblem(item.frame);
        if (problem) errors.push(`frame refused by the independent check: ${problem}`);
        let packet: Hj212Packet;
        try {
          packet = parsePacket(item.frame, options.sm4 ? { sm4: options.sm4 } : {});
        } catch (err) {
          errors.push((err as Error).message);
          continue;
        }
        if (socket.destroyed) return;
        if (packet.cn === HEARTBEAT_CN) {
          heartbeats.push(packet);
          if (packet.flag?.replyRequested) socket.write(buildNoticeAnswer(packet, { version: packet.flag.version ?? '2017' }));
          continue;
        }
        received.push(packet);
        const action = script(received.length, packet);
        if (action === 'drop') {
          socket.destroy();
          return;
        }
        if (action === 'answer' && packet.flag?.replyRequested) socket.write(buildDataAnswer(packet));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    received,
    heartbeats,
    errors,
    get connections() {
      return connections;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
