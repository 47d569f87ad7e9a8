/** The MQTT fuzz senders in a process of their own (bench/fuzz.ts): argv[2] is their options as JSON; the summary goes back over IPC. */
import { runMqttFuzzClients, type MqttFuzzClientOptions } from './fuzz-mqtt.ts';

const summary = await runMqttFuzzClients(JSON.parse(process.argv[2] ?? '{}') as MqttFuzzClientOptions);
process.send?.(summary, () => process.exit(0));
