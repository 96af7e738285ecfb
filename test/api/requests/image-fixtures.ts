/** Small images made with sharp, as base64, for the image-field tests. */
import sharp from 'sharp';

type Format = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff';

export async function imageBytes(format: Format, width = 16, height = 16): Promise<Buffer> {
  const base = sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } });
  return base.toFormat(format).toBuffer();
}

export async function imageBase64(format: Format, width = 16, height = 16): Promise<string> {
  return (await imageBytes(format, width, height)).toString('base64');
}
