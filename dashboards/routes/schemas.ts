/**
 * JSON-schema pieces the route plugins share. Fastify validates requests with them (Ajv) and serialises responses
 * with them (fast-json-stringify: a field missing from a response schema is not sent).
 */
import { ID_PATTERN, QUALITIES } from '../../core/reading.ts';
import { QUANTITY_NAME_PATTERN } from '../../core/catalog-file.ts';

export const idString = { type: 'string', pattern: ID_PATTERN.source } as const;

export const localizedName = {
  type: 'object',
  required: ['en', 'zh'],
  properties: { en: { type: 'string' }, zh: { type: 'string' } },
} as const;

/** `?token=` is read by the auth plugin before validation; declared so that it is documented and not refused. */
export const tokenParam = { type: 'string', description: 'API token, for clients that cannot send an Authorization header (EventSource, links)' } as const;

export const plantParams = {
  type: 'object',
  required: ['plant'],
  properties: { plant: idString },
  additionalProperties: false,
} as const;

/**
 * A built-in or declared quantity (core/catalog-file.ts): declared ones are known only once the plant registry is
 * loaded, so the schema checks the form and the routes check that the plant measures it (NOT_MEASURED otherwise).
 */
export const quantityId = { type: 'string', pattern: QUANTITY_NAME_PATTERN.source } as const;

export const quality = { type: 'string', enum: QUALITIES } as const;

export const nullableNumber = { type: ['number', 'null'] } as const;
