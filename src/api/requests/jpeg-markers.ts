/**
 * @module api/requests/jpeg-markers
 *
 * What libjpeg refuses after the pixel data of a single-scan JPEG, which the
 * gateway's decode never sees. libjpeg reads the markers that follow the scan
 * in `jpeg_finish_decompress`, after the last row; libvips ignores an error
 * there (its rows are done), Pillow does not ("broken data stream"). A byte
 * flipped after an 0xFF in the scan data makes such a marker, and a crafted
 * file needs only two bytes before its EOI. Multi-scan (progressive) JPEGs are
 * read to their end before the first row is made, so libvips sees their errors
 * itself and they are not walked here.
 *
 * The rules follow libjpeg-turbo's jdmarker.c (`next_marker`, `read_markers`,
 * `get_dht`, `get_dqt`, `get_dri`, `get_dac`) and jdinput.c (`consume_markers`:
 * a scan after the only one is an error), and were checked against Pillow 9.4.
 * Where the data ends before libjpeg is done, Pillow keeps the rows it has: so
 * does this walk.
 */

const MARKER = 0xff;
const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DHT = 0xc4;
const DAC = 0xcc;
const DQT = 0xdb;
const DRI = 0xdd;
const DNL = 0xdc;
const COM = 0xfe;
const TEM = 0x01;
/** libjpeg's NUM_HUFF_TBLS, NUM_QUANT_TBLS and 2 × NUM_ARITH_TBLS. */
const HUFFMAN_TABLES = 4;
const QUANTIZATION_TABLES = 4;
const ARITHMETIC_TABLE_INDEXES = 32;

interface Frame {
  /** Where the entropy-coded data of the first scan starts. */
  scanStart: number;
  multiScan: boolean;
  restartInterval: number;
}

interface Marker {
  code: number;
  /** Offset of its 0xFF. */
  at: number;
}

/** The next offset to read from, null where the data ends first, or a problem. */
type Step = number | null | string;

/**
 * What libjpeg would refuse after this JPEG's scan (a phrase for the client),
 * or null. Call it once the pixels decoded: the header is known to be sound.
 *
 * @example
 * findJpegProblem(jpegWithFF02BeforeEoi); // 'it is corrupt: marker 0xFF02 in or after its pixel data is not one JPEG defines'
 */
export function findJpegProblem(jpeg: Buffer): string | null {
  const frame = readFrame(jpeg);
  if (frame === null || frame.multiScan) return null;
  for (let from: Step = frame.scanStart; ; ) {
    const marker = nextMarker(jpeg, from);
    if (marker === null || marker.code === EOI) return null;
    from = judgeMarker(jpeg, marker, frame);
    if (typeof from !== 'number') return from;
  }
}

/** The frame header and the first scan, as libjpeg reads them before any row. */
function readFrame(jpeg: Buffer): Frame | null {
  let components = 0;
  let progressive = false;
  let restartInterval = 0;
  for (let from = 2; ; ) {
    const marker = nextMarker(jpeg, from);
    if (marker === null) return null;
    const end = segmentEnd(jpeg, marker.at);
    if (end === null) return null;
    if (isFrameHeader(marker.code)) {
      // SOF2, SOF6, SOF10, SOF14 are progressive; byte 9 of the segment is the number of components.
      progressive = (marker.code & 0x03) === 0x02;
      components = jpeg[marker.at + 9] ?? 0;
    } else if (marker.code === DRI) {
      restartInterval = end - marker.at >= 6 ? jpeg.readUInt16BE(marker.at + 4) : 0;
    } else if (marker.code === SOS) {
      const inScan = jpeg[marker.at + 4] ?? 0;
      return { scanStart: end, multiScan: progressive || inScan < components, restartInterval };
    }
    from = end;
  }
}

/** libjpeg's `next_marker`: skips data bytes, fill bytes (0xFF 0xFF…) and stuffed zeros (0xFF 0x00). */
function nextMarker(jpeg: Buffer, from: number): Marker | null {
  for (let at = from; ; ) {
    at = jpeg.indexOf(MARKER, at);
    if (at < 0) return null;
    let next = at + 1;
    while (jpeg[next] === MARKER) next++;
    const code = jpeg[next];
    if (code === undefined) return null;
    if (code !== 0) return { code, at: next - 1 };
    at = next + 1;
  }
}

/** Where a marker's segment ends (its length counts itself), or null if the data ends first. */
function segmentEnd(jpeg: Buffer, at: number): number | null {
  if (at + 4 > jpeg.length) return null;
  const end = at + 4 + Math.max(jpeg.readUInt16BE(at + 2) - 2, 0);
  return end > jpeg.length ? null : end;
}

/** libjpeg's `read_markers` after the scan, for a frame of one scan. */
function judgeMarker(jpeg: Buffer, { code, at }: Marker, frame: Frame): Step {
  if ((code >= 0xd0 && code <= 0xd7) || code === TEM) return at + 2;
  // With restart markers, the decoder resynchronises past an undefined marker in the scan data.
  if (frame.restartInterval > 0 && code < 0xc0) return at + 2;
  if (code === SOI) return 'it is corrupt: a second start-of-image marker in or after its pixel data';
  if (isFrameHeader(code) || code === 0xc8) return `it is corrupt: a second frame header (${hex(code)}) in or after its pixel data`;
  if (!isKnownSegment(code)) return `it is corrupt: marker ${hex(code)} in or after its pixel data is not one JPEG defines`;
  const end = segmentEnd(jpeg, at);
  if (end === null) return null;
  if (code === SOS) return 'it is corrupt: a second scan where its header announces one';
  return findTableProblem(jpeg, code, at, end) ?? end;
}

/** SOF0–SOF15: C0–CF but DHT (C4), JPG (C8) and DAC (CC). */
function isFrameHeader(code: number): boolean {
  return code >= 0xc0 && code <= 0xcf && code !== DHT && code !== 0xc8 && code !== DAC;
}

function isKnownSegment(code: number): boolean {
  return [SOS, DHT, DAC, DQT, DRI, DNL, COM].includes(code) || (code >= 0xe0 && code <= 0xef);
}

/** The checks of libjpeg's table readers; APPn, COM and DNL are skipped unread. */
function findTableProblem(jpeg: Buffer, code: number, at: number, end: number): string | null {
  const data = jpeg.subarray(at + 4, end);
  const declared = jpeg.readUInt16BE(at + 2) - 2;
  const broken = `it is corrupt: a broken ${markerName(code)} segment in or after its pixel data`;
  if (code === DRI) return declared === 2 ? null : broken;
  if (code === DHT) return huffmanTablesFit(data, declared) ? null : broken;
  if (code === DQT) return quantizationTablesFit(data, declared) ? null : broken;
  if (code === DAC) return arithmeticTablesFit(data, declared) ? null : broken;
  return null;
}

function huffmanTablesFit(data: Buffer, declared: number): boolean {
  let left = declared;
  for (let at = 0; left > 16; ) {
    const index = data[at] ?? 0;
    let count = 0;
    for (let i = 1; i <= 16; i++) count += data[at + i] ?? 0;
    left -= 17;
    if (count > 256 || count > left) return false;
    left -= count;
    at += 17 + count;
    if ((index & 0x0f) >= HUFFMAN_TABLES || index > 0x1f) return false;
  }
  return left === 0;
}

function quantizationTablesFit(data: Buffer, declared: number): boolean {
  let left = declared;
  for (let at = 0; left > 0; ) {
    const spec = data[at] ?? 0;
    if ((spec & 0x0f) >= QUANTIZATION_TABLES) return false;
    const bytes = spec >> 4 === 0 ? 64 : 128;
    left -= 1 + bytes;
    at += 1 + bytes;
  }
  return left === 0;
}

function arithmeticTablesFit(data: Buffer, declared: number): boolean {
  let left = declared;
  for (let at = 0; left > 0; at += 2) {
    const index = data[at] ?? 0;
    const value = data[at + 1] ?? 0;
    left -= 2;
    if (index >= ARITHMETIC_TABLE_INDEXES) return false;
    // A DC table's lower bound (low nibble) may not exceed its upper one.
    if (index < ARITHMETIC_TABLE_INDEXES / 2 && (value & 0x0f) > value >> 4) return false;
  }
  return left === 0;
}

function markerName(code: number): string {
  return ({ [DHT]: 'DHT (Huffman table)', [DQT]: 'DQT (quantization table)', [DRI]: 'DRI (restart interval)', [DAC]: 'DAC (arithmetic coding)' } as Record<number, string>)[code] ?? hex(code);
}

function hex(code: number): string {
  return `0xFF${code.toString(16).toUpperCase().padStart(2, '0')}`;
}
