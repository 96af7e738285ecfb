/**
 * @module sandbox/py-format
 *
 * Numbers as Python prints them, for infotexts: A1111 writes float fields with
 * `str(float)`, so a CFG scale of 7 reads "7.0".
 */

export function pyFloat(value: number): string {
  if (Number.isInteger(value)) return `${value}.0`;
  return String(value);
}

export function pyBool(value: boolean): string {
  return value ? 'True' : 'False';
}
