#!/usr/bin/env -S node --import tsx
// The CLI is TypeScript run through tsx, so a fresh clone needs no build step.
import '../lab/cli/index.ts';
