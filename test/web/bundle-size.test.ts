/**
 * The web app stays light: what a browser downloads from dist/web (built by
 * `npm run build:web`, which the test command runs first), gzipped, is under
 * 300 KiB, and nothing in it is fetched from elsewhere.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WEB_ROOT } from '../../src/api/web-app.js';

const BUDGET_BYTES = 300 * 1024;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));
}

describe('the built web app', () => {
  const files = filesUnder(WEB_ROOT);

  it('is under 300 KiB gzipped, all of it', () => {
    expect(files.some((f) => f.endsWith('.js'))).toBe(true);
    const gzipped = files.reduce((sum, file) => sum + gzipSync(readFileSync(file)).length, 0);
    expect(gzipped).toBeLessThan(BUDGET_BYTES);
  });

  it('loads nothing from another origin: no URL to a CDN, font or script host in its page, scripts or styles', () => {
    for (const file of files.filter((f) => /\.(html|js|css)$/.test(f))) {
      const text = readFileSync(file, 'utf8');
      // Links to other origins in code would be fetched; the only absolute URLs allowed are XML namespaces.
      const origins = [...text.matchAll(/(?:src|href|url)\s*[=(]\s*["']?(https?:\/\/[^"')\s]+)/g)].map((m) => m[1]);
      expect(origins, file).toEqual([]);
      expect(text, file).not.toMatch(/@import\s+url\(\s*["']?https?:/);
    }
  });
});
