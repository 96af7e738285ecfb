/**
 * The web app's build: `vite build web` (run by `npm run build:web`, and by
 * `prepare` at `npm ci`) writes it to dist/web, which the gateway serves at `/`.
 * `npm run dev:web` serves it with live reload and sends `/api` to a gateway on
 * port 6006.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // Preact's JSX runtime (the oxc transform reads jsxImportSource from here, not from tsconfig).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Everything from the gateway itself: no inlined fonts or CDN assets to trust.
    assetsInlineLimit: 0,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:6006', '/docs': 'http://127.0.0.1:6006', '/openapi.json': 'http://127.0.0.1:6006' } },
});
