/** `a, b,,c` → `['a', 'b', 'c']`: a list given as one option (several gateways, origins). */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
