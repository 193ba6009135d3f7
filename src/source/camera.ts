// One camera: ffmpeg (via fluent-ffmpeg) decodes the stream to raw RGB frames at the configured fps
// and size; a watchdog restarts ffmpeg when it exits or stalls, with capped exponential backoff.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import ffmpeg from 'fluent-ffmpeg';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { CameraConfig, Config } from '../config.ts';
import { cameraRestarts, cameraState, framesIn } from '../observe/metrics.ts';
import { stageLogger, type Logger } from '../observe/log.ts';
import { redactSecrets } from '../observe/redact.ts';
import type { Frame } from '../pipeline/messages.ts';
import { ffmpegPath } from './ffmpeg-path.ts';

export type SourceSettings = Config['source'];

export const CAMERA_STATES = ['connecting', 'live', 'retrying', 'ended', 'stopped'] as const;
export type CameraState = (typeof CAMERA_STATES)[number];

export interface CameraStatus {
  state: CameraState;
  /** Why the last connection failed: the reason plus ffmpeg's last meaningful stderr line. Kept after recovery. */
  lastError?: string;
  /** When the camera entered this state (ms since epoch). */
  since: number;
  restarts: number;
  framesIn: number;
  lastFrameAt?: number;
  /** While retrying: the backoff before the next attempt. */
  retryDelayMs?: number;
}

export type SourceKind = 'file' | 'rtsp' | 'http' | 'udp';

/** UDP receive FIFO of ffmpeg, in 188-byte packets (~9 MB): absorbs bursts without growing beyond it. */
const UDP_FIFO_PACKETS = 50_000;
/** How long ffmpeg's HTTP protocol keeps reconnecting by itself before it gives up (s); the watchdog covers the rest. */
const HTTP_RECONNECT_DELAY_MAX_SEC = 4;

/** Classifies a camera URL; `demo:` must have been resolved to a file by the caller. */
export function sourceKind(url: string): SourceKind {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') return 'file';
  if (scheme === 'rtsp' || scheme === 'rtsps') return 'rtsp';
  if (scheme === 'http' || scheme === 'https') return 'http';
  if (scheme === 'udp') return 'udp';
  if (scheme === 'demo') throw new Error(`camera URL "${redactSecrets(url)}": demo: must be resolved to the demo video file before the source starts`);
  throw new Error(`camera URL "${redactSecrets(url)}": unsupported scheme "${scheme}:" (expected a file path, file:, rtsp(s)://, http(s)://, udp://)`);
}

/** What differs between the ffmpeg builds we may run (the system's 5.x, the bundled 4.x). */
export interface FfmpegFeatures {
  /** RTSP socket I/O timeout: `-stimeout` before ffmpeg 5, `-timeout` since (where `-timeout` used to mean listen). */
  rtspSocketTimeoutOption: '-stimeout' | '-timeout';
}

const featuresByBinary = new Map<string, Promise<FfmpegFeatures>>();

/** Asks the binary which RTSP timeout option it has; once per binary. */
export function ffmpegFeatures(binary: string = ffmpegPath()): Promise<FfmpegFeatures> {
  let features = featuresByBinary.get(binary);
  if (!features) {
    features = new Promise((resolve) => {
      execFile(binary, ['-hide_banner', '-h', 'demuxer=rtsp'], { timeout: 10_000 }, (_err, stdout) => {
        // On failure assume the current option name: a bad option fails loudly in the camera's lastError.
        resolve({ rtspSocketTimeoutOption: /^\s*-stimeout\b/m.test(String(stdout)) ? '-stimeout' : '-timeout' });
      });
    });
    featuresByBinary.set(binary, features);
  }
  return features;
}

export interface InputSpec {
  input: string;
  options: string[];
}

/** The ffmpeg input and its options for a camera URL. */
export function inputSpec(camera: CameraConfig, settings: SourceSettings, features: FfmpegFeatures): InputSpec {
  const kind = sourceKind(camera.url);
  // Global options (ffmpeg accepts them anywhere): no keyboard interaction, only errors on stderr.
  const quiet = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'error'];
  const socketTimeoutUs = String(Math.round(settings.stallTimeoutSec * 1_000_000));
  switch (kind) {
    case 'file': {
      const input = camera.url.startsWith('file:') ? fileURLToPath(camera.url) : camera.url;
      const options = [...quiet];
      if (camera.loop) options.push('-stream_loop', '-1');
      if (camera.realtime) options.push('-re');
      return { input, options };
    }
    case 'rtsp':
      return { input: camera.url, options: [...quiet, '-rtsp_transport', 'tcp', features.rtspSocketTimeoutOption, socketTimeoutUs] };
    case 'http':
      // MJPEG and HLS alike: ffmpeg probes the format; its HTTP layer reconnects a dropped stream itself.
      return {
        input: camera.url,
        options: [
          ...quiet,
          '-rw_timeout', socketTimeoutUs,
          '-reconnect', '1',
          '-reconnect_streamed', '1',
          '-reconnect_delay_max', String(HTTP_RECONNECT_DELAY_MAX_SEC),
        ],
      };
    case 'udp':
      return { input: withUdpDefaults(camera.url), options: [...quiet, '-f', 'mpegts'] };
  }
}

/** Adds overrun_nonfatal and fifo_size to a udp:// URL unless the user set them. */
function withUdpDefaults(url: string): string {
  const queryAt = url.indexOf('?');
  const base = queryAt < 0 ? url : url.slice(0, queryAt);
  const params = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
  // A slow reader must lose packets, not kill ffmpeg with "circular buffer overrun".
  if (!params.has('overrun_nonfatal')) params.set('overrun_nonfatal', '1');
  if (!params.has('fifo_size')) params.set('fifo_size', String(UDP_FIFO_PACKETS));
  return `${base}?${params.toString()}`;
}

/** The filter chain: resample to the camera fps, fit inside W×H keeping the aspect, pad to exactly W×H. */
export function videoFilter(camera: CameraConfig): string {
  const { fps, width: w, height: h } = camera;
  return [
    `fps=${fps}`,
    `scale=${w}:${h}:force_original_aspect_ratio=decrease`,
    `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2`,
    'setsar=1',
    'format=rgb24',
  ].join(',');
}

/** Cuts a byte stream into frames of exactly `frameBytes`; stream chunks do not align with frames. */
export class FrameCutter {
  private frame: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly onFrame: (data: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      this.frame ??= Buffer.allocUnsafe(this.frameBytes);
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      chunk.copy(this.frame, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        const complete = this.frame;
        this.frame = undefined;
        this.filled = 0;
        this.onFrame(complete);
      }
    }
  }

  /** Bytes of an incomplete frame received so far. */
  get pendingBytes(): number {
    return this.filled;
  }
}

/** ffmpeg stderr noise that says nothing about the cause. */
const UNINFORMATIVE_STDERR = /^(Conversion failed!?|Exiting normally.*|Error opening input files?:.*|Error opening input file .*\.)$/;

/**
 * The cause in an ffmpeg stderr line, without the "[tcp @ 0x55d…]" instance address and without the
 * credentials of any URL in it (ffmpeg names the input URL as given); undefined when it has none.
 */
export function meaningfulStderr(line: string): string | undefined {
  const text = line.trim().replace(/^\[([\w.-]+) @ 0x[0-9a-f]+\]\s*/i, '$1: ');
  if (!text || UNINFORMATIVE_STDERR.test(text)) return undefined;
  return redactSecrets(text);
}

/** How ffmpeg ended, from the child's own record (fluent-ffmpeg's message appends all of stderr). */
function describeExit(child: ChildProcess | undefined): string | undefined {
  if (child?.signalCode) return `ffmpeg was killed by ${child.signalCode}`;
  if (child?.exitCode != null) return `ffmpeg exited with code ${child.exitCode}`;
  return undefined;
}

// Every running ffmpeg of this process, killed when the process exits: none may outlive it.
const runningFfmpeg = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of runningFfmpeg) child.kill('SIGKILL');
});

interface Connection {
  process?: ChildProcess;
  /** Set when the connection was abandoned before ffmpeg spawned: kill it as soon as it does. */
  abandoned: boolean;
  cutter: FrameCutter;
  seq: number;
  /** Last time this connection showed life: its start, then each frame. */
  lastActivity: number;
  lastStderr?: string;
  watchdog?: NodeJS.Timeout;
  /** Resolves once ffmpeg has exited and been reaped (or never spawned). */
  exited: Promise<void>;
  markExited: () => void;
}

export class CameraSource {
  /** Each frame as it is cut from ffmpeg's output; completes when the camera ends or stops. */
  readonly frames$: Observable<Frame>;
  /** The status now, then at every state change; completes on stop(). */
  readonly statusChanges$: Observable<CameraStatus>;

  private readonly frameSubject = new Subject<Frame>();
  private readonly statusSubject: BehaviorSubject<CameraStatus>;
  private readonly log: Logger;
  private readonly kind: SourceKind;
  private readonly frameBytes: number;

  private current: CameraStatus;
  private connection: Connection | undefined;
  /** Connections killed but maybe not yet reaped: the next ffmpeg waits for them (a UDP port is free again). */
  private dying = new Set<Promise<void>>();
  /** Consecutive connections that delivered no frame: the backoff exponent. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly camera: CameraConfig,
    private readonly settings: SourceSettings,
  ) {
    this.kind = sourceKind(camera.url);
    this.frameBytes = camera.width * camera.height * 3;
    this.log = stageLogger('source', { camera: camera.name });
    this.current = { state: 'connecting', since: Date.now(), restarts: 0, framesIn: 0 };
    this.statusSubject = new BehaviorSubject<CameraStatus>({ ...this.current });
    this.frames$ = this.frameSubject.asObservable();
    this.statusChanges$ = this.statusSubject.asObservable();
    this.exportState();
  }

  get name(): string {
    return this.camera.name;
  }

  status(): CameraStatus {
    return { ...this.current };
  }

  /** The pid of the running ffmpeg, if one runs now. */
  pid(): number | undefined {
    return this.connection?.process?.pid;
  }

  start(): void {
    if (this.started || this.stopping) throw new Error(`camera ${this.camera.name}: start() after start() or stop(); make a new CameraSource`);
    this.started = true;
    this.connect();
  }

  /** Kills ffmpeg and waits until it is reaped; no restart follows. Completes frames$ and statusChanges$. */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) this.kill(connection);
    await Promise.all([connection?.exited, ...this.dying]);
    this.setState('stopped');
    this.frameSubject.complete();
    this.statusSubject.complete();
  }

  private connect(): void {
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const connection: Connection = {
      abandoned: false,
      cutter: new FrameCutter(this.frameBytes, (data) => this.onFrame(connection, data)),
      seq: 0,
      lastActivity: Date.now(),
      exited,
      markExited,
    };
    this.connection = connection;
    this.setState('connecting');
    this.armWatchdog(connection, this.settings.stallTimeoutSec * 1000);
    this.launch(connection).catch((err: unknown) => {
      connection.markExited();
      this.onExit(connection, err instanceof Error ? err : new Error(String(err)));
    });
  }

  private async launch(connection: Connection): Promise<void> {
    const binary = ffmpegPath();
    const { input, options } = inputSpec(this.camera, this.settings, await ffmpegFeatures(binary));
    if (connection.abandoned) {
      connection.markExited();
      return;
    }
    // Our own sink rather than fluent-ffmpeg's pipe(): its PassThrough 'close' races ffmpeg's exit and
    // turns a clean end of file into an "Output stream closed" error.
    const sink = new Writable({
      emitClose: false,
      autoDestroy: false,
      write: (chunk: Buffer, _encoding, done) => {
        if (this.connection === connection) connection.cutter.push(chunk);
        done();
      },
    });
    const command = ffmpeg({ stdoutLines: 20 })
      .setFfmpegPath(binary)
      .input(input)
      .inputOptions(options)
      .noAudio()
      .videoFilters(videoFilter(this.camera))
      .outputOptions(['-map', '0:v:0', '-sn', '-dn'])
      .format('rawvideo')
      .output(sink);
    command.on('start', (commandLine: string) => {
      // fluent-ffmpeg keeps the child in an undeclared field; it is set just before 'start'.
      const child = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      if (!child) return;
      connection.process = child;
      runningFfmpeg.add(child);
      child.once('exit', () => runningFfmpeg.delete(child));
      this.log.debug({ pid: child.pid, commandLine: redactSecrets(commandLine) }, 'ffmpeg started');
      if (connection.abandoned) child.kill('SIGKILL');
    });
    command.on('stderr', (line: string) => {
      const cause = meaningfulStderr(line);
      if (cause === undefined) return;
      connection.lastStderr = cause;
      this.log.debug({ stderr: cause }, 'ffmpeg says');
    });
    const ended = (err?: Error) => {
      // Also here, not only on 'exit': a child that failed to spawn never emits 'exit'.
      if (connection.process) runningFfmpeg.delete(connection.process);
      connection.markExited();
      // fluent-ffmpeg reports the end without waiting for stdout: let the last frames through first.
      const stdout = connection.process?.stdout;
      const drained = stdout ? finished(stdout).catch(() => undefined) : Promise.resolve();
      void drained.then(() => this.onExit(connection, err));
    };
    command.on('end', () => ended());
    command.on('error', (err: Error) => ended(err));
    command.run();
  }

  private onFrame(connection: Connection, data: Buffer): void {
    const now = Date.now();
    connection.lastActivity = now;
    const seq = connection.seq++;
    this.current.framesIn++;
    this.current.lastFrameAt = now;
    framesIn.inc({ camera: this.camera.name });
    if (seq === 0) {
      this.failures = 0;
      this.setState('live');
    }
    this.frameSubject.next({
      camera: this.camera.name,
      seq,
      time: now,
      image: { width: this.camera.width, height: this.camera.height, data },
    });
  }

  /** Restarts the connection when it shows no frame for stallTimeoutSec; checks lazily, not per frame. */
  private armWatchdog(connection: Connection, delayMs: number): void {
    connection.watchdog = setTimeout(() => {
      if (this.connection !== connection) return;
      const stallMs = this.settings.stallTimeoutSec * 1000;
      const idleMs = Date.now() - connection.lastActivity;
      if (idleMs < stallMs) {
        this.armWatchdog(connection, stallMs - idleMs);
        return;
      }
      const what = connection.seq === 0 ? 'no frame' : 'no new frame';
      this.fail(connection, 'stall', `${what} for ${this.settings.stallTimeoutSec}s`);
    }, delayMs);
  }

  private onExit(connection: Connection, err?: Error): void {
    if (this.connection !== connection) return; // already handled: stalled, or stopped
    if (connection.cutter.pendingBytes > 0)
      this.log.warn({ bytes: connection.cutter.pendingBytes }, 'ffmpeg ended inside a frame; partial frame dropped');
    if (!err && this.kind === 'file' && !this.camera.loop) {
      clearTimeout(connection.watchdog);
      this.connection = undefined;
      this.setState('ended');
      this.frameSubject.complete();
      return;
    }
    const exit = describeExit(connection.process) ?? err?.message.split('\n')[0] ?? 'ffmpeg exited';
    this.fail(connection, 'exit', err ? exit : `stream ended (${exit})`);
  }

  private fail(connection: Connection, reason: 'exit' | 'stall', message: string): void {
    clearTimeout(connection.watchdog);
    this.connection = undefined;
    this.kill(connection);
    const dying = connection.exited;
    this.dying.add(dying);
    void dying.then(() => this.dying.delete(dying));

    const delayMs = Math.min(this.settings.backoffInitialMs * 2 ** Math.min(this.failures, 30), this.settings.backoffMaxMs);
    this.failures++;
    this.current.restarts++;
    // Served by /api/cameras, published on MQTT and logged: never with a URL's credentials.
    this.current.lastError = redactSecrets(connection.lastStderr ? `${message}: ${connection.lastStderr}` : message);
    this.current.retryDelayMs = delayMs;
    cameraRestarts.inc({ camera: this.camera.name, reason });
    this.setState('retrying');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void dying.then(() => {
        if (!this.stopping) this.connect();
      });
    }, delayMs);
  }

  private kill(connection: Connection): void {
    clearTimeout(connection.watchdog);
    connection.abandoned = true;
    // SIGKILL: raw video output has nothing to flush, and a stalled ffmpeg may ignore SIGTERM while blocked.
    connection.process?.kill('SIGKILL');
  }

  private exportState(): void {
    for (const s of CAMERA_STATES) cameraState.set({ camera: this.camera.name, state: s }, s === this.current.state ? 1 : 0);
  }

  private setState(state: CameraState): void {
    const now = Date.now();
    const previous = this.current.state;
    this.current.since = now;
    // Only start() repeats a state (the initial 'connecting'): nothing changed to announce.
    if (state === previous) return;
    this.current.state = state;
    if (state !== 'retrying') delete this.current.retryDelayMs;
    this.exportState();
    const details = { state, previous, restarts: this.current.restarts, framesIn: this.current.framesIn };
    if (state === 'retrying')
      this.log.warn({ ...details, lastError: this.current.lastError, retryInMs: this.current.retryDelayMs }, `camera retrying: ${this.current.lastError}`);
    else this.log.info(details, `camera ${state}`);
    this.statusSubject.next(this.status());
  }
}
