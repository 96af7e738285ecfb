import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimNodeIdentity, identitySocketOf } from '../../src/node/node-key.js';

const keyFile = join(tmpdir(), `dan-claim-test-${process.pid}.key`);

describe('claimNodeIdentity: one node process per key file and name on a machine', () => {
  it('is held once claimed; another name of the same key file is another node', async () => {
    expect(await claimNodeIdentity(keyFile, 'first')).toBeNull();
    expect(await claimNodeIdentity(keyFile, 'first')).toMatchObject({ held: true });
    expect(await claimNodeIdentity(keyFile, 'second')).toBeNull();
  });

  it('takes over what a process that is gone left behind (a crash, a power loss): nothing answers there', async () => {
    // A socket file that no process listens on, as one killed leaves it.
    writeFileSync(identitySocketOf(keyFile, 'crashed'), '');
    expect(await claimNodeIdentity(keyFile, 'crashed')).toBeNull();
    expect(await claimNodeIdentity(keyFile, 'crashed')).toMatchObject({ held: true });
  });
});
