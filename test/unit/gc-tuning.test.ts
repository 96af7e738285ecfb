import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GC_FLAGS, tuneGarbageCollection } from '../../src/cli/gc-tuning.js';

const built = fileURLToPath(new URL('../../dist/cli/gc-tuning.js', import.meta.url));

describe('tuneGarbageCollection', () => {
  it("sets flags this node's V8 knows: an unknown one would only print an error and change nothing", () => {
    // In a child process, so this test runner's own V8 keeps its defaults.
    const script = `import(${JSON.stringify(built)}).then((m) => console.log(JSON.stringify(m.tuneGarbageCollection([]))))`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([...GC_FLAGS]);
  });

  it('keeps what the operator started node with', () => {
    expect(tuneGarbageCollection(['--incremental-marking-soft-trigger=50'])).toEqual([]);
    expect(tuneGarbageCollection(['--incremental_marking_hard_trigger=95'])).toEqual([]);
  });
});
