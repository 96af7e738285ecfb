/**
 * @module cli/main
 *
 * The `dan` command. Subcommands:
 *   dan gateway   the HTTP API + node hub + task store
 *   dan node      a node agent beside a Stable Diffusion WebUI or ComfyUI
 *   dan sandbox   a GPU simulator speaking the A1111 or ComfyUI API (tests, demos, benchmarks)
 *   dan start     gateway + a local node attached to a WebUI on this machine
 *   dan demo      gateway + sandbox + node: try every endpoint without a GPU
 *   dan keys      create, list, change and revoke API keys on the gateway's store
 *   dan nodes token  create, list and revoke node tokens on the gateway's store
 *   dan catalog   add, list and remove the checkpoints and LoRAs the network knows by sha256
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DanError } from '../errors/dan-error.js';
import { StartupError } from '../errors/startup-error.js';
import { DAN_VERSION } from '../util/version.js';
import { ModelFamilies, type ModelFamily } from '../domain/families.js';
import { PRIOR_STEP_COSTS } from '../domain/work-units.js';
import { runDemo, runGateway, runNode, runSandbox, runStart } from './commands.js';
import { catalogAdd, catalogList, catalogRemove } from './catalog-command.js';
import { keysCreate, keysList, keysRevoke, keysSet, nodeTokensCreate, nodeTokensList, nodeTokensRevoke } from './keys-command.js';
import { nodesList } from './nodes-command.js';

function defaultStepCosts(): string {
  return ModelFamilies.map((family) => `${family}=${PRIOR_STEP_COSTS[family]}`).join(',');
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** `flux2=20,qwen-image=8`: a step's cost by family, against SD 1.5's. */
function stepCosts(value: string): Partial<Record<ModelFamily, number>> {
  const costs: Partial<Record<ModelFamily, number>> = {};
  for (const pair of value.split(',')) {
    const [family, cost] = pair.split('=').map((part) => part.trim());
    if (!ModelFamilies.includes(family as ModelFamily)) throw new InvalidArgumentError(`"${family}" is no model family; one of ${ModelFamilies.join(', ')}`);
    const n = Number(cost);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`the cost of ${family} must be a positive number, got "${cost ?? ''}"`);
    costs[family as ModelFamily] = n;
  }
  return costs;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
}

const logOptions = (command: Command) =>
  command
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--log-format <format>', 'log format (default: pretty on a terminal, else json)').choices(['pretty', 'json']));

const gatewayOptions = (command: Command) =>
  logOptions(command)
    .option('-p, --port <port>', 'HTTP port (env PORT; default 6006)', integer)
    .option('--host <host>', 'interface to listen on (env DAN_HOST; default 0.0.0.0)')
    .option('--data <dir>', 'data directory for the task store (env DAN_DATA; default ./data)')
    .option('--database <url>', 'keep tasks, keys and webhooks in this PostgreSQL database instead of SQLite in --data; gateways that share it are one network (env DATABASE_URL)')
    .option('--catalog <file>', 'checkpoints and LoRAs added to the catalog (`dan catalog add`; env DAN_CATALOG; default catalog.json in --data)')
    .option('--node-token <token>', 'token nodes must present (env DAN_NODE_TOKEN); without it only local nodes may join')
    .option('--sync-timeout-s <seconds>', 'how long sync endpoints wait before answering 202 (default 300)', positive)
    .option('--retention-h <hours>', 'how long finished results are kept (default 24)', positive)
    .option('--task-timeout-s <seconds>', 'longest one attempt may run on a node (default 600)', positive)
    .option('--max-attempts <n>', 'failed attempts before a task fails (default 3)', integer)
    .addOption(new Option('--auth <mode>', 'off: no keys, no limits; optional: callers without a key get the anonymous limits; required: every request needs a key (env DAN_AUTH; default optional)').choices(['off', 'optional', 'required']))
    .option('--admin-token <token>', 'token of the admin API /api/admin, at least 16 characters (env DAN_ADMIN_TOKEN; default: admin API off)')
    .option('--anonymous-max-tasks <n>', 'unfinished tasks a caller without a key may have, per address; 0 = no limit (default 10)', integer)
    .option('--trust-proxy <proxies>', 'believe X-Forwarded-For from these proxies (true, a hop count, or addresses/CIDRs separated by commas) to count anonymous callers by their own address (env DAN_TRUST_PROXY; default none)')
    .option('--webhook-allow-private', 'let webhooks reach loopback, private and link-local addresses (env DAN_WEBHOOK_ALLOW_PRIVATE=1)')
    .option('--anonymous-rpm <n>', 'requests a minute a caller without a key may make, per address; 0 = no limit (default 120)', integer)
    .option('--max-connections-per-address <n>', 'connections one client address may hold open; 0 = no limit (default 256; loopback and clients behind --trust-proxy not counted)', integer)
    .option('--unservable-grace-s <seconds>', 'how long a queued task may wait with no node able to serve it (default 120)', positive)
    .option('--heartbeat-s <seconds>', 'how often nodes send a heartbeat; one silent for 3 is dropped (default 5)', positive)
    .option('--resume-grace-s <seconds>', 'how long the tasks of a node whose connection dropped wait for it to come back with them, 0 = retry at once (default 20)', nonNegative)
    .option('--body-limit-mb <mb>', 'largest request body (default 32)', positive)
    .option('--max-frame-mb <mb>', 'largest WebSocket frame a node may send (default 64)', positive)
    .option('--public-api-key <key>', 'key served by /api/user/public-api-key (env DAN_PUBLIC_API_KEY; default generated)')
    .option('--cors-origin <origins>', 'web pages whose scripts may call the API: *, off, or origins separated by commas (env DAN_CORS_ORIGIN; default *)')
    .option('--default-model <checkpoint>', 'checkpoint for OpenAI- and WebUI-compatible requests that name no model (env DAN_DEFAULT_MODEL; default: the first one a node serves)')
    .option('--openai-models <pairs>', 'OpenAI model names mapped to checkpoints, e.g. dall-e-3=clarity,gpt-image-1=clarity (env DAN_OPENAI_MODELS)');

const nodeOptions = (command: Command) =>
  command
    .addOption(new Option('--backend <kind>', 'what drives the GPU: a1111 (AUTOMATIC1111, Forge, SD.Next) or comfyui (env DAN_BACKEND; default a1111)').choices(['a1111', 'comfyui']))
    .option('--comfyui <url>', 'ComfyUI URL, with --backend comfyui (env DAN_COMFYUI; default http://127.0.0.1:8188)')
    .option('--model-family <file=family>', 'family of a model file the node cannot tell (an A1111/Forge node reads a .safetensors header on its own machine): sd15, sdxl, flux, flux2, qwen-image, z-image-turbo, flux-kontext or qwen-image-edit; repeat for more (env DAN_MODEL_FAMILIES)', collect)
    .option('--token <token>', 'the gateway\'s node token (env DAN_NODE_TOKEN)')
    .option('--name <name>', 'node name (env DAN_NODE_NAME; default the host name)')
    .option('--webui-auth <user:pass>', 'credentials of a WebUI started with --api-auth (env DAN_WEBUI_AUTH)')
    .option('--slots <n>', 'tasks run at once (default 1: A1111 runs one job at a time)', integer)
    .option('--prefetch <n>', 'tasks held ready beyond the slots, started the moment one frees (default 1; 0: none)', integer)
    .option('--max-pixels <n>', 'largest image in pixels this GPU may make (default 4194304 = 2048²)', integer)
    .option('--interrogators <list>', 'comma-separated interrogators the WebUI has (default clip,deepdanbooru)')
    .option('--key-file <file>', 'where the node keeps its key, who it is to the gateway across restarts (env DAN_NODE_KEY_FILE; default ~/.config/dan/node-key)');

export function buildProgram(): Command {
  const program = new Command('dan')
    .description('DAN: a self-hostable Stable Diffusion computing network')
    // One line after an error, not the command's whole help (sixty lines for the gateway).
    .showHelpAfterError('(add --help for the options)')
    .version(DAN_VERSION);

  gatewayOptions(program.command('gateway').description('run the gateway: HTTP API, node hub, task store')).action(runGateway);

  logOptions(nodeOptions(program.command('node').description('run a node agent beside a Stable Diffusion WebUI or ComfyUI')))
    .option('--gateway <url>', 'gateway URL, http(s)://host:port or ws(s)://…; several gateways of one network separated by commas, tried in turn (env DAN_GATEWAY; default http://127.0.0.1:6006)')
    .option('--webui <url>', 'WebUI URL, started with --api (env DAN_WEBUI; default http://127.0.0.1:7860)')
    .action(runNode);

  logOptions(program.command('sandbox').description('run a GPU simulator that speaks the A1111 or the ComfyUI API (a test instrument, not a backend)'))
    .addOption(new Option('--flavor <api>', 'which API it speaks: a1111, forge (A1111 with Forge modules and a Flux model) or comfyui (default a1111)').choices(['a1111', 'forge', 'comfyui']))
    .option('-p, --port <port>', 'HTTP port (default 7860; 8188 with --flavor comfyui)', integer)
    .option('--host <host>', 'interface (default 127.0.0.1)')
    .option('--speed <factor>', 'time compression: 1 = real GPU time, 100 = 100× faster (default 1)', positive)
    .option('--it-per-second <n>', 'sampler steps per second at 512×512 (default 15)', positive)
    .option('--switch-seconds <s>', 'checkpoint switch cost in seconds (default 4)', Number)
    .option('--step-costs <list>', `what a step of a model family costs against an SD 1.5 step at the same size, e.g. flux2=20,qwen-image=8 (default ${defaultStepCosts()})`, stepCosts)
    .option('--config <file>', 'JSON file with the offerings (models, LoRAs, samplers, …; for comfyui: checkpoints, diffusionModels, textEncoders, vaes, …)')
    .action(runSandbox);

  gatewayOptions(nodeOptions(program.command('start').description('run the gateway and a node for the WebUI on this machine')))
    .option('--webui <url>', 'WebUI URL (env DAN_WEBUI; default http://127.0.0.1:7860)')
    .action(runStart);

  gatewayOptions(program.command('demo').description('run gateway + sandbox + node: every endpoint, no GPU needed'))
    .option('--speed <factor>', 'sandbox time compression (default 10)', positive)
    .action(runDemo);

  const keys = program.command('keys').description('API keys, on the gateway\'s store (a running gateway sees changes within a second)');
  const keyStoreOptions = (command: Command) =>
    command
      .option('--data <dir>', 'the gateway\'s data directory (env DAN_DATA; default ./data)')
      .option('--database <url>', 'the gateways\' PostgreSQL database, when they keep their keys there (env DATABASE_URL)')
      .option('--json', 'print JSON (for scripts)');
  // `create` says the defaults a new key gets; `set` changes only what it is given.
  const keyLimitOptions = (command: Command, defaults: boolean) => {
    const or = (value: string) => (defaults ? ` (default ${value})` : ' (left as it is unless given)');
    return command
      .option('--name <name>', 'who the key is for')
      .option('--max-tasks <n>', `unfinished tasks at once; 0 = no limit${or('100')}`, integer)
      .option('--rpm <n>', `requests a minute; 0 = no limit${or('600')}`, integer)
      .option('--max-pixels <n>', `largest image made, in pixels (width × height after hires); 0 = the gateway's limits${or('0')}`, integer)
      .option('--max-steps <n>', `most sampling steps; 0 = the gateway's limits${or('0')}`, integer)
      .option('--weight <w>', `share of the GPUs when busy, relative to other keys, 0.1 to 100${or('1')}`, Number)
      .option('--models <list>', `checkpoints the key may use, separated by commas, or any${or('any')}`);
  };
  keyLimitOptions(keyStoreOptions(keys.command('create').description('make a key; its secret is printed once')), true).action((flags) => keysCreate(flags));
  keyStoreOptions(keys.command('list').description('list the keys (never their secrets)')).action((flags) => keysList(flags));
  keyLimitOptions(keyStoreOptions(keys.command('set').description('change a key\'s name or limits').argument('<id>', 'the key\'s id (key_…)')), false).action((id: string, flags) => keysSet(id, flags));
  keyStoreOptions(keys.command('revoke').description('revoke a key for good').argument('<id>', 'the key\'s id (key_…)')).action((id: string, flags) => keysRevoke(id, flags));

  const nodes = program.command('nodes').description('the GPU nodes of the network');
  nodes
    .command('list')
    .description('the nodes of a running network, as its gateway lists them: state, work, loaded checkpoint, speed, problems')
    .option('--gateway <url>', 'the gateway\'s address (default http://127.0.0.1:6006)')
    .option('--key <key>', 'an API key, for a gateway run with --auth required')
    .option('--json', 'print JSON (for scripts)')
    .action((flags) => nodesList(flags));
  const tokens = nodes
    .command('token')
    .description('node tokens, one per GPU owner, on the gateway\'s store (a revoked token\'s nodes are disconnected)');
  keyStoreOptions(tokens.command('create').description('make a node token; its secret is printed once'))
    .option('--name <name>', 'whose nodes the token admits')
    .action((flags) => nodeTokensCreate(flags));
  keyStoreOptions(tokens.command('list').description('list the node tokens (never their secrets)')).action((flags) => nodeTokensList(flags));
  keyStoreOptions(tokens.command('revoke').description('revoke a node token for good; its nodes are disconnected').argument('<id>', 'the token\'s id (nt_…)')).action((id: string, flags) => nodeTokensRevoke(id, flags));

  const catalog = program.command('catalog').description('checkpoints and LoRAs the network knows by sha256, beyond the built-in ones');
  const catalogFileOptions = (command: Command) =>
    command
      .option('--data <dir>', 'the gateway\'s data directory, where catalog.json is kept (env DAN_DATA; default ./data)')
      .option('--catalog <file>', 'the catalog file, when the gateway is given one (env DAN_CATALOG)');
  catalogFileOptions(catalog.command('add').description('add a checkpoint or LoRA; gateways use it once restarted'))
    .argument('<kind>', 'model or lora')
    .argument('<name>', 'the name requests use')
    .requiredOption('--sha256 <hex>', 'the sha256 of the whole file (64 hex digits)')
    .requiredOption('--family <family>', 'sd15, sdxl, flux, flux2, qwen-image, z-image-turbo, flux-kontext or qwen-image-edit (a LoRA: the family it is for)')
    .requiredOption('--download <url>', 'where GPU owners download the file')
    .option('--ref <url>', 'where the model is described (default: the download link)')
    .action((kind: string, name: string, flags) => catalogAdd(kind, name, flags));
  catalogFileOptions(catalog.command('list').description('list the catalog: built-in entries and added ones'))
    .option('--json', 'print JSON (for scripts)')
    .action((flags) => catalogList(flags));
  catalogFileOptions(catalog.command('remove').description('remove an added entry').argument('<name-or-sha256>', 'the entry\'s name or sha256')).action((key: string, flags) =>
    catalogRemove(key, flags),
  );

  return program;
}

/**
 * What to tell the operator when a command cannot start for a reason theirs to fix: a
 * StartupError (a flag, the configuration, the data directory), or a task store that
 * fails while the gateway recovers its tasks. Undefined for a bug, which keeps its stack.
 */
function refusal(error: unknown): string | undefined {
  if (error instanceof StartupError) return error.message;
  if (error instanceof DanError && error.id === 'DAN_ERR_STORE_UNAVAILABLE') return `the task store failed while starting: ${error.message}`;
  return undefined;
}

// Output piped into a reader that stopped (`dan keys list | head -2`): nothing more to say, and no stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  const message = refusal(error);
  if (message === undefined) throw error;
  // exit() rather than an exit code: whatever started before the failure (a sandbox for
  // `dan demo`, a logger's thread) would keep the process alive. Written first, so no line is cut.
  process.stderr.write(`dan: ${message}\n`, () => process.exit(1));
}
