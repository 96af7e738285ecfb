/**
 * @module api/web-app
 *
 * The web playground and dashboard (web/, built by Vite into dist/web at
 * install) served at `/`. Everything comes from the gateway itself: the page's
 * Content-Security-Policy allows no other origin, so no CDN, font or script
 * from elsewhere can load. Hashed assets are cached for good; the page itself
 * is asked for again each time. The files are found when the gateway starts:
 * after `npm run build:web`, restart it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** dist/web, from src/api (tests) and dist/api (the built gateway) alike. */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** Images are data: URLs (results, previews) and blob: (uploads); styles are one file of ours. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export async function registerWebApp(app: FastifyInstance, root = WEB_ROOT): Promise<void> {
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', async (_request, reply) =>
      reply.code(503).type('text/plain; charset=utf-8').send('The web app is not built: run `npm run build:web` (npm ci builds it), then restart the gateway. The API is at /api, described at /docs.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per file, made at start: any other path stays the API's 404 and 405 answers.
    wildcard: false,
    index: 'index.html',
    decorateReply: false,
    setHeaders(reply, path) {
      if (path.startsWith(join(root, 'assets'))) {
        void reply.header('cache-control', 'public, max-age=31536000, immutable');
        return;
      }
      void reply
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer');
    },
  });
}
