// match: each attempt against the gallery, into its track's vote; emits a decision when the vote
// turns into something to alert (once per track and identity).
import { mergeMap, type OperatorFunction } from 'rxjs';
import { timedSync, type StageClock } from '../pipeline/clock.ts';
import type { EmbeddedFace, FrameFaces, RecognitionAttempt, TrackDecision } from '../pipeline/messages.ts';
import type { RgbImage } from '../types.ts';
import { TrackAlerts } from './decide.ts';
import { bestMatch, type GalleryMatcher, type MatchPolicy } from './policy.ts';
import { TrackVote } from './vote.ts';

/** The track stage's side of a hand-over: the track's attempts start over with this one. */
export interface TrackHandover {
  handOver(trackId: number, time: number, quality: number): void;
}

/** A track's vote and the alerts it has raised. */
export interface TrackState {
  vote: TrackVote;
  alerts: TrackAlerts;
}

/** Per camera: each live track's vote and the alerts it has raised. */
export class TrackVotes {
  private readonly tracks = new Map<number, TrackState>();

  get size(): number {
    return this.tracks.size;
  }

  of(trackId: number): TrackState {
    let state = this.tracks.get(trackId);
    if (!state) this.tracks.set(trackId, (state = { vote: new TrackVote(), alerts: new TrackAlerts() }));
    return state;
  }

  /** A fresh vote for the track: it now shows someone else than the one its vote is about. */
  restart(trackId: number): TrackState {
    this.tracks.delete(trackId);
    return this.of(trackId);
  }

  forget(trackIds: readonly number[]): void {
    for (const id of trackIds) this.tracks.delete(id);
  }
}

/** Told each attempt that raised no decision, synchronously: it must not block (the events recorder queues it). */
export type AttemptObserver = (attempt: RecognitionAttempt) => void;

/** What one attempt came to: a decision worth an alert, or an attempt that raised none. */
export type Judgement = { decision: TrackDecision; attempt?: undefined } | { attempt: RecognitionAttempt; decision?: undefined };

/**
 * One attempt against the gallery, into its track's vote (`track.state`, changed in place; `restart`
 * gives the track a fresh one). `handedOver`: the attempt was a confident match for someone else than
 * an established vote's leader, so the tracker carried the track over to another person and its
 * frames now start a vote of their own.
 */
export function judgeAttempt(
  gallery: GalleryMatcher,
  policy: MatchPolicy,
  embedded: EmbeddedFace,
  frameImage: RgbImage,
  track: { state: TrackState; restart(): TrackState },
): Judgement & { handedOver: boolean } {
  const { face } = embedded;
  const obs = face.observation;
  const { best, embedding, on } = bestMatch(gallery, embedded, policy);
  const matched = best && best.score >= policy.unknownThreshold ? best : null;
  let state = track.state;
  const before = state.vote.summary();
  const handedOver = best !== undefined && best.score >= policy.threshold && before.votes >= 2 && before.identityId !== best.identity.id;
  if (handedOver) state = track.restart();
  state.vote.add({ identityId: matched?.identity.id ?? null, score: best?.score ?? -1, quality: obs.quality });
  const summary = state.vote.summary();
  const verdict = state.alerts.next(summary, policy);
  // The vote's leader may not be this attempt's best match; name it from the gallery.
  const identity = verdict?.kind === 'known' ? gallery.identity(verdict.identityId) : null;
  if (!verdict || (verdict.kind === 'known' && !identity)) {
    // No alert from this attempt (or its identity was deleted from the gallery meanwhile).
    return {
      handedOver,
      attempt: {
        observation: obs,
        closest: best?.identity ?? null,
        score: best?.score ?? -1,
        known: best !== undefined && best.score >= policy.threshold,
        matchedOn: on,
        crop: face.crop,
        occlusion: face.occlusion,
        frameImage,
        votes: summary.votes,
      },
    };
  }
  return {
    handedOver,
    decision: {
      identification: { observation: obs, identity: identity ?? null, score: verdict.score, crop: face.crop, embedding },
      votes: verdict.votes,
      occlusion: face.occlusion,
      matchedOn: on,
      frameImage,
    },
  };
}

export function matchStage(
  gallery: GalleryMatcher,
  votes: TrackVotes,
  handover: TrackHandover,
  policy: MatchPolicy,
  clock: StageClock,
  onAttempt?: AttemptObserver,
): OperatorFunction<FrameFaces<EmbeddedFace>, TrackDecision> {
  return mergeMap(({ frame, faces, closedTracks }) => {
    votes.forget(closedTracks);
    if (!faces.length) return [];
    return timedSync(clock, 'match', () => {
      const decisions: TrackDecision[] = [];
      for (const embedded of faces) {
        const obs = embedded.face.observation;
        const judged = judgeAttempt(gallery, policy, embedded, frame.image, { state: votes.of(obs.trackId), restart: () => votes.restart(obs.trackId) });
        if (judged.handedOver) handover.handOver(obs.trackId, obs.frameTime, obs.quality);
        if (judged.decision) decisions.push(judged.decision);
        else onAttempt?.(judged.attempt);
      }
      return decisions;
    });
  });
}
