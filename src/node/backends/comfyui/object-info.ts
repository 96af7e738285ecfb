/**
 * @module node/backends/comfyui/object-info
 *
 * Reading ComfyUI's `/object_info`: which node classes exist and the choices of
 * their combo inputs. Both shapes a combo has in the wild are read: the
 * classic `[[choice, …], {options}]` and the newer `["COMBO", {options: […]}]`
 * of nodes written against ComfyUI's v3 node API; the same server mixes them.
 */

type Entry = { input?: { required?: Record<string, unknown>; optional?: Record<string, unknown> } };

export class ObjectInfo {
  readonly #classes: Record<string, Entry>;

  constructor(json: unknown) {
    this.#classes = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, Entry>) : {};
  }

  has(className: string): boolean {
    return typeof this.#classes[className] === 'object' && this.#classes[className] !== null;
  }

  /** The choices of combo input `input` of `className`; empty when the class or input is missing or not a combo. */
  choices(className: string, input: string): string[] {
    const entry = this.#classes[className];
    const spec = entry?.input?.required?.[input] ?? entry?.input?.optional?.[input];
    if (!Array.isArray(spec)) return [];
    const [first, options] = spec as [unknown, unknown];
    const list = Array.isArray(first) ? first : first === 'COMBO' ? (options as { options?: unknown } | undefined)?.options : undefined;
    return Array.isArray(list) ? list.filter((c): c is string => typeof c === 'string' && c.length > 0) : [];
  }
}
