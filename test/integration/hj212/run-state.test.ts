/**
 * The receiver and a data logger's status uploads (HJ 212-2017 CN 2021 equipment run state, 2081 logger boot time):
 * they carry no pollutant values, so they give no readings, but a logger that asked for an answer (Flag=5) must get
 * its 9014, or it would resend them per OverTime/ReCount and hold back its data behind them.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { hj212InputSchema } from '../../../gateway/drivers/hj212/config.ts';
import { Hj212Receiver } from '../../../gateway/drivers/hj212/receiver.ts';
import { parsePacket, type Hj212Packet } from '../../../protocols/hj212/codec.ts';
import { frameOf } from '../../../protocols/hj212/samples.ts';
import { Hj212StreamDecoder } from '../../../protocols/hj212/stream.ts';
import { freePort } from '../../harness/ports.ts';

const MN = 'PAPER01WATER000000000001';
const header = (qn: string, cn: string, flag: number): string => `QN=${qn};ST=32;CN=${cn};PW=123456;MN=${MN};Flag=${flag};`;

describe('HJ 212 receiver: run state (2021) and boot time (2081)', () => {
  it('answers them with 9014 when asked, gives no readings, and stays silent when no answer is asked', async () => {
    const port = await freePort();
    const receiver = new Hj212Receiver(hj212InputSchema.parse({ type: 'hj212', host: '127.0.0.1', port, devices: [{ mn: MN, pw: '123456', plant: 'paper-01', meters: { w01018: 'outfall-1-cod' } }] }));
    let scans = 0;
    receiver.on('scan', () => scans++);
    receiver.on('error', () => undefined);
    await receiver.start();
    const socket = connect({ host: '127.0.0.1', port });
    const answers: Hj212Packet[] = [];
    const decoder = new Hj212StreamDecoder();
    socket.on('data', (chunk) => {
      for (const item of decoder.push(chunk)) if (item.kind === 'frame') answers.push(parsePacket(item.frame));
    });
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write(frameOf(`${header('20240501080000001', '2021', 4)}CP=&&DataTime=20240501080000;SB1-RS=1&&`));
      socket.write(frameOf(`${header('20240501080000002', '2021', 5)}CP=&&DataTime=20240501080000;SB1-RS=1;SB2-RS=2&&`));
      socket.write(frameOf(`${header('20240501080000003', '2081', 5)}CP=&&DataTime=20240501080000;RestartTime=20240501075900&&`));
      const deadline = Date.now() + 5000;
      while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100)); // room for an answer that should not come
      expect(answers.map((a) => [a.cn, a.st, a.data.fields.get('QN')])).toEqual([
        ['9014', '91', '20240501080000002'],
        ['9014', '91', '20240501080000003'],
      ]);
      expect(scans).toBe(0);
      expect(receiver.stats()).toMatchObject({ packets: 3, readings: 0, refused: {} });
    } finally {
      socket.destroy();
      await receiver.stop();
    }
  });
});
