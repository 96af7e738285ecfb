/**
 * @module util/double-fields
 *
 * Number fields that keep one hidden class. V8 gives each object a hidden
 * class (a "map") recording how each field is stored. A number field whose
 * first value was a small integer is stored as an integer; the first fraction
 * written to it, in any object of that class, makes a new class and deprecates
 * the old one. Objects made before keep the deprecated class until written
 * again, and optimized code that meets one of them is dropped and compiled
 * anew. For a few objects that passes unseen. For a queue of thousands of
 * tasks made before the change it went on as long as they were queued: the
 * scheduler's `#planTasks` was compiled 65 times in 200 passes and given up
 * every time ("maps became deprecated during optimization"), and one pass in
 * ten took 4 ms longer (bench:plan-scale, 1,000 nodes and 20,000 tasks).
 *
 * So objects the scheduler keeps by the thousand (a queued task, its plan
 * entry, a node's view) are made with every field at once, and a number field
 * that may hold a fraction starts as {@link DOUBLE}: stored as a double from
 * the first object on, it never changes class. Write the real value after.
 */

/** The first value of a number field that may hold fractions (NaN is no integer), overwritten before use. */
export const DOUBLE = Number.NaN;
