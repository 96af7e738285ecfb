/**
 * @module sandbox/prompt-loras
 *
 * `<lora:NAME:W>` tags in prompts (backends.md A.7). A1111 tolerates unknown
 * names ("Networks not found" in the comments) and unparsable weights; the
 * sandbox refuses both, naming the tag, so a wrong LoRA name cannot pass a test.
 */
import { strictError, type Loc } from './http-errors.js';
import { findLora, type Inventory, type LoraRecord } from './inventory.js';

/** A1111's extra-network syntax: `<kind:args>`, args split on ':'. */
const EXTRA_NETWORK_TAG = /<(\w+):([^>]+)>/g;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const NAMED_ARG = /^(te|unet|dyn)=(.*)$/;
/** Positional args after the name: te, unet, dyn. */
const MAX_POSITIONAL = 3;

/** The LoRAs the prompt uses, each once, in order of first use. */
export function parseLoraTags(inventory: Inventory, text: string, loc: Loc): LoraRecord[] {
  const used: LoraRecord[] = [];
  for (const match of text.matchAll(EXTRA_NETWORK_TAG)) {
    if (match[1] !== 'lora') continue;
    const tag = match[0];
    const [name = '', ...args] = (match[2] ?? '').split(':');
    const lora = findLora(inventory, name);
    if (!lora) {
      const known = inventory.loras.map((l) => l.name).join(', ') || '(none)';
      throw strictError(loc, `${tag}: no LoRA named "${name}"; /sdapi/v1/loras has: ${known}`);
    }
    assertLoraArgs(tag, args, loc);
    if (!used.includes(lora)) used.push(lora);
  }
  return used;
}

function assertLoraArgs(tag: string, args: readonly string[], loc: Loc): void {
  const positional = args.filter((a) => !NAMED_ARG.test(a));
  if (positional.length > MAX_POSITIONAL) {
    throw strictError(loc, `${tag}: too many weights; the form is <lora:NAME:WEIGHT>`);
  }
  for (const arg of args) {
    const value = NAMED_ARG.exec(arg)?.[2] ?? arg;
    if (!NUMBER.test(value.trim())) {
      throw strictError(loc, `${tag}: weight "${arg}" is not a number; the form is <lora:NAME:WEIGHT>`);
    }
  }
}
