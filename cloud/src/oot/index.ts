// Out-of-tolerance cases: suspect product of a failed instrument, signed decisions per part or
// lot, customer notifications, shipment states, tag-out.
// The feature's public surface: other modules import from here, never from its files.

export { OotRepository } from './oot.repository.js';
export type { CaseRow, DecisionRow } from './oot.repository.js';
export { ootApi, ootRoutes } from './oot.routes.js';
export { Coverage, DISPOSITIONS, IMPACTS, OotService } from './oot.service.js';
export type { CaseSummary, CaseViewer, TagOutSource } from './oot.service.js';
