import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalog } from '../../src/errors/catalog.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(DAN_[A-Z_]+)` \| (\d+) \| (-?\d+) \| (yes|no) \|/gm)].map((m) => [m[1]!, { http: Number(m[2]), code: Number(m[3]), retryable: m[4] === 'yes' }]),
);

describe('docs/errors.md', () => {
  it('documents every error of the catalog, with its status, code and retryability', () => {
    for (const [id, spec] of Object.entries(errorCatalog)) {
      expect(rows.get(id), id).toEqual({ http: spec.http, code: spec.code, retryable: spec.retryable });
    }
  });

  it('documents no error the catalog does not have', () => {
    expect([...rows.keys()].filter((id) => !(id in errorCatalog))).toEqual([]);
  });
});
