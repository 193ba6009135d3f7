// The cluster's own metrics, on the service's registry (/metrics of every role).
import { Counter, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.ts';

export const faceEntriesSent = new Counter({
  name: 'unmask_cluster_face_entries_sent_total',
  help: 'Face entries an ingest worker sent to the faces stream',
  registers: [registry],
});

export const faceEntryBytes = new Counter({
  name: 'unmask_cluster_face_entry_bytes_total',
  help: 'Bytes of the face entries an ingest worker sent',
  registers: [registry],
});

export const faceEntriesDone = new Counter({
  name: 'unmask_cluster_face_entries_total',
  help: 'Face entries an infer worker finished: alert, held (cool-down), attempt, lost (another worker took it over), malformed, failed',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const brokerWaitSeconds = new Histogram({
  name: 'unmask_cluster_broker_wait_seconds',
  help: 'From an ingest worker sending a face entry to an infer worker reading it (the queue and the transfer)',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const entriesClaimed = new Counter({
  name: 'unmask_cluster_entries_claimed_total',
  help: 'Face entries an infer worker took over from another that held them past cluster.claimIdleMs',
  registers: [registry],
});

export const eventsDelivered = new Counter({
  name: 'unmask_cluster_events_delivered_total',
  help: 'Entries of the events stream a gateway delivered, by kind (alert, attempt)',
  labelNames: ['kind'] as const,
  registers: [registry],
});
