/**
 * The config block of a station's HJ 212-2025 SM4 key, shared by the receiver's devices and the uplink's stations.
 * The key is never written in a config file: the file names an environment variable holding it as 32 hex digits, and
 * the config is refused at start (naming the field) when that variable is unset or not a key, or when this Node has no
 * SM4 cipher.
 */
import { z } from 'zod';
import { CleanstreamError } from '../../core/errors.ts';
import { sm4Available, sm4KeyFromHex, type Hj212Sm4 } from './sm4.ts';

export const sm4ConfigSchema = z
  .strictObject({
    /** Environment variable holding the station's 16-byte key as 32 hex digits. */
    keyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected the name of an environment variable' }),
    /** How a CP that is not a whole number of 16-byte blocks is filled (unverified: the public sources say "NoPadding"). */
    padding: z.enum(['zero', 'pkcs7']).default('zero'),
  })
  .superRefine((sm4, ctx) => {
    if (!sm4Available()) {
      ctx.addIssue({ code: 'custom', path: [], message: "expected a Node whose OpenSSL provides 'sm4-ecb' (crypto.getCiphers() lacks it): SM4 cannot be used here" });
      return;
    }
    const value = process.env[sm4.keyEnv];
    if (value === undefined || value === '') ctx.addIssue({ code: 'custom', path: ['keyEnv'], message: `expected environment variable ${sm4.keyEnv} to hold the SM4 key (32 hex digits); it is not set` });
    else if (!sm4KeyFromHex(value)) ctx.addIssue({ code: 'custom', path: ['keyEnv'], message: `expected environment variable ${sm4.keyEnv} to hold 32 hex digits (a 16-byte SM4 key); it holds ${value.length} characters` });
  });

export type Sm4Config = z.output<typeof sm4ConfigSchema>;

/** The key itself, read from the environment when the station is started (the config check made sure it is there). */
export function resolveSm4(config: Sm4Config | undefined): Hj212Sm4 | undefined {
  if (!config) return undefined;
  const key = sm4KeyFromHex(process.env[config.keyEnv] ?? '');
  if (!key) throw new CleanstreamError('CONFIG_INVALID', `environment variable ${config.keyEnv} does not hold a 32-hex-digit SM4 key`, { keyEnv: config.keyEnv });
  return { key, padding: config.padding };
}
