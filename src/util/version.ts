/**
 * @module util/version
 *
 * DAN's version, from package.json (one place): the CLI's `--version`, the
 * OpenAPI document, the node agent's hello.
 */
import { readFileSync } from 'node:fs';

/** `package.json` at the package root, whether running from src/ or dist/. */
export const DAN_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
