// The optional packages (package.json optionalDependencies: TensorFlow.js, Human) serve only the
// offline measurements. Without them those commands stop with what is missing and how to get it.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export class OptionalPackageMissing extends Error {
  constructor(packageName: string, forWhat: string) {
    super(
      `${forWhat} needs the optional package ${packageName}, which is not installed ` +
        '(npm ci installs it unless --omit=optional or --omit=dev was given): run `npm ci` without them, or leave it out',
    );
    this.name = 'OptionalPackageMissing';
  }
}

/** require(name), or an OptionalPackageMissing error that names it and what wanted it. */
export function requireOptional<T>(name: string, forWhat: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new OptionalPackageMissing(name, forWhat);
    throw err;
  }
}

/** require.resolve(name), with the same error. */
export function resolveOptional(name: string, forWhat: string): string {
  try {
    return require.resolve(name);
  } catch {
    throw new OptionalPackageMissing(name, forWhat);
  }
}
