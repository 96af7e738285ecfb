/**
 * BENCHMARKS.md, where each benchmark keeps one section between
 * `<!-- NAME:start -->` and `<!-- NAME:end -->` and leaves the rest (the prose
 * around it) alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const HEADER = '# Benchmarks\n\nEach section names the command that produced it. The machine is a shared 2-core VM: compare figures within one run.\n';

export const sectionStart = (name: string) => `<!-- ${name}:start -->`;
export const sectionEnd = (name: string) => `<!-- ${name}:end -->`;

/** Replaces section `name` of `path` with `section` (its markers added when it lacks them); appends it when absent. */
export function writeBenchSection(name: string, section: string, path = 'BENCHMARKS.md'): void {
  // A section given without its markers gets them: without, the next run could not find it and appended a copy.
  if (!section.startsWith(sectionStart(name))) section = `${sectionStart(name)}\n${section.trimEnd()}\n${sectionEnd(name)}`;
  let doc = HEADER;
  try {
    doc = readFileSync(path, 'utf8');
  } catch {
    // No file yet: start one.
  }
  const start = doc.indexOf(sectionStart(name));
  const end = doc.indexOf(sectionEnd(name));
  const after = end + sectionEnd(name).length;
  doc = start >= 0 && end > start ? doc.slice(0, start) + section + doc.slice(after) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
}
