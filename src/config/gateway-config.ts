/**
 * @module config/gateway-config
 *
 * The gateway's configuration: one defaults object, the environment variables
 * it reads (this module and node-config.ts are the only readers of
 * `process.env`), and `resolveGatewayConfig`, which turns partial input (CLI
 * flags) into a complete, checked, frozen `GatewayConfig`. docs/config.md
 * lists every option.
 */
import { defaultLimits, limitCeilings, type RequestLimits } from '../domain/request-context.js';
import { type AuthMode, AuthModes } from '../auth/caller.js';
import { MAX_KEY_LENGTH } from '../auth/api-key.js';
import { StartupError } from '../errors/startup-error.js';
import { HOUR, MINUTE, SECOND } from '../util/clock.js';
import { commaList } from '../util/comma-list.js';


export interface GatewayConfig {
  /** HTTP port for the API and for nodes. Env `PORT`. @defaultValue 6006 */
  port: number;
  /** Interface to listen on. Env `DAN_HOST`. @defaultValue '0.0.0.0' */
  host: string;
  /** Directory of the SQLite task store and the generated public API key. Env `DAN_DATA`. @defaultValue './data' */
  dataDir: string;
  /**
   * A PostgreSQL database (`postgres://user:password@host:5432/dan`) to keep tasks, keys and webhooks in
   * instead of SQLite in `dataDir`: what several gateways share. Env `DATABASE_URL`. @defaultValue null
   */
  database: string | null;
  /**
   * The operator's additions to the catalog (config/catalog-file.ts, written by `dan catalog add`); null:
   * `catalog.json` in `dataDir`, if there is one. Read when the gateway starts. Env `DAN_CATALOG`. @defaultValue null
   */
  catalogFile: string | null;
  /** Token nodes must present; null accepts nodes from loopback only. Env `DAN_NODE_TOKEN`. */
  nodeToken: string | null;
  /** How long a sync endpoint waits before answering 202 with the task id. @defaultValue 5 min */
  syncTimeoutMs: number;
  /** How long finished tasks and their results are kept. @defaultValue 24 h */
  retentionMs: number;
  /** Largest request body. @defaultValue 32 MiB */
  bodyLimitBytes: number;
  /** Attempts (on different nodes where possible) before a task fails. @defaultValue 3 */
  maxAttempts: number;
  /**
   * Longest one attempt may run on a node before it is abandoned. Each attempt's own timeout
   * follows from the task's cost and the node's measured speed (3× the expected time + 30 s,
   * at least 60 s), within this bound. @defaultValue 10 min
   */
  taskTimeoutMs: number;
  /**
   * Who may call the API: `off` (no keys read, nothing limited: a private network), `optional`
   * (callers without a key of their own get the anonymous limits, per address), `required` (every
   * request needs a key). Env `DAN_AUTH`. @defaultValue 'optional'
   */
  auth: AuthMode;
  /** Token of the admin API (`/api/admin`); null turns it off. Env `DAN_ADMIN_TOKEN`. */
  adminToken: string | null;
  /**
   * Let webhooks reach loopback, private and link-local addresses (a gateway on a private network
   * whose receivers are too). Env `DAN_WEBHOOK_ALLOW_PRIVATE=1`. @defaultValue false
   */
  webhookAllowPrivate: boolean;
  /**
   * Which proxies in front of the gateway to believe about a client's address (X-Forwarded-For), as
   * anonymous callers are counted by address: null (none: the socket's peer), `true` (any), a number of
   * hops, or addresses and CIDR ranges separated by commas (`127.0.0.1,10.0.0.0/8`). Never used to admit
   * nodes. Env `DAN_TRUST_PROXY`. @defaultValue null
   */
  trustProxy: string | null;
  /** Unfinished tasks an anonymous caller (one address) may have; 0 = no limit. @defaultValue 10 */
  anonymousMaxTasks: number;
  /** Requests a minute an anonymous caller (one address) may make; 0 = no limit. @defaultValue 120 */
  anonymousRequestsPerMinute: number;
  /**
   * Connections one peer address may hold open at once; 0 = no limit. Loopback peers are not counted, nor any
   * behind a trusted proxy (`trustProxy`: its job then). @defaultValue 256
   */
  maxConnectionsPerAddress: number;
  /** How long a queued task may wait with no connected node able to serve it before it fails. @defaultValue 2 min */
  unservableGraceMs: number;
  /** How often nodes send heartbeats; a node silent for 3 intervals is dropped. @defaultValue 5 s */
  heartbeatIntervalMs: number;
  /**
   * How long the tasks of a node whose connection dropped wait for it to come back with them (it runs
   * on meanwhile) before they are retried elsewhere; 0: at once. @defaultValue 20 s
   */
  resumeGraceMs: number;
  /** Largest WebSocket frame a node may send (results carry images). @defaultValue 64 MiB */
  maxFrameBytes: number;
  /** The key `GET /api/user/public-api-key` hands out; generated once and kept in dataDir when null. */
  publicApiKey: string | null;
  /**
   * Which web pages' scripts may call the API (CORS): `'*'` any, a list of origins
   * (`https://app.example`), or `'off'` none (no CORS headers). Env `DAN_CORS_ORIGIN`. @defaultValue '*'
   */
  corsOrigin: string;
  /**
   * The checkpoint (name or sha256) of a request that names none, on the endpoints whose clients may not
   * (`/v1` of the OpenAI-compatible API); null: the first one some node serves now. Env `DAN_DEFAULT_MODEL`.
   * @defaultValue null
   */
  defaultModel: string | null;
  /**
   * Model names clients of the OpenAI-compatible API send (`dall-e-3`, `gpt-image-1`), each mapped to a
   * checkpoint: `alias=checkpoint` pairs separated by commas. Env `DAN_OPENAI_MODELS`. @defaultValue ''
   */
  openaiModels: string;
  /** Bounds on request values. */
  limits: RequestLimits;
}

export type GatewayConfigInput = Partial<Omit<GatewayConfig, 'limits'>> & { limits?: Partial<RequestLimits> };

export const gatewayDefaults = {
  port: 6006,
  host: '0.0.0.0',
  dataDir: './data',
  database: null,
  catalogFile: null,
  nodeToken: null,
  syncTimeoutMs: 5 * MINUTE,
  retentionMs: 24 * HOUR,
  bodyLimitBytes: 32 * 1024 * 1024,
  maxAttempts: 3,
  taskTimeoutMs: 10 * MINUTE,
  auth: 'optional',
  adminToken: null,
  webhookAllowPrivate: false,
  trustProxy: null,
  anonymousMaxTasks: 10,
  anonymousRequestsPerMinute: 120,
  maxConnectionsPerAddress: 256,
  unservableGraceMs: 2 * MINUTE,
  heartbeatIntervalMs: 5 * SECOND,
  resumeGraceMs: 20 * SECOND,
  maxFrameBytes: 64 * 1024 * 1024,
  publicApiKey: null,
  corsOrigin: '*',
  defaultModel: null,
  openaiModels: '',
  limits: defaultLimits,
} as const satisfies GatewayConfig;

/** Options taken from the environment (flags win over these). */
export function readGatewayEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfigInput {
  const input: GatewayConfigInput = {};
  if (env['PORT']) input.port = Number(env['PORT']);
  if (env['DAN_HOST']) input.host = env['DAN_HOST'];
  if (env['DAN_DATA']) input.dataDir = env['DAN_DATA'];
  if (env['DATABASE_URL']) input.database = env['DATABASE_URL'];
  if (env['DAN_CATALOG']) input.catalogFile = env['DAN_CATALOG'];
  if (env['DAN_NODE_TOKEN']) input.nodeToken = env['DAN_NODE_TOKEN'];
  if (env['DAN_PUBLIC_API_KEY']) input.publicApiKey = env['DAN_PUBLIC_API_KEY'];
  if (env['DAN_CORS_ORIGIN']) input.corsOrigin = env['DAN_CORS_ORIGIN'];
  if (env['DAN_DEFAULT_MODEL']) input.defaultModel = env['DAN_DEFAULT_MODEL'];
  if (env['DAN_OPENAI_MODELS']) input.openaiModels = env['DAN_OPENAI_MODELS'];
  if (env['DAN_AUTH']) input.auth = env['DAN_AUTH'] as AuthMode;
  if (env['DAN_ADMIN_TOKEN']) input.adminToken = env['DAN_ADMIN_TOKEN'];
  if (env['DAN_TRUST_PROXY']) input.trustProxy = env['DAN_TRUST_PROXY'];
  if (env['DAN_WEBHOOK_ALLOW_PRIVATE']) input.webhookAllowPrivate = ['1', 'true', 'yes'].includes(env['DAN_WEBHOOK_ALLOW_PRIVATE'].toLowerCase());
  return input;
}

function checkPositive(problems: string[], name: string, value: number, integer = true): void {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    problems.push(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
}

/** Every request limit is a positive integer, and no larger than what a node accepts. */
function checkLimits(problems: string[], limits: RequestLimits): void {
  for (const [key, value] of Object.entries(limits) as [keyof RequestLimits, number][]) {
    if (!Object.hasOwn(defaultLimits, key)) {
      problems.push(`limits.${key} is not a limit; the limits are ${Object.keys(defaultLimits).join(', ')}`);
      continue;
    }
    checkPositive(problems, `limits.${key}`, value);
    const ceiling = limitCeilings[key];
    if (ceiling !== undefined && value > ceiling) {
      problems.push(`limits.${key} must be at most ${ceiling} (the most a node accepts in a task), got ${value}`);
    }
  }
}

/**
 * The `dan gateway` option of each setting, and the unit it takes there, for problems to name what the operator
 * typed (`--resume-grace-s … got 99999`, not `resumeGraceMs … got 99999000`).
 */
const OPTIONS: Partial<Record<keyof GatewayConfig, { flag: string; unit?: { per: number; name: string } }>> = {
  port: { flag: '--port' },
  syncTimeoutMs: { flag: '--sync-timeout-s', unit: { per: SECOND, name: 's' } },
  retentionMs: { flag: '--retention-h', unit: { per: HOUR, name: 'h' } },
  bodyLimitBytes: { flag: '--body-limit-mb', unit: { per: 1024 * 1024, name: 'MB' } },
  maxAttempts: { flag: '--max-attempts' },
  taskTimeoutMs: { flag: '--task-timeout-s', unit: { per: SECOND, name: 's' } },
  heartbeatIntervalMs: { flag: '--heartbeat-s', unit: { per: SECOND, name: 's' } },
  maxFrameBytes: { flag: '--max-frame-mb', unit: { per: 1024 * 1024, name: 'MB' } },
  unservableGraceMs: { flag: '--unservable-grace-s', unit: { per: SECOND, name: 's' } },
  resumeGraceMs: { flag: '--resume-grace-s', unit: { per: SECOND, name: 's' } },
  anonymousMaxTasks: { flag: '--anonymous-max-tasks' },
  anonymousRequestsPerMinute: { flag: '--anonymous-rpm' },
  maxConnectionsPerAddress: { flag: '--max-connections-per-address' },
  auth: { flag: '--auth' },
  adminToken: { flag: '--admin-token' },
  publicApiKey: { flag: '--public-api-key' },
  nodeToken: { flag: '--node-token' },
  database: { flag: '--database' },
};

/** A setting as its option names it (else its own name). */
const optionOf = (key: keyof GatewayConfig): string => OPTIONS[key]?.flag ?? key;
/** A value of a setting in its option's unit. */
const asGiven = (key: keyof GatewayConfig, value: number): number => value / (OPTIONS[key]?.unit?.per ?? 1);

/** Applies defaults and checks every option; throws one error listing every problem. */
export function resolveGatewayConfig(...inputs: GatewayConfigInput[]): Readonly<GatewayConfig> {
  const merged: GatewayConfig = { ...gatewayDefaults, limits: { ...gatewayDefaults.limits } };
  for (const input of inputs) {
    const { limits, ...rest } = input;
    Object.assign(merged, Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)));
    if (limits) Object.assign(merged.limits, limits);
  }
  // Secrets pasted from a file or a terminal bring a newline or a space along; a request's header never carries
  // one (HTTP trims it), so a secret kept with it would never match.
  for (const key of ['adminToken', 'publicApiKey', 'nodeToken'] as const) {
    const value = merged[key];
    if (value !== null) merged[key] = value.trim();
  }
  const problems: string[] = [];
  if (!Number.isInteger(merged.port) || merged.port < 0 || merged.port > 65535) {
    problems.push(`--port must be an integer from 0 to 65535, got ${merged.port}`);
  }
  for (const key of ['syncTimeoutMs', 'retentionMs', 'bodyLimitBytes', 'maxAttempts', 'taskTimeoutMs', 'heartbeatIntervalMs', 'maxFrameBytes', 'unservableGraceMs'] as const) {
    checkPositive(problems, optionOf(key), asGiven(key, merged[key]), OPTIONS[key]?.unit === undefined);
  }
  if (!Number.isInteger(merged.resumeGraceMs) || merged.resumeGraceMs < 0 || merged.resumeGraceMs > HOUR) {
    problems.push(`--resume-grace-s must be from 0 (retry at once) to 3600 (an hour), got ${asGiven('resumeGraceMs', merged.resumeGraceMs)}`);
  }
  // Nodes refuse a welcome that asks for heartbeats more often than every 100 ms.
  if (merged.heartbeatIntervalMs < 100) problems.push(`--heartbeat-s must be at least 0.1 (100 ms), got ${asGiven('heartbeatIntervalMs', merged.heartbeatIntervalMs)}`);
  for (const key of ['anonymousMaxTasks', 'anonymousRequestsPerMinute', 'maxConnectionsPerAddress'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 0) problems.push(`${optionOf(key)} must be an integer ≥ 0 (0 = no limit), got ${merged[key]}`);
  }
  if (!(AuthModes as readonly string[]).includes(merged.auth)) problems.push(`--auth must be one of ${AuthModes.join(', ')}, got "${merged.auth}"`);
  if (merged.adminToken !== null && merged.adminToken.length < 16) {
    problems.push('--admin-token must be at least 16 characters (or unset to turn the admin API off)');
  }
  // Requests' keys are read for their first MAX_KEY_LENGTH characters: a longer one would never be accepted.
  for (const key of ['adminToken', 'publicApiKey'] as const) {
    const value = merged[key];
    if (value !== null && value.length > MAX_KEY_LENGTH) problems.push(`${optionOf(key)} must be at most ${MAX_KEY_LENGTH} characters, got ${value.length}`);
  }
  checkLimits(problems, merged.limits);
  if (merged.nodeToken !== null && merged.nodeToken.length < 8) {
    problems.push('--node-token must be at least 8 characters (or unset to accept loopback nodes only)');
  }
  if (merged.database !== null && !/^postgres(ql)?:\/\//.test(merged.database)) {
    problems.push('--database must be a PostgreSQL address such as postgres://user:password@host:5432/dan (or unset for SQLite in the data directory)');
  }
  try {
    modelAliasesOf(merged.openaiModels);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const corsProblem = corsOriginProblem(merged.corsOrigin);
  if (corsProblem !== null) problems.push(corsProblem);
  if (problems.length > 0) throw new StartupError(`invalid gateway configuration:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze({ ...merged, limits: Object.freeze(merged.limits) });
}

/** The origins `corsOrigin` names: `'*'`, `'off'`, or origins (scheme://host[:port]) separated by commas. */
export function corsOriginsOf(corsOrigin: string): '*' | 'off' | string[] {
  const value = corsOrigin.trim();
  if (value === '*' || value === 'off') return value;
  return commaList(value);
}

function corsOriginProblem(corsOrigin: string): string | null {
  const origins = corsOriginsOf(corsOrigin);
  if (origins === '*' || origins === 'off') return null;
  const bad = origins.filter((origin) => !/^https?:\/\/[^/\s]+$/.test(origin));
  if (origins.length > 0 && bad.length === 0) return null;
  return `corsOrigin must be *, off, or origins such as https://app.example separated by commas, got ${JSON.stringify(corsOrigin)}`;
}


/** `trustProxy` as Fastify takes it: `true`, a number of hops, or the addresses and ranges as a string. */
export function fastifyTrustProxyOf(trustProxy: string | null): boolean | number | string {
  if (trustProxy === null || trustProxy === 'off' || trustProxy === 'false') return false;
  if (trustProxy === 'true') return true;
  return /^\d+$/.test(trustProxy) ? Number(trustProxy) : trustProxy;
}

/** The host a local client dials for a gateway bound to `host`: loopback for a wildcard address. */
export function localHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

/** `openaiModels` as a map from alias (lower case) to checkpoint; throws naming a pair that is not `alias=checkpoint`. */
export function modelAliasesOf(openaiModels: string): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const pair of commaList(openaiModels)) {
    const [alias, checkpoint, extra] = pair.split('=').map((part) => part.trim());
    if (!alias || !checkpoint || extra !== undefined) throw new Error(`openaiModels must be alias=checkpoint pairs separated by commas (dall-e-3=clarity), got ${JSON.stringify(pair)}`);
    aliases.set(alias.toLowerCase(), checkpoint);
  }
  return aliases;
}
