/**
 * Config of an OPC UA input: one server endpoint, one monitored item per configured node, in subscriptions of at most
 * maxItemsPerSubscription items.
 *
 * Security (OPC UA Part 2 §4, Part 4 §5.4.1, §7.15): the endpoint is chosen among the server's by securityMode and
 * securityPolicy; with Sign or SignAndEncrypt the client proves itself with an application instance certificate kept
 * in the PKI folder (created on first start: own/certs/client_certificate.pem), and trusts a server certificate only
 * when it is in trusted/certs (unknown ones land in rejected/, to be moved by an operator), unless
 * `pki.trustUnknownServerCertificate` says otherwise. The user is anonymous unless a user name and password are given.
 */
import { z } from 'zod';
import { coerceNodeId } from 'node-opcua-client';
import { configPathSchema, durationMs } from '../../../core/config.ts';
import { checkTargetUnit, readingTargetFields } from '../../reading-target.ts';

function isNodeId(value: string): boolean {
  try {
    coerceNodeId(value);
    return true;
  } catch {
    return false;
  }
}

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

/** A relative path from the Root folder, e.g. `/Objects/2:Plant/2:Outfall.2:COD` (Part 4 §A.2 text format). */
const BROWSE_PATH = /^(\/|\.)([0-9]+:)?[^/.]+([/.]([0-9]+:)?[^/.]+)*$/;

export const deadbandSchema = z.discriminatedUnion('type', [
  /** Report a change only when it exceeds this many units of the value (Part 4 §7.22.2). */
  z.strictObject({ type: z.literal('absolute'), value: z.number().min(0) }),
  /** Percent of the node's EURange (Part 8 §6.2): the server rejects it for nodes without one. */
  z.strictObject({ type: z.literal('percent'), value: z.number().min(0).max(100) }),
]);

export const opcuaNodeSchema = z
  .strictObject({
    /** OPC UA NodeId in its string form (Part 6 §5.3.1.10), e.g. `ns=1;s=paper-01.outfall-1.cod`. */
    nodeId: z.string().refine(isNodeId, { message: 'expected an OPC UA NodeId such as ns=1;s=Plant.Meter.Value or ns=2;i=1001' }).optional(),
    /** Instead of nodeId: a browse path from the Root folder, resolved on each new session (TranslateBrowsePathsToNodeIds). */
    browsePath: z.string().regex(BROWSE_PATH, { message: 'expected a browse path such as /Objects/2:Plant/2:Meter' }).optional(),
    ...readingTargetFields,
    /** Requested sampling interval; omitted means the subscription's publishing interval (Part 4 §7.16: -1). */
    samplingIntervalMs: z.number().int().min(0).optional(),
    /** How many samples the server keeps between publishes; raise it when sampling faster than publishing. */
    queueSize: z.number().int().min(1).max(10_000).optional(),
    deadband: deadbandSchema.optional(),
  })
  .superRefine((node, ctx) => {
    checkTargetUnit(node, ctx);
    if ((node.nodeId === undefined) === (node.browsePath === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['nodeId'], message: 'expected exactly one of nodeId and browsePath', input: node.nodeId });
    }
  });

export const opcuaInputSchema = z.strictObject({
  type: z.literal('opcua'),
  /** A name for logs; defaults to opcua:<endpoint>. */
  name: z.string().min(1).optional(),
  endpoint: z.string().regex(/^opc\.tcp:\/\/[^/\s]+/, { message: 'expected an opc.tcp://host:port endpoint URL' }),
  securityMode: z.enum(SECURITY_MODES).default('None'),
  securityPolicy: z.enum(SECURITY_POLICIES).default('None'),
  /** Anonymous when absent. */
  user: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
  pki: z
    .strictObject({
      /** Default <dataDir>/pki/opcua-client. */
      dir: configPathSchema.optional(),
      /** Accept (and remember) a server certificate not in trusted/certs. For tests and first set-up only. */
      trustUnknownServerCertificate: z.boolean().default(false),
      /**
       * The server's certificate (PEM or DER file). Without it the client asks the server for its endpoints over an
       * unsecured channel first (GetEndpoints, Part 4 §5.4.4); servers that refuse any unsecured channel need it.
       * It is trusted like a certificate the server sends: only when it is in trusted/certs (an unknown one is copied
       * to rejected/ and the connection refused, retried until an operator moves it).
       */
      serverCertificateFile: configPathSchema.optional(),
    })
    .default({ trustUnknownServerCertificate: false }),
  publishingIntervalMs: durationMs.default(1000),
  /**
   * Monitored items per subscription at most; more nodes get more subscriptions. Servers cap the notifications of one
   * publish response (node-opcua: 1,000) and the subscriptions of one session (node-opcua: 10), so 10,000 items at
   * 1 Hz need several subscriptions, each sending a few responses per interval.
   */
  maxItemsPerSubscription: z.number().int().min(1).max(100_000).default(2_000),
  /** Default queue size for nodes that do not set one. */
  queueSize: z.number().int().min(1).max(10_000).default(10),
  nodes: z.array(opcuaNodeSchema).min(1),
}).superRefine((input, ctx) => {
  if ((input.securityMode === 'None') !== (input.securityPolicy === 'None')) {
    ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: `expected ${input.securityMode === 'None' ? '"None" with securityMode None' : `a policy other than "None" with securityMode ${input.securityMode}`}`, input: input.securityPolicy });
  }
});

export type OpcuaInputConfig = z.output<typeof opcuaInputSchema>;
export type OpcuaNodeConfig = z.output<typeof opcuaNodeSchema>;
