/**
 * The HJ 212 codec (HJ 212-2017 and the 2025 revision's version bits): framing, CRC, the CP data area, the standard's
 * codes and replies. Shared by the gateway's receiver driver, the uplink to regulators' platforms and the simulated
 * data logger, so all three speak exactly the same dialect.
 */
export * from './crc.ts';
export * from './errors.ts';
export * from './time.ts';
export * from './cp.ts';
export * from './codec.ts';
export * from './stream.ts';
export * from './split.ts';
export * from './replies.ts';
export * from './codes.ts';
export * from './readings.ts';
export * from './cumulative.ts';
