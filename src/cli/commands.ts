/**
 * @module cli/commands
 *
 * What each `dan` subcommand does, after commander has parsed its flags:
 * resolve the configuration (flags over environment over defaults), start
 * the parts, and shut them down cleanly on SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuthMode } from '../auth/caller.js';
import { type GatewayConfig, type GatewayConfigInput, localHost, readGatewayEnv, resolveGatewayConfig } from '../config/gateway-config.js';
import { type NodeConfig, type NodeConfigInput, readNodeEnv, resolveNodeConfig } from '../config/node-config.js';
import { type Gateway, startGateway } from '../gateway/gateway.js';
import { NodeAgent } from '../node/agent.js';
import { type ModelFamily, parseDeclaredFamilies } from '../domain/families.js';
import type { BackendDriver } from '../node/backend-driver.js';
import { A1111Driver } from '../node/backends/a1111/a1111-driver.js';
import { ComfyUIDriver } from '../node/backends/comfyui/comfyui-driver.js';
import { claimNodeIdentity, loadNodeKey } from '../node/node-key.js';
import { loadComfyOfferings, loadSandboxOfferings, type SandboxFlavor, startSandbox } from '../sandbox/index.js';
import { HOUR, SECOND } from '../util/clock.js';
import { tuneGarbageCollection } from './gc-tuning.js';
import { createLogger, type LogFormat } from './logger.js';
import { commaList } from '../util/comma-list.js';

interface LogFlags {
  logLevel?: string;
  logFormat?: LogFormat;
}

interface GatewayFlags extends LogFlags {
  port?: number;
  host?: string;
  data?: string;
  database?: string;
  catalog?: string;
  nodeToken?: string;
  syncTimeoutS?: number;
  retentionH?: number;
  taskTimeoutS?: number;
  maxAttempts?: number;
  auth?: AuthMode;
  adminToken?: string;
  anonymousMaxTasks?: number;
  anonymousRpm?: number;
  maxConnectionsPerAddress?: number;
  webhookAllowPrivate?: boolean;
  trustProxy?: string;
  unservableGraceS?: number;
  heartbeatS?: number;
  resumeGraceS?: number;
  bodyLimitMb?: number;
  maxFrameMb?: number;
  publicApiKey?: string;
  corsOrigin?: string;
  defaultModel?: string;
  openaiModels?: string;
}

interface NodeFlags extends LogFlags {
  gateway?: string;
  backend?: NodeConfig['backend'];
  webui?: string;
  comfyui?: string;
  modelFamily?: string[];
  token?: string;
  name?: string;
  webuiAuth?: string;
  slots?: number;
  prefetch?: number;
  maxPixels?: number;
  interrogators?: string;
  keyFile?: string;
}

interface SandboxFlags extends LogFlags {
  flavor?: SandboxFlavor;
  port?: number;
  host?: string;
  speed?: number;
  itPerSecond?: number;
  switchSeconds?: number;
  stepCosts?: Partial<Record<ModelFamily, number>>;
  config?: string;
}

function loggerFor(flags: LogFlags, name: string): Logger {
  return createLogger({ name, ...(flags.logLevel ? { level: flags.logLevel } : {}), ...(flags.logFormat ? { format: flags.logFormat } : {}) });
}

function gatewayInput(flags: GatewayFlags): GatewayConfigInput {
  return {
    port: flags.port,
    host: flags.host,
    dataDir: flags.data,
    database: flags.database,
    catalogFile: flags.catalog,
    nodeToken: flags.nodeToken,
    syncTimeoutMs: flags.syncTimeoutS === undefined ? undefined : flags.syncTimeoutS * SECOND,
    retentionMs: flags.retentionH === undefined ? undefined : flags.retentionH * HOUR,
    taskTimeoutMs: flags.taskTimeoutS === undefined ? undefined : flags.taskTimeoutS * SECOND,
    maxAttempts: flags.maxAttempts,
    auth: flags.auth,
    adminToken: flags.adminToken,
    anonymousMaxTasks: flags.anonymousMaxTasks,
    anonymousRequestsPerMinute: flags.anonymousRpm,
    maxConnectionsPerAddress: flags.maxConnectionsPerAddress,
    webhookAllowPrivate: flags.webhookAllowPrivate,
    trustProxy: flags.trustProxy,
    unservableGraceMs: flags.unservableGraceS === undefined ? undefined : flags.unservableGraceS * SECOND,
    heartbeatIntervalMs: flags.heartbeatS === undefined ? undefined : Math.round(flags.heartbeatS * SECOND),
    resumeGraceMs: flags.resumeGraceS === undefined ? undefined : Math.round(flags.resumeGraceS * SECOND),
    bodyLimitBytes: flags.bodyLimitMb === undefined ? undefined : Math.round(flags.bodyLimitMb * 1024 * 1024),
    maxFrameBytes: flags.maxFrameMb === undefined ? undefined : Math.round(flags.maxFrameMb * 1024 * 1024),
    publicApiKey: flags.publicApiKey,
    corsOrigin: flags.corsOrigin,
    defaultModel: flags.defaultModel,
    openaiModels: flags.openaiModels,
  };
}

function nodeInput(flags: NodeFlags): NodeConfigInput {
  return {
    gatewayUrl: flags.gateway,
    backend: flags.backend,
    webuiUrl: flags.webui,
    comfyuiUrl: flags.comfyui,
    modelFamilies: flags.modelFamily,
    token: flags.token,
    name: flags.name,
    webuiAuth: flags.webuiAuth,
    slots: flags.slots,
    prefetch: flags.prefetch,
    maxPixels: flags.maxPixels,
    interrogators: flags.interrogators === undefined ? undefined : commaList(flags.interrogators),
    keyFile: flags.keyFile,
  };
}

/**
 * On the first SIGINT/SIGTERM runs `first` and exits (0, or 1 if it failed). A second
 * signal runs `again` and exits 1 at once, when given; otherwise it is ignored.
 */
function onSignals(log: Logger, first: { message: string; run: () => Promise<void> }, again?: { message: string; run: () => Promise<void> }): void {
  let signalled = false;
  const handler = (signal: string) => {
    if (signalled) {
      if (!again) return;
      log.warn({ signal }, again.message);
      void again.run().finally(() => process.exit(1));
      return;
    }
    signalled = true;
    log.info({ signal }, first.message);
    first.run().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, `error while ${first.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

/** Closes everything once on SIGINT/SIGTERM, then exits. */
function onShutdown(log: Logger, stop: () => Promise<void>): void {
  onSignals(log, { message: 'shutting down', run: stop });
}

/**
 * Starts a gateway; with `ownNode` (`dan start`, `dan demo`), also the secret its own node presents, made for this
 * process alone: that node joins whatever node tokens the gateway has or gets. `announce`: told the resolved
 * configuration before anything starts (the demo names its playground first).
 */
async function launchGateway(
  flags: GatewayFlags,
  log: Logger,
  options: { announce?: (config: GatewayConfig) => void; ownNode?: boolean } = {},
): Promise<{ gateway: Gateway; nodeToken: string | null }> {
  const config = resolveGatewayConfig(readGatewayEnv(), gatewayInput(flags));
  options.announce?.(config);
  const gcFlags = tuneGarbageCollection();
  if (gcFlags.length > 0) log.debug({ flags: gcFlags }, 'garbage collection tuned for the gateway (cli/gc-tuning.ts)');
  const ownNodeToken = options.ownNode ? `own-${randomBytes(24).toString('base64url')}` : undefined;
  const gateway = await startGateway(config, log, ownNodeToken === undefined ? {} : { ownNodeToken });
  log.info({ url: gateway.url, store: gateway.storeName }, `DAN gateway listening on ${config.host}:${gateway.port}; tasks in ${gateway.storeName}`);
  const nodeTokens = (await gateway.keys.list('node')).filter((token) => token.revokedAt === null).length;
  if (config.nodeToken === null && nodeTokens === 0) {
    log.warn('no node token: only nodes on this machine (loopback) may join; make one per GPU owner with `dan nodes token create`, or set --node-token');
  }
  return { gateway, nodeToken: ownNodeToken ?? config.nodeToken };
}

/** `nodeId`: the id of the node's connection to its gateway, while it has one (the agent's). */
function driverFor(config: Readonly<NodeConfig>, log: Logger, nodeId: () => string | undefined): BackendDriver {
  const auth = config.webuiAuth ? { auth: config.webuiAuth } : {};
  const declaredFamilies = parseDeclaredFamilies(config.modelFamilies).families;
  if (config.backend === 'comfyui') return new ComfyUIDriver({ baseUrl: config.comfyuiUrl, maxPixels: config.maxPixels, declaredFamilies, nodeId, ...auth });
  return new A1111Driver({ baseUrl: config.webuiUrl, maxPixels: config.maxPixels, interrogators: config.interrogators, declaredFamilies, nodeId, log, ...auth });
}

/** Where the node's backend is, for messages. */
function backendUrlOf(config: Readonly<NodeConfig>): string {
  return config.backend === 'comfyui' ? config.comfyuiUrl : config.webuiUrl;
}

function launchNode(config: Readonly<NodeConfig>, log: Logger): NodeAgent {
  const { key: nodeKey, problem } = loadNodeKey(config.keyFile);
  if (problem) log.warn(problem);
  // The driver tells its WebUI the agent's connection id (made below): a gateway of the network there refuses it.
  let agent: NodeAgent | undefined;
  const driver = driverFor(config, log, () => agent?.nodeId);
  if (config.backend === 'a1111' && config.slots > 1) {
    // A1111, Forge and SD.Next make one image at a time (a lock around every generation): the other slots' tasks
    // would wait inside the WebUI, their progress read from the one running and their times counted as its speed.
    log.warn(
      { slots: config.slots },
      `--slots ${config.slots}: an A1111-compatible WebUI makes one image at a time, so ${config.slots - 1} of these tasks would wait inside it and make this GPU look slower than it is. --prefetch keeps the next task ready instead; more slots fit only a WebUI address that spreads work over several GPUs`,
    );
  }
  agent = new NodeAgent({ gatewayUrl: config.gatewayUrl, name: config.name, token: config.token, nodeKey, slots: config.slots, prefetch: config.prefetch, driver, log });
  agent.on('rejected', () => process.exit(2));
  return agent;
}

async function startNodeWithNotice(agent: NodeAgent, config: Readonly<NodeConfig>, log: Logger): Promise<void> {
  await agent.start();
  if (!agent.backendUp) {
    const comfy = config.backend === 'comfyui';
    const start = comfy
      ? 'Start ComfyUI (python main.py; it listens on 127.0.0.1:8188), or point --comfyui at it.'
      : 'Start AUTOMATIC1111/Forge/SD.Next with --api (e.g. ./webui.sh --api), or point --webui at it.';
    // What the node found (a WebUI without --api, a login it needs, a ComfyUI where a WebUI was expected) says more than "no answer".
    const found = agent.backendProblem;
    const what = `${found ? `${found.replace(/\.$/, '')}.` : `no ${comfy ? 'ComfyUI' : 'WebUI'} answers at ${comfy ? config.comfyuiUrl : config.webuiUrl}.`} ${start}`;
    log.error(`${what} This node stays connected and takes work as soon as the backend answers.`);
  }
}

export async function runGateway(flags: GatewayFlags): Promise<void> {
  const log = loggerFor(flags, 'gateway');
  const { gateway } = await launchGateway(flags, log);
  onShutdown(log, () => gateway.close());
}

export async function runNode(flags: NodeFlags): Promise<void> {
  const log = loggerFor(flags, 'node');
  const config = resolveNodeConfig(readNodeEnv(), nodeInput(flags));
  // Only `dan node`: the node of `dan start` and `dan demo` joins its own gateway with a secret of its process.
  if (await claimNodeIdentity(config.keyFile, config.name)) {
    log.error(
      { keyFile: config.keyFile },
      `another node on this machine runs with the name ${config.name} and this key file: the gateway would take them for one node. Give each node its own --name (or --key-file)`,
    );
    process.exit(2);
  }
  const agent = launchNode(config, log);
  log.info({ gateway: config.gatewayUrl, backend: config.backend, url: backendUrlOf(config), name: config.name }, 'DAN node starting');
  await startNodeWithNotice(agent, config, log);
  onDrain(log, agent);
}

/** First SIGTERM/SIGINT: take no new task, finish the running ones, exit. A second one: exit now. */
function onDrain(log: Logger, agent: NodeAgent): void {
  onSignals(
    log,
    { message: 'draining: finishing running tasks, taking no new ones (signal again to stop now)', run: () => agent.drain() },
    { message: 'stopping now; running tasks are abandoned and retried elsewhere', run: () => agent.stop() },
  );
}

export async function runSandbox(flags: SandboxFlags): Promise<void> {
  const log = loggerFor(flags, 'sandbox');
  const comfy = flags.flavor === 'comfyui';
  const offerings = flags.config && !comfy ? { offerings: await loadSandboxOfferings(flags.config) } : {};
  const comfyOfferings = flags.config && comfy ? { comfyOfferings: await loadComfyOfferings(flags.config) } : {};
  const sandbox = await startSandbox({
    flavor: flags.flavor ?? 'a1111',
    port: flags.port ?? (comfy ? 8188 : 7860),
    host: flags.host ?? '127.0.0.1',
    ...(flags.speed === undefined ? {} : { speed: flags.speed }),
    ...(flags.itPerSecond === undefined ? {} : { itPerSecond: flags.itPerSecond }),
    ...(flags.switchSeconds === undefined ? {} : { switchSeconds: flags.switchSeconds }),
    ...(flags.stepCosts === undefined ? {} : { stepCosts: flags.stepCosts }),
    ...offerings,
    ...comfyOfferings,
  });
  const what = comfy ? 'simulated ComfyUI' : flags.flavor === 'forge' ? 'simulated Forge WebUI' : 'simulated A1111 WebUI';
  log.info({ url: sandbox.url, speed: flags.speed ?? 1 }, `DAN sandbox (${what}, no real GPU) listening`);
  onShutdown(log, () => sandbox.close());
}

export async function runStart(flags: GatewayFlags & NodeFlags): Promise<void> {
  const log = loggerFor(flags, 'dan');
  const { gateway, nodeToken } = await launchGateway(flags, log, { ownNode: true });
  const config = resolveNodeConfig(readNodeEnv(), nodeInput(flags), { gatewayUrl: gateway.url, token: nodeToken });
  const agent = launchNode(config, log.child({ role: 'node' }));
  await startNodeWithNotice(agent, config, log);
  onShutdown(log, async () => {
    await agent.stop();
    await gateway.close();
  });
}

export async function runDemo(flags: GatewayFlags & { speed?: number }): Promise<void> {
  const log = loggerFor(flags, 'demo');
  const sandbox = await startSandbox({ port: 0, speed: flags.speed ?? 10 });
  // The playground's address first, when the port is known before start (not for --port 0).
  const announce = (config: GatewayConfig) => {
    if (config.port !== 0) log.info(`DAN demo starting: the playground and dashboard will be at http://${localHost(config.host)}:${config.port}/`);
  };
  const { gateway, nodeToken } = await launchGateway(flags, log, { announce, ownNode: true });
  const config = resolveNodeConfig({ gatewayUrl: gateway.url, webuiUrl: sandbox.url, name: 'demo-sandbox-node', token: nodeToken });
  const agent = launchNode(config, log.child({ role: 'node' }));
  const welcomed = new Promise<void>((resolve) => agent.once('welcomed', () => resolve()));
  await agent.start();
  await welcomed;
  log.info({ gateway: gateway.url, sandbox: sandbox.url }, demoBanner(gateway.url, sandbox.url));
  onShutdown(log, async () => {
    await agent.stop();
    await gateway.close();
    await sandbox.close();
  });
}

function demoBanner(gatewayUrl: string, sandboxUrl: string): string {
  return [
    `DAN demo ready. Playground and dashboard: ${gatewayUrl}/`,
    `Gateway (API) ${gatewayUrl}, its API described at ${gatewayUrl}/docs; simulated GPU (sandbox) ${sandboxUrl}.`,
    'The sandbox draws placeholder patterns, not pictures: it times and answers like a WebUI, without a',
    'model. For images, attach a real WebUI: `dan node --gateway URL --webui URL` (README, "Attaching a real WebUI").',
    'Try:',
    `  curl ${gatewayUrl}/api/sd/supportedModelInfo`,
    `  curl -X POST ${gatewayUrl}/api/sd/txt2img -H 'Content-Type: application/json' \\`,
    `       -d '{"prompt":"a red fox","model":"clarity","steps":20}'`,
    `  curl -X POST ${gatewayUrl}/api/sd/txt2img/async -H 'Content-Type: application/json' -d '{"prompt":"a fox","model":"clarity"}'`,
    `  curl -X POST ${gatewayUrl}/api/sd/task/status -H 'Content-Type: application/json' -d '{"taskId":"<taskId from above>"}'`,
  ].join('\n');
}
