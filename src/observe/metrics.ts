// Prometheus metrics of the whole service, on one registry served at /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'unmask_process_' });

export const framesIn = new Counter({
  name: 'unmask_frames_in_total',
  help: 'Frames received from ffmpeg, per camera',
  labelNames: ['camera'] as const,
  registers: [registry],
});

export const framesDropped = new Counter({
  name: 'unmask_frames_dropped_total',
  help: 'Frames dropped because the camera buffer was full (oldest dropped first), per camera',
  labelNames: ['camera'] as const,
  registers: [registry],
});

export const cameraState = new Gauge({
  name: 'unmask_camera_state',
  help: '1 for the state each camera is in now (connecting, live, retrying, ended, stopped), 0 for the others',
  labelNames: ['camera', 'state'] as const,
  registers: [registry],
});

export const cameraRestarts = new Counter({
  name: 'unmask_camera_restarts_total',
  help: 'ffmpeg restarts per camera (exit or stall)',
  labelNames: ['camera', 'reason'] as const,
  registers: [registry],
});

export const stageSeconds = new Histogram({
  name: 'unmask_stage_seconds',
  help: 'Time spent in each pipeline stage, per call',
  labelNames: ['stage'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const frameToAlertSeconds = new Histogram({
  name: 'unmask_frame_to_alert_seconds',
  help: 'From the frame arriving from ffmpeg to the alert leaving the server',
  buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5],
  registers: [registry],
});

export const facesDetected = new Counter({
  name: 'unmask_faces_detected_total',
  help: 'Faces found by the detector, per camera',
  labelNames: ['camera'] as const,
  registers: [registry],
});

export const alertsSent = new Counter({
  name: 'unmask_alerts_sent_total',
  help: 'Alerts produced, per camera and kind (known, unknown)',
  labelNames: ['camera', 'kind'] as const,
  registers: [registry],
});

export const subscribers = new Gauge({
  name: 'unmask_subscribers',
  help: 'WebSocket subscribers connected now',
  registers: [registry],
});

export const subscribersDropped = new Counter({
  name: 'unmask_subscribers_closed_slow_total',
  help: 'Subscribers closed because their queue overflowed',
  registers: [registry],
});

export const subscribersRefused = new Counter({
  name: 'unmask_subscribers_refused_total',
  help: 'WebSocket upgrades refused, per reason (origin, limit)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const authFailures = new Counter({
  name: 'unmask_auth_failures_total',
  help: 'Requests refused for their API key, per result: refused (401, a wrong or missing key, counted per address) or throttled (429, the address is past server.maxFailedAuth)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const enrollmentsRefused = new Counter({
  name: 'unmask_enrollments_refused_busy_total',
  help: 'Enrollment uploads refused with 503 because gallery.enrollConcurrency photos ran and gallery.enrollQueue waited',
  registers: [registry],
});

export const galleryFaces = new Gauge({
  name: 'unmask_gallery_faces',
  help: 'Face samples in the in-memory gallery index',
  registers: [registry],
});

export const occludedFractionHistogram = new Histogram({
  name: 'unmask_occluded_fraction',
  help: 'Share of the face area the occlusion segmenter found covered, per recognition attempt',
  buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1],
  registers: [registry],
});

export const inpaintedFaces = new Counter({
  name: 'unmask_inpainted_faces_total',
  help: 'Faces repaired by the inpainting model before recognition (occluded fraction above occlusion.minFraction)',
  registers: [registry],
});

export const modelProvider = new Gauge({
  name: 'unmask_model_provider',
  help: '1 for the onnxruntime execution provider each ONNX model runs on (cpu, cuda, webgpu)',
  labelNames: ['model', 'provider'] as const,
  registers: [registry],
});

export const inpaintBatchFaces = new Histogram({
  name: 'unmask_inpaint_batch_faces',
  help: 'Faces per run of the inpainting generator (gathered across cameras, inpaint.batch)',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

export const embedBatchFaces = new Histogram({
  name: 'unmask_embed_batch_faces',
  help: 'Faces per run of a recognizer (gathered across cameras, recognize.batch)',
  labelNames: ['model'],
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

export const eventsRecorded = new Counter({
  name: 'unmask_events_recorded_total',
  help: 'Events stored in the history, per kind (alert, attempt)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const eventsDropped = new Counter({
  name: 'unmask_events_dropped_total',
  help: 'Events not stored because the recorder was behind (events.queue) or the write failed, per kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const eventsDeleted = new Counter({
  name: 'unmask_events_deleted_total',
  help: 'Events deleted, per reason (retention, limit, identity, operator)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const mqttMessages = new Counter({
  name: 'unmask_mqtt_messages_total',
  help: 'MQTT messages, per result: sent (acknowledged by the broker) or dropped (the offline queue, mqtt.queueSize, overflowed)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const mqttConnected = new Gauge({
  name: 'unmask_mqtt_connected',
  help: '1 while connected to the MQTT broker',
  registers: [registry],
});

export const mqttQueued = new Gauge({
  name: 'unmask_mqtt_queued',
  help: 'MQTT messages waiting for the broker (queued while it is away, or sent and not yet acknowledged)',
  registers: [registry],
});
