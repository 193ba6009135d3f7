// An offline command without its optional package says which one and what wanted it.
import { describe, expect, it } from 'vitest';
import { OptionalPackageMissing, requireOptional, resolveOptional } from '../../lab/optional.ts';

describe('optional packages', () => {
  it('names the missing package and what needed it', () => {
    expect(() => requireOptional('no-such-package-of-unmask', 'the faceres recognizer')).toThrow(OptionalPackageMissing);
    expect(() => resolveOptional('no-such-package-of-unmask', 'the bench')).toThrow(/the bench needs the optional package no-such-package-of-unmask/);
  });

  it('gives the package when it is there', () => {
    expect(requireOptional<{ parse: unknown }>('yaml', 'a test').parse).toBeTypeOf('function');
  });
});
