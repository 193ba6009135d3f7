// `unmask run`: the service.
import type { Command } from 'commander';
import { ConfigError, parseConfig, type Config } from '../config.ts';
import { startService } from '../service.ts';
import type { AlertMessage } from '../alert/message.ts';
import { configFrom, parseSourceFlag, withGallery } from './options.ts';
import { startRole } from '../cluster/roles.ts';
import { redactSecrets } from '../observe/redact.ts';
import { ROLES, type Role } from '../cluster/redis.ts';

interface RunFlags {
  config?: string;
  source: string[];
  gallery?: string;
  port?: string;
  host?: string;
  role?: string;
  redis?: string;
  id?: string;
}

const RUN_ROLES = ['all', ...ROLES] as const;
type RunRole = (typeof RUN_ROLES)[number];

function roleOf(value: string): RunRole {
  if (!(RUN_ROLES as readonly string[]).includes(value)) throw new ConfigError(`--role expects one of ${RUN_ROLES.join(', ')}, got "${value}"`);
  return value as RunRole;
}

/** The config with the flags applied; `--source` replaces the configured cameras. */
export function runConfig(flags: RunFlags): Config {
  const base = withGallery(configFrom(flags.config), flags.gallery);
  const raw: Record<string, unknown> = { ...base, server: { ...base.server }, ui: { ...base.ui } };
  if (flags.source.length) {
    // Each --source NAME=URL is a camera with the defaults of cameras[]; validated like the file.
    raw.cameras = flags.source.map((s) => ({ ...parseSourceFlag(s), loop: /^(file:|\/|\.)/.test(parseSourceFlag(s).url) }));
  }
  if (flags.port !== undefined) (raw.server as Record<string, unknown>).port = Number(flags.port);
  if (flags.redis !== undefined || flags.id !== undefined)
    raw.cluster = { ...base.cluster, ...(flags.redis !== undefined ? { redis: flags.redis } : {}), ...(flags.id !== undefined ? { id: flags.id } : {}) };
  // One address for both ports: a container started with --host 0.0.0.0 must publish the page too.
  if (flags.host !== undefined) {
    (raw.server as Record<string, unknown>).host = flags.host;
    (raw.ui as Record<string, unknown>).host = flags.host;
  }
  return parseConfig(raw, 'configuration (file and flags)');
}

function printAlert(alert: AlertMessage): void {
  const who = alert.identity ? `${alert.identity.name} (#${alert.identity.id})` : 'unknown face';
  console.log(
    `${alert.frameTime}  ${alert.camera}  track ${alert.trackId}  ${who}  score ${alert.score.toFixed(3)}  votes ${alert.votes}`,
  );
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the service: cameras → recognition → WebSocket alerts (and alerts on this console)')
    .option('-c, --config <file>', 'YAML config (default: config/default.yaml, else built-in defaults)')
    .option('-s, --source <name=url>', 'a camera, repeatable; replaces the configured cameras', (v: string, all: string[]) => [...all, v], [])
    .option('-g, --gallery <file>', 'gallery database (SQLite)')
    .option('-p, --port <n>', 'HTTP/WebSocket port')
    .option('--host <address>', "address to listen on (the API and the operator's page)")
    .option('--role <role>', 'all: everything in this process; ingest, infer or gateway: one role of a cluster on Redis (docs/scaling.md)', 'all')
    .option('--redis <url>', 'the Redis of the cluster (cluster.redis)')
    .option('--id <name>', "this worker's name in the cluster (cluster.id)")
    .action(async (flags: RunFlags) => {
      const role = roleOf(flags.role ?? 'all');
      const config = runConfig(flags);
      if (role !== 'all') return runRole(config, role);
      const service = await startService(config, { onAlert: printAlert }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE')
          throw new ConfigError(`${config.server.host}:${config.server.port} is already in use: choose another port with --port N or server.port`);
        throw err;
      });
      console.log(`unmask is running at ${service.url}`);
      if (service.uiUrl) console.log(`  page:    ${service.uiUrl}    (operator's page: alerts, gallery, cameras; asks for the API key)`);
      // A configured key is never printed (the console often ends in a log); a generated one must be, once.
      if (service.apiKeyGenerated) {
        console.log(`  alerts:  ws${service.url.slice(4)}/alerts?api_key=${service.apiKey}`);
        console.log(`  health:  ${service.url}/healthz    metrics: ${service.url}/metrics`);
        console.log('  (no API key configured: this one was generated for this run; set UNMASK_API_KEY to choose one)');
      } else {
        console.log(`  alerts:  ws${service.url.slice(4)}/alerts    (with your API key: ${process.env.UNMASK_API_KEY ? 'UNMASK_API_KEY' : 'server.apiKey'})`);
        console.log(`  health:  ${service.url}/healthz    metrics: ${service.url}/metrics`);
      }
      console.log(`  cameras: ${[...service.cameras.keys()].join(', ') || 'none (add one with --source NAME=URL)'}`);
      stopOnSignals(service);
    });
}

/** Stops cleanly on SIGINT and SIGTERM, then exits. */
function stopOnSignals(running: { stop(): Promise<void> }): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    await running.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** One role of a cluster (docs/scaling.md). */
async function runRole(config: Config, role: Role): Promise<void> {
  const running = await startRole(config, role, { onAlert: printAlert }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE')
      throw new ConfigError(`${config.server.host}:${config.server.port} is already in use: choose another port with --port N or server.port`);
    throw err;
  });
  console.log(`unmask ${role} worker "${running.id}" is running on ${config.cluster.prefix}@${redactSecrets(config.cluster.redis ?? '')}`);
  if (role === 'gateway') {
    if (running.uiUrl) console.log(`  page:    ${running.uiUrl}`);
    console.log(`  alerts:  ws${running.url.slice(4)}/alerts?api_key=${running.apiKey}`);
    if (running.apiKeyGenerated) console.log('  (no API key configured: this one was generated for this run; set UNMASK_API_KEY to choose one)');
  }
  console.log(`  health:  ${running.url}/healthz    metrics: ${running.url}/metrics`);
  stopOnSignals(running);
}
