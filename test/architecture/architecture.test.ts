/**
 * The architecture check (.oxlintrc.json: no-restricted-imports zones and
 * import/no-cycle) run on a small fixture tree, test/fixtures/architecture/src:
 * every deliberately wrong import is reported, with its rule and file, and the
 * allowed ones are not. The project's own lint run skips the fixtures
 * (ignorePatterns); here the real config is copied next to them in a temporary
 * directory, so its "src/…" globs apply to the fixture's src/.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const oxlint = join(dirname(createRequire(import.meta.url).resolve('oxlint/package.json')), 'bin', 'oxlint');

interface Diagnostic {
  code: string;
  filename: string;
  help?: string;
}

interface Run {
  status: number | null;
  diagnostics: Diagnostic[];
}

let dir: string;
/** The whole fixture tree, linted once. */
let all: Run;

/** oxlint as `npm run lint` runs it, minus --type-aware: none of the architecture rules needs types. */
function lint(...paths: string[]): Run {
  const run = spawnSync(process.execPath, [oxlint, '-c', '.oxlintrc.json', '-f', 'json', ...paths], { cwd: dir, encoding: 'utf8' });
  if (run.error) throw run.error;
  const { diagnostics } = JSON.parse(run.stdout) as { diagnostics: Diagnostic[] };
  return { status: run.status, diagnostics };
}

const RESTRICTED = 'eslint(no-restricted-imports)';
const CYCLE = 'import(no-cycle)';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dan-architecture-'));
  cpSync(join(root, '.oxlintrc.json'), join(dir, '.oxlintrc.json'));
  cpSync(join(root, 'test/fixtures/architecture/src'), join(dir, 'src'), { recursive: true });
  all = lint('src');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('architecture check', () => {
  it('fails on each wrong import, naming the rule and the file', () => {
    expect(all.status).toBe(1);
    const found = all.diagnostics.map((d) => `${d.filename} ${d.code}`).sort();
    expect(found).toEqual(
      [
        `src/config/imports-api.ts ${RESTRICTED}`,
        `src/domain/imports-api.ts ${RESTRICTED}`,
        `src/gateway/imports-sandbox.ts ${RESTRICTED}`,
        `src/node/backends/a1111/imports-sandbox.ts ${RESTRICTED}`,
        `src/scheduler/cycle-a.ts ${CYCLE}`,
        `src/scheduler/cycle-b.ts ${CYCLE}`,
        `src/scheduler/imports-store-type.ts ${RESTRICTED}`,
        `src/store/sqlite/frames.ts ${RESTRICTED}`,
      ].sort(),
    );
  });

  it('says what the importing zone may import', () => {
    const help = (file: string) => all.diagnostics.filter((d) => d.filename === file).map((d) => d.help);
    expect(help('src/domain/imports-api.ts')).toEqual([expect.stringMatching(/src\/domain, src\/scheduler and src\/auth may import only domain, scheduler, auth, config, errors, util/)]);
    expect(help('src/store/sqlite/frames.ts')).toEqual([expect.stringMatching(/src\/config and src\/store may import only .*; not api, gateway, network, node, protocol/)]);
    expect(help('src/gateway/imports-sandbox.ts')).toEqual([expect.stringMatching(/only src\/cli may import src\/sandbox/)]);
  });

  it('passes the allowed imports: within a zone, api → domain, store → domain, gateway → protocol, cli → sandbox, a nested directory named like an area', () => {
    const run = lint(
      'src/api/uses-domain.ts',
      'src/domain/uses-domain.ts',
      'src/store/task-row.ts',
      'src/gateway/imports-protocol.ts',
      'src/cli/main.ts',
      'src/node/backends/a1111/imports-local-sandbox.ts',
    );
    expect(run.diagnostics).toEqual([]);
    expect(run.status).toBe(0);
  });
});
