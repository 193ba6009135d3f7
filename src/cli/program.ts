// The `unmask` command line: the service's commands, and how a command's error reaches the user.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { GalleryError } from '../gallery/errors.ts';
import { registerGalleryCommands } from './enroll.ts';
import { registerInpaintCommand } from './inpaint.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerRunCommand } from './run.ts';

/** The program with the service's commands (run, enroll, gallery, inpaint); lab/cli adds the offline ones. */
export function serviceProgram(): Command {
  const program = new Command('unmask')
    .description('Recognise faces in live video through occlusions: cameras in, identity alerts out.')
    .showHelpAfterError()
    // Lets `bench inpaint` have options of the same names as `bench` (commander needs it on the root too).
    .enablePositionalOptions()
    .exitOverride();
  registerRunCommand(program);
  registerGalleryCommands(program);
  registerMigrateCommand(program);
  registerInpaintCommand(program);
  return program;
}

/** Runs the program on the process's arguments and exits on a failure. */
export async function runProgram(program: Command): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    // Errors a user can fix get their message alone; anything else keeps its stack for a bug report.
    if (err instanceof ConfigError || err instanceof GalleryError) console.error(`unmask: ${err.message}`);
    else console.error(err);
    process.exit(1);
  }
}
