/**
 * @module util/double-fields
 *
 * Objects the scheduler keeps by the thousand, made so V8 keeps the code
 * that reads them compiled. V8 gives each object a hidden class (a "map")
 * recording its fields and how each is stored. A field added after an object
 * is made moves that object to another class; a number field whose first
 * value was a small integer is stored as an integer, and the first fraction
 * written to it, in any object of the class, makes a new class and deprecates
 * the old one (not an in-place change).
 *
 * Both at once kept the planning pass from ever staying compiled: the queued
 * tasks got their plan entry (`planTask`) after they were made, so each of
 * 20,000 changed class as a pass first reached it; and the plan entries' class
 * was deprecated when `waitedSeconds`, 0 at first, first held a fraction.
 * In 500 passes V8 gave up 200–240 compiles ("maps became deprecated during
 * optimization"), most of them `Scheduler.#planTasks`, which thus never stayed
 * compiled, and one pass in ten took 4 ms longer (bench:plan-scale, 1,000
 * nodes and 20,000 tasks; `node --trace-opt`). Either fix alone ends it.
 *
 * So a queued task and its plan entry are made with every field at once, and
 * a number field that may hold a fraction starts as {@link DOUBLE}, then gets
 * its value: stored as a double from the first object on, it needs no new
 * class later (the first object made deprecates one class, once).
 */

/** The first value of a number field that may hold fractions (NaN is no integer), overwritten before use. */
export const DOUBLE = Number.NaN;
