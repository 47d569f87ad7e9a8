/**
 * node-opcua prints its own warnings and errors with console.log (e.g. at every start on Node 20: "you need to use
 * node flag --security-revert=CVE-2023-46809 ..."), which users read as our failures. The OPC UA driver and the
 * simulator report what matters to them as their own log lines with context; node-opcua's lines go to our logger at
 * debug level, so `--log-level debug` still shows them.
 */
import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua-client';
import type { Logger } from 'pino';

interface CallerContext {
  filename?: string;
  callerline?: number;
}

export function routeNodeOpcuaLogs(logger: Logger): void {
  const toDebug = (level: 'warning' | 'error') => (data: unknown, ...args: unknown[]) => {
    if (!logger.isLevelEnabled('debug')) return;
    // node-opcua calls the logger with its caller's context first, then console.log-style arguments
    const context = (data ?? {}) as CallerContext;
    logger.debug({ library: 'node-opcua', level, at: context.filename ? `${context.filename}:${context.callerline ?? '?'}` : undefined }, format(...args));
  };
  setWarningLogger(toDebug('warning'));
  setErrorLogger(toDebug('error'));
}
