// A track's vote and alerts as the cluster keeps them in Redis: "version:json", so that the commit
// script can compare the version an infer worker read with the one stored (compare-and-set) without
// parsing the JSON.
import { TrackAlerts, type TrackAlertsState } from '../match/decide.ts';
import type { TrackState } from '../match/stage.ts';
import { TrackVote, type TrackVoteState } from '../match/vote.ts';

export interface StoredTrack {
  /** 0 when nothing is stored: the track's first attempt. */
  version: number;
  state: TrackState;
}

export function freshTrack(): TrackState {
  return { vote: new TrackVote(), alerts: new TrackAlerts() };
}

/** A stored value back into a track's state; a value that cannot be read starts the track over (version kept, so the write still checks). */
export function parseTrack(stored: string | null): StoredTrack {
  if (stored === null) return { version: 0, state: freshTrack() };
  const colon = stored.indexOf(':');
  const version = Number(stored.slice(0, colon));
  if (colon < 1 || !Number.isInteger(version) || version < 1) throw new RangeError(`a stored track must start with "version:", got "${stored.slice(0, 20)}"`);
  try {
    const { vote, alerts } = JSON.parse(stored.slice(colon + 1)) as { vote: TrackVoteState; alerts: TrackAlertsState };
    return { version, state: { vote: TrackVote.from(vote), alerts: TrackAlerts.from(alerts) } };
  } catch {
    return { version, state: freshTrack() };
  }
}

/** The JSON half of a stored track (the commit script prefixes the next version). */
export function trackJson(state: TrackState): string {
  return JSON.stringify({ vote: state.vote.state(), alerts: state.alerts.state() });
}
