/**
 * @module api/requests/image-pixels
 *
 * Decoding every pixel of an input image at the gateway. A header can be whole
 * while the data after it is cut short or damaged; the WebUI (Pillow) finds out
 * only when it decodes, on a node, where the failure counts against the node.
 * So the gateway decodes first and refuses such an image with a 400.
 *
 * The work runs on sharp's worker threads (libuv's pool), never on the event
 * loop, and the pixels are dropped: the task keeps the client's bytes.
 */
import sharp, { type SharpOptions } from 'sharp';

/**
 * How strict the decode is, matched against Pillow on damaged files:
 * - `failOn: 'error'`: refuses truncation and decoder errors, and makes libpng
 *   check chunk CRCs (a broken IHDR CRC passes at 'truncated'; Pillow refuses
 *   it). Not 'warning': libjpeg reports damaged scan data ("Corrupt JPEG
 *   data: bad Huffman code") as a warning, and Pillow decodes such a JPEG
 *   (the damage shows, nothing fails), so refusing it would turn away images
 *   the WebUI takes.
 * - `ignoreIcc`: Pillow does not apply an embedded profile either, so a
 *   profile is no reason to refuse.
 * - sharp's other guards stay on (`unlimited: false`: libpng's and libjpeg's
 *   limits on metadata and progressive scans).
 */
const strictDecoding = { failOn: 'error', ignoreIcc: true } as const satisfies SharpOptions;

/** Messages of libvips' loaders that mean the data ends too early. */
const truncationSigns = /premature end|not enough (image )?data|truncated|cut short/i;

/**
 * What stops the image from decoding in full (a phrase for the client), or null.
 * Animated images are decoded to their first frame, the one the WebUI uses.
 *
 * @example
 * await findPixelProblem(jpegCutInHalf, { width: 512, height: 512 }); // 'it is cut short (truncated): its pixel data ends early (…)'
 */
export async function findPixelProblem(bytes: Buffer, size: { width: number; height: number }): Promise<string | null> {
  try {
    await decodeEveryRow(bytes, size);
    return null;
  } catch (error) {
    return describeDecodeFailure(error);
  }
}

/**
 * Asks for a one-pixel column of every row. The loaders decode whole rows in
 * order, so every byte of pixel data is read and checked, but only `height`
 * pixels are kept: the whole image as raw pixels would be up to 64 MiB at
 * 4096², allocated per request. The tests cut files at their very end to make
 * sure the last rows are still read.
 */
async function decodeEveryRow(bytes: Buffer, { width, height }: { width: number; height: number }): Promise<void> {
  // The header's size was checked against the limits before; this only makes sure that is what gets decoded.
  const options = { ...strictDecoding, limitInputPixels: width * height };
  await sharp(bytes, options).extract({ left: 0, top: 0, width: 1, height }).raw().toBuffer();
}

function describeDecodeFailure(error: unknown): string {
  const detail = firstLine(error);
  const what = truncationSigns.test(detail)
    ? 'it is cut short (truncated): its pixel data ends early'
    : 'it is corrupt: its pixel data does not decode';
  // libvips sometimes fails with an empty message, which sharp reports as "Unknown error".
  return detail === '' || detail === 'Unknown error' ? what : `${what} (${detail})`;
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // libvips ends some messages with a colon and nothing after it ("Input buffer has corrupt header:").
  return (message.split('\n', 1)[0] ?? '').trim().replace(/:$/, '');
}
