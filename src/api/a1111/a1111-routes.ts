/**
 * @module api/a1111/a1111-routes
 *
 * The AUTOMATIC1111 WebUI API (`/sdapi/v1`) and the ControlNet extension's
 * listing routes (`/controlnet/*`) on the whole network: clients written for a
 * WebUI (editor plugins, scripts, chat front ends, and a DAN node, which can so
 * use another DAN network as its WebUI) point at the gateway instead.
 *
 * A thin adapter: a request becomes DAN request bodies (a1111-requests.ts),
 * checked by DAN's parsers and run by the task service like any other task,
 * `batch_size × n_iter` images as that many tasks over the nodes. The answer
 * has A1111's shape (`images`, `parameters`, `info` as a JSON string with
 * `all_seeds`). Listings are the network's (what some node serves now). The
 * caller is the DAN key in `Authorization` (Bearer, or Basic with the key as
 * password, as a client of a WebUI started with `--api-auth` sends it).
 * docs/a1111-api.md says it for users.
 */
import { randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DiffusionSpec, GenerationSpec } from '../../domain/spec.js';
import type { NetworkCatalog, ResourceInfo } from '../../gateway/network-catalog.js';
import type { TaskService } from '../../gateway/task-service.js';
import { DAN_VERSION } from '../../util/version.js';
import { DanError } from '../../errors/dan-error.js';
import { NODE_ID_HEADER } from '../../protocol/node-id-header.js';
import { parseImg2ImgRequest, parseInterrogateRequest, parseTxt2ImgRequest, parseUpscaleRequest } from '../requests/index.js';
import { idempotencyOf, runTasks, seededCopies } from '../front-doors/run-tasks.js';
import type { A1111Callers } from './a1111-callers.js';
import { a1111Field, installA1111Errors } from './a1111-errors.js';
import { type CheckpointChoice, img2imgAsk, interrogateBody, namesCheckpoint, txt2imgAsk, upscaleBody } from './a1111-requests.js';

export interface A1111RoutesDeps {
  service: TaskService;
  catalog: NetworkCatalog;
  syncTimeoutMs: number;
  bodyLimitBytes: number;
  callers: A1111Callers;
  /** The gateway's default checkpoint (`--default-model`, else the first one some node serves); null when none. */
  defaultModel: () => string | null;
  /** Whether a node connection of this id is one of this network's (protocol/node-id-header.ts). */
  isNetworkNode?: (nodeId: string) => boolean;
}

const shortHash = (sha256: string | null) => sha256?.slice(0, 10) ?? null;
/** A checkpoint's title as A1111 lists it: `name [shorthash]`, or its name alone when its hash is unknown. */
const titleOf = (model: ResourceInfo) => (model.hash ? `${model.name} [${shortHash(model.hash)}]` : model.name);

/** Any of A1111's spellings of a checkpoint (title, name, file name, sha256, short hash) → the model as DAN names it. */
function findModel(deps: A1111RoutesDeps, value: string): ResourceInfo | undefined {
  const wanted = value.trim().toLowerCase();
  const stem = wanted.replace(/\s*\[[0-9a-f]{8,64}\]$/, '').replace(/\.(safetensors|ckpt|pt|bin)$/, '');
  return deps.catalog.supportedInfo().Models.find((model) => {
    const hash = model.hash?.toLowerCase() ?? null;
    return model.name.toLowerCase() === stem || (hash !== null && (hash === wanted || hash.slice(0, 10) === wanted || titleOf(model).toLowerCase() === wanted));
  });
}

/** `chosen`: the caller's default checkpoint (`A1111Callers.defaultOf`), if it chose one. */
function checkpointChoice(deps: A1111RoutesDeps, chosen: string | undefined): CheckpointChoice {
  return {
    resolve: (value) => findModel(deps, value)?.name ?? null,
    fallback: () => chosen ?? deps.defaultModel(),
    familyOf: (model) => findModel(deps, model)?.family ?? null,
  };
}

/** `info`: the JSON string A1111 answers with (Processed.js()), for clients that read seeds and infotexts from it. */
function infoOf(spec: DiffusionSpec, seeds: readonly number[], count: number): string {
  const model = spec.model;
  // A catalog id is the checkpoint's sha256; a node-local id has no hash to show.
  const hash = /^[0-9a-f]{64}$/i.test(model.id) ? shortHash(model.id) : null;
  const sampler = spec.sampler;
  const infotext = (seed: number) =>
    `${spec.prompt}\nNegative prompt: ${spec.negativePrompt}\nSteps: ${spec.steps}, Sampler: ${sampler}, CFG scale: ${spec.cfgScale}, Seed: ${seed}, Size: ${spec.width}x${spec.height}${hash ? `, Model hash: ${hash}` : ''}, Model: ${model.name}, Version: DAN ${DAN_VERSION}`;
  const now = new Date();
  const timestamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return JSON.stringify({
    prompt: spec.prompt,
    all_prompts: Array.from({ length: count }, () => spec.prompt),
    negative_prompt: spec.negativePrompt,
    all_negative_prompts: Array.from({ length: count }, () => spec.negativePrompt),
    seed: seeds[0] ?? spec.seed,
    all_seeds: seeds,
    subseed: -1,
    all_subseeds: seeds.map(() => -1),
    subseed_strength: 0,
    width: spec.width,
    height: spec.height,
    sampler_name: sampler,
    cfg_scale: spec.cfgScale,
    steps: spec.steps,
    batch_size: count,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: model.name,
    sd_model_hash: hash,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: spec.kind === 'img2img' ? spec.denoisingStrength : (spec.hires?.denoisingStrength ?? null),
    extra_generation_params: {},
    index_of_first_image: 0,
    infotexts: seeds.map(infotext),
    styles: [],
    job_timestamp: timestamp,
    clip_skip: 1,
    is_using_inpainting_conditioning: false,
    version: `DAN ${DAN_VERSION}`,
  });
}

/** Runs a txt2img or img2img ask and answers as A1111: images, the request as parameters, info. */
async function generate(deps: A1111RoutesDeps, kind: 'txt2img' | 'img2img', request: FastifyRequest, reply: FastifyReply) {
  // The caller's default is read from the store only when the request names no checkpoint.
  const chosen = namesCheckpoint(request.body) ? undefined : await deps.callers.defaultOf(request.caller.owner);
  const choice = checkpointChoice(deps, chosen);
  const ask = kind === 'txt2img' ? txt2imgAsk(request.body, choice) : img2imgAsk(request.body, choice);
  const context = deps.catalog.requestContext();
  const spec = kind === 'txt2img' ? await parseTxt2ImgRequest(ask.body, context) : await parseImg2ImgRequest(ask.body, context);
  // As A1111 (processing's get_fixed_seed): a batch with a random seed draws one, and its images count up from it.
  const seeded = spec.seed === -1 && ask.count > 1 ? { ...spec, seed: randomInt(0, 2 ** 32 - ask.count) } : spec;
  const finished = await run(deps, seededCopies<DiffusionSpec>(seeded, ask.count), request, reply);
  if (finished === null) return reply;
  const images = finished.flatMap((f) => (f.result.kind === 'images' ? f.result.images : []));
  const seeds = finished.flatMap((f) => (f.result.kind === 'images' ? f.result.seeds : []));
  const body = request.body as Record<string, unknown>;
  // As A1111: the request echoed, without its input images unless include_init_images asks for them.
  const parameters = kind === 'img2img' && body['include_init_images'] !== true ? { ...body, init_images: null, mask: null } : body;
  return { images: body['send_images'] === false ? [] : images, parameters, info: infoOf(spec, seeds, ask.count) };
}

async function run(deps: A1111RoutesDeps, specs: readonly GenerationSpec[], request: FastifyRequest, reply: FastifyReply) {
  // Followed while they run, so that their live previews are kept for /sdapi/v1/progress (`current_image`).
  const unwatch: (() => void)[] = [];
  const enqueued = (ids: readonly string[]) => {
    const first = specs[0];
    deps.callers.noteTasks(request.caller.owner, ids, first && 'steps' in first ? first.steps : 0);
    for (const id of ids) unwatch.push(deps.service.watch(id, () => {}));
  };
  try {
    return await runTasks(deps, specs, request, reply, { idempotency: idempotencyOf(request), enqueued });
  } finally {
    for (const stop of unwatch) stop();
  }
}

/** The caller's task a WebUI would be running now, its latest unfinished one, and its sampling steps. */
async function currentTask(deps: A1111RoutesDeps, request: FastifyRequest) {
  const tasks = deps.callers.tasksOf(request.caller.owner);
  for (let i = tasks.length - 1; i >= 0; i--) {
    const view = await deps.service.status(tasks[i]!.id, request.caller).catch(() => null);
    if (view && (view.status === 0 || view.status === 1)) return { view, steps: tasks[i]!.steps };
  }
  return null;
}

/** `GET /sdapi/v1/options`: what a client reads of a WebUI's settings; the checkpoint is the caller's. */
async function optionsOf(deps: A1111RoutesDeps, owner: string): Promise<Record<string, unknown>> {
  const chosen = (await deps.callers.defaultOf(owner)) ?? deps.defaultModel();
  const model = chosen === null ? undefined : findModel(deps, chosen);
  return {
    sd_model_checkpoint: model ? titleOf(model) : (chosen ?? null),
    sd_checkpoint_hash: model?.hash ?? null,
    sd_vae: 'Automatic',
    CLIP_stop_at_last_layers: 1,
    samples_format: 'png',
    eta_noise_seed_delta: 0,
    sd_checkpoints_limit: 1,
  };
}

/** `/sdapi/v1` and `/controlnet` on `api`, the API's context: its routes know their caller and count against its rate. */
export async function registerA1111Routes(api: FastifyInstance, deps: A1111RoutesDeps): Promise<void> {
  await api.register(async (webui) => {
    installA1111Errors(webui, deps.bodyLimitBytes);
    const { isNetworkNode } = deps;
    if (isNetworkNode) {
      // A node of this network given a gateway of it as its WebUI (under a name or address its config check
      // could not tell from its gateway's): each task it ran would come back as a new task, for ever.
      webui.addHook('onRequest', async (request) => {
        const nodeId = request.headers[NODE_ID_HEADER];
        if (typeof nodeId === 'string' && isNetworkNode(nodeId)) {
          throw new DanError('DAN_ERR_NODE_LOOP', 'this is a DAN gateway of the network the calling node is connected to, not a WebUI: the node would send every task it is given back to the network. Start `dan node` with --webui set to the WebUI on its own machine (by default http://127.0.0.1:7860)');
        }
      });
    }
    const info = () => deps.catalog.supportedInfo();
    const names = (list: { name: string; available: boolean }[]) => list.filter((item) => item.available).map((item) => item.name);

    webui.post('/sdapi/v1/txt2img', (request, reply) => generate(deps, 'txt2img', request, reply));
    webui.post('/sdapi/v1/img2img', (request, reply) => generate(deps, 'img2img', request, reply));
    webui.post('/sdapi/v1/extra-single-image', async (request, reply) => {
      const spec = await parseUpscaleRequest(upscaleBody(request.body), deps.catalog.requestContext());
      const finished = await run(deps, [spec], request, reply);
      if (finished === null) return reply;
      const result = finished[0]!.result;
      return { html_info: '', image: result.kind === 'images' ? result.images[0] : null };
    });
    webui.post('/sdapi/v1/interrogate', async (request, reply) => {
      const spec = await parseInterrogateRequest(interrogateBody(request.body), deps.catalog.requestContext());
      const finished = await run(deps, [spec], request, reply);
      if (finished === null) return reply;
      const result = finished[0]!.result;
      return { caption: result.kind === 'caption' ? result.caption : '' };
    });

    webui.get('/sdapi/v1/sd-models', async () =>
      deps.catalog.servedModels().map((model) => ({ title: titleOf(model), model_name: model.name, hash: shortHash(model.hash), sha256: model.hash, filename: model.name, config: null })),
    );
    webui.get('/sdapi/v1/loras', async () => info().LoRAs.filter((lora) => lora.available).map((lora) => ({ name: lora.name, alias: lora.name, path: lora.name, metadata: {} })));
    webui.get('/sdapi/v1/samplers', async () => names(info().Samplers).map((name) => ({ name, aliases: [], options: {} })));
    webui.get('/sdapi/v1/schedulers', async () => [{ name: 'automatic', label: 'Automatic', aliases: null, default_rho: -1, need_inner_model: false }]);
    webui.get('/sdapi/v1/upscalers', async () => ['None', ...names(info().Upscalers)].map((name) => ({ name, model_name: null, model_path: null, model_url: null, scale: 4 })));
    webui.get('/sdapi/v1/latent-upscale-modes', async () => names(info().HiresUpscalers).filter((name) => name.startsWith('Latent')).map((name) => ({ name })));
    webui.get('/sdapi/v1/options', async (request) => optionsOf(deps, request.caller.owner));
    webui.post('/sdapi/v1/options', async (request) => {
      const body = request.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw a1111Field('body', 'must be a JSON object of settings');
      const current = await optionsOf(deps, request.caller.owner);
      let chosen: string | undefined;
      for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
        if (key === 'sd_model_checkpoint') {
          const model = typeof value === 'string' ? findModel(deps, value) : undefined;
          if (!model) throw a1111Field(key, `names no checkpoint of the network: ${JSON.stringify(value)} (GET /sdapi/v1/sd-models lists them)`);
          chosen = model.name;
        } else if (JSON.stringify(current[key]) !== JSON.stringify(value)) {
          throw a1111Field(key, `is not a setting DAN changes: only sd_model_checkpoint is (per API key), got ${JSON.stringify(value)}`);
        }
      }
      // The caller's default from now on, once every setting was accepted; no GPU is switched for it (DAN
      // picks nodes per task).
      if (chosen !== undefined) await deps.callers.setDefault(request.caller.owner, chosen);
      return null;
    });
    webui.get('/sdapi/v1/progress', async (request) => {
      const current = await currentTask(deps, request);
      const task = current?.view;
      const running = task?.status === 1;
      const progress = running ? (task.progress ?? 0) : 0;
      // The step the progress stands at: clients draw "step 12/20" from these (a hires pass counts in the same steps).
      const steps = current?.steps ?? 0;
      const step = Math.min(steps, Math.floor(progress * steps));
      return {
        progress,
        eta_relative: task?.eta ?? 0,
        state: { skipped: false, interrupted: false, stopping_generation: false, job: task?.taskId ?? '', job_count: task ? 1 : 0, job_timestamp: '0', job_no: 0, sampling_step: step, sampling_steps: steps },
        // The backend's live preview, where it gives one (a WebUI with live previews on).
        current_image: running ? (deps.service.previewOf(task.taskId)?.image ?? null) : null,
        textinfo: task ? (running ? 'running' : `queued, position ${task.queuePosition}`) : null,
      };
    });
    // A WebUI takes these with no body, whatever the content type a client sends.
    webui.post('/sdapi/v1/interrupt', { config: { bodyless: true, readAtOnce: true } }, async (request) => {
      // As a WebUI stops the job it runs: the caller's unfinished tasks are cancelled.
      for (const { id } of deps.callers.tasksOf(request.caller.owner)) await deps.service.cancel(id, request.caller).catch(() => undefined);
      return {};
    });
    webui.post('/sdapi/v1/skip', { config: { bodyless: true, readAtOnce: true } }, async () => null);

    webui.get('/controlnet/version', async () => ({ version: 3 }));
    webui.get('/controlnet/model_list', async () => ({ model_list: names(info().ControlNet.models) }));
    webui.get('/controlnet/module_list', async () => {
      const modules = names(info().ControlNet.preprocessors);
      return { module_list: modules, module_detail: Object.fromEntries(modules.map((m) => [m, { model_free: false, sliders: [] }])) };
    });
    webui.get('/controlnet/settings', async () => ({ control_net_unit_count: 3 }));
  });
}
