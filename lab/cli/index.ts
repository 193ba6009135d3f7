// `unmask`: the service's commands and the offline ones (eval, bench, dataset), which measure the
// service and make its training data but are no part of it.
import { runProgram, serviceProgram } from '../../src/cli/program.ts';
import { registerBenchCommand } from './bench.ts';
import { registerDatasetCommands } from './dataset.ts';
import { registerEvalCommands } from './eval.ts';

const program = serviceProgram();
registerBenchCommand(program);
registerDatasetCommands(program);
registerEvalCommands(program);
await runProgram(program);
