/**
 * The web app as the gateway serves it (api/web-app.ts): the page at `/` with
 * a Content-Security-Policy that lets nothing load from another origin, hashed
 * assets cached for good, and a plain answer saying how to build it when it
 * was not built.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerWebApp } from '../../src/api/web-app.js';
import { tempDir } from '../helpers/processes.js';

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

async function appServing(files: Record<string, string>) {
  const dir = tempDir('dan-web-root-');
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(`${dir.path}/${path.split('/').slice(0, -1).join('/')}`, { recursive: true });
    writeFileSync(`${dir.path}/${path}`, text);
  }
  const app = Fastify();
  await registerWebApp(app, dir.path);
  return app;
}

describe('the web app at /', () => {
  it('serves the page with a policy that allows only the gateway itself, asked for again each time', async () => {
    const app = await appServing({ 'index.html': '<!doctype html><title>DAN</title>', 'assets/index-abc123.js': 'console.log(1)' });
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<title>DAN</title>');
    expect(page.headers['cache-control']).toBe('no-cache');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:/);
    const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
  });

  it('says how to build it when it is not built', async () => {
    const app = await appServing({});
    const answer = await app.inject({ method: 'GET', url: '/' });
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toContain('npm run build:web');
  });
});
