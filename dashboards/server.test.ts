import { describe, expect, it } from 'vitest';
import { redactToken } from './server.ts';

describe('request logging', () => {
  it('never writes a token from the query string to the log', () => {
    expect(redactToken('/api/live?plant=paper-01&token=cs_secret&x=1')).toBe('/api/live?plant=paper-01&token=[redacted]&x=1');
    expect(redactToken('/?token=cs_secret')).toBe('/?token=[redacted]');
    expect(redactToken('/api/plants')).toBe('/api/plants');
  });
});
