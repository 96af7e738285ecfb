import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorAnswers } from '../../src/api/error-answers.js';
import { errorCatalog } from '../../src/errors/catalog.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(DAN_[A-Z_]+)` \| (\d+) \| (-?\d+) \| (yes|no) \| (.+?) \| (.+?) \|/gm)].map((m) => [
    m[1]!,
    { status: Number(m[2]), code: Number(m[3]), retryable: m[4] === 'yes', meaning: m[5]!, fix: m[6]! },
  ]),
);

describe('docs/errors.md', () => {
  it('documents every error of the catalog, with its status, code, retryability, meaning and fix', () => {
    for (const [id, spec] of Object.entries(errorCatalog)) {
      const answer = errorAnswers[id as keyof typeof errorAnswers];
      expect(rows.get(id), id).toEqual({ status: answer.status, code: answer.code, retryable: spec.retryable, meaning: spec.meaning, fix: spec.fix });
    }
  });

  it('documents no error the catalog does not have', () => {
    expect([...rows.keys()].filter((id) => !(id in errorCatalog))).toEqual([]);
  });
});
