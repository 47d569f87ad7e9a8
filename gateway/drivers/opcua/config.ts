/**
 * Config of an OPC UA input: one server endpoint, one subscription, one monitored item per configured node.
 *
 * Security: only MessageSecurityMode None / SecurityPolicy None for now. The fields exist so that configs written
 * today keep their shape when Sign/SignAndEncrypt and user identities arrive.
 */
import { z } from 'zod';
import { coerceNodeId } from 'node-opcua';
import { durationMs } from '../../../core/config.ts';
import { checkTargetUnit, readingTargetFields } from '../../reading-target.ts';

function isNodeId(value: string): boolean {
  try {
    coerceNodeId(value);
    return true;
  } catch {
    return false;
  }
}

export const opcuaNodeSchema = z
  .strictObject({
    /** OPC UA NodeId in its string form (Part 6 §5.3.1.10), e.g. `ns=1;s=paper-01.outfall-1.cod`. */
    nodeId: z.string().refine(isNodeId, { message: 'expected an OPC UA NodeId such as ns=1;s=Plant.Meter.Value or ns=2;i=1001' }),
    ...readingTargetFields,
    /** Requested sampling interval; omitted means the subscription's publishing interval (Part 4 §7.16: -1). */
    samplingIntervalMs: z.number().int().min(0).optional(),
    /** How many samples the server keeps between publishes; raise it when sampling faster than publishing. */
    queueSize: z.number().int().min(1).max(10_000).optional(),
  })
  .superRefine(checkTargetUnit);

export const opcuaInputSchema = z.strictObject({
  type: z.literal('opcua'),
  /** A name for logs; defaults to opcua:<endpoint>. */
  name: z.string().min(1).optional(),
  endpoint: z.string().regex(/^opc\.tcp:\/\/[^/\s]+/, { message: 'expected an opc.tcp://host:port endpoint URL' }),
  securityMode: z.enum(['None']).default('None'),
  securityPolicy: z.enum(['None']).default('None'),
  publishingIntervalMs: durationMs.default(1000),
  /** Default queue size for nodes that do not set one. */
  queueSize: z.number().int().min(1).max(10_000).default(10),
  nodes: z.array(opcuaNodeSchema).min(1),
});

export type OpcuaInputConfig = z.output<typeof opcuaInputSchema>;
export type OpcuaNodeConfig = z.output<typeof opcuaNodeSchema>;
