/**
 * @module node/backends/comfyui/object-info
 *
 * Reading ComfyUI's `/object_info`: which node classes exist and the choices of
 * their combo inputs. Both shapes a combo has in the wild are read: the
 * classic `[[choice, …], {options}]` and the newer `["COMBO", {options: […]}]`
 * of nodes written against ComfyUI's v3 node API; the same server mixes them.
 */

const MAX_NAME_CHARS = 512;
const MAX_LIST_ITEMS = 4096;

type Entry = { input?: { required?: Record<string, unknown>; optional?: Record<string, unknown> } };

export class ObjectInfo {
  readonly #classes: Record<string, Entry>;

  constructor(json: unknown) {
    this.#classes = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, Entry>) : {};
  }

  has(className: string): boolean {
    return typeof this.#classes[className] === 'object' && this.#classes[className] !== null;
  }

  /** Whether `className` takes an input of that name (required or optional). */
  hasInput(className: string, input: string): boolean {
    const entry = this.#classes[className];
    return entry?.input?.required?.[input] !== undefined || entry?.input?.optional?.[input] !== undefined;
  }

  /** The choices of combo input `input` of `className`; empty when the class or input is missing or not a combo. */
  choices(className: string, input: string): string[] {
    const entry = this.#classes[className];
    const spec = entry?.input?.required?.[input] ?? entry?.input?.optional?.[input];
    if (!Array.isArray(spec)) return [];
    const [first, options] = spec as [unknown, unknown];
    const list = Array.isArray(first) ? first : first === 'COMBO' ? (options as { options?: unknown } | undefined)?.options : undefined;
    // What a node may declare (domain/capabilities.ts): names of 1 to 512 characters, each once, at most 4096.
    if (!Array.isArray(list)) return [];
    const names = list.filter((c): c is string => typeof c === 'string' && c.length > 0 && c.length <= MAX_NAME_CHARS);
    return [...new Set(names)].slice(0, MAX_LIST_ITEMS);
  }
}
