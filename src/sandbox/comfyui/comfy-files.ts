/**
 * @module sandbox/comfyui/comfy-files
 *
 * ComfyUI's `input/`, `output/` and `temp/` folders, in memory: uploads land
 * in `input` (a same-named file with other bytes becomes `name (1).png`, the
 * same bytes reuse the name, as `/upload/image` does), `SaveImage` writes
 * `<prefix>_00001_.png` and counts up, and `/view` reads any of them back.
 * Files are dropped oldest first past a cap, so a long benchmark does not
 * grow without end.
 */
export const FileTypes = ['input', 'output', 'temp'] as const;
export type FileType = (typeof FileTypes)[number];

/** Most files kept per folder (ComfyUI keeps everything on disk; a sandbox must not). */
const MAX_FILES = 2000;

export class ComfyFiles {
  readonly #folders: Record<FileType, Map<string, Buffer>> = { input: new Map(), output: new Map(), temp: new Map() };
  #counter = 0;

  /** Stores an upload; returns the name it is stored under. */
  upload(type: FileType, subfolder: string, name: string, data: Buffer, overwrite: boolean): string {
    const folder = this.#folders[type];
    let stored = name;
    if (!overwrite) {
      const dot = name.lastIndexOf('.');
      const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
      for (let i = 1; ; i++) {
        const existing = folder.get(keyOf(subfolder, stored));
        if (existing === undefined || existing.equals(data)) break;
        stored = `${stem} (${i})${ext}`;
      }
    }
    this.#put(type, keyOf(subfolder, stored), data);
    return stored;
  }

  /** Writes an image a node saved, under ComfyUI's counter naming. */
  save(type: FileType, prefix: string, data: Buffer): { filename: string; subfolder: string; type: FileType } {
    this.#counter += 1;
    const filename = `${prefix}_${String(this.#counter).padStart(5, '0')}_.png`;
    this.#put(type, filename, data);
    return { filename, subfolder: '', type };
  }

  read(type: FileType, subfolder: string, name: string): Buffer | undefined {
    return this.#folders[type].get(keyOf(subfolder, name));
  }

  /** `LoadImage`'s choices: the input folder's files, sorted as `os.listdir` + `sorted` would give. */
  inputNames(): string[] {
    return [...this.#folders.input.keys()].sort();
  }

  #put(type: FileType, key: string, data: Buffer): void {
    const folder = this.#folders[type];
    folder.delete(key);
    folder.set(key, data);
    if (folder.size > MAX_FILES) folder.delete(folder.keys().next().value as string);
  }
}

/**
 * A LoadImage value: `name`, or `name [input]` / `[output]` / `[temp]` naming the folder (ComfyUI's annotated
 * file names); the input folder when none is named.
 */
export function annotatedFile(value: string): { type: FileType; name: string } {
  const match = /^(.*) \[(input|output|temp)\]$/.exec(value);
  return match ? { type: match[2] as FileType, name: match[1]! } : { type: 'input', name: value };
}

function keyOf(subfolder: string, name: string): string {
  return subfolder === '' ? name : `${subfolder}/${name}`;
}
