// The comma lists of `unmask eval lfw` (--conditions, --recognizers), checked against what exists.

export class EvalFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalFlagError';
  }
}

/**
 * "a,b" → ['a', 'b'] in the order `known` lists them (the tables' order), each checked against
 * `known`. Empty items, repeats and unknown names are refused, naming what is available.
 */
export function parseNameList(flag: string, value: string, known: readonly string[]): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new EvalFlagError(`${flag} "${value}": an empty name (a stray comma?); give names separated by commas, e.g. ${known.slice(0, 2).join(',')}`);
  const repeated = items.filter((s, i) => items.indexOf(s) !== i);
  if (repeated.length > 0) throw new EvalFlagError(`${flag} names ${repeated[0]} twice`);
  const unknown = items.filter((s) => !known.includes(s));
  if (unknown.length > 0)
    throw new EvalFlagError(`${flag}: unknown ${unknown.map((s) => `"${s}"`).join(', ')}; available: ${known.length > 0 ? known.join(', ') : 'none'}`);
  return known.filter((name) => items.includes(name));
}

/** The ID-GAN generators of a models folder: `idgan-*.onnx`, each a condition named after its file. */
export function idganModelNames(files: readonly string[]): string[] {
  return files.filter((f) => /^idgan-[A-Za-z0-9._-]+\.onnx$/.test(f)).map((f) => f.slice(0, -'.onnx'.length)).sort();
}
