import { describe, expect, it } from 'vitest';
import { NodeEstimates } from '../../../src/domain/speed-estimates.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { CLARITY, node, task } from './scheduler-helpers.js';

const NOW = 1_000_000;

/** Two nodes of 20 units/s (a task: 1 s), `queued` tasks of the key 'big' queued. */
function busyScheduler(queued: number, options: { horizon?: number; later?: (work: () => void) => void } = {}): Scheduler {
  const estimates = new NodeEstimates();
  for (const name of ['a', 'b']) estimates.seed(name, { unitsPerSecond: 20, switchSeconds: 8 });
  const scheduler = new Scheduler({ estimates, ...options });
  scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY })]);
  for (let i = 0; i < queued; i++) scheduler.enqueue(task(`big-${i}`, 'big'), NOW);
  return scheduler;
}

describe('Scheduler: ETAs of a long queue', () => {
  it('keeps a long queue\'s plan for a while, placing newcomers in it, then plans again', () => {
    const scheduler = busyScheduler(3000);
    // The whole plan: 3,000 one-second tasks on two nodes.
    expect(scheduler.eta('big-2999', NOW)).toBe(1499);
    // Fair order puts another key's first task near the front: it takes the start of the task it now stands
    // before (that task and the ones behind it would start one run later: the kept plan does not show it).
    scheduler.enqueue(task('small-1', 'small'), NOW);
    const position = scheduler.position('small-1')!;
    expect(position).toBeLessThanOrEqual(2);
    expect(scheduler.eta('small-1', NOW)).toBe(Math.floor((position - 1) / 2));
    expect(scheduler.eta('big-2999', NOW)).toBe(1499);
    // A newcomer that stands last goes after everything the plan placed.
    scheduler.enqueue(task('big-3000', 'big'), NOW);
    expect(scheduler.eta('big-3000', NOW)).toBe(1500);
    // Its keep time over (0.5 ms per task and lane planned), the next ask after a change plans again.
    const later = NOW + (3000 + 2) * 0.5;
    scheduler.enqueue(task('small-2', 'small'), later);
    // Planned again: both newcomers ahead of it now, it is the last of 3,003 one-second tasks on two lanes.
    expect(scheduler.eta('big-3000', later)).toBe(1501);
  });

  it('gives no ETA to a task that left the queue, though the kept plan still has it', () => {
    const scheduler = busyScheduler(3000);
    expect(scheduler.eta('big-1500', NOW)).toBe(750);
    expect(scheduler.remove('big-1500')).toBe(true);
    expect(scheduler.eta('big-1500', NOW)).toBeNull();
  });

  it('plans a short queue again whenever asked after a change', () => {
    const scheduler = busyScheduler(100);
    expect(scheduler.eta('big-99', NOW)).toBe(49);
    scheduler.enqueue(task('small-1', 'small'), NOW);
    expect(scheduler.eta('small-1', NOW)).toBeLessThan(2);
  });

  it('gives an ETA to tasks past the horizon the rules plan', () => {
    const scheduler = busyScheduler(10, { horizon: 4 });
    expect(scheduler.eta('big-9', NOW)).toBe(4);
    expect(scheduler.eta('big-4', NOW)).toBe(2);
  });

  describe('made again in slices (a gateway)', () => {
    /** A `later` that holds the work handed to it until `drain`. */
    function manual() {
      const pending: (() => void)[] = [];
      return {
        later: (work: () => void) => void pending.push(work),
        get pending() {
          return pending.length;
        },
        drain() {
          let slices = 0;
          while (pending.length > 0) {
            pending.shift()!();
            slices += 1;
          }
          return slices;
        },
      };
    }

    /**
     * 3,000 queued tasks planned at once at NOW (no plan before), then small-1 queued two seconds on, past the
     * plan's keep time: the next ETA comes from the plan before, and a new one is made in slices.
     */
    function remakeUnderWay() {
      const slices = manual();
      const scheduler = busyScheduler(3000, { later: slices.later });
      expect(scheduler.eta('big-2999', NOW)).toBe(1499);
      expect(slices.pending).toBe(0);
      const later = NOW + 2000;
      scheduler.enqueue(task('small-1', 'small'), later);
      expect(scheduler.eta('big-2999', later)).toBe(1497);
      expect(slices.pending).toBe(1);
      return { slices, scheduler, later };
    }

    it('answers from the plan before while the new one is made, then from the new one', () => {
      const { slices, scheduler, later } = remakeUnderWay();
      // A task that comes meanwhile is placed in the plan being replaced, and in the new one once it is done.
      scheduler.enqueue(task('small-2', 'small'), later);
      expect(scheduler.eta('small-2', later)).not.toBeNull();
      expect(slices.drain()).toBeGreaterThanOrEqual(1);
      // Made at `later` with small-1 in it: big-2999 is the last of 3,001 one-second tasks on two lanes.
      expect(scheduler.eta('big-2999', later)).toBe(1500);
      expect(scheduler.eta('small-2', later)).not.toBeNull();
    });

    it('answers from the plan before however long the new one takes to make', () => {
      const { slices, scheduler } = remakeUnderWay();
      // Its slices wait behind other work (a burst of submits) until the plan before is long past (twice its
      // keep time, 1.5 s): still no plan made at once; the plan before answers, less the time gone by.
      const muchLater = NOW + 12_000;
      expect(scheduler.eta('big-2999', muchLater)).toBe(1487);
      expect(slices.pending).toBe(1);
      // An ETA told from it then is no promise: past the age a plan otherwise answers at, it binds nothing.
      expect(scheduler.eta('big-1500', muchLater)).toBe(738);
      slices.drain();
      // The new plan, made at `later` with small-1 in it.
      expect(scheduler.eta('big-2999', muchLater)).toBe(1490);
      // Done ten seconds after it began, its keep time counts from when it began to answer: two seconds on and
      // changed, it still answers while the next is made in slices, rather than a plan being made at once.
      scheduler.enqueue(task('small-2', 'small'), muchLater);
      expect(scheduler.eta('big-2999', muchLater + 2000)).toBe(1488);
      expect(slices.pending).toBe(1);
      // Twenty tasks of new keys, which fair order puts ahead of big-1500, push it back: no promise holds it
      // (751 s; held to the ETA told above as a promise, it would start in 736 s).
      for (let k = 0; k < 20; k++) scheduler.enqueue(task(`newcomer-${k}`, `key-${k}`), muchLater + 2000);
      slices.drain();
      scheduler.eta('big-2999', muchLater + 2000);
      slices.drain();
      expect(scheduler.eta('big-1500', muchLater + 2000)).toBe(751);
    });

    it('places the queue past the horizon as it was when the plan began, though tasks come while it is made', () => {
      const slices = manual();
      const scheduler = busyScheduler(3000, { horizon: 2000, later: slices.later });
      expect(scheduler.eta('big-1999', NOW)).toBe(999);
      const later = NOW + 2000;
      scheduler.enqueue(task('small-1', 'small'), later);
      expect(scheduler.eta('big-2999', later)).toBe(1497);
      expect(slices.pending).toBe(1);
      // While it is made, another key's task goes near the front: big-1998, the last task of the horizon the
      // plan began with (small-1 and big-0 to big-1998), now stands past it. It keeps its place in the rules'
      // plan, not a second one after everything they placed.
      scheduler.enqueue(task('small-2', 'small'), later);
      slices.drain();
      expect(scheduler.eta('big-1998', later)).toBe(999);
      expect(scheduler.eta('big-1999', later)).toBe(1000);
    });

    it('makes a plan at once when it is small, or when the plan before is long past', () => {
      // Probed on the task before the last: the plan before (kept) says 199 s, less the time gone by;
      // a new one, with small-1 ahead of it, 200 s (the last task, promised, would be served at its promise).
      const small = manual();
      const scheduler = busyScheduler(400, { later: small.later });
      expect(scheduler.eta('big-399', NOW)).toBe(199);
      scheduler.enqueue(task('small-1', 'small'), NOW + 300);
      // 402 tasks and lanes: too small for slices, made again at once.
      expect(scheduler.eta('big-398', NOW + 300)).toBe(200);
      expect(small.pending).toBe(0);
      // 602: made in slices, the plan before answering meanwhile (299 s less the time gone by).
      const middle = manual();
      const sliced = busyScheduler(600, { later: middle.later });
      expect(sliced.eta('big-599', NOW)).toBe(299);
      sliced.enqueue(task('small-1', 'small'), NOW + 400);
      expect(sliced.eta('big-598', NOW + 400)).toBe(298.6);
      expect(middle.pending).toBe(1);
      const large = manual();
      const long = busyScheduler(3000, { later: large.later });
      expect(long.eta('big-2999', NOW)).toBe(1499);
      // Over twice its keep time (1.5 s) later, the plan before is no answer: made at once.
      const later = NOW + 4000;
      long.enqueue(task('small-1', 'small'), later);
      expect(long.eta('big-2998', later)).toBe(1499);
      expect(large.pending).toBe(0);
    });

    it('answers from a plan for the new nodes once they change, though a plan for the old ones was under way', () => {
      const { slices, scheduler, later } = remakeUnderWay();
      scheduler.setNodes([node('a', { loadedModel: CLARITY }), node('b', { loadedModel: CLARITY }), node('c', { loadedModel: CLARITY })]);
      slices.drain();
      // c has no measured speed: the fleet's average (20 units/s) stands in. 3,001 tasks on three lanes.
      expect(scheduler.eta('big-2999', later)).toBe(1000);
      expect(slices.pending).toBe(0);
    });
  });
});

