/**
 * @module sandbox/comfyui/comfy-routes
 *
 * ComfyUI's server routes (server.py), each also under `/api`: `/object_info`,
 * `/prompt`, `/history`, `/view`, `/upload/image`, `/interrupt`, `/queue`,
 * `/system_stats`, `/view_metadata/{folder}`, `/models/{folder}`, and the
 * websocket `/ws`. Plus the sandbox's own `/sandbox/*` (requests, stats,
 * injected faults), never under `/api`.
 */
import multipart from '@fastify/multipart';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FileTypes, type FileType } from './comfy-files.js';
import type { ComfySockets } from './comfy-messages.js';
import { objectInfo, objectInfoOf, type NodeRegistry } from './object-info.js';
import type { PromptRunner } from './prompt-runner.js';
import { validatePrompt } from './prompt-validation.js';
import type { ComfyWorld } from './node-types.js';

export interface ComfyRouteDeps {
  registry: NodeRegistry;
  world: ComfyWorld;
  runner: PromptRunner;
  sockets: ComfySockets;
  /** Upload size limit in bytes (`--max-upload-size`). */
  maxUploadBytes: number;
}

const ARCHITECTURES: Record<string, string> = {
  sd15: 'stable-diffusion-v1',
  sdxl: 'stable-diffusion-xl-v1-base',
  flux: 'flux-1-dev',
};

const MODEL_FOLDERS = ['checkpoints', 'loras', 'diffusion_models', 'text_encoders', 'vae', 'controlnet', 'upscale_models'] as const;

function folderFiles(world: ComfyWorld, folder: string): readonly string[] | undefined {
  const o = world.offerings;
  const lists: Record<(typeof MODEL_FOLDERS)[number], readonly string[]> = {
    checkpoints: o.checkpoints.map((c) => c.fileName),
    loras: o.loras,
    diffusion_models: o.diffusionModels.map((d) => d.fileName),
    text_encoders: o.textEncoders,
    vae: o.vaes,
    controlnet: o.controlNets,
    upscale_models: o.upscaleModels,
  };
  return (lists as Record<string, readonly string[]>)[folder];
}

function noPrompt(reply: FastifyReply) {
  const error = { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} };
  return reply.code(400).send({ error, node_errors: {} });
}

async function registerComfyApi(api: FastifyInstance, deps: ComfyRouteDeps): Promise<void> {
  const { registry, world, runner } = deps;
  api.get('/object_info', async () => objectInfo(registry, world));
  api.get<{ Params: { name: string } }>('/object_info/:name', async (request) => objectInfoOf(registry, world, request.params.name));

  api.get('/prompt', async () => ({ exec_info: { queue_remaining: runner.queueRemaining } }));
  api.post<{ Body: unknown }>('/prompt', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || !('prompt' in body)) return noPrompt(reply);
    const { prompt, client_id: clientId, extra_data: extraData, prompt_id: promptId } = body as Record<string, unknown>;
    if (typeof prompt !== 'object' || prompt === null || Array.isArray(prompt)) {
      const error = { type: 'invalid_prompt', message: 'Cannot execute because the prompt is not an object.', details: '', extra_info: {} };
      return reply.code(400).send({ error, node_errors: {} });
    }
    const validation = validatePrompt(prompt as Record<string, unknown>, registry, world);
    if (!validation.ok) return reply.code(400).send({ error: validation.error, node_errors: validation.nodeErrors });
    const extra = typeof extraData === 'object' && extraData !== null ? (extraData as Record<string, unknown>) : {};
    const queued = runner.enqueue(
      validation.graph,
      validation.outputs,
      typeof clientId === 'string' ? clientId : null,
      extra,
      typeof promptId === 'string' && promptId !== '' ? promptId : undefined,
    );
    return { prompt_id: queued.id, number: queued.number, node_errors: validation.nodeErrors };
  });

  api.get<{ Params: { id: string } }>('/history/:id', async (request) => {
    const entry = runner.history(request.params.id);
    return entry ? { [request.params.id]: entry } : {};
  });
  api.get('/history', async () => runner.allHistory());

  api.get<{ Querystring: { filename?: string; subfolder?: string; type?: string } }>('/view', async (request, reply) => {
    const { filename, subfolder = '', type = 'output' } = request.query;
    if (!filename) return reply.code(404).send();
    if (!FileTypes.includes(type as FileType)) return reply.code(400).send();
    if (filename.includes('..') || filename.startsWith('/')) return reply.code(400).send();
    if (subfolder.includes('..')) return reply.code(403).send();
    const data = world.files.read(type as FileType, subfolder, filename);
    if (!data) return reply.code(404).send();
    return reply.type('image/png').header('content-disposition', `filename="${filename}"`).send(data);
  });

  api.post('/upload/image', async (request, reply) => {
    const fields: Record<string, string> = {};
    let image: { name: string; data: Buffer } | null = null;
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const data = await part.toBuffer();
        if (part.fieldname === 'image') image = { name: part.filename, data };
      } else fields[part.fieldname] = String(part.value);
    }
    if (!image) return reply.code(400).send();
    const type = (fields['type'] ?? 'input') as FileType;
    if (!FileTypes.includes(type)) return reply.code(400).send();
    const subfolder = fields['subfolder'] ?? '';
    if (subfolder.includes('..') || image.name.includes('/') || image.name.includes('..')) return reply.code(400).send();
    const overwrite = fields['overwrite'] === 'true' || fields['overwrite'] === '1';
    const name = world.files.upload(type, subfolder, image.name || 'image.png', image.data, overwrite);
    return { name, subfolder, type };
  });

  api.post<{ Body: unknown }>('/interrupt', async (request, reply) => {
    const body = request.body as Record<string, unknown> | undefined;
    const id = typeof body?.['prompt_id'] === 'string' ? body['prompt_id'] : undefined;
    runner.interrupt(id);
    return reply.code(200).send();
  });

  api.get('/queue', async () => runner.queueView());
  api.post<{ Body: unknown }>('/queue', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body['clear'] === true) runner.clear();
    if (Array.isArray(body['delete'])) runner.delete(body['delete'].filter((id): id is string => typeof id === 'string'));
    return reply.code(200).send();
  });

  api.get('/system_stats', async () => ({
    system: {
      os: 'posix',
      ram_total: 64 * 1024 ** 3,
      ram_free: 48 * 1024 ** 3,
      comfyui_version: '0.3.75-sandbox',
      python_version: '3.12.3 (sandbox)',
      pytorch_version: '2.7.0+cu128',
      embedded_python: false,
      argv: ['main.py'],
    },
    devices: [
      {
        name: 'cuda:0 Sandbox GPU : cudaMallocAsync',
        type: 'cuda',
        index: 0,
        vram_total: world.offerings.vramBytes,
        vram_free: world.offerings.vramBytes,
        torch_vram_total: 0,
        torch_vram_free: 0,
      },
    ],
  }));

  api.get<{ Params: { folder: string }; Querystring: { filename?: string } }>('/view_metadata/:folder', async (request, reply) => {
    const { folder } = request.params;
    const filename = request.query.filename;
    // Only checkpoints and LoRAs carry metadata here; ComfyUI reads any folder's safetensors header.
    if (!filename?.endsWith('.safetensors')) return reply.code(404).send();
    if (folder === 'loras') return world.offerings.loraMetadata?.[filename] ?? reply.code(404).send();
    if (folder !== 'checkpoints') return reply.code(404).send();
    const checkpoint = world.offerings.checkpoints.find((c) => c.fileName === filename);
    if (!checkpoint || !checkpoint.metadata) return reply.code(404).send();
    return { 'modelspec.architecture': ARCHITECTURES[checkpoint.family], 'modelspec.title': filename.replace(/\.[^.]+$/, '') };
  });

  api.get('/models', async () => [...MODEL_FOLDERS]);
  api.get<{ Params: { folder: string } }>('/models/:folder', async (request, reply) => {
    const files = folderFiles(world, request.params.folder);
    return files ? [...files] : reply.code(404).send();
  });
  api.get('/embeddings', async () => []);
  api.get('/extensions', async () => []);

  api.get<{ Querystring: { clientId?: string } }>('/ws', { websocket: true }, (socket, request) => {
    deps.sockets.add(socket, request.query.clientId, runner.queueRemaining);
  });
}

export async function registerComfyRoutes(app: FastifyInstance, deps: ComfyRouteDeps): Promise<void> {
  await app.register(websocket);
  await app.register(multipart, { limits: { fileSize: deps.maxUploadBytes, files: 1, fields: 8 } });
  await app.register(async (api) => registerComfyApi(api, deps));
  await app.register(async (api) => registerComfyApi(api, deps), { prefix: '/api' });
}
