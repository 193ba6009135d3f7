// The `unmask` command line.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { registerBenchCommand } from './bench.ts';
import { registerDatasetCommands } from './dataset.ts';
import { registerGalleryCommands } from './enroll.ts';
import { registerEvalCommands } from './eval.ts';
import { registerInpaintCommand } from './inpaint.ts';
import { registerRunCommand } from './run.ts';

const program = new Command('unmask')
  .description('Recognise faces in live video through occlusions: cameras in, identity alerts out.')
  .showHelpAfterError()
  // Lets `bench inpaint` have options of the same names as `bench` (commander needs it on the root too).
  .enablePositionalOptions()
  .exitOverride();

registerRunCommand(program);
registerGalleryCommands(program);
registerBenchCommand(program);
registerDatasetCommands(program);
registerInpaintCommand(program);
registerEvalCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // Errors a user can fix get their message alone; anything else keeps its stack for a bug report.
  if (err instanceof ConfigError) console.error(`unmask: ${err.message}`);
  else console.error(err);
  process.exit(1);
}
