/**
 * makeDirSync: what `mkdirSync(path, { recursive: true })` does, without Node's endless loop where an
 * existing directory refuses a child with ENOENT (/proc).
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDirSync } from '../../src/util/make-dir.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dan-make-dir-'));
  made.push(dir);
  return dir;
}

describe('makeDirSync', () => {
  it('makes every missing directory, with the mode asked, and leaves one that exists', () => {
    const root = scratch();
    makeDirSync(join(root, 'a', 'b', 'c'), 0o700);
    expect(statSync(join(root, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700);
    makeDirSync(join(root, 'a', 'b', 'c'));
    expect(existsSync(join(root, 'a', 'b', 'c'))).toBe(true);
  });

  it('throws, at once, where a directory refuses a child (ENOENT from /proc), or a file stands in the way', () => {
    // Node's recursive mkdir spins for ever on this one.
    expect(() => makeDirSync('/proc/dan-make-dir-test/x')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const file = join(scratch(), 'file');
    writeFileSync(file, '');
    expect(() => makeDirSync(file)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => makeDirSync(join(file, 'below'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });
});
