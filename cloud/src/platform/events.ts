import { EventEmitter } from 'node:events';

/**
 * Things that happened in this process that other parts (live updates over socket.io, alerts,
 * reminders) react to. Emitted only after the change is committed, so a listener never sees a
 * change that was rolled back. Listeners must not throw; an error in one is logged by the bus's
 * owner, never returned to the caller that emitted. (What follows a stored batch is not an event
 * here: it is the list of projections `server.ts` declares, `records/projection.ts`.)
 */
export interface DomainEvents {
  /** A calibration event was recorded (from an edge or by hand) for a piece of equipment. */
  'calibration.recorded': [
    { tenantId: string; siteId: string | null; tag: string; calibrationId: string; passed: boolean },
  ];
  /** An instrument's calibration status changed (current / due-soon / overdue / out-of-tolerance). */
  'equipment.status': [
    { tenantId: string; siteId: string | null; tag: string; from: string | null; to: string },
  ];
  /**
   * Whether equipment may be used may have changed: taken out of service, returned, or a
   * maintenance event that needs a calibration before use (listeners read the state themselves).
   */
  'equipment.service': [{ tenantId: string; siteId: string | null; tag: string }];
  /** An alert was raised (SPC rule violation, out-of-tolerance, traceability issue). */
  alert: [
    {
      tenantId: string;
      siteId: string | null;
      id: string;
      kind: string;
      severity: 'info' | 'warning' | 'critical';
      message: string;
      at: string;
      tag?: string;
      /** An out-of-tolerance or tag-out alert: its case. */
      caseId?: string;
    },
  ];
}

export class DomainEventBus extends EventEmitter<DomainEvents> {}
