/**
 * Every installed package, dependencies of dependencies too, runs on the Node.js
 * the project declares (package.json `engines`, which operators read). A package
 * whose own `engines` wants a newer Node installs with no more than a warning,
 * then may fail at run time on the operator's machine: @fastify/static 10.1.4
 * brought in content-disposition 3, which wants Node 22.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
}

const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

describe('dependencies', () => {
  it('need no newer Node.js than the project declares', () => {
    const declared = read(root).engines?.node;
    expect(declared).toBeDefined();
    const oldest = semver.minVersion(declared!)!.version;
    const dirs = execFileSync('npm', ['ls', '--all', '--parseable'], { cwd: root, encoding: 'utf8' }).trim().split('\n').slice(1);
    expect(dirs.length).toBeGreaterThan(50);
    const tooNew = [...new Set(dirs)]
      .map(read)
      .filter((pkg) => pkg.engines?.node !== undefined && !semver.satisfies(oldest, pkg.engines.node))
      .map((pkg) => `${pkg.name}@${pkg.version} wants Node ${pkg.engines!.node}`);
    expect(tooNew, `the project declares Node ${declared}`).toEqual([]);
  });
});
