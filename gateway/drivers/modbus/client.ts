/**
 * The few Modbus client operations the driver needs, behind an interface so that the driver's scheduling and
 * failure handling can be specified with a fake, and modbus-serial stays in this one file. One connector serves
 * the three links: Modbus TCP (MBAP header), RTU on a serial line (address + PDU + CRC-16, Modbus over Serial Line
 * V1.02 §2.5.1), and the same RTU frames over a TCP socket.
 */
import ModbusModule from 'modbus-serial';
import { toError } from '../../../core/errors.ts';
import type { SerialLineConfig } from './config.ts';
import type { RegisterArea } from './registers.ts';

/** Where a Modbus input's requests go. */
export type ModbusLink = { transport: 'tcp' | 'rtu-over-tcp'; host: string; port: number } | { transport: 'rtu'; serial: SerialLineConfig };

/** The link for logs and error context: host:port, host:port (RTU) or the serial device with its format, e.g. /dev/ttyUSB0@9600/8E1. */
export function linkLabel(link: ModbusLink): string {
  if (link.transport === 'rtu') {
    const { path, baudRate, dataBits, parity, stopBits } = link.serial;
    return `${path}@${baudRate}/${dataBits}${parity[0]!.toUpperCase()}${stopBits}`;
  }
  return link.transport === 'tcp' ? `${link.host}:${link.port}` : `${link.host}:${link.port} (RTU)`;
}

export interface ModbusConnection {
  /** False once the socket has closed or failed. */
  readonly isOpen: boolean;
  /** Read `count` registers (16-bit values) or bits (0/1); rejects with an Error (see failureCode). */
  read(unitId: number, area: RegisterArea, address: number, count: number): Promise<number[]>;
  /** Called once when the connection closes for any reason other than close(). */
  onClose(listener: () => void): void;
  close(): Promise<void>;
}

export type ModbusConnector = (link: ModbusLink, timeoutMs: number) => Promise<ModbusConnection>;

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

/** Open the link; modbus-serial reports a refused or absent port (ENOENT, EACCES, ECONNREFUSED) as a rejection. */
function open(client: InstanceType<typeof ModbusRTU>, link: ModbusLink, timeoutMs: number): Promise<void> {
  switch (link.transport) {
    case 'tcp':
      // `timeout` bounds the TCP connect; modbus-serial reports it as an error on the open callback.
      return client.connectTCP(link.host, { port: link.port, timeout: timeoutMs });
    case 'rtu-over-tcp':
      // modbus-serial's "Telnet" port is the one that writes raw RTU frames (with CRC) to a TCP socket; its
      // "TcpRTUBuffered" port, despite the name, frames requests with an MBAP header like Modbus TCP.
      return client.connectTelnet(link.host, { port: link.port, timeout: timeoutMs });
    case 'rtu': {
      const { path, baudRate, parity, dataBits, stopBits } = link.serial;
      // The buffered variant reassembles a response that arrives in several reads (usual with USB adapters).
      return client.connectRTUBuffered(path, { baudRate, parity, dataBits, stopBits });
    }
  }
}

export const connectModbus: ModbusConnector = async (link, timeoutMs) => {
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
    await open(client, link, timeoutMs);
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
