/** The HJ 212 fuzz senders in a process of their own (bench/fuzz.ts): argv[2] is their options as JSON; the summary goes back over IPC. */
import { runHj212FuzzClients, type Hj212FuzzClientOptions } from './fuzz-hj212.ts';

const summary = await runHj212FuzzClients(JSON.parse(process.argv[2] ?? '{}') as Hj212FuzzClientOptions);
process.send?.(summary, () => process.exit(0));
