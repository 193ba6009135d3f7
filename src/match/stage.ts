// match: each attempt against the gallery, into its track's vote; emits a decision when the vote
// turns into something to alert (once per track and identity).
import { mergeMap, type OperatorFunction } from 'rxjs';
import { timedSync, type StageClock } from '../pipeline/clock.ts';
import type { EmbeddedFace, FrameFaces, RecognitionAttempt, TrackDecision } from '../pipeline/messages.ts';
import { TrackAlerts } from './decide.ts';
import { bestMatch, type GalleryMatcher, type MatchPolicy } from './policy.ts';
import { TrackVote } from './vote.ts';

/** The track stage's side of a hand-over: the track's attempts start over with this one. */
export interface TrackHandover {
  handOver(trackId: number, time: number, quality: number): void;
}

/** Per camera: each live track's vote and the alerts it has raised. */
export class TrackVotes {
  private readonly tracks = new Map<number, { vote: TrackVote; alerts: TrackAlerts }>();

  get size(): number {
    return this.tracks.size;
  }

  of(trackId: number): { vote: TrackVote; alerts: TrackAlerts } {
    let state = this.tracks.get(trackId);
    if (!state) this.tracks.set(trackId, (state = { vote: new TrackVote(), alerts: new TrackAlerts() }));
    return state;
  }

  /** A fresh vote for the track: it now shows someone else than the one its vote is about. */
  restart(trackId: number): { vote: TrackVote; alerts: TrackAlerts } {
    this.tracks.delete(trackId);
    return this.of(trackId);
  }

  forget(trackIds: readonly number[]): void {
    for (const id of trackIds) this.tracks.delete(id);
  }
}

/** Told each attempt that raised no decision, synchronously: it must not block (the events recorder queues it). */
export type AttemptObserver = (attempt: RecognitionAttempt) => void;

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
        const { face } = embedded;
        const obs = face.observation;
        const { best, embedding, on } = bestMatch(gallery, embedded, policy);
        const matched = best && best.score >= policy.unknownThreshold ? best : null;
        let state = votes.of(obs.trackId);
        // A confident match for someone else than an established vote's leader: the tracker has
        // carried the track over to another person. Their frames start a vote of their own.
        const before = state.vote.summary();
        if (best && best.score >= policy.threshold && before.votes >= 2 && before.identityId !== best.identity.id) {
          state = votes.restart(obs.trackId);
          handover.handOver(obs.trackId, obs.frameTime, obs.quality);
        }
        state.vote.add({ identityId: matched?.identity.id ?? null, score: best?.score ?? -1, quality: obs.quality });
        const summary = state.vote.summary();
        const verdict = state.alerts.next(summary, policy);
        // The vote's leader may not be this attempt's best match; name it from the gallery.
        const identity = verdict?.kind === 'known' ? gallery.identity(verdict.identityId) : null;
        if (!verdict || (verdict.kind === 'known' && !identity)) {
          // No alert from this attempt (or its identity was deleted from the gallery meanwhile).
          onAttempt?.({
            observation: obs,
            closest: best?.identity ?? null,
            score: best?.score ?? -1,
            known: best !== undefined && best.score >= policy.threshold,
            matchedOn: on,
            crop: face.crop,
            occlusion: face.occlusion,
            frameImage: frame.image,
            votes: summary.votes,
          });
          continue;
        }
        decisions.push({
          identification: { observation: obs, identity: identity ?? null, score: verdict.score, crop: face.crop, embedding },
          votes: verdict.votes,
          occlusion: face.occlusion,
          matchedOn: on,
          frameImage: frame.image,
        });
      }
      return decisions;
    });
  });
}
