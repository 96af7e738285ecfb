/**
 * @module node/capabilities-by-protocol
 *
 * What a node's capabilities look like to a gateway of each protocol version (protocol/messages.ts). A field
 * or value an older gateway does not know makes it refuse the whole frame, so the node leaves out what that
 * version cannot carry: LoRA families before 5; models and LoRAs of the families added in 6 (Flux.2,
 * Qwen-Image, Z-Image-Turbo) before 6, in 7 (FLUX.1 Kontext) before 7, and in 8 (Qwen-Image-Edit) before 8. Such a file is left out rather than sent without its family: an older gateway
 * would take the model for an SD one, with SD's defaults (cfg 7, 20 steps), which these models turn into
 * ruined pictures, and would let the LoRA go with a model of any family.
 */
import type { ModelFamily } from '../domain/families.js';
import type { NodeCapabilities } from '../domain/capabilities.js';
import { FAMILY_SINCE_PROTOCOL, PROTOCOL_VERSION } from '../protocol/messages.js';

/** Whether a gateway of `protocol` knows `family` (none: every gateway does). */
const known = (family: ModelFamily | undefined, protocol: number) => family === undefined || FAMILY_SINCE_PROTOCOL[family] <= protocol;

/** Capabilities as a connection of `protocol` carries them (a hello: as the oldest does, 0). */
export function capabilitiesFor(capabilities: NodeCapabilities, protocol: number): NodeCapabilities {
  if (protocol >= PROTOCOL_VERSION || !carriesMoreThanHello(capabilities)) return capabilities;
  return {
    ...capabilities,
    models: capabilities.models.filter((model) => known(model.family, protocol)),
    loras: capabilities.loras.filter((lora) => known(lora.family, protocol)).map(({ family, ...lora }) => (protocol >= 5 && family !== undefined ? { ...lora, family } : lora)),
  };
}

/** Whether the capabilities hold what a hello leaves out, to be sent once welcomed in a version that carries it. */
export function carriesMoreThanHello(capabilities: NodeCapabilities): boolean {
  return capabilities.loras.some((lora) => lora.family !== undefined) || capabilities.models.some((model) => !known(model.family, 0));
}
