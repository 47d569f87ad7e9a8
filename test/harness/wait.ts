/**
 * The one poll helper of the tests. Poll every `intervalMs`, at most `timeoutMs`, until a condition holds (resolves
 * with nothing) or a probe finds something (resolves with what it found; "not yet" is `undefined`). The error names
 * what was awaited and how long, so a failing test says what never happened; `what` may be a function, read at the
 * timeout, to say how far it got ("ingest received 12 of 40 messages").
 */
export type WaitingFor = string | (() => string);
export function until(what: WaitingFor, condition: () => boolean | Promise<boolean>, timeoutMs?: number, intervalMs?: number): Promise<void>;
export function until<T>(what: WaitingFor, probe: () => T | undefined | Promise<T | undefined>, timeoutMs?: number, intervalMs?: number): Promise<T>;
export async function until<T>(
  what: WaitingFor,
  probe: () => T | false | undefined | Promise<T | false | undefined>,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T | void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
