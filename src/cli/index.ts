// The service's command line (`npm start` runs `run` through it); `unmask` itself is lab/cli/index.ts,
// which adds the offline commands (eval, bench, dataset).
import { runProgram, serviceProgram } from './program.ts';

await runProgram(serviceProgram());
