// Opens the gallery of gallery.store: the SQLite file of gallery.path, or the PostgreSQL database of
// gallery.url (UNMASK_GALLERY_URL wins).
import { ConfigError, type Config } from '../config.ts';
import { galleryUrlOf, type Gallery } from './gallery.ts';
import { PostgresGallery } from './postgres.ts';
import { GalleryStore, type OpenOptions } from './store.ts';

export async function openGalleryStore(config: Pick<Config, 'gallery'>, options: OpenOptions = {}): Promise<Gallery> {
  if (config.gallery.store === 'sqlite') return GalleryStore.open(config.gallery.path, options);
  const url = galleryUrlOf(config);
  if (!url) throw new ConfigError('gallery.store postgres needs gallery.url (postgres://user:password@host:5432/db) or the environment variable UNMASK_GALLERY_URL');
  return PostgresGallery.connect(url);
}
