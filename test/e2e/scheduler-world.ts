/**
 * A small world of real processes for the scheduler's end-to-end tests: a
 * gateway, and GPUs (a sandbox with chosen checkpoints and speed, plus the
 * node agent beside it). Everything a test starts is killed after it.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import type { KeySettings } from '../../src/auth/api-key.js';
import { KeyAdmin } from '../../src/auth/key-admin.js';
import { catalogModels } from '../../src/domain/catalog.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { SqliteKeyStore } from '../../src/store/sqlite/sqlite-key-store.js';
import { getJson, postJson } from '../helpers/api-client.js';
import { type DanProcess, gatewayProcessAt, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from '../helpers/processes.js';

export const FILES = { clarity: 'clarity.safetensors', chillout: 'chilloutmix_NiPrunedFp32Fix.safetensors', anything: 'anything-v4.5-pruned.safetensors' };
export const SHA = { clarity: catalogModels[1]!.sha256, chillout: catalogModels[0]!.sha256, anything: catalogModels[2]!.sha256 };
export type Model = keyof typeof FILES;

const running: DanProcess[] = [];
const dirs: { path: string; remove(): void }[] = [];

/**
 * Kills what each test started, after it. Called by every test file that uses the world: a hook
 * registered when this module is first imported would belong to that one file only, since test
 * files share their worker's modules (vitest.config.ts, `isolate: false`).
 */
export function killWorldAfterEach(): void {
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    dirs.splice(0).forEach((d) => d.remove());
  });
}

function dir() {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

/** Each gateway's data directory, by URL. */
const dataDirs = new Map<string, string>();

export async function gateway(args: string[] = []) {
  const dataDir = dir();
  const gw = await startGatewayProcess({ dataDir, args });
  running.push(gw.proc);
  dataDirs.set(gw.url, dataDir);
  return gw.url;
}

/** Stops the gateway at `url` (as an operator does: SIGTERM) and starts it again on its port and data; `url` stays its address. */
export async function restartGateway(url: string, args: string[] = []): Promise<void> {
  await gatewayProcessAt(url).stop('SIGTERM');
  const again = await startGatewayProcess({ dataDir: dataDirs.get(url)!, port: Number(new URL(url).port), args });
  running.push(again.proc);
}

/** A new API key on the gateway's store, as `dan keys create` makes it (the running gateway sees it at once); its secret. */
export async function keyFor(gatewayUrl: string, settings: KeySettings & { name: string }): Promise<string> {
  const { db } = openDatabase(dataDirs.get(gatewayUrl)!, 5_000);
  try {
    return (await new KeyAdmin(new SqliteKeyStore(db)).create(settings)).secret;
  } finally {
    db.close();
  }
}

/** A sandbox + node pair: `itPerSecond` at 512², time compressed by `speed`. */
/** `nodeArgs`: more flags for `dan node` (`--prefetch 0`). */
export async function gpu(gatewayUrl: string, name: string, options: { models: Model[]; loaded: Model; itPerSecond: number; speed: number; nodeArgs?: string[] }) {
  const config = `${dir()}/${name}.json`;
  writeFileSync(config, JSON.stringify({ models: options.models.map((m) => ({ fileName: FILES[m], sha256: SHA[m] })), loadedModel: FILES[options.loaded] }));
  const sandbox = await startSandboxProcess({ speed: options.speed, config, args: ['--it-per-second', String(options.itPerSecond), '--switch-seconds', '4'] });
  running.push(sandbox.proc);
  const node = await startNodeProcess({ gateway: gatewayUrl, webui: sandbox.url, name, args: options.nodeArgs ?? [] });
  running.push(node.proc);
  return { sandbox: sandbox.url, node: node.proc };
}

export const job = (model: Model, extra: Record<string, unknown> = {}) => ({ prompt: 'x', model: SHA[model], steps: 20, ...extra });

export async function submitted(gatewayUrl: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await postJson(`${gatewayUrl}/api/sd/txt2img/async`, body, headers);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data.taskId as string;
}

export async function checkpointsServed(sandbox: string): Promise<string[]> {
  const { body } = await getJson(`${sandbox}/sandbox/requests`);
  return body.requests.filter((r: any) => r.path === '/sdapi/v1/txt2img').map((r: any) => String(r.body.override_settings.sd_model_checkpoint).split('.')[0]);
}

