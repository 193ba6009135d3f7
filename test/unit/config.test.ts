import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  apiKeyOf,
  checkEnvironment,
  closestKey,
  ConfigError,
  dataPathProblem,
  eventsPathOf,
  keyDistance,
  loadConfig,
  mqttCredentialsOf,
  parseConfig,
  RECOGNIZER_THRESHOLDS,
  workerCount,
} from '../../src/config.ts';
import { parseSourceFlag } from '../../src/cli/options.ts';
import { runConfig } from '../../src/cli/run.ts';

describe('config', () => {
  it('config/default.yaml states exactly the built-in defaults', () => {
    const file = parseConfig(parse(readFileSync('config/default.yaml', 'utf8')));
    const defaults = parseConfig({});
    expect({ ...file, cameras: [] }).toEqual(defaults);
    expect(file.cameras).toHaveLength(1);
    expect(file.cameras[0].url).toBe('demo:');
  });

  it('config/default.yaml names every setting (a commented-out key counts: its default depends on another)', () => {
    const text = readFileSync('config/default.yaml', 'utf8').replace(/^(\s*)# ([A-Za-z]+):/gm, '$1$2:');
    const file = parse(text) as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (defaults: Record<string, unknown>, inFile: Record<string, unknown> | undefined, path: string) => {
      for (const [key, value] of Object.entries(defaults)) {
        const at = path ? `${path}.${key}` : key;
        if (!inFile || !(key in inFile)) missing.push(at);
        else if (value && typeof value === 'object' && !Array.isArray(value)) walk(value as Record<string, unknown>, inFile[key] as Record<string, unknown>, at);
      }
    };
    walk(parseConfig({}) as unknown as Record<string, unknown>, file, '');
    // A camera's keys, against the demo camera of the file.
    const camera = parseConfig({ cameras: [{ name: 'x', url: 'demo:' }] }).cameras[0];
    walk(camera as unknown as Record<string, unknown>, (file.cameras as Record<string, unknown>[])[0], 'cameras[]');
    expect(missing).toEqual([]);
  });

  it('an error names every bad key and what it expects', () => {
    let message = '';
    try {
      parseConfig({ detect: { model: 'yolo' }, match: { threshold: 2 }, cameras: [{ name: 'door' }], typo: true });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/detect\.model: expected "faceplugin"/);
    expect(message).toMatch(/match\.threshold: .*<=1/);
    expect(message).toMatch(/cameras\.0\.url: .*expected string/);
    expect(message).toMatch(/typo/);
  });

  it('refuses thresholds in the wrong order and duplicate camera names', () => {
    expect(() => parseConfig({ match: { threshold: 0.8, unknownThreshold: 0.9 } })).toThrow(/match\.unknownThreshold: must not exceed/);
    expect(() => parseConfig({ cameras: [{ name: 'a', url: 'x.mp4' }, { name: 'a', url: 'y.mp4' }] })).toThrow(/cameras\.1\.name: duplicate/);
  });

  it('says why a removed tfjs detector is refused', () => {
    expect(() => parseConfig({ detect: { model: 'tiny' } })).toThrow(/detect\.model: face-api's "tiny" detector ran on TensorFlow\.js and is gone.*use "faceplugin"/);
  });

  it("takes the match thresholds of the recognizer in force unless they are set", () => {
    expect(parseConfig({}).recognize.model).toBe('arcface');
    expect(parseConfig({}).match).toMatchObject(RECOGNIZER_THRESHOLDS.arcface);
    expect(parseConfig({ recognize: { model: 'faceapi' } }).match).toMatchObject(RECOGNIZER_THRESHOLDS.faceapi);
    expect(parseConfig({ match: { threshold: 0.5, unknownThreshold: 0.45 } }).match).toMatchObject({ threshold: 0.5, unknownThreshold: 0.45 });
    // A threshold set below the recognizer's unknown band takes the band down with it.
    expect(parseConfig({ match: { threshold: 0.2 } }).match).toMatchObject({ threshold: 0.2, unknownThreshold: 0.2 });
    expect(() => parseConfig({ match: { unknownThreshold: 0.95 }, recognize: { model: 'arcface' } })).toThrow(/unknownThreshold: must not exceed match\.threshold \(0\.4\)/);
  });

  it('reports unreadable files and bad YAML with the file name', () => {
    expect(() => loadConfig('/nonexistent/unmask.yaml')).toThrow(/cannot read config \/nonexistent\/unmask.yaml/);
  });

  it('takes the API key from the environment first', () => {
    const config = parseConfig({ server: { apiKey: 'from-the-file-0123' } });
    expect(apiKeyOf(config, { UNMASK_API_KEY: 'from-the-env-0123' })).toBe('from-the-env-0123');
    expect(apiKeyOf(config, {})).toBe('from-the-file-0123');
    expect(apiKeyOf(parseConfig({}), {})).toBeUndefined();
  });

  it('keeps the events beside the gallery unless told, and checks the MQTT settings', () => {
    expect(eventsPathOf(parseConfig({}))).toBe('var/events.db');
    expect(eventsPathOf(parseConfig({ gallery: { path: '/data/unmask/gallery.db' } }))).toBe('/data/unmask/events.db');
    expect(eventsPathOf(parseConfig({ events: { path: '/elsewhere/e.db' } }))).toBe('/elsewhere/e.db');
    expect(parseConfig({}).mqtt.url).toBeUndefined();
    expect(() => parseConfig({ mqtt: { url: 'http://broker' } })).toThrow(/mqtt\.url: an mqtt:\/\//);
    expect(() => parseConfig({ mqtt: { url: 'mqtt://b', topicPrefix: 'a/#' } })).toThrow(/mqtt\.topicPrefix/);
    const config = parseConfig({ mqtt: { url: 'mqtts://b:8883', username: 'file-user', password: 'file-pass' } });
    expect(mqttCredentialsOf(config, {})).toEqual({ username: 'file-user', password: 'file-pass' });
    expect(mqttCredentialsOf(config, { UNMASK_MQTT_PASSWORD: 'env-pass' })).toEqual({ username: 'file-user', password: 'env-pass' });
    expect(mqttCredentialsOf(parseConfig({}), {})).toEqual({});
  });

  it('uses one worker per core unless told', () => {
    expect(workerCount(parseConfig({}), 2)).toBe(2);
    expect(workerCount(parseConfig({ detect: { workers: 3 } }), 2)).toBe(3);
  });
});

describe('config strictness', () => {
  it('measures how far a typo is from a key: case, "_" and "-" are free, a swap of neighbours costs one', () => {
    expect(keyDistance('api_key', 'apiKey')).toBe(0);
    expect(keyDistance('enabeld', 'enabled')).toBe(1);
    expect(keyDistance('modle', 'model')).toBe(1);
    expect(keyDistance('urll', 'url')).toBe(1);
    expect(keyDistance('threshold', 'cooldownSec')).toBeGreaterThan(5);
    expect(closestKey('subscriberQeue', ['subscriberQueue', 'heartbeatSec'])).toBe('subscriberQueue');
    expect(closestKey('colour', ['enabled', 'host', 'port'])).toBeUndefined();
    expect(closestKey('x', ['y'])).toBe('y');
  });

  it('refuses an unknown key at every depth, naming the one it probably meant', () => {
    const refusal = (raw: unknown) => {
      try {
        parseConfig(raw);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal({ recognize: { batch: { maxbatch: 4 } } })).toContain('recognize.batch.maxbatch: unknown key; did you mean "maxBatch"?');
    expect(refusal({ mqtt: { discovery: { prefx: 'ha' } } })).toContain('mqtt.discovery.prefx: unknown key; did you mean "prefix"?');
    expect(refusal({ log: { levl: 'info' } })).toContain('log.levl: unknown key; did you mean "level"?');
    expect(refusal({ gallery: { colour: 'red' } })).toMatch(/gallery\.colour: unknown key \(known here: path, maxImageBytes/);
  });

  it('applies the key rules to UNMASK_API_KEY and UNMASK_LOG_LEVEL too (an empty variable is unset)', () => {
    expect(() => checkEnvironment({ UNMASK_API_KEY: 'a' })).toThrow(/UNMASK_API_KEY: at least 16 characters/);
    expect(() => apiKeyOf(parseConfig({}), { UNMASK_API_KEY: 'fifteen-chars-x' })).toThrow(ConfigError);
    expect(() => checkEnvironment({ UNMASK_LOG_LEVEL: 'verbose' })).toThrow(/UNMASK_LOG_LEVEL: Invalid option/);
    expect(() => checkEnvironment({ UNMASK_API_KEY: '', UNMASK_LOG_LEVEL: '' })).not.toThrow();
    expect(apiKeyOf(parseConfig({}), { UNMASK_API_KEY: 'sixteen-chars-xy' })).toBe('sixteen-chars-xy');
    expect(() => parseConfig({ server: { apiKey: 'short-key' } })).toThrow(/server\.apiKey: at least 16 characters/);
  });

  it('says in words why a data path cannot be used', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-config-'));
    try {
      const file = join(dir, 'plain');
      writeFileSync(file, 'x');
      expect(dataPathProblem(dir)).toBe(`${dir} is a folder: give a file in it, such as ${join(dir, 'gallery.db')}`);
      expect(dataPathProblem(join(file, 'gallery.db'))).toBe(`cannot create ${join(file, 'gallery.db')}: ${file} is a file, not a folder`);
      expect(dataPathProblem(join(dir, 'new', 'deeper', 'gallery.db'))).toBeUndefined();
      expect(dataPathProblem(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('run flags', () => {
  it('--source, --gallery and --port override the file', () => {
    const config = runConfig({ source: ['door=rtsp://10.0.0.5/live', 'lobby=/videos/lobby.mp4'], gallery: '/tmp/g.db', port: '9999' });
    expect(config.cameras.map((c) => [c.name, c.url, c.loop])).toEqual([
      ['door', 'rtsp://10.0.0.5/live', false],
      ['lobby', '/videos/lobby.mp4', true],
    ]);
    expect(config.gallery.path).toBe('/tmp/g.db');
    expect(config.server.port).toBe(9999);
  });

  it('a bad flag is a config error that says what is expected', () => {
    expect(() => parseSourceFlag('rtsp://nohost')).toThrow(/NAME=URL/);
    expect(() => runConfig({ source: [], port: 'eighty' })).toThrow(/server\.port/);
  });
});
