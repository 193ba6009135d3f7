// `unmask gallery migrate --from FILE.db --to postgres://…`: a SQLite gallery into PostgreSQL, for a
// cluster (docs/scaling.md).
import type { Command } from 'commander';
import { ConfigError } from '../config.ts';
import { GalleryError } from '../gallery/errors.ts';
import { galleryUrlOf, withoutPassword } from '../gallery/gallery.ts';
import { migrateGallery } from '../gallery/migrate.ts';
import { configFrom } from './options.ts';

/** Adds `migrate` to the `gallery` command (registerGalleryCommands made it). */
export function registerMigrateCommand(program: Command): void {
  const gallery = program.commands.find((c) => c.name() === 'gallery');
  if (!gallery) throw new Error('the gallery command must be registered first');
  gallery
    .command('migrate')
    .description('copy a SQLite gallery into an empty PostgreSQL database (identities, photos, embeddings, ids kept)')
    .requiredOption('--from <file>', 'the SQLite gallery (e.g. var/gallery.db)')
    .option('--to <url>', 'postgres://user:password@host:5432/db (default: UNMASK_GALLERY_URL, else gallery.url of the config)')
    .option('--config <file>', 'config file (YAML)')
    .action(async (options: { from: string; to?: string; config?: string }) => {
      try {
        const to = options.to ?? galleryUrlOf(configFrom(options.config));
        if (!to) throw new ConfigError('gallery migrate needs --to postgres://… (or UNMASK_GALLERY_URL, or gallery.url in the config)');
        if (!/^postgres(ql)?:\/\//.test(to)) throw new ConfigError(`--to expects a postgres:// URL, got "${withoutPassword(to)}"`);
        const report = await migrateGallery(options.from, to, (line) => process.stderr.write(`  ${line}\n`));
        process.stdout.write(
          `copied ${report.identities} identities, ${report.samples} photos, ${report.negatives} negative samples and ` +
            `${report.secondaryEmbeddings} secondary embeddings from ${options.from} to ${withoutPassword(to)}\n`,
        );
      } catch (err) {
        if (!(err instanceof GalleryError || err instanceof ConfigError)) throw err;
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
