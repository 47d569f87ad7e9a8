/**
 * Every error code cleanstream throws, logs or answers with, and every reason a message is dead-lettered for, with
 * what it means: one catalogue, as Fastify keeps its errors. CleanstreamError (core/errors.ts) takes an ErrorCode,
 * so tsc refuses a code that is not listed here; docs/errors.md is generated from this file (docs/errors.ts), and a
 * test fails when the two differ or when the source uses a code or reason missing here (core/error-codes.test.ts).
 *
 * A code is stable: logs, metrics, alerts on logs and API clients match on it. Rename one only with a note in
 * docs/errors.md's history, never silently.
 */

/** Where a code comes from: a stage, or `mqtt`/`influxdb` for the clients of those that several stages share. */
export type ErrorStage = 'core' | 'mqtt' | 'nats' | 'influxdb' | 'gateway' | 'ingest' | 'rules' | 'uplink' | 'dashboard' | 'simulators' | 'cli';

export interface ErrorCodeEntry {
  meaning: string;
  stages: readonly ErrorStage[];
  /** For failures talking to another system (TransportError): whether trying again may help; `depends` when it varies by case. */
  retryable?: boolean | 'depends';
  /** The HTTP status the dashboard API answers with. */
  http?: number;
}

export const ERROR_CODES = {
  // --- shared (core/) ---
  CONFIG_INVALID: { meaning: 'A config file cannot be used: the message names the file, each field path and what was expected there.', stages: ['core'] },
  PAYLOAD_INVALID: { meaning: 'A message breaks the payload contract; its `reason` is one of the dead-letter reasons below.', stages: ['core'] },
  DISK_QUEUE_FULL: { meaning: 'A disk queue (store-and-forward, spool, outbox) reached its byte limit; nothing more is added until it drains.', stages: ['core'] },
  DISK_QUEUE_CLOSED: { meaning: 'An operation on a disk queue after it was closed (a stage stopping).', stages: ['core'] },
  DISK_QUEUE_CORRUPT: { meaning: "On opening, a disk queue segment other than the last held bytes that do not check (a disk error): they were moved to `<segment>.corrupt`, every whole record before and after them kept, the ids between counted as lost; the queue opens (a warning in its stage's log, health and metrics).", stages: ['core', 'gateway', 'ingest'] },
  DISK_QUEUE_GAP: { meaning: "On opening, a disk queue segment did not start where the previous one ended (a file cut at a record boundary, or missing): the ids between are counted as lost; the queue opens (a warning in its stage's log, health and metrics).", stages: ['core', 'gateway', 'ingest'] },
  DISK_QUEUE_OVERLAP: { meaning: 'Two segment files of a disk queue claim the same ids (files copied in from another queue): the queue does not open until one is moved out of its folder.', stages: ['core'] },
  DISK_QUEUE_SHORT_WRITE: { meaning: 'The file system wrote fewer bytes than a disk queue append asked for (disk full).', stages: ['core'] },

  // --- the broker and MQTT clients ---
  BROKER_LISTEN: { meaning: 'The embedded broker cannot listen on its address (port in use, no permission).', stages: ['mqtt'], retryable: false },
  BROKER_NO_EXACT_CLIENT_ID: { meaning: "A broker user has only client id prefixes: Mosquitto's dynamic security needs one exact id (`cleanstream broker-acl --dynsec`).", stages: ['mqtt'] },
  MQTT_CONNECT: { meaning: 'A stage could not connect to the broker at start.', stages: ['mqtt', 'ingest', 'rules', 'uplink'], retryable: true },
  MQTT_CONNECTION: { meaning: 'The connection to the broker failed or dropped; the client reconnects.', stages: ['mqtt', 'gateway', 'uplink'], retryable: true },
  MQTT_AUTH: { meaning: 'The broker refused the username or password (CONNACK 4/5, reason 0x86/0x87).', stages: ['mqtt', 'gateway'], retryable: true },
  MQTT_SUBSCRIBE: { meaning: 'A subscription failed (retryable) or the broker refused it (SUBACK 0x80, not retryable: an ACL).', stages: ['mqtt', 'ingest', 'uplink'], retryable: 'depends' },
  MQTT_PUBLISH: { meaning: 'A PUBLISH failed (the connection dropped before its PUBACK).', stages: ['mqtt', 'gateway', 'dashboard'], retryable: true, http: 503 },
  MQTT_UNAVAILABLE: { meaning: 'The dashboard is not connected to the broker, so an acknowledgement cannot be forwarded.', stages: ['mqtt', 'dashboard'], retryable: true, http: 503 },
  MQTT_CLIENT_ID_CLASH: { meaning: 'Another client connected with this client id and took over the session: two instances share an id (each keeps taking it from the other).', stages: ['mqtt', 'gateway', 'ingest'], retryable: true },

  // --- the NATS JetStream transport of the bus (bus/nats/) ---
  NATS_CONNECT: { meaning: 'A stage could not connect to any server of the NATS cluster at start.', stages: ['nats'], retryable: true },
  NATS_STREAM_MISMATCH: { meaning: 'A JetStream stream exists with settings other than the config asks for (the message names the setting, both values); change the config or the stream, nothing is changed silently.', stages: ['nats'], retryable: false },
  NATS_STREAM: { meaning: 'A JetStream stream could not be created or read at start (no meta leader, not enough nodes for its replicas).', stages: ['nats'], retryable: true },
  NATS_SUBSCRIBE: { meaning: 'A durable consumer could not be made for a topic filter: no stream holds its subjects (not retryable), or the server refused or did not answer (retryable).', stages: ['nats'], retryable: 'depends' },

  // --- gateway ---
  PUBLISH_QUEUE_FULL: { meaning: "The gateway's store-and-forward queue is full: the scan's new batches are dropped (counted in `droppedBatches`), those queued are kept.", stages: ['gateway'], retryable: false },
  PUBLISH_QUEUE_WRITE: { meaning: "The scan's new batches could not be written to the gateway's store-and-forward queue and are dropped (counted in `droppedBatches`).", stages: ['gateway'], retryable: false },
  PUBLISH_QUEUE_READ: { meaning: "Batches could not be read back from the gateway's store-and-forward queue.", stages: ['gateway'], retryable: true },
  PUBLISH_QUEUE_ACK: { meaning: 'Delivered batches could not be recorded in the queue: they may be sent again (ingest writes them idempotently).', stages: ['gateway'], retryable: true },
  PUBLISH_REFUSED: { meaning: 'The broker refused a batch (not authorised for that plant, too large): it was moved to the rejected file, not retried.', stages: ['gateway'], retryable: false },
  PUBLISH_REJECTED_WRITE: { meaning: 'A refused batch could not be written to the rejected file.', stages: ['gateway'], retryable: false },
  FLUSH_TIMEOUT: { meaning: 'On stop, batches were not acknowledged by the broker in time; they stay queued on disk for the next start.', stages: ['gateway'], retryable: true },
  METRICS_LISTEN: { meaning: "The gateway's /metrics server cannot listen on its address.", stages: ['gateway'], retryable: false },
  SPOOL_RECORD_INVALID: { meaning: "A record in the gateway's queue is not in the expected format.", stages: ['gateway'] },
  OPCUA_CONNECT: { meaning: 'Connecting to an OPC UA server failed; retried with backoff.', stages: ['gateway'], retryable: true },
  OPCUA_CONNECTION_LOST: { meaning: 'The OPC UA connection was lost; reconnecting.', stages: ['gateway'], retryable: true },
  OPCUA_REBUILD: { meaning: 'The OPC UA session or subscription was unusable; connecting again with a new session.', stages: ['gateway'], retryable: true },
  OPCUA_MONITOR: { meaning: 'The OPC UA server refused to monitor a node (bad node id, no access).', stages: ['gateway'], retryable: false },
  OPCUA_BROWSE_PATH: { meaning: 'A configured OPC UA browse path does not resolve to a node.', stages: ['gateway'], retryable: false },
  MODBUS_CONNECT: { meaning: 'Connecting to a Modbus device (TCP, serial line, RTU over TCP) failed; retried with backoff.', stages: ['gateway'], retryable: true },
  MODBUS_DISCONNECTED: { meaning: 'The Modbus connection dropped; reconnecting.', stages: ['gateway'], retryable: true },
  MODBUS_REQUEST: { meaning: 'A Modbus read failed (timeout after its retries, an exception response); its readings are sent as bad.', stages: ['gateway'], retryable: 'depends' },
  MODBUS_DECODE: { meaning: 'Registers read from a Modbus device cannot be decoded as configured; the reading is sent as bad.', stages: ['gateway'], retryable: false },
  MODBUS_POLL: { meaning: 'A Modbus poll failed as a whole.', stages: ['gateway'], retryable: true },
  MODBUS_POLL_OVERRUN: { meaning: 'A poll group was still running when its next tick came: the tick was skipped (the interval is shorter than a poll takes).', stages: ['gateway'], retryable: true },
  MODBUS_TICKS_MISSED: { meaning: 'The poll timer fired late and ticks of a group were not polled (an event loop held up).', stages: ['gateway'], retryable: true },
  HJ212_INVALID: { meaning: 'A frame or message breaks HJ 212-2017; its `reason` is one of the HJ 212 refusal reasons below.', stages: ['gateway', 'uplink'] },
  HJ212_REFUSED: { meaning: 'The HJ 212 receiver refused a packet (unknown MN, wrong PW, a malformed field) and answered 9011 with a QnRtn when it could.', stages: ['gateway'] },
  HJ212_SKIPPED: { meaning: 'A pollutant code in an HJ 212 packet has no meter or catalog quantity mapped: it gives no reading (reported once per code).', stages: ['gateway'] },
  HJ212_VERSION_MISMATCH: { meaning: 'A data logger sends in another HJ 212 version than configured; accepted and answered in its version (warned once an hour).', stages: ['gateway'] },
  HJ212_CONNECTION: { meaning: 'The HJ 212 receiver refused or closed a connection (too many connections, idle, junk, not reading its answers); its `reason` says which.', stages: ['gateway'] },
  HJ212_LISTEN: { meaning: 'The HJ 212 receiver cannot listen on its address.', stages: ['gateway'], retryable: false },
  HJ212_SERVER: { meaning: "The HJ 212 receiver's server failed.", stages: ['gateway'], retryable: true },

  // --- InfluxDB (ingest, rules, dashboard) ---
  INFLUX_REJECTED: { meaning: 'InfluxDB refused the written data (400: a field type conflict, a bad point): retrying the same body cannot succeed; the lines are dead-lettered (`write_rejected`).', stages: ['influxdb', 'ingest'], retryable: false },
  INFLUX_UNAUTHORIZED: { meaning: 'InfluxDB refused the credentials (401/403): retried until an operator fixes them.', stages: ['influxdb', 'ingest'], retryable: true },
  INFLUX_MISSING_DATABASE: { meaning: 'The database does not exist (404) and may not be created (`createDatabase: false`).', stages: ['influxdb', 'ingest'], retryable: true },
  INFLUX_UNAVAILABLE: { meaning: 'InfluxDB did not answer, timed out or answered 5xx/429 after the last attempt; the data stays spooled.', stages: ['influxdb', 'ingest'], retryable: true },
  INFLUX_ABORTED: { meaning: 'A write was aborted because the stage is stopping; the data stays spooled.', stages: ['influxdb', 'ingest'], retryable: false },
  INFLUX_WRITE: { meaning: 'Writing to InfluxDB failed (rules: alert rows and history jobs; ingest: an unexpected write failure). Retryable when InfluxDB answered 5xx (404 for alert rows) or not at all, not when it refused the data.', stages: ['influxdb', 'ingest', 'rules'], retryable: 'depends' },
  INFLUX_ALERTS_DROPPED: { meaning: 'InfluxDB has been failing so long that the oldest waiting alert rows were dropped from the history (the alert topics still hold every alert).', stages: ['influxdb', 'rules'], retryable: true },
  INFLUX_QUERY: { meaning: 'InfluxDB refused a query or answered with something that is not a query result.', stages: ['influxdb', 'rules', 'dashboard'], retryable: 'depends', http: 502 },
  INFLUX_UNREACHABLE: { meaning: 'InfluxDB did not answer a query.', stages: ['influxdb', 'dashboard'], retryable: true, http: 503 },
  INFLUXD_MISSING: { meaning: 'influxd is not installed (`apt-get install influxdb`), and no --influx-url was given.', stages: ['cli'] },
  INFLUXD_EXITED: { meaning: 'The influxd child process exited before it was ready; its log is quoted.', stages: ['cli'] },
  INFLUXD_TIMEOUT: { meaning: 'The influxd child process did not answer /ping in time.', stages: ['cli'] },

  // --- ingest ---
  SPOOL_RECORD: { meaning: "A record in ingest's spool cannot be decoded (too short, unknown format); it is dead-lettered (`spool_unreadable`).", stages: ['ingest'] },
  INGEST_HTTP_LISTEN: { meaning: "Ingest's /metrics and /health server cannot listen on its address.", stages: ['ingest'], retryable: false },

  // --- rules ---
  CHECKPOINT_READ: { meaning: 'The rules checkpoint cannot be read or is not a checkpoint: the stage does not start rather than forget open alerts.', stages: ['rules'] },
  PARTITION_FLAG: { meaning: '--partition is not INDEX/COUNT with 0 <= INDEX < COUNT.', stages: ['rules'] },
  PARTITION_UNKNOWN_PLANTS: { meaning: 'A partition names plants that are not in the plant registry.', stages: ['rules'] },
  RULE_KIND: { meaning: 'A rule kind asked the engine for something its kind cannot have (a series window for a plant-level rule): a bug in the kind.', stages: ['rules'] },
  WEBHOOK_OUTBOX: { meaning: "Notifications could not be queued in a webhook route's outbox.", stages: ['rules'], retryable: false },

  // --- uplink ---
  UPLINK_CONNECT: { meaning: "Connecting to the regulator's platform failed; retried.", stages: ['uplink'], retryable: true },
  UPLINK_CONNECTION: { meaning: "The connection to the regulator's platform failed or dropped.", stages: ['uplink'], retryable: true },
  UPLINK_NO_ANSWER: { meaning: 'The platform did not answer a packet after the configured resends (HJ 212-2017 OverTime/ReCount); reconnecting.', stages: ['uplink'], retryable: true },
  UPLINK_REFUSED: { meaning: 'The platform refused a packet with a QnRtn other than 1; it is skipped, not resent.', stages: ['uplink'] },
  UPLINK_INVALID: { meaning: 'The platform sent something that is not valid HJ 212.', stages: ['uplink'] },
  UPLINK_OUTBOX: { meaning: "A station's outbox (disk queue) failed.", stages: ['uplink'] },
  UPLINK_PAYLOAD: { meaning: 'A readings message on the bus is invalid for the uplink and was ignored (ingest dead-letters it).', stages: ['uplink'] },
  UPLINK_STATE: { meaning: "A station's checkpoint cannot be read: it starts without it (intervals may be sent again).", stages: ['uplink'] },

  // --- dashboard API ---
  UNAUTHENTICATED: { meaning: 'No API token, or one that is not known or was revoked.', stages: ['dashboard'], http: 401 },
  OUT_OF_SCOPE: { meaning: "The plant or region is outside the token's scope (an unknown plant answers the same to a scoped token, so ids cannot be probed).", stages: ['dashboard'], http: 403 },
  UNKNOWN_PLANT: { meaning: 'No such plant in the registry (told to an admin only).', stages: ['dashboard'], http: 404 },
  UNKNOWN_REGION: { meaning: 'No such region in the registry (told to an admin only).', stages: ['dashboard'], http: 404 },
  UNKNOWN_ALERT: { meaning: 'Not an alert id (`rule.plant.meter.raisedAt`), or no current alert with this id (superseded by a later one of the same rule and meter).', stages: ['dashboard'], http: 404 },
  ALERT_CLEARED: { meaning: 'The alert is already cleared: there is nothing to acknowledge.', stages: ['dashboard'], http: 409 },
  ALREADY_ACKNOWLEDGED: { meaning: 'The alert was already acknowledged (the reply names by whom).', stages: ['dashboard'], http: 409 },
  BAD_PARAMETER: { meaning: 'A parameter is missing, malformed or out of range; `field` names it.', stages: ['dashboard'], http: 400 },
  BAD_ALERT_ID: { meaning: 'An alert id that is not `rule.plant.meter.raisedAt`.', stages: ['dashboard'], http: 400 },
  BAD_WINDOW: { meaning: '`from` is not before `to`.', stages: ['dashboard'], http: 400 },
  BAD_EVERY: { meaning: '`every` is not a duration, or is shorter than 1 s or longer than the window.', stages: ['dashboard'], http: 400 },
  TOO_MANY_POINTS: { meaning: 'The window holds more buckets of `every` than one answer may have: ask for a larger `every` or a shorter window.', stages: ['dashboard'], http: 400 },
  NOT_MEASURED: { meaning: 'The plant (or the meter) does not measure this quantity.', stages: ['dashboard'], http: 400 },
  NOT_A_COUNTER: { meaning: '`mode=increase` asked of a quantity that is not a counter.', stages: ['dashboard'], http: 400 },
  BAD_MONTH: { meaning: 'A month that is not YYYY-MM.', stages: ['dashboard'], http: 400 },
  TOO_MANY_MONTHS: { meaning: 'More months than one reductions request may span.', stages: ['dashboard'], http: 400 },
  DASHBOARD_LISTEN: { meaning: 'The dashboard cannot listen on its address.', stages: ['dashboard'], retryable: false },
  ERROR: { meaning: 'Anything else the API fails with (answered 500 "internal error"; the cause is in the log). Fastify\'s own errors keep their `FST_ERR_*` codes (Fastify documentation, "Errors").', stages: ['dashboard'], http: 500 },

  // --- command line (`cleanstream up`) ---
  PORT_IN_USE: { meaning: '`cleanstream up`: a port it needs is taken; the message names the flag that chooses another.', stages: ['cli'] },
  UP_PLANTS_WITH_SCENARIO: { meaning: '`cleanstream up --plants` with a scenario, which brings its own plants: add --no-scenario.', stages: ['cli'] },

  // --- simulators, record, replay ---
  RECORDING_INVALID: { meaning: 'A line of a recording (NDJSON) is not a recorded message; the message names file and line.', stages: ['simulators'] },
  RECORD_CONNECT: { meaning: '`cleanstream record` cannot connect to the broker.', stages: ['simulators'], retryable: true },
  RECORD_SUBSCRIBE: { meaning: '`cleanstream record` could not subscribe to its topics.', stages: ['simulators'], retryable: true },
  REPLAY_FILE: { meaning: '`cleanstream replay` cannot read the recording.', stages: ['simulators'] },
  REPLAY_SPEED: { meaning: '`cleanstream replay --speed` is not 0 or a positive factor.', stages: ['simulators'] },
  REPLAY_CONNECT: { meaning: '`cleanstream replay` cannot connect to the broker.', stages: ['simulators'], retryable: true },
  REPLAY_PUBLISH: { meaning: '`cleanstream replay` could not publish a message.', stages: ['simulators'], retryable: true },
  SIM_MODBUS_START: { meaning: 'The simulated Modbus server cannot start.', stages: ['simulators'] },
  SIM_MODBUS_EXCEPTION: { meaning: 'The simulated Modbus server answers a request with an exception response (a scripted fault, an unmapped register).', stages: ['simulators'] },
  SIM_OPCUA_START: { meaning: 'The simulated OPC UA server cannot start.', stages: ['simulators'] },
  SIM_TOO_MANY_PLANTS: { meaning: 'One simulated Modbus server serves at most 247 plants (one unit id each).', stages: ['simulators'] },
  SIM_UNKNOWN_POINT: { meaning: 'A scenario names a plant, meter or quantity the simulation does not have.', stages: ['simulators'] },
  SIM_HJ212_CODE: { meaning: 'The simulated HJ 212 data logger has no meter, quantity or unit for a pollutant code.', stages: ['simulators'] },
  SIM_HJ212_CONNECT: { meaning: 'The simulated HJ 212 data logger cannot connect to its receiver.', stages: ['simulators'], retryable: true },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** Where a rejected message was refused: the shared decoder (core/reading.ts decodeBatch, used by every consumer) or ingest itself. */
export type RejectSource = 'decoder' | 'ingest';

/**
 * Why a message was rejected (dead-lettered on `cleanstream/v1/deadletter/{stage}` and counted by reason). Short,
 * stable, lower case: they label counters. A reason not listed here cannot be passed to PayloadError (tsc).
 */
export const DEAD_LETTER_REASONS = {
  not_json: { meaning: 'The payload is not JSON (or not UTF-8 text).', source: 'decoder' },
  bad_envelope: { meaning: 'The batch is not an object, or `seq`, `plantSeq`, `sentAt` or `readings` is missing or of the wrong type (or the payload names another plant than its topic).', source: 'decoder' },
  unsupported_version: { meaning: '`v` is not a payload version this release reads (1).', source: 'decoder' },
  bad_id: { meaning: 'A plant, gateway or meter id does not match `^[a-z0-9][a-z0-9_-]{0,63}$`.', source: 'decoder' },
  bad_reading: { meaning: 'A reading is not an object, has an unknown `quality`, a malformed `reason`, a `reason` with quality good, or a `rejectedValue` (set by consumers, never by senders).', source: 'decoder' },
  unknown_quantity: { meaning: '`quantity` is not in the catalog (core/catalog.ts).', source: 'decoder' },
  bad_unit: { meaning: '`unit` is not a unit of that quantity (L/s for COD).', source: 'decoder' },
  bad_value: { meaning: '`value` is not a finite number or null, is null with quality good, or overflows when converted to the canonical unit.', source: 'decoder' },
  bad_timestamp: { meaning: '`ts` is not a positive integer of ms since the epoch, or is after 2262 (beyond what InfluxDB stores).', source: 'decoder' },
  ts_in_future: { meaning: "A reading's `ts` is further ahead of the consumer's clock than `timestamps.maxFutureSkewMs` (5 min).", source: 'decoder' },
  ts_too_old: { meaning: "A reading's `ts` is older than `timestamps.maxAgeMs` (30 days; `timestamps.backfill` lifts it) or before 2000-01-02 (a clock never set).", source: 'decoder' },
  bad_topic: { meaning: 'The topic is not `cleanstream/v1/readings/{plant}/{gateway}`.', source: 'ingest' },
  topic_mismatch: { meaning: "The topic's plant or gateway differ from the batch's.", source: 'ingest' },
  unknown_plant: { meaning: 'The plant is not in the plant registry.', source: 'ingest' },
  unknown_meter: { meaning: "The meter is not one of the plant's in the registry, or does not measure that quantity.", source: 'ingest' },
  write_rejected: { meaning: 'InfluxDB refused these lines (400, e.g. a field type conflict): the refused lines are dead-lettered, the rest of the batch is written.', source: 'ingest' },
  spool_unreadable: { meaning: "A record in ingest's disk spool cannot be decoded (the letter's topic is `spool`).", source: 'ingest' },
  internal_error: { meaning: 'Handling the message threw unexpectedly (a bug): dead-lettered rather than lost or retried for ever.', source: 'ingest' },
} as const satisfies Record<string, { meaning: string; source: RejectSource }>;

export type RejectReason = keyof typeof DEAD_LETTER_REASONS;
/** The reasons the shared decoder throws (PayloadError.reason). */
export type DecodeReason = { [R in RejectReason]: (typeof DEAD_LETTER_REASONS)[R]['source'] extends 'decoder' ? R : never }[RejectReason];

export const REJECT_REASONS = Object.keys(DEAD_LETTER_REASONS) as RejectReason[];

export function isRejectReason(reason: string): reason is RejectReason {
  return Object.hasOwn(DEAD_LETTER_REASONS, reason);
}

/**
 * Why a reading that was accepted is not good (its optional `reason`, core/reading.ts): not a rejection, the reading
 * is stored with its quality and this reason. Senders may use other codes of the same shape; these are cleanstream's.
 */
export const READING_REASONS = {
  no_value: "The device reported no valid value (a Modbus no-value code, a NaN, an OPC UA value that is not a number, an HJ 212 field left empty).",
  out_of_range: "The value lies outside its quantity's physical range (core/catalog.ts): stored as `<q>_rejected`, never as the value, and the reading is bad.",
  'flag_<letter>': 'The HJ 212 data flag the logger sent, other than N (`flag_d` fault, `flag_c` calibration, `flag_m` maintenance, ...; docs/hj212.md).',
} as const;
