/**
 * The few Modbus TCP client operations the driver needs, behind an interface so that the driver's scheduling and
 * failure handling can be specified with a fake, and modbus-serial stays in this one file.
 */
import ModbusModule from 'modbus-serial';
import { toError } from '../../../core/errors.ts';
import type { RegisterArea } from './registers.ts';

export interface ModbusConnection {
  /** False once the socket has closed or failed. */
  readonly isOpen: boolean;
  /** Read `count` registers (16-bit values) or bits (0/1); rejects with an Error (see failureCode). */
  read(unitId: number, area: RegisterArea, address: number, count: number): Promise<number[]>;
  /** Called once when the connection closes for any reason other than close(). */
  onClose(listener: () => void): void;
  close(): Promise<void>;
}

export type ModbusConnector = (host: string, port: number, timeoutMs: number) => Promise<ModbusConnection>;

/** A short stable code for a failed request: EXCEPTION_<n> for a Modbus exception response, else the errno. */
export function failureCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const rec = err as { modbusCode?: unknown; errno?: unknown; code?: unknown };
    if (typeof rec.modbusCode === 'number') return `EXCEPTION_${rec.modbusCode}`;
    if (typeof rec.errno === 'string') return rec.errno;
    if (typeof rec.code === 'string') return rec.code;
  }
  return 'UNKNOWN';
}

/** modbus-serial rejects with plain objects (timeouts) or Errors carrying modbusCode; keep the code on an Error. */
function asError(err: unknown): Error & { code: string } {
  const error = toError(err) as Error & { code: string };
  error.code = failureCode(err);
  return error;
}

const ModbusRTU = ModbusModule.default;

/** Bit reads come back padded to whole bytes (§6.1): keep the bits asked for, as 0/1. */
function bits(result: { data: boolean[] }, count: number): number[] {
  return result.data.slice(0, count).map((bit) => (bit ? 1 : 0));
}

export const connectModbusTcp: ModbusConnector = async (host, port, timeoutMs) => {
  const client = new ModbusRTU();
  client.setTimeout(timeoutMs);
  // Without a listener a socket error would be thrown as an unhandled 'error' event.
  let closeListener: (() => void) | undefined;
  let closedByUs = false;
  let closeNotified = false;
  const notifyClose = (): void => {
    if (closedByUs || closeNotified) return;
    closeNotified = true;
    closeListener?.();
  };
  client.on('error', () => notifyClose());
  client.on('close', () => notifyClose());
  try {
    // `timeout` bounds the TCP connect; modbus-serial reports it as an error on the open callback.
    await client.connectTCP(host, { port, timeout: timeoutMs });
  } catch (err) {
    closedByUs = true;
    client.destroy(() => {});
    throw asError(err);
  }
  return {
    get isOpen() {
      return client.isOpen;
    },
    async read(unitId, area, address, count) {
      client.setID(unitId);
      try {
        switch (area) {
          case 'coil':
            return bits(await client.readCoils(address, count), count);
          case 'discrete':
            return bits(await client.readDiscreteInputs(address, count), count);
          case 'holding':
            return (await client.readHoldingRegisters(address, count)).data;
          case 'input':
            return (await client.readInputRegisters(address, count)).data;
        }
      } catch (err) {
        throw asError(err);
      }
    },
    onClose(listener) {
      closeListener = listener;
    },
    close() {
      closedByUs = true;
      return new Promise<void>((resolve) => {
        // A socket already gone never calls back; a peer that does not answer FIN should not hold up stop().
        const fallback = setTimeout(() => {
          client.destroy(() => {});
          resolve();
        }, client.isOpen ? 500 : 0);
        if (client.isOpen) {
          client.close(() => {
            clearTimeout(fallback);
            resolve();
          });
        }
      });
    },
  };
};
