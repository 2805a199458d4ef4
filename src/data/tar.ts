/**
 * A minimal in-memory tar reader (POSIX ustar, with GNU long names and pax `path` records), enough
 * to read the CIFAR binary archives without unpacking them to disk. Entries are views into the
 * archive's bytes, not copies.
 */

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

/** Thrown for a damaged archive; callers wrap it into a dataset error naming the file. */
export class TarFormatError extends Error {}

const BLOCK = 512;

function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.subarray(off, end)).toString('utf8');
}

function octal(b: Uint8Array, off: number, len: number, field: string): number {
  if (b[off] & 0x80) {
    // GNU base-256 for sizes beyond 8 GiB: big-endian, top bit of the first byte is a flag.
    let v = b[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    return v;
  }
  const s = cstring(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad ${field} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** pax extended header records: "<len> key=value\n". */
function paxPath(data: Uint8Array): string | undefined {
  const text = Buffer.from(data).toString('utf8');
  for (const line of text.split('\n')) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** Regular files of a tar archive, in archive order. */
export function readTar(bytes: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + BLOCK <= bytes.length) {
    if (isZeroBlock(bytes, off)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : bytes[off + i];
    const stored = octal(bytes, off + 148, 8, 'checksum');
    if (stored !== sum) throw new TarFormatError(`header checksum mismatch at byte ${off} (not a tar archive, or a damaged one)`);
    const size = octal(bytes, off + 124, 12, 'size');
    const type = String.fromCharCode(bytes[off + 156] || 0x30);
    let name = cstring(bytes, off, 100);
    if (cstring(bytes, off + 257, 5) === 'ustar') {
      const prefix = cstring(bytes, off + 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const start = off + BLOCK;
    if (start + size > bytes.length) {
      throw new TarFormatError(`entry ${JSON.stringify(longName ?? name)} needs ${size} bytes at byte ${start} but the archive ends at byte ${bytes.length} (truncated)`);
    }
    const data = bytes.subarray(start, start + size);
    if (type === 'L') {
      longName = cstring(data, 0, data.length);
    } else if (type === 'x') {
      longName = paxPath(data) ?? longName;
    } else if (type !== 'g') {
      if ((type === '0' || type === '7') && !name.endsWith('/')) out.push({name: longName ?? name, data});
      longName = undefined;
    }
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
