/**
 * A network of real processes on the machine's PostgreSQL for end-to-end tests:
 * gateways sharing a database (a schema of its own per test) and sandbox nodes.
 * Everything a test starts is killed, and its schema dropped, after the test.
 */
import { afterEach } from 'vitest';
import { freshSchema, type TestSchema } from './postgres.js';
import { type DanProcess, startGatewayProcess, startNodeProcess, startSandboxProcess, tempDir } from './processes.js';

export function usePgNetwork(defaultGatewayArgs: readonly string[]) {
  const processes: DanProcess[] = [];
  const dirs: { remove(): void }[] = [];
  const schemas: TestSchema[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
    dirs.splice(0).forEach((d) => d.remove());
    for (const schema of schemas.splice(0)) await schema.drop();
  });
  return {
    /** Every process started by this test (gateways, sandboxes, nodes). */
    processes,
    /** A new, empty database (a schema of its own): its address. */
    newDatabase: async (): Promise<string> => {
      const schema = await freshSchema();
      schemas.push(schema);
      return schema.url;
    },
    /** A gateway on `database`, with a data directory of its own. */
    gatewayOn: async (database: string, args: readonly string[] = defaultGatewayArgs) => {
      const dir = tempDir();
      dirs.push(dir);
      const started = await startGatewayProcess({ dataDir: dir.path, args: ['--database', database, ...args] });
      processes.push(started.proc);
      return started;
    },
    /** A sandbox GPU (time ×`speed`) and its node, told `gateways` (several separated by commas). */
    nodeFor: async (gateways: string, name: string, speed = 1000) => {
      const sandbox = await startSandboxProcess({ speed });
      processes.push(sandbox.proc);
      const node = await startNodeProcess({ gateway: gateways, webui: sandbox.url, name });
      processes.push(node.proc);
      return node.proc;
    },
  };
}
