/**
 * @module config/node-config
 *
 * The node agent's configuration: defaults, environment, and resolution into
 * a checked `NodeConfig`. docs/config.md lists every option.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { type BackendKind, BackendKinds } from '../domain/capabilities.js';
import { parseDeclaredFamilies } from '../domain/families.js';
import { StartupError } from '../errors/startup-error.js';
import { commaList } from '../util/comma-list.js';



export interface NodeConfig {
  /**
   * Gateway URL, `http(s)://host:port` or `ws(s)://…`; or several gateways of one network separated by
   * commas, tried in turn when one cannot be reached. Env `DAN_GATEWAY`. @defaultValue 'http://127.0.0.1:6006'
   */
  gatewayUrl: string;
  /**
   * Which backend the node drives: `a1111` (AUTOMATIC1111, Forge, SD.Next: the `/sdapi/v1` API) or `comfyui`.
   * Env `DAN_BACKEND`. @defaultValue 'a1111'
   */
  backend: BackendKind;
  /** WebUI base URL (A1111 / Forge / SD.Next started with `--api`). Env `DAN_WEBUI`. @defaultValue 'http://127.0.0.1:7860' */
  webuiUrl: string;
  /** ComfyUI base URL, with `--backend comfyui`. Env `DAN_COMFYUI`. @defaultValue 'http://127.0.0.1:8188' */
  comfyuiUrl: string;
  /**
   * Families of model files the backend cannot tell (`file=family`, family one of sd15, sdxl, flux, flux2, qwen-image, z-image-turbo); they
   * override what a file's metadata says. Env `DAN_MODEL_FAMILIES`, comma-separated.
   */
  modelFamilies: string[];
  /** `user:pass` when the WebUI runs with `--api-auth` (or ComfyUI sits behind a proxy asking for it). Env `DAN_WEBUI_AUTH`. */
  webuiAuth: string | null;
  /** Token the gateway requires (its `--node-token`). Env `DAN_NODE_TOKEN`. */
  token: string | null;
  /** Name shown in the gateway's logs and dashboard. Env `DAN_NODE_NAME`. @defaultValue the host name */
  name: string;
  /** Tasks run at once. @defaultValue 1 (A1111 runs one job at a time) */
  slots: number;
  /**
   * Tasks it takes beyond its slots, held ready: the next starts the moment a slot frees, rather than after
   * the result's round trip to the gateway and the next task's way back. @defaultValue 1
   */
  prefetch: number;
  /** Largest image, in pixels, this GPU may be asked to make (hires target included). @defaultValue 2048×2048 */
  maxPixels: number;
  /** Interrogators the WebUI has (A1111 ships both). @defaultValue ['clip', 'deepdanbooru'] */
  interrogators: string[];
  /**
   * Where the node keeps its key (node/node-key.ts): who it is to the gateway across restarts.
   * Env `DAN_NODE_KEY_FILE`. @defaultValue `~/.config/dan/node-key` (`$XDG_CONFIG_HOME/dan/node-key`)
   */
  keyFile: string;
}

export type NodeConfigInput = Partial<NodeConfig>;

/** Where a node keeps its key by default: `$XDG_CONFIG_HOME/dan/node-key`, or `~/.config/dan/node-key`. */
export function defaultNodeKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'dan', 'node-key');
}

export const nodeDefaults = {
  gatewayUrl: 'http://127.0.0.1:6006',
  backend: 'a1111',
  webuiUrl: 'http://127.0.0.1:7860',
  comfyuiUrl: 'http://127.0.0.1:8188',
  modelFamilies: [],
  webuiAuth: null,
  token: null,
  name: hostname(),
  slots: 1,
  prefetch: 1,
  maxPixels: 2048 * 2048,
  interrogators: ['clip', 'deepdanbooru'],
  keyFile: defaultNodeKeyFile(),
} satisfies NodeConfig;

export function readNodeEnv(env: NodeJS.ProcessEnv = process.env): NodeConfigInput {
  const input: NodeConfigInput = {};
  if (env['DAN_GATEWAY']) input.gatewayUrl = env['DAN_GATEWAY'];
  if (env['DAN_BACKEND']) input.backend = env['DAN_BACKEND'] as BackendKind;
  if (env['DAN_WEBUI']) input.webuiUrl = env['DAN_WEBUI'];
  if (env['DAN_COMFYUI']) input.comfyuiUrl = env['DAN_COMFYUI'];
  if (env['DAN_MODEL_FAMILIES']) input.modelFamilies = commaList(env['DAN_MODEL_FAMILIES']);
  if (env['DAN_WEBUI_AUTH']) input.webuiAuth = env['DAN_WEBUI_AUTH'];
  if (env['DAN_NODE_TOKEN']) input.token = env['DAN_NODE_TOKEN'];
  if (env['DAN_NODE_NAME']) input.name = env['DAN_NODE_NAME'];
  if (env['DAN_NODE_KEY_FILE']) input.keyFile = env['DAN_NODE_KEY_FILE'];
  return input;
}

/**
 * `host:port/path` of a URL, loopback spellings made one (`localhost`, `[::1]`, `127.0.0.1`), for comparing
 * addresses: two services behind one proxy differ by their paths.
 */
function endpointOf(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  const secure = parsed.protocol === 'https:' || parsed.protocol === 'wss:';
  const host = ['localhost', '[::1]', '127.0.0.1', '0.0.0.0'].includes(parsed.hostname) ? 'loopback' : parsed.hostname;
  return `${host}:${parsed.port || (secure ? '443' : '80')}${parsed.pathname.replace(/\/+$/, '')}`;
}

/**
 * A backend address that is one of the node's own gateways: a gateway answers the WebUI API itself (its
 * front door), so the node would start, and send every task back to the gateway, which sends it to the node
 * again. (Another DAN network's gateway as the backend is fine: that is how networks chain.)
 */
function ownGatewayAsBackend(config: NodeConfig): string[] {
  const flag = config.backend === 'comfyui' ? '--comfyui (DAN_COMFYUI)' : '--webui (DAN_WEBUI)';
  const backend = endpointOf(config.backend === 'comfyui' ? config.comfyuiUrl : config.webuiUrl);
  if (backend === null || !commaList(config.gatewayUrl).some((gateway) => endpointOf(gateway) === backend)) return [];
  return [`${flag} is the address of this node's gateway (--gateway): the node would hand the gateway's tasks back to it. Give the WebUI of this machine (AUTOMATIC1111, Forge or SD.Next started with --api, by default http://127.0.0.1:7860)`];
}

/** Node names travel in the protocol: letters, digits, `.`, `_`, `-`, at most 64. */
export function toNodeName(raw: string): string {
  const name = raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return name || 'node';
}

export function resolveNodeConfig(...inputs: NodeConfigInput[]): Readonly<NodeConfig> {
  const merged: NodeConfig = { ...nodeDefaults };
  for (const input of inputs) Object.assign(merged, Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
  const problems: string[] = [];
  // A ComfyUI's address says which backend, unless one was named: then they must agree.
  const given = (key: keyof NodeConfigInput) => inputs.some((input) => input[key] !== undefined);
  if (given('comfyuiUrl') && !given('backend')) merged.backend = 'comfyui';
  else if (given('comfyuiUrl') && merged.backend !== 'comfyui') problems.push(`comfyui (--comfyui) is given, but backend (--backend) is "${merged.backend}": give --backend comfyui, or leave --comfyui out`);
  if (!Number.isInteger(merged.slots) || merged.slots < 1 || merged.slots > 64) problems.push(`--slots must be an integer from 1 to 64, got ${merged.slots}`);
  if (!Number.isInteger(merged.prefetch) || merged.prefetch < 0 || merged.prefetch > 8) problems.push(`--prefetch must be an integer from 0 to 8, got ${merged.prefetch}`);
  if (!Number.isInteger(merged.maxPixels) || merged.maxPixels < 4096) problems.push(`--max-pixels must be an integer ≥ 4096, got ${merged.maxPixels}`);
  if (merged.webuiAuth !== null && !merged.webuiAuth.includes(':')) problems.push('--webui-auth (DAN_WEBUI_AUTH) must look like user:password');
  if (!(BackendKinds as readonly string[]).includes(merged.backend)) problems.push(`--backend (DAN_BACKEND) must be one of ${BackendKinds.join(', ')}, got "${merged.backend}"`);
  problems.push(...parseDeclaredFamilies(merged.modelFamilies).problems);
  // Named as the operator gives them: the flag, and its environment variable.
  const schemes = {
    gatewayUrl: { flag: '--gateway (DAN_GATEWAY)', allowed: ['http:', 'https:', 'ws:', 'wss:'] },
    webuiUrl: { flag: '--webui (DAN_WEBUI)', allowed: ['http:', 'https:'] },
    comfyuiUrl: { flag: '--comfyui (DAN_COMFYUI)', allowed: ['http:', 'https:'] },
  } as const;
  for (const [key, { flag, allowed }] of Object.entries(schemes) as [keyof typeof schemes, (typeof schemes)[keyof typeof schemes]][]) {
    const values = key === 'gatewayUrl' ? commaList(merged[key]) : [merged[key]];
    if (values.length === 0) problems.push(`${flag} is empty`);
    for (const value of values) {
      if (!URL.canParse(value)) problems.push(`${flag} "${value}" is not a URL`);
      else if (!(allowed as readonly string[]).includes(new URL(value).protocol)) problems.push(`${flag} "${value}" must start with ${allowed.map((s) => `${s}//`).join(', ')}`);
    }
  }
  problems.push(...ownGatewayAsBackend(merged));
  if (problems.length > 0) throw new StartupError(`invalid node configuration:\n  - ${problems.join('\n  - ')}`);
  // A token pasted from a file or a terminal brings a newline or a space along; the gateway trims its own too.
  return Object.freeze({ ...merged, name: toNodeName(merged.name), token: merged.token?.trim() || null });
}
