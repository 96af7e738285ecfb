/**
 * A checkpoint file on a file system that does not answer (a hung network mount): its family is unknown
 * after the read's time limit, discovery goes on, and asking again meanwhile starts no second read of it.
 * `stat` of paths under /hung never answers here.
 */
import { open, stat } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckpointFiles } from '../../src/node/backends/checkpoint-family.js';

const hungStats: string[] = [];
/** The file system, but `stat` of paths under /hung never answers. */
const fileSystem = {
  open,
  stat: ((path: string) => {
    if (!path.startsWith('/hung/')) return stat(path);
    hungStats.push(path);
    return new Promise(() => {});
  }) as typeof stat,
};

afterEach(() => vi.useRealTimers());

describe('a checkpoint file on a hung file system', () => {
  it('is of unknown family after the time limit, with a warning, and is not read a second time while the first read hangs', async () => {
    vi.useFakeTimers();
    const lines: { level: string; message: string }[] = [];
    const log = { debug: (_: object, message: string) => lines.push({ level: 'debug', message }), warn: (_: object, message: string) => lines.push({ level: 'warn', message }) };
    const files = new CheckpointFiles({ log, fileSystem });
    const path = '/hung/models/flux1-dev.safetensors';
    const first = files.familiesOf([path]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await first).toEqual(new Map([[path, null]]));
    expect(lines).toEqual([{ level: 'warn', message: expect.stringContaining('its file system did not answer within 5 s') }]);
    // The next discovery finds the first read still hanging: it waits on that one, and no second stat piles up.
    const second = files.familiesOf([path]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await second).toEqual(new Map([[path, null]]));
    expect(hungStats).toEqual([path]);
    expect(lines).toHaveLength(1);
  });
});
