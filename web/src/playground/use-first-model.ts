import { useEffect } from 'preact/hooks';
import type { SupportedInfo } from '../api/types';

/** Chooses the first model a node serves, once the network is known and while none is chosen. */
export function useFirstModel(info: SupportedInfo | null, model: string, choose: (model: string) => void): void {
  useEffect(() => {
    if (!info || model !== '') return;
    const first = info.Models.find((m) => m.available) ?? info.Models[0];
    if (first) choose(first.name);
  }, [info]);
}
