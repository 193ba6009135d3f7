// Entry of the GPU bench bundle (scripts/gpu-bench/pack.sh bundles it with esbuild): `bench inpaint`
// alone, without the rest of the CLI and its dependencies.
import { inpaintBenchCommand } from './bench-inpaint.ts';

await inpaintBenchCommand().name('bench-inpaint').parseAsync(process.argv);
