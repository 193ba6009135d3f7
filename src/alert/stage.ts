// alert: a track's decision, past the cool-down, becomes the alert payload and goes to the subscribers.
import { concatMap, type OperatorFunction } from 'rxjs';
import { knownKey, unknownKey, type Cooldown } from '../match/cooldown.ts';
import { alertsSent } from '../observe/metrics.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { TrackDecision } from '../pipeline/messages.ts';
import type { AlertMessage } from './message.ts';
import { alertPayload } from './payload.ts';

export interface AlertSink {
  /** Hands an alert to the subscribers; must not block. */
  publish(alert: AlertMessage): void;
  /** Extra observer of frame-to-alert latency in ms (the bench). */
  onLatency?(ms: number, alert: AlertMessage): void;
  /** Told each alert sent with the decision it came from (the events recorder); must not block. */
  onAlert?(alert: AlertMessage, decision: TrackDecision): void;
  /** Told each decision the cool-down held back: an attempt that raised no alert; must not block. */
  onHeldBack?(decision: TrackDecision): void;
}

/** Emits each alert sent, or null for a decision the cool-down held back. */
export function alertStage(cooldown: Cooldown, sink: AlertSink, clock: StageClock): OperatorFunction<TrackDecision, AlertMessage | null> {
  return concatMap(async (decision) => {
    const { observation, identity } = decision.identification;
    const key = identity ? knownKey(observation.camera, identity.id) : unknownKey(observation.camera, observation.trackId);
    if (!cooldown.shouldAlert(key, observation.frameTime)) {
      sink.onHeldBack?.(decision);
      return null;
    }
    const alert = await timed(clock, 'alert', () => alertPayload(decision));
    sink.publish(alert);
    sink.onAlert?.(alert, decision);
    alertsSent.inc({ camera: observation.camera, kind: identity ? 'known' : 'unknown' });
    // The hub records frame-to-alert latency in the metrics; this is for the bench's own percentiles.
    sink.onLatency?.(Date.now() - observation.frameTime, alert);
    return alert;
  });
}
