// Live: the per-site snapshot and socket.io updates.
// The feature's public surface: other modules import from here, never from its files.

export { LiveRepository } from './live.repository.js';
export { liveApi, liveRoutes } from './live.routes.js';
export { LiveService } from './live.service.js';
export { LIVE_EVENTS, liveSocketSchemas, socketEventsDocument, type LiveMessages } from './live.messages.js';
export { attachLiveServer } from './live.socket.js';
export type { LiveServer } from './live.socket.js';
