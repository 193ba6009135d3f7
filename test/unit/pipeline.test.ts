// The composed pipeline with fake models: routing of frames to alerts, votes, re-identification
// of a track that passes to another person, unknown faces, drops under load.
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import type { Detector, Recognizer } from '../../src/models/types.ts';
import { Pipeline } from '../../src/pipeline/index.ts';
import type { GalleryMatcher } from '../../src/match/policy.ts';
import type { AlertMessage } from '../../src/alert/message.ts';
import type { DetectedFace, Identity, RgbImage } from '../../src/types.ts';
import type { Frame, RecognitionAttempt } from '../../src/pipeline/messages.ts';

const W = 320, H = 240;
const BOX = { x: 100, y: 60, width: 120, height: 120 };

/** Noise tinted by the person: red for Ada, blue for Bob, green for a stranger. */
function frame(seq: number, person: 'ada' | 'bob' | 'stranger'): Frame {
  const data = new Uint8Array(W * H * 3);
  let seed = seq * 7919 + 1;
  for (let i = 0; i < data.length; i += 3) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const v = seed % 90;
    data[i] = person === 'ada' ? 160 + v : v;
    data[i + 1] = person === 'stranger' ? 160 + v : v;
    data[i + 2] = person === 'bob' ? 160 + v : v;
  }
  return { camera: 'cam', seq, time: 1_000_000 + seq * 200, image: { width: W, height: H, data } };
}

/** 68 landmarks spread over the box, with the points alignment uses at plausible face positions. */
function landmarks(): { x: number; y: number }[] {
  const pts = Array.from({ length: 68 }, (_, i) => ({ x: BOX.x + 10 + (i % 10) * 10, y: BOX.y + 10 + Math.floor(i / 10) * 14 }));
  const at = (i: number, x: number, y: number) => (pts[i] = { x: BOX.x + x * BOX.width, y: BOX.y + y * BOX.height });
  at(36, 0.25, 0.38); at(39, 0.42, 0.38); at(42, 0.58, 0.38); at(45, 0.75, 0.38); at(33, 0.5, 0.65);
  return pts;
}

const detector: Detector = {
  id: 'fake',
  detect: async (): Promise<DetectedFace[]> => [{ box: BOX, score: 0.99, landmarks: landmarks() }],
};

/** Mean colour of the crop, as a 3-D embedding. */
const recognizer: Recognizer = {
  id: 'fake-rec',
  version: '1',
  dims: 3,
  template: FACEAPI_RECOGNIZER_TEMPLATE,
  embed: async (crops: RgbImage[]) =>
    crops.map((c) => {
      const sum = [0, 0, 0];
      for (let i = 0; i < c.data.length; i += 3) for (let k = 0; k < 3; k++) sum[k] += c.data[i + k];
      return Float32Array.from(sum);
    }),
};

const people: Record<number, Identity> = { 1: { id: 1, name: 'Ada' }, 2: { id: 2, name: 'Bob' } };
const galleryVectors: [Identity, number[]][] = [
  [people[1], [1, 0, 0]],
  [people[2], [0, 0, 1]],
];
const gallery: GalleryMatcher = {
  search: (e, k) => {
    const n = Math.hypot(...e);
    return galleryVectors
      .map(([identity, v]) => ({ identity, score: (e[0] * v[0] + e[1] * v[1] + e[2] * v[2]) / n }))
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  },
  identity: (id) => people[id],
};

function config(overrides: Record<string, unknown> = {}): Config {
  return parseConfig({ match: { threshold: 0.85, unknownThreshold: 0.8, cooldownSec: 0 }, track: { minQuality: 0.3 }, ...overrides });
}

async function run(cfg: Config, frames: Frame[], det: Detector = detector): Promise<{ alerts: AlertMessage[]; pipeline: Pipeline }> {
  const alerts: AlertMessage[] = [];
  const pipeline = new Pipeline({ config: cfg, detector: det, recognizer, gallery, publish: (a) => alerts.push(a) });
  const source = new Subject<Frame>();
  pipeline.addCamera('cam', source);
  for (const f of frames) {
    source.next(f);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 100));
  source.complete();
  return { alerts, pipeline };
}

describe('pipeline', () => {
  it('alerts a known face once per track, with its name, box, crop and votes', async () => {
    const { alerts, pipeline } = await run(config(), Array.from({ length: 10 }, (_, i) => frame(i, 'ada')));
    expect(alerts).toHaveLength(1);
    const [a] = alerts;
    expect(a).toMatchObject({ schema: 1, type: 'alert', identity: { id: 1, name: 'Ada' }, known: true, camera: 'cam', trackId: 1, box: BOX, matchedOn: 'face' });
    expect(a.score).toBeGreaterThan(0.85);
    expect(a.votes).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(a.faceJpeg, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(pipeline.stats().cam).toMatchObject({ framesIn: 10, framesProcessed: 10, framesDropped: 0, facesDetected: 10, alerts: 1 });
  });

  it('re-identifies a track that the tracker carried over to another person', async () => {
    const frames = [...Array.from({ length: 25 }, (_, i) => frame(i, 'ada')), ...Array.from({ length: 25 }, (_, i) => frame(25 + i, 'bob'))];
    const { alerts } = await run(config(), frames);
    expect(alerts.map((a) => [a.trackId, a.identity?.name])).toEqual([
      [1, 'Ada'],
      [1, 'Bob'],
    ]);
  });

  it('without re-checks, the carried-over track stays silent', async () => {
    const frames = [...Array.from({ length: 25 }, (_, i) => frame(i, 'ada')), ...Array.from({ length: 25 }, (_, i) => frame(25 + i, 'bob'))];
    const { alerts } = await run(config({ track: { minQuality: 0.3, reverifyMs: 0 } }), frames);
    expect(alerts.map((a) => a.identity?.name)).toEqual(['Ada']);
  });

  it('alerts unknown faces only when asked', async () => {
    const strangers = Array.from({ length: 15 }, (_, i) => frame(i, 'stranger'));
    expect((await run(config(), strangers)).alerts).toHaveLength(0);
    const { alerts } = await run(config({ match: { threshold: 0.85, unknownThreshold: 0.8, cooldownSec: 0, alertUnknown: true } }), strangers);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ identity: null, known: false });
  });

  it('applies the cool-down per identity and camera across tracks', async () => {
    // A gap longer than track.maxAgeMs closes the track; the second track is the same person.
    const frames = [...Array.from({ length: 8 }, (_, i) => frame(i, 'ada')), ...Array.from({ length: 8 }, (_, i) => frame(30 + i, 'ada'))];
    const withCooldown = await run(config({ match: { threshold: 0.85, unknownThreshold: 0.8, cooldownSec: 60 } }), frames);
    expect(withCooldown.alerts.map((a) => a.trackId)).toEqual([1]);
    const without = await run(config(), frames);
    expect(without.alerts.map((a) => a.trackId)).toEqual([1, 2]);
  });

  it('drops the oldest frames when detection is slower than the camera, and counts them', async () => {
    const slow: Detector = { id: 'slow', detect: async (img) => (await new Promise((r) => setTimeout(r, 60)), detector.detect(img)) };
    const { pipeline } = await run(config({ source: { bufferFrames: 2 } }), Array.from({ length: 30 }, (_, i) => frame(i, 'ada')), slow);
    const s = pipeline.stats().cam;
    expect(s.framesIn).toBe(30);
    expect(s.framesDropped).toBeGreaterThan(10);
    expect(s.framesProcessed + s.framesDropped).toBeLessThanOrEqual(30);
  });
});

describe('pipeline events', () => {
  it('tells the events sink every alert with its decision, and every attempt that raised none', async () => {
    const alerts: AlertMessage[] = [];
    const recorded: { alert: AlertMessage; frameImage?: RgbImage }[] = [];
    const attempts: RecognitionAttempt[] = [];
    const pipeline = new Pipeline({
      config: config({ match: { threshold: 0.85, unknownThreshold: 0.8, cooldownSec: 60 } }),
      detector,
      recognizer,
      gallery,
      publish: (a) => alerts.push(a),
      events: {
        alert: (alert, decision) => recorded.push({ alert, frameImage: decision.frameImage }),
        attempt: (attempt) => attempts.push(attempt),
      },
    });
    const source = new Subject<Frame>();
    pipeline.addCamera('cam', source);
    // Two tracks of Ada (a gap closes the first): the second's decision is held back by the cool-down.
    for (const f of [...Array.from({ length: 10 }, (_, i) => frame(i, 'ada')), ...Array.from({ length: 10 }, (_, i) => frame(30 + i, 'ada'))]) {
      source.next(f);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    source.complete();
    expect(alerts).toHaveLength(1);
    expect(recorded.map((r) => r.alert)).toEqual(alerts);
    expect(recorded[0].frameImage).toMatchObject({ width: W, height: H });
    // The first track's later attempts, and all of the second's (its decision held back), raised no alert.
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((a) => a.observation.trackId))).toEqual(new Set([1, 2]));
    for (const a of attempts) {
      expect(a).toMatchObject({ closest: { id: 1, name: 'Ada' }, known: true, matchedOn: 'face' });
      expect(a.score).toBeGreaterThan(0.85);
      expect(a.frameImage.width).toBe(W);
      expect(a.crop.width).toBeGreaterThan(0);
    }
  });
});
