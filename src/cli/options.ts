// Options shared by several commands: where the config comes from and what the flags override.
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, parseConfig, type Config } from '../config.ts';

export const DEFAULT_CONFIG_FILE = 'config/default.yaml';

/** The config file given, else config/default.yaml when present, else the built-in defaults. */
export function configFrom(file: string | undefined): Config {
  if (file) return loadConfig(file);
  return existsSync(DEFAULT_CONFIG_FILE) ? loadConfig(DEFAULT_CONFIG_FILE) : parseConfig({});
}

/** Applies `--gallery FILE` over the config. */
export function withGallery(config: Config, gallery: string | undefined): Config {
  return gallery ? { ...config, gallery: { ...config.gallery, path: gallery } } : config;
}

/** Parses `NAME=URL` of `--source`. */
export function parseSourceFlag(value: string): { name: string; url: string } {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new ConfigError(`--source expects NAME=URL (e.g. door=rtsp://10.0.0.5/stream), got "${value}"`);
  return { name: value.slice(0, eq), url: value.slice(eq + 1) };
}

// Parsers of numeric flags: a bad value is refused by commander with the flag's name and this message.

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return Number(value);
}

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return Number(value);
}

export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}
