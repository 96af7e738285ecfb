/**
 * @module sandbox/a1111-tables
 *
 * What AUTOMATIC1111 v1.10 lists for its built-in samplers and schedulers
 * (backends.md A.5). The sandbox offers names; these tables supply the
 * rest of each listing entry and the properties its time model needs.
 */

export interface SamplerTraits {
  aliases: readonly string[];
  /** `SamplerItem.options`: values are strings because A1111's model is `Dict[str, str]`. */
  options: Readonly<Record<string, string>>;
}

const karras = { scheduler: 'karras' } as const;
const exponential = { scheduler: 'exponential' } as const;

/** In A1111's `all_samplers` order. */
export const a1111Samplers: Readonly<Record<string, SamplerTraits>> = {
  'DPM++ 2M': { aliases: ['k_dpmpp_2m'], options: karras },
  'DPM++ SDE': {
    aliases: ['k_dpmpp_sde'],
    options: { ...karras, second_order: 'True', brownian_noise: 'True' },
  },
  'DPM++ 2M SDE': { aliases: ['k_dpmpp_2m_sde'], options: { ...exponential, brownian_noise: 'True' } },
  'DPM++ 2M SDE Heun': {
    aliases: ['k_dpmpp_2m_sde_heun'],
    options: { ...exponential, brownian_noise: 'True', solver_type: 'heun' },
  },
  'DPM++ 2S a': { aliases: ['k_dpmpp_2s_a'], options: { ...karras, uses_ensd: 'True', second_order: 'True' } },
  'DPM++ 3M SDE': {
    aliases: ['k_dpmpp_3m_sde'],
    options: { ...exponential, discard_next_to_last_sigma: 'True', brownian_noise: 'True' },
  },
  'Euler a': { aliases: ['k_euler_a', 'k_euler_ancestral'], options: { uses_ensd: 'True' } },
  Euler: { aliases: ['k_euler'], options: {} },
  LMS: { aliases: ['k_lms'], options: {} },
  Heun: { aliases: ['k_heun'], options: { second_order: 'True' } },
  DPM2: { aliases: ['k_dpm_2'], options: { ...karras, discard_next_to_last_sigma: 'True', second_order: 'True' } },
  'DPM2 a': {
    aliases: ['k_dpm_2_a'],
    options: { ...karras, discard_next_to_last_sigma: 'True', uses_ensd: 'True', second_order: 'True' },
  },
  'DPM fast': { aliases: ['k_dpm_fast'], options: { uses_ensd: 'True' } },
  'DPM adaptive': { aliases: ['k_dpm_ad'], options: { uses_ensd: 'True' } },
  Restart: { aliases: ['restart'], options: { ...karras, second_order: 'True' } },
  DDIM: { aliases: ['ddim'], options: {} },
  'DDIM CFG++': { aliases: ['ddim_cfgpp'], options: {} },
  PLMS: { aliases: ['plms'], options: {} },
  UniPC: { aliases: ['unipc'], options: {} },
  LCM: { aliases: ['lcm'], options: {} },
};

export interface SchedulerTraits {
  name: string;
  label: string;
  aliases: readonly string[] | null;
  defaultRho: number;
  needInnerModel: boolean;
}

function scheduler(name: string, label: string, defaultRho = -1, needInnerModel = false): SchedulerTraits {
  return { name, label, aliases: name === 'sgm_uniform' ? ['SGMUniform'] : null, defaultRho, needInnerModel };
}

export const a1111Schedulers: readonly SchedulerTraits[] = [
  scheduler('automatic', 'Automatic'),
  scheduler('uniform', 'Uniform', -1, true),
  scheduler('karras', 'Karras', 7),
  scheduler('exponential', 'Exponential'),
  scheduler('polyexponential', 'Polyexponential', 1),
  scheduler('sgm_uniform', 'SGM Uniform', -1, true),
  scheduler('kl_optimal', 'KL Optimal'),
  scheduler('align_your_steps', 'Align Your Steps'),
  scheduler('simple', 'Simple', -1, true),
  scheduler('normal', 'Normal', -1, true),
  scheduler('ddim', 'DDIM', -1, true),
  scheduler('beta', 'Beta', -1, true),
];

export const a1111LatentUpscaleModes: readonly string[] = [
  'Latent',
  'Latent (antialiased)',
  'Latent (bicubic)',
  'Latent (bicubic antialiased)',
  'Latent (nearest)',
  'Latent (nearest-exact)',
];

/** Second-order samplers evaluate the UNet twice per step (A.5), so a step costs about twice as much. */
export function isSecondOrder(sampler: string): boolean {
  return a1111Samplers[sampler]?.options['second_order'] === 'True';
}

/** The scheduler A1111's "Automatic" resolves to for this sampler, if it has one. */
export function defaultSchedulerOf(sampler: string): string | undefined {
  return a1111Samplers[sampler]?.options['scheduler'];
}

export function schedulerTraitsOf(name: string, label: string): SchedulerTraits {
  return a1111Schedulers.find((s) => s.name === name) ?? scheduler(name, label);
}
