/**
 * A sandbox (A1111 flavour) for the speed trials, with one extra route: POST /trial/timing
 * {"itPerSecond"?: n, "switchSeconds"?: s} changes its GPU speed / default load time while it runs
 * (a GPU that thermal-throttles, or that another process starts sharing). Everything else is the
 * sandbox of `dan sandbox`, built from the same modules (dist/, after `npm run build`).
 *
 * Usage: node benc./speeds-sandbox.mjs --port P --speed S --it-per-second N --switch-seconds L --config FILE
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
// Built modules: this process starts fast and compiles nothing.
import { createSandboxApp } from '../dist/sandbox/server.js';
import { resolveOfferings } from '../dist/sandbox/offerings.js';
import { systemClock } from '../dist/util/clock.js';
import { DEFAULT_STEP_COSTS } from '../dist/sandbox/time-model.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    speed: { type: 'string', default: '1' },
    'it-per-second': { type: 'string', default: '15' },
    'switch-seconds': { type: 'string', default: '4' },
    config: { type: 'string' },
  },
});
const timing = { speed: Number(values.speed), itPerSecond: Number(values['it-per-second']), switchSeconds: Number(values['switch-seconds']), stepCosts: DEFAULT_STEP_COSTS };
const overrides = values.config ? JSON.parse(await readFile(values.config, 'utf8')) : {};
const { app, ctx } = createSandboxApp({ timing, clock: systemClock, logger: false, offerings: resolveOfferings(overrides) });
// How often a job asked for the lock while another held it (a request held ready behind a running job).
const lock = { queued: 0, queuedBehind: 0 };
ctx.queue.on('queued', (label) => {
  if (label.startsWith('Refresh')) return;
  lock.queued += 1;
  if (ctx.queue.running !== null) lock.queuedBehind += 1;
});
app.get('/trial/lock', async () => lock);
app.post('/trial/timing', async (request) => {
  const body = (request.body ?? {});
  if (typeof body.itPerSecond === 'number') timing.itPerSecond = body.itPerSecond;
  if (typeof body.switchSeconds === 'number') timing.switchSeconds = body.switchSeconds;
  return timing;
});
await app.listen({ port: Number(values.port), host: '127.0.0.1' });
console.log(JSON.stringify({ msg: 'trial sandbox listening', port: values.port, timing }));
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
