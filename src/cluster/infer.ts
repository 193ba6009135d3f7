// The infer role: face entries from the faces stream (consumer group `infer`), many in flight so that
// the recognizer and inpainter batch them across cameras and ingest workers: align, repair, embed on
// the region that came with each face, then the track's vote, kept in Redis.
//
// One Lua script commits an entry at once: the track's new vote (if nobody changed it since it was
// read, else the vote is judged again), the alert past the shared cool-down or the attempt into the
// events stream, the hand-over for the ingest worker, and the acknowledgement. A worker that dies
// before it leaves nothing behind; its entry is claimed by another after cluster.claimIdleMs
// (XAUTOCLAIM), and a worker that lost an entry that way cannot commit it any more. A committed entry
// is deleted: the stream holds only what waits, whatever the faces' bytes.
import { lastValueFrom, of, type OperatorFunction } from 'rxjs';
import type { Redis } from 'ioredis';
import { alertPayload } from '../alert/payload.ts';
import type { Config } from '../config.ts';
import { attemptEvent, alertEvent } from '../events/recorder.ts';
import { faceSourceOf } from '../gallery/enroll.ts';
import { knownKey, unknownKey } from '../match/cooldown.ts';
import { matchPolicy, type GalleryMatcher, type MatchPolicy } from '../match/policy.ts';
import { judgeAttempt } from '../match/stage.ts';
import { stageSeconds } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import type { StageClock } from '../pipeline/clock.ts';
import { faceStages, heldBackAttempt, type PipelineDeps } from '../pipeline/index.ts';
import type { EmbeddedFace, FaceObservation, FrameFaces } from '../pipeline/messages.ts';
import { brokerWaitSeconds, entriesClaimed, faceEntriesDone } from './metrics.ts';
import { entryList, ensureGroup, INFER_GROUP, readEntries, type ClusterKeys, type StreamEntry } from './redis.ts';
import { freshTrack, parseTrack, trackJson } from './track-state.ts';
import { decodeFaceEntry, encodeEvent, shiftObservation, WireError, type FaceEntry } from './wire.ts';

const log = stageLogger('infer');

/** KEYS: faces, events, control, track, cool-down, then closed tracks. ARGV: see commitArgs. */
const COMMIT = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 'lost' end
local expect = tonumber(ARGV[4])
if expect >= 0 then
  local stored = redis.call('GET', KEYS[4])
  local version = 0
  if stored then version = tonumber(string.match(stored, '^(%d+):')) or 0 end
  if version ~= expect then return 'conflict' end
  redis.call('SET', KEYS[4], (version + 1) .. ':' .. ARGV[5], 'PX', ARGV[6])
end
local outcome = 'attempt'
if ARGV[10] ~= '' then
  local cooldown = tonumber(ARGV[7])
  local last = cooldown > 0 and redis.call('GET', KEYS[5])
  if last and math.abs(tonumber(ARGV[8]) - tonumber(last)) < cooldown then
    outcome = 'held'
  else
    if cooldown > 0 then redis.call('SET', KEYS[5], ARGV[8], 'PX', 2 * cooldown) end
    if ARGV[11] ~= '' then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'kind', 'alert', 'alert', ARGV[10], 'event', ARGV[11])
    else
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'kind', 'alert', 'alert', ARGV[10])
    end
    outcome = 'alert'
  end
end
if outcome ~= 'alert' and ARGV[12] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'kind', 'attempt', 'event', ARGV[12])
end
for i = 6, #KEYS do redis.call('DEL', KEYS[i]) end
if ARGV[13] ~= '' then redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000, '*', 'h', ARGV[13]) end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return outcome
`;

/** A track's state outlives its last attempt by this long at most (closed tracks are deleted at once). */
const TRACK_TTL_MS = 10 * 60_000;
/** Concurrent changes of one track's vote, judged again this often before the entry is left for a retry. */
const MAX_CONFLICTS = 8;

export type EntryOutcome = 'alert' | 'held' | 'attempt' | 'closed' | 'lost' | 'malformed' | 'failed';

/** What the commit needs besides the keys. */
interface Commit {
  expect: number;
  state: string;
  frameTime: number;
  trackKey?: string;
  cooldownKey?: string;
  alert: string;
  alertEvent: Buffer | string;
  attemptEvent: Buffer | string;
  handover: string;
}

export interface InferDeps {
  config: Config;
  redis: Redis;
  /** A connection of its own: it blocks on the faces stream. */
  reader: Redis;
  keys: ClusterKeys;
  /** The consumer's name in the group. */
  id: string;
  models: Pick<PipelineDeps, 'recognizer' | 'repairer' | 'upperFace'>;
  gallery: GalleryMatcher;
  /** Which events the gateways keep: alerts with their face source, and attempts that raised none. */
  events: { alerts: boolean; attempts: boolean };
  clock?: StageClock;
  /** Told each entry done (the bench): how long it waited in the stream, its bytes, and the commit's round trip. */
  onEntry?: (outcome: EntryOutcome, entry: { waitedMs: number; bytes: number; commitMs: number }) => void;
}

export class InferWorker {
  private readonly stages: OperatorFunction<FrameFaces<FaceObservation>, FrameFaces<EmbeddedFace>>;
  private readonly policy: MatchPolicy;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private claimCursor = '0-0';

  constructor(private readonly deps: InferDeps) {
    const clock: StageClock = (stage, ms) => {
      stageSeconds.observe({ stage }, ms / 1000);
      deps.clock?.(stage, ms);
    };
    this.stages = faceStages({ config: deps.config, ...deps.models, gallery: deps.gallery }, clock);
    this.policy = matchPolicy(deps.config);
    deps.redis.defineCommand('unmaskCommit', { lua: COMMIT });
  }

  async start(): Promise<void> {
    await ensureGroup(this.deps.redis, this.deps.keys.faces, INFER_GROUP);
    this.running = true;
    this.loop = this.run();
  }

  /** Stops reading, finishes the entries in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.deps.reader.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { config, reader, keys, id } = this.deps;
    const concurrency = config.cluster.inferConcurrency;
    const inFlight = new Set<Promise<void>>();
    let nextClaim = 0;
    while (this.running) {
      try {
        if (inFlight.size >= concurrency) {
          await Promise.race(inFlight);
          continue;
        }
        let entries: StreamEntry[] = [];
        if (Date.now() >= nextClaim) {
          entries = await this.claim(concurrency - inFlight.size);
          nextClaim = Date.now() + config.cluster.claimIdleMs / 2;
        }
        if (!entries.length) {
          const reply = await reader.callBuffer('XREADGROUP', 'GROUP', INFER_GROUP, id, 'COUNT', concurrency - inFlight.size, 'BLOCK', 1000, 'STREAMS', keys.faces, '>');
          entries = readEntries(reply);
        }
        for (const entry of entries) {
          const done: Promise<void> = this.handle(entry).finally(() => inFlight.delete(done));
          inFlight.add(done);
        }
      } catch (err) {
        if (!this.running) break;
        log.warn({ err: (err as Error).message }, 'cannot read the faces stream; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await Promise.all(inFlight);
  }

  /** Entries another worker has held unacknowledged for claimIdleMs: it died, or is stuck. */
  private async claim(count: number): Promise<StreamEntry[]> {
    const { redis, keys, id, config } = this.deps;
    const reply = (await redis.callBuffer('XAUTOCLAIM', keys.faces, INFER_GROUP, id, config.cluster.claimIdleMs, this.claimCursor, 'COUNT', count)) as [Buffer, unknown[]];
    this.claimCursor = reply[0].toString();
    const entries = entryList(reply[1]).filter((e) => e.fields.size > 0);
    if (entries.length) {
      entriesClaimed.inc(entries.length);
      log.info({ entries: entries.length, worker: id }, 'took over face entries another infer worker held too long');
    }
    return entries;
  }

  private async handle(entry: StreamEntry): Promise<void> {
    const readAt = Date.now();
    const bytes = entry.fields.get('f');
    let outcome: EntryOutcome;
    let face: FaceEntry | undefined;
    try {
      if (!bytes) throw new WireError('the entry has no "f" field');
      face = await decodeFaceEntry(bytes);
    } catch (err) {
      log.warn({ err: (err as Error).message, entry: entry.id }, 'malformed face entry: acknowledged and skipped');
      await this.deps.redis.xack(this.deps.keys.faces, INFER_GROUP, entry.id).catch(() => undefined);
      this.done('malformed', bytes, undefined, readAt, 0);
      return;
    }
    let commitMs = 0;
    try {
      const embedded = face.face ? await this.embed(face.face) : undefined;
      outcome = 'failed';
      for (let i = 0; i < MAX_CONFLICTS; i++) {
        const start = performance.now();
        const result = await this.commit(entry.id, face, embedded);
        commitMs += performance.now() - start;
        if (result !== 'conflict') {
          outcome = result;
          break;
        }
      }
    } catch (err) {
      // Left pending: another worker (or this one) claims it after claimIdleMs.
      log.warn({ err: (err as Error).message, entry: entry.id }, 'cannot process a face entry; it will be retried');
      outcome = 'failed';
    }
    this.done(outcome, bytes, face, readAt, commitMs);
  }

  private done(outcome: EntryOutcome, bytes: Buffer | undefined, face: FaceEntry | undefined, readAt: number, commitMs: number): void {
    faceEntriesDone.inc({ outcome });
    const waitedMs = face ? readAt - face.sentAt : 0;
    if (face?.face) brokerWaitSeconds.observe(Math.max(0, waitedMs) / 1000);
    this.deps.onEntry?.(outcome, { waitedMs, bytes: bytes?.length ?? 0, commitMs });
  }

  /** align → repair → embed on the region, the face in the region's coordinates. */
  private async embed(face: NonNullable<FaceEntry['face']>): Promise<EmbeddedFace> {
    const { observation, region } = face;
    const local = shiftObservation(observation, -region.x, -region.y);
    const message: FrameFaces<FaceObservation> = {
      frame: { camera: observation.camera, seq: observation.frameSeq, time: observation.frameTime, image: region.image },
      faces: [local],
      closedTracks: [],
    };
    const out = await lastValueFrom(of(message).pipe(this.stages));
    return out.faces[0];
  }

  /** Judges the face against its track's stored vote and commits it all at once. */
  private async commit(entryId: string, entry: FaceEntry, embedded: EmbeddedFace | undefined): Promise<EntryOutcome | 'conflict'> {
    const { redis, keys, config, id } = this.deps;
    const c: Commit = { expect: -1, state: '', frameTime: 0, alert: '', alertEvent: '', attemptEvent: '', handover: '' };
    if (embedded && entry.face) await this.judge(entry, entry.face, embedded, c);
    const closed = entry.closedTracks.map((t) => keys.track(entry.camera, entry.epoch, t));
    const unused = `${keys.prefix}:unused`;
    const keyList = [keys.faces, keys.events, keys.control, c.trackKey ?? unused, c.cooldownKey ?? unused, ...closed];
    const args = [
      INFER_GROUP,
      id,
      entryId,
      c.expect,
      c.state,
      TRACK_TTL_MS,
      config.match.cooldownSec * 1000,
      c.frameTime,
      config.cluster.eventsMaxLen,
      c.alert,
      c.alertEvent,
      c.attemptEvent,
      c.handover,
    ];
    const result = await (redis as unknown as { unmaskCommit(n: number, ...rest: (string | number | Buffer)[]): Promise<string> }).unmaskCommit(keyList.length, ...keyList, ...args);
    if (result === 'attempt' && !embedded) return 'closed';
    return result as EntryOutcome | 'conflict';
  }

  /** The vote with this face, and what the commit publishes: the alert and its event, or the attempt's event. */
  private async judge(entry: FaceEntry, face: NonNullable<FaceEntry['face']>, embedded: EmbeddedFace, c: Commit): Promise<void> {
    const { keys, events } = this.deps;
    const observation = face.observation;
    const local = embedded.face.observation;
    c.trackKey = keys.track(entry.camera, entry.epoch, observation.trackId);
    c.frameTime = observation.frameTime;
    const stored = parseTrack(await this.deps.redis.get(c.trackKey));
    let state = stored.state;
    const judged = judgeAttempt(this.deps.gallery, this.policy, embedded, face.region.image, {
      state,
      restart: () => (state = freshTrack()),
    });
    c.expect = stored.version;
    c.state = trackJson(state);
    if (judged.handedOver)
      c.handover = JSON.stringify({ camera: entry.camera, epoch: entry.epoch, track: observation.trackId, time: observation.frameTime, quality: observation.quality });
    // An event's face source is cut from the region, in its coordinates (once, and only for an event);
    // what is published is in the frame's.
    let cut: ReturnType<typeof faceSourceOf> | undefined;
    const source = () => (cut ??= faceSourceOf(face.region.image, local.face));
    if (judged.decision) {
      const decision = { ...judged.decision, identification: { ...judged.decision.identification, observation } };
      const alert = await alertPayload(decision);
      const identity = decision.identification.identity;
      c.cooldownKey = keys.cooldown(identity ? knownKey(entry.camera, identity.id) : `${unknownKey(entry.camera, observation.trackId)}@${entry.epoch}`);
      c.alert = JSON.stringify(alert);
      if (events.alerts) c.alertEvent = encodeEvent(alertEvent(alert, observation, await source()));
      const heldBack = events.attempts ? heldBackAttempt(decision) : undefined;
      if (heldBack) c.attemptEvent = encodeEvent(await attemptEvent(heldBack, await source()));
    } else if (events.attempts) {
      c.attemptEvent = encodeEvent(await attemptEvent({ ...judged.attempt, observation }, await source()));
    }
  }
}
