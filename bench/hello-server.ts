/**
 * A bare Fastify "hello world" on the port given, for `bench/api-throughput.ts`:
 * the most any Fastify app can answer on this machine, the yardstick of the
 * gateway's own answers. Says `ready` on stdout once listening.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' });
process.stdout.write('ready\n');
