/**
 * @module sandbox/forge-fields
 *
 * What a Forge WebUI takes beyond A1111's fields, and what it does with them:
 * `distilled_cfg_scale` (Flux's guidance, in the infotext as Forge writes it),
 * `hr_cfg` and `hr_distilled_cfg` (the hires pass's; Forge's API defaults
 * `hr_cfg` to 1), and `forge_additional_modules` in `override_settings` (VAE and
 * text-encoder files, named by file name or path as Forge's `modules_change`
 * takes them). The A1111 flavour refuses them all, as the strict sandbox
 * refuses any field A1111 would not use: DAN must send them to Forge only.
 */
import type { DiffusionBody } from './generation-schemas.js';
import { pythonException, strictError } from './http-errors.js';
import type { Inventory } from './inventory.js';

export interface ForgePlan {
  /** `forge_additional_modules` of the request (file names), or null when it names none. */
  modules: string[] | null;
  distilledCfgScale: number | null;
  hrCfg: number | null;
}

const FORGE_FIELDS = ['distilled_cfg_scale', 'hr_cfg', 'hr_distilled_cfg', 'hr_additional_modules'] as const;

export function parseForgeFields(inventory: Inventory, body: DiffusionBody): ForgePlan {
  const forge = inventory.offerings.forge;
  const fields = body as Partial<Record<'distilled_cfg_scale' | 'hr_cfg' | 'hr_distilled_cfg', number | null>> & { enable_hr?: boolean | null; hr_additional_modules?: string[] | null };
  if (!forge) {
    for (const field of FORGE_FIELDS) {
      if (fields[field] !== undefined) throw strictError(['body', field], 'extra fields not permitted: a Forge field, and this is an A1111 WebUI');
    }
  }
  // Forge's API leaves the hires pass's modules None, and the pass then fails as this (processing.py).
  if (forge && fields.enable_hr && !fields.hr_additional_modules) throw pythonException('TypeError', "argument of type 'NoneType' is not iterable");
  const modules = body.override_settings?.['forge_additional_modules'];
  return {
    modules: modules === undefined ? null : moduleNames(inventory, modules, ['body', 'override_settings', 'forge_additional_modules']),
    distilledCfgScale: fields.distilled_cfg_scale ?? null,
    hrCfg: fields.hr_cfg ?? null,
  };
}

/** `forge_additional_modules` as file names: each a module this Forge lists (by file name or a path ending in one). */
export function moduleNames(inventory: Inventory, value: unknown, loc: (string | number)[]): string[] {
  const listed = inventory.offerings.forge?.modules;
  if (!listed) throw strictError(loc, 'not a setting of A1111: Forge\'s modules (this is an A1111 WebUI)');
  if (!Array.isArray(value)) throw strictError(loc, `must be a list of module file names, got ${JSON.stringify(value)}`);
  return value.map((item, index) => {
    const name = typeof item === 'string' ? item.slice(Math.max(item.lastIndexOf('/'), item.lastIndexOf('\\')) + 1) : '';
    // Forge drops a name it does not list without a word; the sandbox says so.
    if (!listed.includes(name)) throw strictError([...loc, index], `${JSON.stringify(item)} is not a module of /sdapi/v1/sd-modules: ${listed.join(', ')}`);
    return name;
  });
}

/**
 * Whether Flux's VAE and both text encoders are among `modules` (else a UNet-only Flux file makes black
 * images). Its own test, not the node's `fluxModulesOf`: the sandbox checks what the node sends.
 */
export function holdsFluxModules(modules: readonly string[]): boolean {
  return [/^ae\./i, /clip_l/i, /t5xxl/i].every((pattern) => modules.some((name) => pattern.test(name)));
}
