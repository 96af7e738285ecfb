import { useEffect } from 'preact/hooks';
import type { SupportedInfo } from '../api/types';
import { isEditModel } from './family-fit';

/**
 * Chooses the first model a node serves, once the network is known and while none is chosen; not an edit model
 * (FLUX.1 Kontext, Qwen-Image-Edit) unless `editsToo` (the img2img form): elsewhere the gateway refuses one.
 */
export function useFirstModel(info: SupportedInfo | null, model: string, choose: (model: string) => void, editsToo = false): void {
  useEffect(() => {
    if (!info || model !== '') return;
    const usable = info.Models.filter((m) => editsToo || !isEditModel(info, m.name));
    const first = usable.find((m) => m.available) ?? usable[0];
    if (first) choose(first.name);
  }, [info]);
}
